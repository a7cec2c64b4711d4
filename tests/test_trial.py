"""The trial end to end on a small surrogate crop: a deep model and a tree model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import datasets
from harness.analysis import seeds
from harness.result import METRIC_NAMES
from harness.spec import make_spec
from harness.trial.errors import TrialError
from harness.trial.evaluate import sha256_of_test_set
from harness.trial.flow import run_trial, run_trial_safely

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def crop(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    return scene.crop_to(28, 60, 68, 100)  # 32 x 32 pixels, several classes


@pytest.fixture(scope="module")
def deep_result(crop):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # as the tests using it: results are reproducible at a fixed thread count
    spec = make_spec(
        "claresnet_tiny",
        crop,
        seed=1,
        max_train_per_class=15,
        training={"epochs": 2, "batch_size": 32},
    )
    epochs = []
    result = run_trial(spec, progress=lambda e, stats: epochs.append((e, stats)))
    torch.set_num_threads(before)
    return spec, result, epochs


def check_complete(result, crop, deep: bool) -> None:
    assert result.status == "completed"
    c = crop.n_classes
    for split in ("test", "val"):
        assert set(METRIC_NAMES) <= set(result.metrics[split])
        for name in METRIC_NAMES:
            value = result.metrics[split][name]
            assert value is not None and np.isfinite(value)
    assert 0 <= result.metrics["test"]["oa"] <= 1
    dist = result.metrics["test"]["centroid_distance"]
    assert (dist is not None and dist > 0) if deep else dist is None
    assert len(result.per_class) == c and result.confusion.shape == (c, c)
    assert result.confusion.sum() == result.info["n_test"]
    assert result.class_map.shape == crop.gt.shape and result.class_map.dtype == np.int16
    assert result.class_map.min() >= 1 and result.class_map.max() <= c
    assert result.entropy_map.shape == crop.gt.shape and result.entropy_map.dtype == np.float16
    assert np.all(result.entropy_map >= 0)
    assert result.pr_curves and all(len(p) == len(r) <= 201 for p, r in result.pr_curves.values())
    for key in (
        "fit_seconds",
        "inference_seconds",
        "n_parameters",
        "device",
        "peak_memory_bytes",
        "n_train",
        "n_val",
        "n_test",
        "train_samples_per_second",
    ):
        assert result.info[key] is not None, key
    assert result.split_counts.shape == (c, 4)
    # the test set pixel by pixel (McNemar pairs on it) and the bootstrap intervals
    tested = result.test_predictions
    assert tested["index"].size == result.info["n_test"]
    np.testing.assert_array_equal(tested["truth"], crop.gt.ravel()[tested["index"]])
    assert result.confusion[tested["truth"] - 1, tested["pred"] - 1].all()
    assert np.mean(tested["truth"] == tested["pred"]) == pytest.approx(result.metrics["test"]["oa"])
    assert result.info["test_set_sha256"] == sha256_of_test_set(tested["index"], crop.gt.shape)
    for name in ("oa", "aa", "kappa"):
        low, high = (result.metrics["test"][f"{name}_ci_{end}"] for end in ("low", "high"))
        assert low <= result.metrics["test"][name] <= high
    silhouette = result.metrics["test"]["silhouette"]
    assert (-1 <= silhouette <= 1) if deep else silhouette is None


def test_deep_trial_end_to_end(deep_result, crop):
    spec, result, epochs = deep_result
    check_complete(result, crop, deep=True)
    assert [e for e, _ in epochs] == [1, 2] and "val_acc" in epochs[0][1]
    assert len(result.curves["train_loss"]) == 2 and len(result.curves["val_acc"]) == 2
    assert result.embedding_2d.shape[1] == 2
    assert len(result.embedding_2d) == len(result.embedding_labels) == result.info["n_test"]
    assert result.info["epochs_run"] == 2 and result.info["best_epoch"] in (1, 2)
    assert result.spec_hash == spec.spec_hash


def test_deep_trial_is_a_pure_function_of_its_spec(deep_result):
    spec, result, _ = deep_result
    again = run_trial(spec)
    assert again.metrics == result.metrics
    np.testing.assert_array_equal(again.class_map, result.class_map)
    assert again.curves == result.curves


def test_tree_trial_end_to_end(crop):
    spec = make_spec("random_forest_tiny", crop, seed=0)
    result = run_trial(spec)
    check_complete(result, crop, deep=False)
    assert result.embedding_2d is None and result.curves == {}
    assert result.metrics["test"]["oa"] > 0.3


def test_a_failing_trial_is_returned_as_failed(crop):
    spec = make_spec("claresnet_tiny", crop, hparams={"emb_dim": 30}, training={"epochs": 1})
    result = run_trial_safely(spec)
    assert result.status == "failed" and "emb_dim=30" in result.error
    assert "Traceback" in result.traceback and result.metrics == {} and result.class_map is None


def test_nan_loss_fails_the_trial_clearly(crop):
    spec = make_spec("claresnet_tiny", crop, training={"epochs": 1, "lr": 1e30})
    result = run_trial_safely(spec)
    assert result.status == "failed"
    assert "FloatingPointError" in result.error and "Fix: lower the learning rate" in result.error


def test_changed_data_is_refused(crop):
    spec = make_spec("random_forest_tiny", crop).with_(scene_fingerprint="f" * 64)
    with pytest.raises(TrialError, match=r"array values\) or the surrogate generator changed"):
        run_trial(spec)


def test_subsampling_and_patience(crop):
    spec = make_spec(
        "claresnet_tiny",
        crop,
        max_train_per_class=3,
        training={"epochs": 6, "patience": 1, "select_on": "val_loss"},
    )
    result = run_trial(spec)
    assert result.info["n_train"] <= 3 * crop.n_classes
    assert result.info["epochs_run"] <= 6


def test_patience_stops_training_when_validation_stops_improving(crop):
    """At lr 0 a model without batch statistics (SpectralFormer: layer norms) keeps its
    validation loss exactly: epoch 1 is the best, and patience 2 stops the fit after
    epoch 3 of 20, keeping epoch 1."""
    spec = make_spec(
        "spectralformer_tiny",
        crop,
        max_train_per_class=3,
        training={"epochs": 20, "lr": 0.0, "patience": 2, "select_on": "val_loss"},
    )
    result = run_trial(spec)
    assert result.info["epochs_run"] == 3 and result.info["best_epoch"] == 1
    assert len(result.curves["val_loss"]) == 3
    assert len(set(result.curves["val_loss"])) == 1  # nothing improved: the stop is patience's


def test_trial_results_are_stored_read_back_and_reported(deep_result, crop, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from harness.store import ResultStore

    _, deep, _ = deep_result
    tree = run_trial(make_spec("random_forest_tiny", crop, seed=0))
    failed = run_trial_safely(make_spec("claresnet_tiny", crop, hparams={"emb_dim": 30}))
    db = tmp_path / "results.db"
    store = ResultStore(db)
    run_id = store.start_run("pytest", "test", {})
    ids = [store.write(r, run_id).trial_id for r in (deep, tree, failed)]
    assert store.write(deep, run_id).trial_id == ids[0]  # idempotent
    store.finish_run(run_id, "completed")
    assert store.completed_hashes() == {deep.spec_hash, tree.spec_hash}
    detail = store.trial(ids[0])
    assert len(detail["per_class"]) == crop.n_classes
    np.testing.assert_array_equal(store.artifact(ids[0], "class_map"), deep.class_map)
    rows = seeds.leaderboard(store)
    assert {r["model"] for r in rows} == {"claresnet_tiny", "random_forest_tiny"}
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "harness.report", "--db", str(db)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "random_forest_tiny" in out.stdout and "SURROGATE" in out.stdout
