"""The featurizer equals a naive CGCNN-style reference (with the tied-shell rule) on real slabs;
surface flags; batching; cache."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from reference_cgcnn import reference_graph

from semcgcnn.model import GraphConfig, NoVacuumError, OverlappingAtomsError, featurize, gaussian_expand
from semcgcnn.model.atom_features import UnknownElementError, atom_feature_table
from semcgcnn.model.data import GraphTensors, mean_pool
from semcgcnn.model.featurize import BOTTOM, TOP
from semcgcnn.model.graphs import GraphSet, dataset_graphs, featurize_structures


def edge_sets(idx, dist, weight):
    """Per atom, the sorted (neighbour, distance to 1e-6 Å, weight) of its real edges: the graph
    up to the order of the columns, which the convolution's sum does not see."""
    return [
        sorted(
            (int(i), round(float(d), 6), round(float(w), 6))
            for i, d, w in zip(ri, rd, rw, strict=True)
            if w > 0
        )
        for ri, rd, rw in zip(idx, dist, weight, strict=True)
    ]


def assert_matches_reference(structure, cfg):
    g = featurize(structure, cfg)
    ref_idx, ref_dist, ref_w, ref_gdf, ref_surface = reference_graph(structure, cfg)
    assert ref_gdf[0].shape[-1] == cfg.n_gaussians
    assert edge_sets(g.nbr_idx, g.nbr_dist, g.nbr_weight) == edge_sets(ref_idx, ref_dist, ref_w)
    real = g.nbr_weight > 0
    np.testing.assert_allclose(
        g.nbr_weight.sum(axis=1), [min(len(r), cfg.max_neighbors) for r in ref_idx], atol=1e-5
    )
    got = np.sort(gaussian_expand(g.nbr_dist[real], cfg), axis=0)
    np.testing.assert_allclose(got, np.sort(np.concatenate(ref_gdf), axis=0), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(g.surface, ref_surface)
    return g


def test_matches_reference_on_real_slabs(mg_records, elemental):
    from semcgcnn.datasets import load

    pal = load("palizhati_slabs")
    cfg = GraphConfig()
    picks = [
        mg_records[0].structure,
        mg_records[1500].structure,
        mg_records[-1].structure,
        elemental["78Mg0001"].structure,
        elemental["73Mg10-11"].structure,
        pal[0].structure,
        pal[2000].structure,
    ]
    for s in picks:
        g = assert_matches_reference(s, cfg)
        assert g.nbr_weight.sum(axis=1) == pytest.approx(12.0)  # dense slabs: 12 neighbours always in range


def test_fewer_than_max_neighbors_are_padded_with_zero_weight(elemental):
    # Mg(0001) with a 3.5 Å cutoff: bulk atoms have 12 neighbours, surface atoms only 9
    s = elemental["78Mg0001"].structure
    cfg = GraphConfig(radius=3.5, gaussian_dmax=3.5)
    g = assert_matches_reference(s, cfg)
    n_real = (g.nbr_weight > 0).sum(axis=1)
    assert list(n_real) == [9, 12, 12, 12, 12, 12, 12, 9]
    # padding: the atom itself at radius + 1 with weight 0, so it sends no message
    assert (
        (g.nbr_idx[0, 9:] == 0).all()
        and (g.nbr_dist[0, 9:] == 4.5).all()
        and (g.nbr_weight[0, 9:] == 0).all()
    )
    assert (g.nbr_idx[7, 9:] == 7).all()


def test_a_shell_tied_at_the_cut_shares_its_weight(mg_records):
    """Where the 12th and 13th neighbours sit at the same distance, CGCNN keeps the lower site
    index; here the whole tied shell enters and its members share the weight of the slots left."""
    cfg = GraphConfig()
    for r in mg_records[:40]:
        g = featurize(r.structure, cfg)
        n_edges = (g.nbr_weight > 0).sum(axis=1)
        tied = np.flatnonzero(n_edges > cfg.max_neighbors)
        if len(tied):
            break
    i = tied[0]
    w, d = g.nbr_weight[i], g.nbr_dist[i]
    real = w > 0
    dk = np.sort(d[real])[cfg.max_neighbors - 1]
    shell = real & (np.abs(d - dk) <= cfg.tie_tolerance)
    inner = real & (d < dk - cfg.tie_tolerance)
    assert shell.sum() > cfg.max_neighbors - inner.sum()  # more tied atoms than slots
    np.testing.assert_allclose(w[shell], (cfg.max_neighbors - inner.sum()) / shell.sum(), rtol=1e-6)
    assert (w[inner] == 1).all() and w.sum() == pytest.approx(cfg.max_neighbors)


def test_slab_wrapped_across_the_boundary(mg_records):
    s = mg_records[700].structure
    wrapped = Structure(s.lattice, s.species, (s.frac_coords + [0, 0, 0.5]) % 1.0)
    fz = wrapped.frac_coords[:, 2]
    assert fz.min() < 0.1 and fz.max() > 0.9  # really split across the cell boundary
    cfg = GraphConfig()
    g0, g1 = featurize(s, cfg), assert_matches_reference(wrapped, cfg)
    np.testing.assert_array_equal(g0.surface, g1.surface)
    assert edge_sets(g0.nbr_idx, g0.nbr_dist, g0.nbr_weight) == edge_sets(
        g1.nbr_idx, g1.nbr_dist, g1.nbr_weight
    )


def test_surface_flags_hand_checked_mg0001(elemental):
    # Mg(0001) 8-layer slab: layers at z = 11.620, 14.223, 16.813, 19.393, 21.978, 24.558,
    # 27.148, 29.752 Å (a×b ∥ z). Layer spacing ≈ 2.6 Å, so 2 Å flags one layer per side,
    # 3 Å two layers per side.
    s = elemental["78Mg0001"].structure
    np.testing.assert_allclose(
        s.cart_coords[:, 2], [11.620, 14.223, 16.813, 19.393, 21.978, 24.558, 27.148, 29.752], atol=2e-3
    )
    assert np.flatnonzero(featurize(s, GraphConfig()).surface).tolist() == [0, 7]
    assert np.flatnonzero(featurize(s, GraphConfig(surface_depth=3.0)).surface).tolist() == [0, 1, 6, 7]


def test_surface_flags_with_oblique_c_and_rotated_cell(elemental):
    s = elemental["78Mg0001"].structure
    a, b, c = s.lattice.matrix
    oblique = Lattice([a, b, c + 0.7 * a - 0.4 * b])  # same slab, c tilted away from the normal
    angle = np.deg2rad(35.0)  # and the whole cell rotated, so a×b is no longer Cartesian z
    rot = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    lat = Lattice(oblique.matrix @ rot.T)
    tilted = Structure(lat, s.species, s.cart_coords @ rot.T, coords_are_cartesian=True)
    assert tilted.lattice.alpha != pytest.approx(90.0)
    assert np.flatnonzero(featurize(tilted, GraphConfig()).surface).tolist() == [0, 7]
    assert np.flatnonzero(featurize(tilted, GraphConfig(surface_depth=3.0)).surface).tolist() == [0, 1, 6, 7]
    assert_matches_reference(tilted, GraphConfig())
    # a Cartesian-z rule would be wrong here: the z-extremes are not the surface layers
    z = tilted.cart_coords[:, 2]
    assert sorted(np.flatnonzero((z - z.min() <= 2) | (z.max() - z <= 2)).tolist()) != [0, 7]


def test_surface_flags_on_a_real_oblique_slab(elemental):
    # MP Mg(10-11): α = 117°, γ = 74.8°, and a×b points along (0, 0.471, 0.882), not z.
    # Heights along the normal (Å, by hand from the Cartesian coordinates):
    #   0.375 2.876 2.438 0.000 5.337 7.807 7.388 4.918 10.288 12.725 12.350 9.850
    # so within 2 Å of the bottom: atoms 3 and 0; of the top (12.725): atoms 9 and 10.
    s = elemental["73Mg10-11"].structure
    g = assert_matches_reference(s, GraphConfig())
    assert np.flatnonzero(g.surface).tolist() == [0, 3, 9, 10]
    # 3 Å: bottom adds atoms 2 (2.438) and 1 (2.876); top adds 8 (10.288) and 11 (9.850)
    deeper = featurize(s, GraphConfig(surface_depth=3.0))
    assert np.flatnonzero(deeper.surface).tolist() == [0, 1, 2, 3, 8, 9, 10, 11]


def test_atom_features_are_cgcnn_table_plus_surface_flag(elemental):
    table = atom_feature_table()
    assert table.shape[1] == 92 and np.isnan(table[0]).all()
    gs = featurize_structures([elemental["78Mg0001"].structure], ["mg"])
    b = GraphTensors(gs).batch([0])
    assert b.atom_fea.shape == (8, 93)
    np.testing.assert_array_equal(b.atom_fea[:, :92].numpy(), np.repeat(table[12][None], 8, axis=0))
    assert b.atom_fea[:, 92].tolist() == [1, 0, 0, 0, 0, 0, 0, 1]


def test_bad_structures_raise_clear_errors(elemental):
    s = elemental["78Mg0001"].structure
    bulk = Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    with pytest.raises(NoVacuumError, match="no vacuum gap"):
        featurize(bulk)
    overlap = s.copy()
    overlap.append("Mg", s[3].coords + [0.1, 0, 0], coords_are_cartesian=True)
    with pytest.raises(OverlappingAtomsError):
        featurize(overlap)
    odd = s.copy()
    odd.replace(0, "Md")  # Z = 101: atom_init.json covers Z = 1-100
    with pytest.raises(UnknownElementError, match="Md"):
        featurize(odd)
    partial = s.copy()
    partial.replace(0, {"Mg": 0.5, "Al": 0.5})
    with pytest.raises(ValueError, match="partially occupied"):
        featurize(partial)


def test_batch_is_a_disjoint_union_with_scatter_pooling(mg_records):
    structs = [r.structure for r in mg_records[:5]]
    gs = featurize_structures(structs, [r.structure_id for r in mg_records[:5]])
    tensors = GraphTensors(gs)
    b = tensors.batch([3, 0, 4])
    sizes = [len(structs[i]) for i in (3, 0, 4)]
    assert b.atom_fea.shape[0] == sum(sizes) and b.n_graphs == 3
    assert b.batch.tolist() == [0] * sizes[0] + [1] * sizes[1] + [2] * sizes[2]
    # edges stay inside their own crystal, sorted by centre, and every real edge is there once
    starts = np.concatenate([[0], np.cumsum(sizes)])
    center, nbr = b.edges.center.numpy(), b.edges.nbr.numpy()
    own = starts[b.batch.numpy()[center]]
    assert ((nbr >= own) & (nbr < own + np.asarray(sizes)[b.batch.numpy()[center]])).all()
    assert (np.diff(center) >= 0).all()
    assert len(center) == sum(int((gs[i].nbr_weight > 0).sum()) for i in (3, 0, 4))
    pooled = mean_pool(b.atom_fea, b.batch, b.n_graphs).numpy()
    for k, i in enumerate((3, 0, 4)):
        np.testing.assert_allclose(pooled[k], tensors.batch([i]).atom_fea.numpy().mean(axis=0), rtol=1e-6)
    # deduplicated edge features expand to exactly CGCNN's per-edge Gaussians
    dist = np.concatenate([gs[i].nbr_dist[gs[i].nbr_weight > 0] for i in (3, 0, 4)])
    per_edge = b.edge_features().numpy()
    np.testing.assert_allclose(per_edge, gaussian_expand(dist.astype(np.float32), gs.config), atol=1e-6)
    assert b.edge_fea.shape[0] < dist.size / 3  # symmetric slabs repeat their distances


def test_graph_set_round_trip_and_dataset_cache(tmp_path, mg_records):
    gs = featurize_structures(
        [r.structure for r in mg_records[:20]], [r.structure_id for r in mg_records[:20]]
    )
    gs.save(tmp_path / "g.npz")
    back = GraphSet.load(tmp_path / "g.npz")
    assert back.ids == gs.ids and back.config == gs.config
    for field in ("atom_ptr", "atomic_numbers", "side", "nbr_idx", "nbr_dist", "nbr_weight", "area"):
        np.testing.assert_array_equal(getattr(back, field), getattr(gs, field))
    sub = gs.subset([4, 2])
    np.testing.assert_array_equal(sub[1].nbr_idx, gs[2].nbr_idx)
    assert sub.area.tolist() == [gs.area[4], gs.area[2]] and sub[1].area == gs[2].area


def test_dataset_graphs_cached_per_config(tmp_path, monkeypatch, mg_records):
    monkeypatch.setenv("SEMCGCNN_CACHE_DIR", str(tmp_path))
    cfg = GraphConfig(surface_depth=2.0)
    g1, cached1 = dataset_graphs("elemental_slabs", cfg)
    g2, cached2 = dataset_graphs("elemental_slabs", cfg)
    g3, cached3 = dataset_graphs("elemental_slabs", GraphConfig(surface_depth=3.0))
    assert (cached1, cached2, cached3) == (False, True, False)
    assert len(g1) == 801 and g2.ids == g1.ids
    assert g3.surface.sum() > g1.surface.sum()
    # the parallel path gives exactly the serial graphs
    i = g1.ids.index("78Mg0001")
    np.testing.assert_array_equal(g1[i].surface, [1, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(g1[i].side, [BOTTOM, 0, 0, 0, 0, 0, 0, TOP])


def test_sides_and_face_area_of_real_slabs(mg_records):
    """Each surface atom knows its face (bottom or top); the graph knows the area of one face,
    |a x b|, which an in-plane supercell multiplies and a c-axis change leaves alone."""
    rec = next(r for r in mg_records if len(r.structure) >= 8)
    s = rec.structure
    g = featurize(s, GraphConfig())
    h = s.cart_coords @ (np.cross(*s.lattice.matrix[:2]) / np.linalg.norm(np.cross(*s.lattice.matrix[:2])))
    assert g.area == pytest.approx(np.linalg.norm(np.cross(*s.lattice.matrix[:2])), rel=1e-12)
    bottom, top = (g.side & BOTTOM) > 0, (g.side & TOP) > 0
    assert bottom.any() and top.any() and not (bottom & top).any()  # a thick slab: two separate faces
    assert h[top].min() > h[bottom].max()  # top atoms lie above bottom atoms (no wrap in the record)
    np.testing.assert_array_equal(g.surface, bottom | top)
    big = featurize(s.copy().make_supercell([2, 3, 1]), GraphConfig())
    assert big.area == pytest.approx(6 * g.area, rel=1e-12)
    assert np.bincount(big.side, minlength=4).tolist() == (6 * np.bincount(g.side, minlength=4)).tolist()


def test_the_atoms_of_a_thin_bilayer_are_both_faces():
    # two planes 1.5 Å apart: each atom lies within surface_depth (2 Å) of both surfaces; a
    # single plane is no slab at all (the structure check refuses it before featurizing)
    from pymatgen.core import Lattice, Structure

    from semcgcnn.validation import InvalidStructureError

    bilayer = Structure(
        Lattice.hexagonal(3.2, 20.0), ["Mg", "Mg"], [[0, 0, 0.5], [1 / 3, 2 / 3, 0.5 + 1.5 / 20]]
    )
    assert featurize(bilayer, GraphConfig()).side.tolist() == [BOTTOM | TOP] * 2
    with pytest.raises(InvalidStructureError, match="fewer than two atomic layers"):
        featurize(Structure(Lattice.hexagonal(3.2, 20.0), ["Mg"], [[0, 0, 0.5]]), GraphConfig())
