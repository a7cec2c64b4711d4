"""The search suite: search spaces, plans, the studies table, and a small real study
through Ray Tune's OptunaSearch + ASHA on the session Ray."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest

import datasets
from harness import run as run_cli
from harness.analysis import seeds
from harness.search import (
    CLARESNET_SPACE,
    CLARESNET_TINY_SPACE,
    SEARCH_SEED_OFFSET,
    SEARCH_SPACES,
    SearchError,
    SearchPlan,
    apply_params,
    study_params,
    to_optuna,
)
from harness.spec import make_spec
from harness.store import ResultStore, StoreError
from harness.suites import SuiteError, SuiteOptions, get_suite


def _crop(scene):
    from harness.suites import _crop_with_most_classes

    return _crop_with_most_classes(scene, 32, 32)


@pytest.fixture(scope="module")
def tiny_base(ip_surrogate):
    """A claresnet_tiny spec on the smoke crop: 20 training pixels per class, 3 epochs."""
    return make_spec(
        "claresnet_tiny",
        _crop(ip_surrogate),
        seed=SEARCH_SEED_OFFSET,
        max_train_per_class=20,
        training={"epochs": 3, "batch_size": 32},
    )


# --------------------------------------------------------------------------- spaces and plans


@pytest.mark.parametrize("model", sorted(SEARCH_SPACES))
def test_every_point_of_the_space_builds_the_model(model):
    """Every choice of every categorical parameter and both ends of every range build a
    model that runs: a forward pass gives finite logits of the right shape."""
    import torch

    import models
    from harness.search import decode

    space = SEARCH_SPACES[model]
    dists = to_optuna(space)
    tuned = {name: d for name, d in space.items() if d["target"] == "hparams"}
    widest = max(len(d["choices"]) for d in tuned.values() if d["type"] == "categorical")
    x = torch.randn(2, 30, 7, 7, generator=torch.Generator().manual_seed(0))
    for point in range(max(2, widest)):
        hparams = {}
        for name, d in tuned.items():
            dist = dists[name]
            if d["type"] == "categorical":
                value = list(dist.choices)[point % len(dist.choices)]
            else:
                value = dist.low if point % 2 == 0 else dist.high
            hparams[name] = decode(value, d)
        net = models.build_model(model, n_bands=30, n_classes=4, patch_size=7, **hparams).eval()
        with torch.no_grad():
            logits = net(x)
        assert logits.shape == (2, 4) and torch.isfinite(logits).all(), hparams


def test_apply_params_decodes_tuples_and_training_values(tiny_base):
    params = {"dilations": "1-2-3", "scales": "1-2", "lr": 0.003, "emb_dim": 16}
    spec = apply_params(tiny_base, params, CLARESNET_TINY_SPACE, study="s1")
    assert spec.hparams["dilations"] == [1, 2, 3] and spec.hparams["scales"] == [1, 2]
    assert spec.hparams["emb_dim"] == 16 and spec.training.lr == 0.003
    assert spec.study == "s1" and spec.seed == tiny_base.seed
    assert spec.spec_hash != tiny_base.spec_hash
    # the stored spec gives the searched values back, in the sampler's encoding
    import json

    assert study_params(json.loads(spec.to_json()), CLARESNET_TINY_SPACE) == params
    with pytest.raises(SearchError, match="not in the search space"):
        apply_params(tiny_base, {"depth": 3}, CLARESNET_TINY_SPACE, study="s1")


def test_plan_name_is_stable_and_follows_the_settings(tiny_base):
    a = SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=4)
    b = SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=40)  # more trials: same study
    c = SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=4, seed=1)
    assert a.study == b.study != c.study
    assert a.study.startswith("search-claresnet_tiny-indian_pines-")
    assert SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=4, study="mine").study == "mine"
    with pytest.raises(SearchError, match="--trials 0 must be >= 1"):
        SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=0)
    with pytest.raises(SearchError, match="type 'uniform'"):
        SearchPlan(tiny_base, {"lr": {"type": "uniform"}}, n_trials=2)
    finals = a.final_specs({"emb_dim": 32, "lr": 0.001})
    assert [s.seed for s in finals] == [0, 1, 2, 3, 4]
    assert all(s.study == "" and s.hparams["emb_dim"] == 32 for s in finals)
    cv_base = tiny_base.with_(
        protocol="block_cv", protocol_params=datasets.protocol_params("block_cv")
    )
    cv = SearchPlan(cv_base, CLARESNET_TINY_SPACE, n_trials=4, final_seeds=(0, 1))
    finals = cv.final_specs({"emb_dim": 32, "lr": 0.001})  # every fold of every seed
    assert [(s.seed, s.protocol_params["fold"]) for s in finals] == [
        (seed, fold) for seed in (0, 1) for fold in range(5)
    ]
    assert len({s.config_hash for s in finals}) == 1


def test_search_suite_builds_plans_and_refuses_bad_flags(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        suite = get_suite("search")
        assert suite.kind == "search"
        with pytest.raises(SuiteError, match="--source surrogate explicitly"):
            suite.build(SuiteOptions())
        (plan,) = suite.build(
            SuiteOptions(source="surrogate", source_given=True, trials=7, seeds=2, epochs=4)
        )
        assert plan.n_trials == 7 and plan.final_seeds == (0, 1)
        assert plan.space == CLARESNET_SPACE and plan.base_spec.model == "claresnet"
        assert plan.base_spec.seed == SEARCH_SEED_OFFSET and plan.epochs == 4
        assert plan.scheduler_info()["max_t"] == 4
        with pytest.raises(SuiteError, match="no search space for it"):
            suite.build(SuiteOptions(models=("random_forest",), source="surrogate"))
        with pytest.raises(SuiteError, match="--study names one study"):
            suite.build(
                SuiteOptions(
                    scenes=("indian_pines", "salinas"),
                    study="x",
                    source="surrogate",
                    source_given=True,
                )
            )


def test_cli_search_flags_are_checked(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    assert run_cli.main(["--suite", "smoke", "--trials", "3", "--db", db]) == run_cli.EXIT_USAGE
    assert "--trials applies to the search suite only" in capsys.readouterr().err
    assert run_cli.main(["--suite", "search", "--trials", "0", "--db", db]) == run_cli.EXIT_USAGE
    assert "--trials 0 must be >= 1" in capsys.readouterr().err
    assert run_cli.main(["--suite", "search", "--epochs", "0", "--db", db]) == run_cli.EXIT_USAGE
    assert "--epochs 0 must be >= 1" in capsys.readouterr().err


def test_cli_search_dry_run_prints_the_study(capsys, tmp_path, shared_data):
    argv = ["--suite", "search", "--source", "surrogate", "--trials", "5", "--dry-run"]
    code = run_cli.main([*argv, "--db", str(tmp_path / "r.db"), "--models", "claresnet_tiny"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "study search-claresnet_tiny-indian_pines-" in out
    assert '"name": "TPESampler"' in out and '"seed": 0' in out and "ASHAScheduler" in out
    assert "latent_min" in out and "dilations" in out
    assert "0 of 5 trials stored, 5 to run" in out


# --------------------------------------------------------------------------- the studies table


def test_study_rows_round_trip_and_refuse_other_settings(tiny_base, tmp_path):
    store = ResultStore(tmp_path / "s.db")
    plan = SearchPlan(tiny_base, CLARESNET_TINY_SPACE, n_trials=3)
    kwargs = dict(
        run_id=None,
        base_spec=plan.base_spec,
        metric="val_oa",
        mode="max",
        seed=0,
        sampler=plan.sampler_info(),
        scheduler=plan.scheduler_info(),
        search_space=plan.space,
    )
    sid = store.start_study(plan.study, n_trials=3, **kwargs)
    assert store.start_study(plan.study, n_trials=5, **kwargs) == sid  # continued
    (study,) = store.studies()
    assert study["name"] == plan.study and study["n_trials"] == 5 and study["status"] == "running"
    assert study["search_space"]["dilations"]["encoding"] == "dash-tuple"
    assert study["sampler"]["seed"] == 0 and study["counts"] == {}
    with pytest.raises(StoreError, match="with other settings \\(seed, sampler\\)"):
        store.start_study(plan.study, n_trials=3, **{**kwargs, "seed": 1, "sampler": {"name": "x"}})
    store.finish_study(plan.study, "completed", best_trial_id=None)
    assert store.study(plan.study)["status"] == "completed"
    with pytest.raises(StoreError, match="No study 'nope'.*studies: search-claresnet_tiny"):
        store.study("nope")
    with pytest.raises(StoreError, match="status must be one of"):
        store.finish_study(plan.study, "running")
    assert store.study_trials(plan.study) == []


# --------------------------------------------------------------------------- a real study


@pytest.mark.slow
def test_small_search_stores_every_trial_and_the_best(ray_session, tiny_base, tmp_path):
    from harness.execute.options import RunOptions
    from harness.execute.search_loop import run_search

    plan = SearchPlan(
        tiny_base,
        CLARESNET_TINY_SPACE,
        n_trials=4,
        final_seeds=(0,),
        n_startup_trials=2,
        # one trial at a time, rungs at epochs 1 and 2, the better half goes on: a trial
        # worse at a rung than one before it is stopped there, so the seeded study prunes
        max_concurrent=1,
        grace_period=1,
        reduction_factor=2,
    )
    db = tmp_path / "search.db"
    options = RunOptions(db=str(db), command="pytest search", storage_path=str(tmp_path / "t"))
    summary = run_search([plan], options, out=None)
    assert summary.ok, summary.failed
    with ResultStore(db, readonly=True) as store:
        study = store.study(plan.study)
        trials = store.study_trials(plan.study)
        assert len(trials) == 4, trials
        assert {t["status"] for t in trials} == {"completed", "pruned"}, trials  # ASHA pruned
        assert all(t["value"] is not None and set(t["params"]) == set(plan.space) for t in trials)
        assert len({tuple(sorted(t["params"].items())) for t in trials}) == 4  # 4 configurations
        for t in trials:
            row = store.trial(t["id"])
            assert row["seed"] == SEARCH_SEED_OFFSET and row["study"] == plan.study
            if t["status"] == "pruned":  # stopped by ASHA: its epochs so far, no test metrics
                assert "test" not in row["metrics"] and t["epochs_run"] < 3
                assert row["info"]["pruned_by"] == "ASHAScheduler"
        completed = [t for t in trials if t["status"] == "completed"]
        best = max(completed, key=lambda t: t["value"])
        assert study["status"] == "completed" and study["best_trial_id"] == best["id"]
        assert study["best_value"] == pytest.approx(best["value"])
        assert study["best_params"] == best["params"]
        assert study["sampler"]["name"] == "TPESampler" and study["seed"] == 0
        assert study["counts"].get("completed", 0) + study["counts"].get("pruned", 0) == 4
        # the best configuration, trained again on the evaluation seed, is a leaderboard trial
        (final,) = [r for r in store.trials(study="") if r["run_id"] == summary.run_id]
        assert final["status"] == "completed" and final["seed"] == 0
        spec = store.trial(final["id"])["spec"]
        assert study_params(spec, plan.space) == best["params"]
        (board,) = seeds.leaderboard(store)
        assert board["model"] == "claresnet_tiny" and board["seeds"] == [0]
        assert store.runs()[-1]["status"] == "completed"

    # the same command again: nothing re-runs; one more trial extends the study
    options = RunOptions(db=str(db), storage_path=str(tmp_path / "t"))
    again = run_search([plan], options, out=None)
    assert again.completed == [] and again.skipped == 4 + 1
    more = run_search([replace(plan, n_trials=5)], options, out=None)
    assert more.ok
    with ResultStore(db, readonly=True) as store:
        assert len(store.study_trials(plan.study)) == 5
        assert store.study(plan.study)["n_trials"] == 5


@pytest.mark.slow
def test_pruned_trial_is_stored_with_its_curves(ray_session, tiny_base, tmp_path):
    """What the driver stores for a trial that ASHA stopped (the writer path, no training)."""
    import sys

    from harness.execute.context import open_run
    from harness.execute.options import RunOptions

    spec = replace(tiny_base, study="s")
    epochs = [
        {"train_loss": 2.0, "train_acc": 0.2, "val_loss": 2.1, "val_acc": 0.25},
        {"train_loss": 1.5, "train_acc": 0.4, "val_loss": 1.9, "val_acc": 0.31},
    ]
    db = tmp_path / "p.db"
    with open_run(RunOptions(db=str(db), suite="search", max_failures=0), sys.stderr) as ctx:
        ctx.ensure_ray()
        ctx.write_pruned(spec, epochs)
    with ResultStore(db, readonly=True) as store:
        (row,) = store.trials(study="s")
        assert row["status"] == "pruned"
        detail = store.trial(row["id"])
        assert detail["metrics"] == {"val": {"oa": 0.31}}
        assert detail["info"]["epochs_run"] == 2 and detail["info"]["best_epoch"] == 2
        assert store.artifact(row["id"], "curves")["val_acc"].tolist() == pytest.approx(
            [0.25, 0.31]
        )
        assert store.runs()[-1]["status"] == "completed"
