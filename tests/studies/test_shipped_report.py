"""The shipped-model report (``studies/shipped_report.py``): how far element descriptors alone
place an unseen Mg–X system."""

from __future__ import annotations

import numpy as np


def _loo_errors(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Leave-one-out error (fit − y) of a least-squares fit with intercept, from one fit on all rows:
    the deleted residual e_i / (1 − h_ii) of the hat matrix."""
    a = np.column_stack([np.ones(len(y)), x])
    hat = a @ np.linalg.pinv(a)
    residual = y - hat @ y
    return -residual / (1.0 - np.diag(hat))


def test_element_descriptors_alone_miss_boron_by_far():
    """The leave-one-system-out descriptor fit in the report: B–Mg (no elemental boron slab, SE
    estimated from the melting point) sits far above the line, which bounds the grouped split."""
    from shipped_report import system_mean_descriptor_fit  # studies/shipped_report.py

    from semcgcnn.datasets import labels

    g = system_mean_descriptor_fit().set_index("chemsys")
    df = labels("mg_binary_slabs")
    # one row per Mg–X system of the dataset, its slab count and mean SE
    per_system = df.groupby("chemsys")["surface_energy_eV_per_A2"].agg(["size", "mean"])
    assert sorted(g.index) == sorted(per_system.index)
    np.testing.assert_array_equal(g.loc[per_system.index, "n_slabs"], per_system["size"])
    np.testing.assert_allclose(g.loc[per_system.index, "se"], per_system["mean"], rtol=1e-12)
    # the errors are those of leave-one-out lines, recomputed from one fit per column set
    np.testing.assert_allclose(
        g["error"], _loo_errors(g[["x_elemental_se"]].to_numpy(), g["se"].to_numpy()), rtol=0, atol=1e-12
    )
    # G: the median shear modulus of the system's compounds in the bundled bulk set; a system whose
    # X has no compound there has no G and no error with G
    bulk = labels("mg_binary_bulk")
    median_g = bulk.groupby("chemsys")["shear_modulus_vrh_GPa"].median()
    has_g = g.index.isin(median_g.index)
    np.testing.assert_allclose(g.loc[has_g, "compound_G_GPa"], median_g[g.index[has_g]], rtol=1e-12)
    assert g.loc[~has_g, "compound_G_GPa"].isna().all() and (g["error_with_G"].notna() == has_g).all()
    with_g = g[has_g]
    np.testing.assert_allclose(
        with_g["error_with_G"],
        _loo_errors(with_g[["x_elemental_se", "compound_G_GPa"]].to_numpy(), with_g["se"].to_numpy()),
        rtol=0,
        atol=1e-12,
    )
    assert g.loc["B-Mg", "x_se_estimated"] and not g.loc["Mg-Zn", "x_se_estimated"]
    assert g.loc["B-Mg", "error"] < -0.06
    assert 0.012 < g["error"].abs().mean() < 0.017
    # the stiffness of the system's compounds places boron: a linear fit with G misses it by < 0.01
    assert abs(g.loc["B-Mg", "error_with_G"]) < 0.01 and g["error_with_G"].abs().mean() < 0.0100
