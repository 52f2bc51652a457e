"""The fast convolution equals CGCNN's plain formulation; heads per task; GradNorm behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcgcnn.model.config import ModelConfig
from semcgcnn.model.network import SEMCGCNN
from semcgcnn.model.training.gradnorm import GradNorm, TaskWeights


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_split_convolution_equals_plain_formulation(mg_small, mode):
    data, _ = mg_small
    torch.manual_seed(0)
    model = SEMCGCNN(ModelConfig())
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode's folded bn1 is tested
        for conv in model.convs:
            for bn in (conv.bn1, conv.bn2):
                bn.running_mean.uniform_(-1, 1)
                bn.running_var.uniform_(0.5, 2)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
    getattr(model, mode)()
    b = data.batch(np.arange(40))
    fast = model(*b.inputs())
    grads_fast = torch.autograd.grad(fast.sum(), list(model.parameters()))
    plain = model(*b.inputs(), plain=True)
    grads_plain = torch.autograd.grad(plain.sum(), list(model.parameters()))
    assert fast.shape == (40, 2)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)
    for gf, gp in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(gf, gp, atol=1e-4, rtol=1e-4)


def _eval_model_with_nontrivial_batchnorm() -> SEMCGCNN:
    torch.manual_seed(0)
    model = SEMCGCNN(ModelConfig())
    with torch.no_grad():
        for conv in model.convs:
            for bn in (conv.bn1, conv.bn2):
                bn.running_mean.uniform_(-1, 1)
                bn.running_var.uniform_(0.5, 2)
    return model.eval()


def test_inference_paths_agree_shared_edges_compiled_and_plain(mg_small):
    """Prediction's fast paths (one set-wide distance table; torch.compile'd gates; in-place
    gating without autograd) give the training path's numbers."""
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.inference import Normalizer, predict

    data, _ = mg_small
    model = _eval_model_with_nontrivial_batchnorm()
    norm = Normalizer(np.zeros(2), np.ones(2))
    idx = np.arange(len(data))
    b = data.batch(idx)
    with torch.enable_grad():
        plain = model(*b.inputs(), plain=True).detach().numpy()
    per_crystal = predict(model, data, idx, norm, batch_size=16)
    from semcgcnn.model.graphs import dataset_graphs  # the same crystals, one shared distance table

    gs, _ = dataset_graphs("mg_binary_slabs")
    shared = GraphTensors(gs.subset(np.arange(0, len(gs), 20)), shared_edges=True)
    assert len(shared.uniq_dist) < len(data.uniq_dist)  # set-wide table: fewer rows (6x on all Mg slabs)
    via_shared = predict(model, shared, idx, norm, batch_size=16)
    np.testing.assert_allclose(per_crystal, plain, atol=2e-5)
    np.testing.assert_allclose(via_shared, per_crystal, atol=1e-6)
    model.compile_inference()
    compiled = predict(model, shared, idx, norm, batch_size=16)
    np.testing.assert_allclose(compiled, per_crystal, atol=1e-5)
    with pytest.raises(ValueError, match="edge_terms"):
        model(*shared.batch(idx[:4]).inputs())


def test_heads_are_keyed_by_task_and_inputs_follow_surface_flag(mg_small):
    data, _ = mg_small
    b = data.batch(np.arange(8))
    for tasks in [("surface_energy",), ("surface_energy", "work_function"), ("a", "b", "c")]:
        m = SEMCGCNN(ModelConfig(tasks=tasks)).eval()
        assert list(m.heads) == list(tasks)
        assert m(*b.inputs()).shape == (8, len(tasks))
        head = m.heads[tasks[0]]
        assert sum(isinstance(x, torch.nn.Linear) for x in head) == 4  # 3 hidden + output
    assert SEMCGCNN(ModelConfig(surface_flag=False)).embedding.in_features == 92
    assert SEMCGCNN(ModelConfig(surface_flag=True)).embedding.in_features == 93
    # without the flag the model cannot see it: flipping it changes nothing
    m = SEMCGCNN(ModelConfig(surface_flag=False)).eval()
    flipped = b.atom_fea.clone()
    flipped[:, 92] = 1 - flipped[:, 92]
    out1 = m(*b.inputs())
    out2 = m(flipped, *b.inputs()[1:])
    torch.testing.assert_close(out1, out2)


def test_surface_pool_appends_the_mean_over_surface_atoms(mg_small):
    data, _ = mg_small
    b = data.batch(np.arange(6))
    torch.manual_seed(0)
    m = SEMCGCNN(ModelConfig(surface_pool=True)).eval()
    assert m.heads["work_function"][0].in_features == 128  # 64 (all atoms) + 64 (surface atoms)
    atom_fea, edges, edge_fea, batch, n, *_ = b.inputs()
    with torch.no_grad():
        crys = m.encode(*b.inputs())
        x = m.embedding(atom_fea.index_select(1, m.input_cols))
        for conv in m.convs:
            x = conv(x, edges, edge_fea)
    surf = atom_fea[:, 92] > 0.5
    for g in range(n):
        on = batch == g
        assert surf[on].any() and not surf[on].all()  # real slabs: a surface and an interior
        torch.testing.assert_close(crys[g, :64], x[on].mean(0))
        torch.testing.assert_close(crys[g, 64:], x[on & surf].mean(0))
    assert m(*b.inputs()).shape == (6, 2)


def test_surface_readout_sums_surface_atom_energies_over_twice_the_area(mg_small):
    """γ = Σ_i ε_i / 2A over the surface atoms, ε_i = (μ + σ h(x_i)) / ρ_ref in eV per atom; the work
    function is the mean of the two faces' heads. Checked by hand on real slabs."""
    from semcgcnn.model.config import SURFACE_DENSITY_REF
    from semcgcnn.model.featurize import BOTTOM, TOP

    data, _ = mg_small
    b = data.batch(np.arange(6))
    torch.manual_seed(0)
    m = SEMCGCNN(ModelConfig(readout="surface")).eval()
    mean, std = np.array([0.05, 4.0]), np.array([0.02, 0.5])
    m.set_target_scale(mean, std)
    assert m.heads["surface_energy"][0].in_features == 64  # per atom, not a pooled crystal vector
    with torch.no_grad():
        out = m(*b.inputs()).double()
        x = m.atom_states(*b.inputs()[:3])
        for g in range(b.n_graphs):
            on = b.batch == g
            h = m.heads["surface_energy"](x[on & (b.side > 0)]).squeeze(1).double()
            gamma = ((mean[0] + std[0] * h) / SURFACE_DENSITY_REF).sum() / (2 * float(b.area[g]))
            assert float(out[g, 0]) == pytest.approx(float((gamma - mean[0]) / std[0]), abs=1e-4)
            faces = [m.heads["work_function"](x[on & ((b.side & bit) > 0)].mean(0)) for bit in (BOTTOM, TOP)]
            assert float(out[g, 1]) == pytest.approx(float(0.5 * (faces[0] + faces[1])), abs=1e-5)
    with pytest.raises(ValueError, match="side"):
        m(*b.inputs()[:5])


def test_surface_readout_scale_travels_with_the_weights(tmp_path, mg_small):
    from semcgcnn.model.checkpoint import load_checkpoint, save_checkpoint
    from semcgcnn.model.config import GraphConfig
    from semcgcnn.model.inference import Normalizer

    m = SEMCGCNN(ModelConfig(readout="surface")).set_target_scale([0.06, 4.1], [0.02, 0.45]).eval()
    card = save_checkpoint(
        tmp_path / "m", m, GraphConfig(), Normalizer(np.array([0.06, 4.1]), np.array([0.02, 0.45]))
    )
    back = load_checkpoint(card).model
    assert back.cfg.readout == "surface"
    torch.testing.assert_close(back.target_mean, torch.tensor([0.06, 4.1]))
    b = mg_small[0].batch(np.arange(4))
    with torch.no_grad():
        torch.testing.assert_close(back(*b.inputs()), m(*b.inputs()))
    with pytest.raises(ValueError, match="unknown readout"):
        ModelConfig(readout="sum")
    with pytest.raises(ValueError, match="surface_pool"):
        ModelConfig(readout="surface", surface_pool=True)


class _Toy(torch.nn.Module):
    """Shared linear trunk, two linear heads."""

    def __init__(self):
        super().__init__()
        self.shared = torch.nn.Linear(4, 8)
        self.h1 = torch.nn.Linear(8, 1)
        self.h2 = torch.nn.Linear(8, 1)

    def forward(self, x):
        z = torch.tanh(self.shared(x))
        return self.h1(z).squeeze(1), self.h2(z).squeeze(1)


def _toy_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y1 = 100.0 * (x[:, 0] - 0.5 * x[:, 1])  # loss scale ~10^4
    y2 = 0.1 * torch.sin(x[:, 2])  # loss scale ~10^-3
    return x, y1, y2


def test_gradnorm_moves_weights_towards_the_small_task_and_keeps_them_normalised():
    torch.manual_seed(0)
    x, y1, y2 = _toy_problem()
    model = _Toy()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gn = GradNorm(2, alpha=1.5, lr=0.025)
    history = []
    for _ in range(60):
        p1, p2 = model(x)
        losses = torch.stack([((p1 - y1) ** 2).mean(), ((p2 - y2) ** 2).mean()])
        opt.zero_grad()
        gn.backward(losses, model.shared.weight)
        opt.step()
        w = gn.weights.detach()
        assert (w > 0).all() and float(w.sum()) == pytest.approx(2.0, abs=1e-5)
        history.append(w.clone())
    # the huge-loss task dominates the shared gradient: its weight must fall, the other's rise
    assert history[0][0] < 1.0 < history[0][1]
    assert history[-1][0] < history[0][0] and history[-1][1] > history[0][1]
    assert history[-1][0] < 0.05
    assert gn.initial_losses is not None and gn.initial_losses[0] > 1e3 * gn.initial_losses[1]


def test_gradnorm_subtraction_trick_gives_the_true_task_gradient_norms():
    torch.manual_seed(1)
    x, y1, y2 = _toy_problem()
    model = _Toy()
    gn = GradNorm(2)
    with torch.no_grad():
        gn.weights.copy_(torch.tensor([0.4, 1.6]))
    p1, p2 = model(x)
    losses = torch.stack([((p1 - y1) ** 2).mean(), ((p2 - y2) ** 2).mean()])
    direct = gn.task_gradient_norms(losses, model.shared.weight)
    seen = {}
    gn.update = lambda losses, norms: seen.setdefault("norms", norms)  # capture what backward computes
    model.zero_grad()
    gn.backward(losses, model.shared.weight)
    torch.testing.assert_close(seen["norms"], direct, rtol=1e-4, atol=1e-6)
    # the network gradient is that of Σ w_i L_i with the pre-update weights
    expect = torch.autograd.grad(
        (
            torch.tensor([0.4, 1.6])
            * torch.stack([((model(x)[0] - y1) ** 2).mean(), ((model(x)[1] - y2) ** 2).mean()])
        ).sum(),
        model.shared.weight,
    )[0]
    torch.testing.assert_close(model.shared.weight.grad, expect, rtol=1e-5, atol=1e-5)


def test_equal_weights_are_the_plain_sum():
    x, y1, y2 = _toy_problem()
    model = _Toy()
    p1, p2 = model(x)
    losses = torch.stack([((p1 - y1) ** 2).mean(), ((p2 - y2) ** 2).mean()])
    TaskWeights(2).backward(losses, model.shared.weight)
    g = model.shared.weight.grad.clone()
    model.zero_grad()
    p1, p2 = model(x)
    (((p1 - y1) ** 2).mean() + ((p2 - y2) ** 2).mean()).backward()
    torch.testing.assert_close(model.shared.weight.grad, g)
