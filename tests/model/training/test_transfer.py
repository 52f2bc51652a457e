"""Transfer learning (paper Fig. 5): the fine-tune model built from a pretrained checkpoint takes
the encoder and the heads by task name, freezing fixes the encoder (batch-norm statistics
included) while the heads train.

The pretrained model is a real (tiny) one: trained here for two epochs on 160 Mg slabs, saved
and loaded through the safe checkpoint format; fine-tuning runs on real elemental slabs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from semcgcnn.model.checkpoint import load_checkpoint, save_checkpoint
from semcgcnn.model.config import ModelConfig, TrainConfig
from semcgcnn.model.network import ENCODER
from semcgcnn.model.training.train import train
from semcgcnn.model.training.transfer import train_transfer, transfer_model, transfer_tensors

SE, WF = "surface_energy", "work_function"
STEP = TrainConfig(epochs=1, batch_size=16, weighting="equal", threads=1, seed=0)


@pytest.fixture(scope="module")
def parent(mg_small, tmp_path_factory):
    """A real pretrained checkpoint: 2 epochs of the sem network on 160 Mg slabs, saved and loaded."""
    data, _ = mg_small
    idx = np.arange(len(data))
    split = (idx[:128], idx[128:], idx[:0])
    cfg = TrainConfig(epochs=2, batch_size=32, threads=1, seed=0)
    res = train(data, split, ModelConfig(), cfg, progress=False)
    path = save_checkpoint(
        tmp_path_factory.mktemp("pre") / "pre", res.model, data.config, res.normalizer, cfg
    )
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def elemental_se(parent):
    """The elemental slabs with their surface energy only (a one-task target set), 96 training,
    32 validation rows."""
    data, _ = transfer_tensors(parent, ("elemental_slabs",), (SE,))
    rows = np.random.default_rng(0).permutation(len(data))
    return data, (np.sort(rows[:96]), np.sort(rows[96:128]), np.sort(rows[128:160]))


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_task_model_takes_the_pretrained_encoder_and_se_head(parent, elemental_se):
    model = transfer_model(parent, (SE,))
    assert model.cfg.tasks == (SE,) and list(model.heads) == [SE]
    assert _equal(_state(model.heads[SE]), _state(parent.model.heads[SE]))
    for name in ENCODER:  # weights and batch-norm running statistics
        assert _equal(_state(getattr(model, name)), _state(getattr(parent.model, name)))
    # the same function: its prediction is the pretrained model's SE column on real slabs
    data, _ = elemental_se
    b = data.batch(np.arange(40))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(*b.inputs()), parent.model(*b.inputs())[:, :1], atol=1e-6)


def test_head_is_chosen_by_task_name(parent):
    wf = transfer_model(parent, (WF,))
    assert _equal(_state(wf.heads[WF]), _state(parent.model.heads[WF]))
    assert not _equal(_state(wf.heads[WF]), _state(parent.model.heads[SE]))
    swapped = transfer_model(parent, (WF, SE))  # task order follows the request, heads follow the names
    assert _equal(_state(swapped.heads[SE]), _state(parent.model.heads[SE]))
    with pytest.raises(ValueError, match="one of the pretrained model's"):
        transfer_model(parent, ("bulk_modulus_vrh",))


def test_frozen_encoder_stays_fixed_and_heads_train(parent, elemental_se):
    data, split = elemental_se
    res = train_transfer(parent, data, split, STEP, tasks=(SE,), freeze=True, progress=False)
    for name in ENCODER:  # parameters and running statistics unchanged after a training epoch
        assert _equal(_state(getattr(res.model, name)), _state(getattr(parent.model, name)))
        assert not any(p.requires_grad for p in getattr(res.model, name).parameters())
    head = _state(res.model.heads[SE])
    pre = _state(parent.model.heads[SE])
    assert all(not torch.equal(head[k], pre[k]) for k in head)  # every head tensor moved
    assert np.isfinite(res.metrics["val"][SE]["mae"])


def test_unfrozen_transfer_trains_the_encoder_and_leaves_the_parent_alone(parent, elemental_se):
    before = _state(parent.model)
    data, split = elemental_se
    res = train_transfer(parent, data, split, STEP, tasks=(SE,), progress=False)
    conv = _state(res.model.convs)
    assert all(not torch.equal(conv[k], before[f"convs.{k}"]) for k in conv if "weight" in k)
    assert _equal(_state(parent.model), before)  # the pretrained model is copied, not trained


def test_scratch_is_the_same_architecture_randomly_initialised(parent, elemental_se):
    data, split = elemental_se
    tl = transfer_model(parent, (SE,))
    res = train_transfer(
        parent, data, split, replace(STEP, epochs=1), tasks=(SE,), scratch=True, progress=False
    )
    assert res.model.cfg == tl.cfg
    assert not torch.equal(res.model.embedding.weight, parent.model.embedding.weight)


def test_gradnorm_needs_a_trainable_shared_layer(parent):
    data, _ = transfer_tensors(parent, ("elemental_slabs",))
    split = (np.arange(32), np.arange(32, 48), np.arange(0))
    with pytest.raises(ValueError, match="GradNorm"):
        train_transfer(parent, data, split, replace(STEP, weighting="gradnorm"), freeze=True, progress=False)
