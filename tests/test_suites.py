"""Suites expand to the trials they promise (no Ray needed)."""

from __future__ import annotations

import warnings

import pytest

import datasets
from harness.suites import PAPER_MODELS, QUICK_MODELS, SuiteError, SuiteOptions, get_suite


def build(name: str, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        return get_suite(name).build(SuiteOptions(**opts))


def test_smoke_runs_every_tiny_model_briefly(shared_data):
    import models

    specs = build("smoke")
    tiny = {n for n in models.list_models() if models.get_model_entry(n).tiny}
    assert {s.model for s in specs} == tiny
    assert all(
        s.source == "surrogate" and s.crop is not None and s.training.epochs == 1 for s in specs
    )


def test_quick_covers_six_models_on_two_scenes(shared_data):
    specs = build("quick")
    assert {(s.model, s.scene) for s in specs} == {
        (m, sc) for m in QUICK_MODELS for sc in ("indian_pines", "salinas")
    }
    assert (*PAPER_MODELS[:-1], "claresnet_lite") == QUICK_MODELS
    baselines = [s for s in specs if s.model in ("hybridsn", "ssrn", "spectralformer")]
    assert all(
        (s.training.epochs, s.training.lr, s.training.patience) == (30, 1e-3, 6) for s in baselines
    )
    (lite, _) = [s for s in specs if s.model == "claresnet_lite"]
    assert (lite.training.epochs, lite.training.lr, lite.training.patience) == (12, 1e-4, 4)
    assert (lite.n_components, lite.patch_size) == (15, 7)  # the lighter input, by name
    assert all(s.max_train_per_class == 80 and s.crop[1] - s.crop[0] == 64 for s in specs)


def test_paper_refuses_surrogates_unless_told(shared_data):
    with pytest.raises(SuiteError, match="--source surrogate explicitly"):
        build("paper")
    specs = build("paper", source="surrogate", source_given=True)
    assert len(specs) == 6 * 2 * 5 and {s.seed for s in specs} == set(range(5))
    assert all(s.recipe == "unified" and s.training.epochs in (1, 40) for s in specs)
    published = build("published", source="surrogate", source_given=True, seeds=1)
    assert {s.recipe for s in published} == {"published"}


def test_leakage_crosses_protocols_and_fit_scopes(shared_data):
    specs = build("leakage", models=("random_forest",), scenes=("indian_pines",))
    assert {(s.protocol, s.pca_fit) for s in specs} == {
        (p, f) for p in ("paper", "disjoint", "block_cv") for f in ("scene", "train")
    }
    # 3 seeds of paper and disjoint, 2 repetitions of block_cv's 5 folds; per PCA fit
    assert len({s.spec_hash for s in specs}) == len(specs) == 2 * (3 + 3 + 2 * 5) == 32
    cv = [s for s in specs if s.protocol == "block_cv" and s.pca_fit == "train"]
    assert sorted((s.seed, s.protocol_params["fold"]) for s in cv) == [
        (seed, fold) for seed in range(2) for fold in range(5)
    ]
    assert len({s.config_hash for s in cv}) == 1  # one leaderboard row
    # the buffer follows the model's window, as in disjoint
    assert all(
        s.protocol_params["patch_size"] == s.patch_size for s in specs if s.protocol != "paper"
    )
    seeds = build("leakage", models=("random_forest",), scenes=("indian_pines",), seeds=1)
    assert len(seeds) == 2 * (1 + 1 + 5)  # --seeds sets every protocol's repetitions
    # --protocol and --pca-fit pick a part of the comparison: the same trials
    part = build(
        "leakage", models=("random_forest",), scenes=("indian_pines",), protocol="disjoint",
        pca_fit="train",
    )  # fmt: skip
    assert [s.spec_hash for s in part] == [
        s.spec_hash for s in specs if s.protocol == "disjoint" and s.pca_fit == "train"
    ]


def test_pca_fit_sets_where_a_grid_suite_fits_pca(shared_data):
    common = {"models": ("random_forest",), "scenes": ("indian_pines",), "seeds": 1}
    common |= {"source": "surrogate", "source_given": True}
    scene, train = build("paper", **common), build("paper", **common, pca_fit="train")
    assert [s.pca_fit for s in scene] == ["scene"] and [s.pca_fit for s in train] == ["train"]
    assert train[0].config_hash != scene[0].config_hash
    leak = build("leakage", **common)
    # the same trial as the leakage suite's random split with PCA on the training pixels
    assert train[0].spec_hash in {s.spec_hash for s in leak}


def test_a_cross_validation_protocol_runs_every_fold_of_every_seed(shared_data):
    specs = build("smoke", protocol="block_cv", models=("random_forest_tiny",), seeds=2)
    assert [(s.seed, s.protocol_params["fold"]) for s in specs] == [
        (seed, fold) for seed in range(2) for fold in range(5)
    ]
    assert len({s.spec_hash for s in specs}) == 10 and len({s.config_hash for s in specs}) == 1
    paper = build("smoke", models=("random_forest_tiny",), seeds=2)
    assert len(paper) == 2 and all("fold" not in s.protocol_params for s in paper)


def test_unknown_suite_suggests():
    with pytest.raises(SuiteError, match="Did you mean 'smoke'"):
        get_suite("smok")
