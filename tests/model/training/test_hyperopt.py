"""TPE search on real Mg–X slabs: the space gives valid configs, trials persist as JSON, a stopped
search resumes with the same history, and the surface depth is changed by recomputing only the flag."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semcgcnn.model.config import GraphConfig, HyperoptConfig, ModelConfig, SearchSpace, TrainConfig
from semcgcnn.model.training.tpe_search import (
    MgData,
    SearchMismatchError,
    configs_of,
    load_trials,
    paper_params,
    paper_vals,
    params_of,
    run_search,
    space_expression,
    suggest,
    trials_of,
)

# every 20th Mg–X slab (161 rows), one epoch per trial: a real search in seconds
CFG = HyperoptConfig(max_evals=3, epochs=1, row_stride=20, n_startup=2, threads=1)


@pytest.fixture(scope="module")
def data():
    return MgData(CFG.row_stride)


def test_sampled_points_are_valid_configs():
    from hyperopt import rand
    from hyperopt.base import Domain

    space = SearchSpace()
    domain = Domain(lambda _: 0.0, space_expression(space))
    seen_wd = set()
    for tid in range(40):
        (doc,) = rand.suggest([tid], domain, trials_of([]), tid)
        vals = {k: list(v) for k, v in doc["misc"]["vals"].items()}
        p = params_of(space, vals)
        model, train_cfg, depth = configs_of(p, CFG)
        assert isinstance(model, ModelConfig) and isinstance(train_cfg, TrainConfig)
        assert space.lr[0] <= train_cfg.lr <= space.lr[1]
        assert train_cfg.batch_size in space.batch_size and model.n_conv in space.n_conv
        assert model.atom_fea_len in space.atom_fea_len and model.h_fea_len in space.h_fea_len
        assert model.n_hidden in space.n_hidden and depth in space.surface_depth
        assert space.gradnorm_alpha[0] <= train_cfg.gradnorm_alpha <= space.gradnorm_alpha[1]
        assert (
            train_cfg.weight_decay == 0.0
            or space.weight_decay[0] <= train_cfg.weight_decay <= space.weight_decay[1]
        )
        assert train_cfg.epochs == 1 and train_cfg.split == "grouped" and train_cfg.seed == 0
        seen_wd.add(train_cfg.weight_decay == 0.0)
    assert seen_wd == {True, False}  # weight decay is sometimes off, sometimes on


def test_the_paper_point_is_the_config_defaults():
    space = SearchSpace()
    p = params_of(space, paper_vals(space))
    assert p == paper_params()
    model, train_cfg, depth = configs_of(p, CFG)
    assert (model.atom_fea_len, model.n_conv, model.h_fea_len, model.n_hidden) == (64, 3, 128, 3)
    assert (train_cfg.lr, train_cfg.batch_size, train_cfg.gradnorm_alpha, train_cfg.weight_decay) == (
        1e-3,
        64,
        1.5,
        0.0,
    )
    assert depth == GraphConfig().surface_depth == 2.0
    with pytest.raises(ValueError, match="batch_size"):
        paper_vals(SearchSpace(batch_size=(16, 32)))


def test_recomputed_surface_flag_equals_a_full_featurization(data):
    from semcgcnn.datasets import load_arrays
    from semcgcnn.model.featurize import featurize_arrays
    from semcgcnn.model.graphs import dataset_graphs_at_depth

    gs3 = dataset_graphs_at_depth("mg_binary_slabs", 3.0)
    _, arr = load_arrays("mg_binary_slabs")
    cfg3 = GraphConfig(surface_depth=3.0)
    assert gs3.config.key() == cfg3.key()
    for i in (0, 500, 3217):
        a, b = arr.atom_ptr[i], arr.atom_ptr[i + 1]
        full = featurize_arrays(arr.lattices[i], arr.frac_coords[a:b], arr.atomic_numbers[a:b], cfg3)
        g = gs3[i]
        np.testing.assert_array_equal(g.side, full.side)
        w = full.nbr_idx.shape[1]  # the set pads every graph to its widest atom with weight-0 edges
        np.testing.assert_array_equal(g.nbr_idx[:, :w], full.nbr_idx)
        np.testing.assert_array_equal(g.nbr_weight[:, :w], full.nbr_weight)
        assert (g.nbr_weight[:, w:] == 0).all()
    flagged = {d: data.tensors(d).atom_fea[:, 92].mean().item() for d in (1.0, 2.0, 3.0)}
    assert flagged[1.0] < flagged[2.0] < flagged[3.0]  # a deeper surface flags more atoms


def test_search_persists_and_resumes_with_the_same_history(tmp_path, data):
    straight = run_search(tmp_path / "a", CFG, progress=False, data=data)
    doc = json.loads((tmp_path / "a" / "trials.json").read_text())
    assert [t["tid"] for t in doc["trials"]] == [0, 1, 2]
    assert doc["trials"][0]["params"] == paper_params()
    for t in doc["trials"]:
        assert t["status"] == "ok" and 0.1 < t["val_loss"] < 5.0 and t["wall_s"] > 0
        assert set(t["params"]) == set(paper_params())
        assert t["val_mae"]["surface_energy"] > 0 and t["val_mae"]["work_function"] > 0
    assert len({json.dumps(t["params"], sort_keys=True) for t in doc["trials"]}) == 3
    assert straight["best"]["val_loss"] == min(t["val_loss"] for t in straight["trials"])
    assert [t["params"] for t in straight["trials"]] == [t["params"] for t in doc["trials"]]

    # "killed" after 2 trials, then the same command again with the full budget
    first = run_search(
        tmp_path / "b", HyperoptConfig(**{**CFG.to_dict(), "max_evals": 2}), progress=False, data=data
    )
    assert len(first["trials"]) == 2
    walls = [t["wall_s"] for t in json.loads((tmp_path / "b" / "trials.json").read_text())["trials"]]
    resumed = run_search(tmp_path / "b", CFG, progress=False, data=data)
    again = json.loads((tmp_path / "b" / "trials.json").read_text())["trials"]
    assert [t["wall_s"] for t in again[:2]] == walls  # the finished trials were not run again
    assert [t["params"] for t in resumed["trials"]] == [t["params"] for t in straight["trials"]]
    assert [t["val_loss"] for t in resumed["trials"]] == [t["val_loss"] for t in straight["trials"]]
    # TPE conditions on the stored history: the next suggestion is the same from either file
    ha, hb = load_trials(tmp_path / "a", CFG, SearchSpace()), load_trials(tmp_path / "b", CFG, SearchSpace())
    assert suggest(SearchSpace(), ha, 3, CFG) == suggest(SearchSpace(), hb, 3, CFG)
    # another search's folder is refused, not mixed
    with pytest.raises(SearchMismatchError):
        run_search(
            tmp_path / "b", HyperoptConfig(**{**CFG.to_dict(), "epochs": 2}), progress=False, data=data
        )


def test_cli_refuses_bad_options(tmp_path):
    from typer.testing import CliRunner

    from semcgcnn.cli import app

    r = CliRunner().invoke(app, ["hyperopt", "--out", str(tmp_path), "--split", "sideways"])
    assert r.exit_code == 2 and "split must be grouped or random" in r.output
    r = CliRunner().invoke(app, ["hyperopt", "--out", str(tmp_path), "--train-fraction", "0"])
    assert r.exit_code == 2 and "train fraction" in r.output


def test_a_training_without_a_finite_validation_score_is_a_failed_trial(data):
    """No finite score (here: validation rows without labels) raises TrainingDivergedError, which
    the search records as a failed trial, instead of a TypeError from loading no best model."""
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs_at_depth
    from semcgcnn.model.training.train import TrainingDivergedError, train

    tr, va, te = data.split("grouped", 0)
    y = data.y.copy()
    y[va] = np.nan
    tensors = GraphTensors(dataset_graphs_at_depth("mg_binary_slabs", 2.0).subset(data.rows), y)
    model, train_cfg, _ = configs_of(paper_params(), CFG)
    with pytest.raises(TrainingDivergedError, match="no finite validation score"):
        train(tensors, (tr, va, te), model, train_cfg, progress=False)
