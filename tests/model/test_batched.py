"""The batched ensemble (members stacked into one model) predicts what its members do one by one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcgcnn.model.batched import StackedMembers
from semcgcnn.model.config import ModelConfig
from semcgcnn.model.inference import Normalizer
from semcgcnn.model.network import SEMCGCNN


def _members(cfg: ModelConfig, k: int) -> list[SEMCGCNN]:
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        m = SEMCGCNN(cfg)
        with torch.no_grad():  # distinct, non-trivial batch-norm statistics per member
            for conv in m.convs:
                for bn in (conv.bn1, conv.bn2):
                    bn.running_mean.uniform_(-1, 1)
                    bn.running_var.uniform_(0.5, 2)
                    bn.weight.uniform_(0.5, 1.5)
                    bn.bias.uniform_(-0.5, 0.5)
        if cfg.readout == "surface":
            m.set_target_scale([0.05 + 0.01 * seed, 4.0], [0.02, 0.5 + 0.1 * seed])
        out.append(m.eval())
    return out


@pytest.mark.parametrize(
    "cfg",
    [ModelConfig(readout="surface"), ModelConfig(), ModelConfig(surface_pool=True)],
    ids=["surface", "paper", "paper+surface_pool"],
)
def test_stacked_members_equal_the_members_one_by_one(mg_small, cfg):
    data, _ = mg_small
    models = _members(cfg, 3)
    b = data.batch(np.arange(24))
    with torch.no_grad():
        loop = torch.stack([m(*b.inputs()) for m in models])
        stacked = StackedMembers(models)(*b.inputs())
    assert stacked.shape == (3, 24, 2)
    torch.testing.assert_close(stacked, loop, atol=2e-5, rtol=1e-5)
    assert (loop[0] - loop[1]).abs().max() > 1e-2  # the members really differ


def test_predict_members_uses_the_stacked_model_on_the_shared_table(mg_small):
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs
    from semcgcnn.model.inference import predict_members

    models = _members(ModelConfig(readout="surface"), 4)
    norms = [Normalizer(np.array([0.05, 4.0]), np.array([0.02 + 0.001 * i, 0.5])) for i in range(4)]
    gs, _ = dataset_graphs("mg_binary_slabs")
    shared = GraphTensors(gs.subset(np.arange(0, 400, 7)), shared_edges=True)
    idx = np.arange(len(shared))
    batched = predict_members(models, norms, shared, idx, batch_size=16)
    for m in models:
        m.compile_inference(False)
    one_by_one = np.stack(
        [predict_members([m], [n], shared, idx, batch_size=16)[0] for m, n in zip(models, norms, strict=True)]
    )
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5, rtol=1e-5)
    assert not StackedMembers.supports(models[:1]) and not StackedMembers.supports(
        [models[0], models[1].train()]
    )
