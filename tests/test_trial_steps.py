"""The steps of a trial: patches extracted once, the deep fit's record, checkpoint selection."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import datasets
import models
from harness.spec import make_spec
from harness.trial.data import device_patches, prepare_data, seed_everything
from harness.trial.fit import BestCheckpoint, DeepFit, EpochCurves, EpochStats, fit_deep
from harness.trial.flow import run_trial

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def crop(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    return scene.crop_to(28, 60, 68, 100)


def _stats(epoch: int, val_loss: float, **values: float) -> EpochStats:
    base = {"train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.5, "lr": 1e-3}
    return EpochStats(
        epoch=epoch,
        val_loss=val_loss,
        samples=10,
        train_seconds=0.5,
        **{**base, **values},
    )


def _built(spec, data):
    return models.build_model(
        spec.model,
        n_bands=data.image.shape[2],
        n_classes=data.n_classes,
        patch_size=spec.patch_size,
        **spec.hparams,
    )


def test_checkpoint_selection_and_patience():
    import torch

    model = torch.nn.Linear(2, 2)
    best = BestCheckpoint("val_loss")
    for epoch, loss in enumerate([1.0, 0.5, 0.7, math.nan, 0.5], start=1):
        best.update(model, _stats(epoch, loss))
    assert (best.epoch, best.value, best.stale) == (2, 0.5, 3)  # ties and NaN never selected
    assert set(best.state) == {"weight", "bias"} and best.state["weight"].device.type == "cpu"
    assert best.patience_spent(3) and not best.patience_spent(4) and not best.patience_spent(None)
    last = BestCheckpoint("last")
    for epoch in (1, 2):
        last.update(model, _stats(epoch, math.nan))
    assert (last.epoch, last.stale) == (2, 0)
    higher = BestCheckpoint("val_acc")
    for epoch, acc in enumerate([0.2, 0.4, 0.3], start=1):
        higher.update(model, _stats(epoch, 1.0, val_acc=acc))
    assert (higher.epoch, higher.stale) == (2, 1)


def test_epoch_records_keep_the_stored_keys():
    curves = EpochCurves()
    curves.append(_stats(1, 0.25))
    assert curves.as_dict() == {
        "train_loss": [1.0],
        "train_acc": [0.5],
        "val_loss": [0.25],
        "val_acc": [0.5],
        "lr": [1e-3],
    }
    assert list(_stats(1, 0.25).progress_stats(best_epoch=1)) == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "best_epoch",
        "samples_per_second",
        "val_samples_per_second",
    ]


def test_fit_deep_returns_its_record_and_reuses_given_validation_patches(crop):
    import torch

    spec = make_spec(
        "claresnet_tiny",
        crop,
        seed=4,
        max_train_per_class=5,
        training={"epochs": 8, "patience": 1, "lr": 3e-3},
    )
    cpu = torch.device("cpu")
    fits, reported = [], []
    for given in (False, True):
        seed_everything(spec.seed)
        data = prepare_data(spec, scene=crop)
        model = _built(spec, data)
        val = device_patches(spec, data, data.val, cpu) if given else None
        fits.append(fit_deep(model, spec, data, cpu, lambda e, s: reported.append((e, s)), val=val))
    fit, again = fits
    assert isinstance(fit, DeepFit) and fit.curves == again.curves
    assert len(fit.curves.train_loss) == fit.epochs_run == len(reported) // 2
    assert fit.stop_reason == ("patience" if fit.epochs_run < 8 else "epochs")
    assert 1 <= fit.best_epoch <= fit.epochs_run and fit.selected_on == "val_acc"
    assert fit.n_train == data.train.size and fit.amp is None
    assert list(fit.info()) == [
        "fit_seconds",
        "epochs_run",
        "best_epoch",
        "selected_on",
        "train_samples_per_second",
        "amp",
        "fast_path",
    ]
    assert [s["best_epoch"] for _, s in reported][-1] == fit.best_epoch


def test_a_trial_extracts_each_split_once(crop, monkeypatch):
    spec = make_spec("claresnet_tiny", crop, seed=0, max_train_per_class=3, training={"epochs": 1})
    data = prepare_data(spec, scene=crop)
    calls = []
    original = datasets.extract_patches

    def counting(image, idx, *args, **kwargs):
        calls.append(np.asarray(idx).copy())
        return original(image, idx, *args, **kwargs)

    monkeypatch.setattr(datasets, "extract_patches", counting)
    result = run_trial(spec, scene=crop)
    assert result.status == "completed" and "val" in result.metrics
    for split in (data.train, data.val, data.test):
        assert sum(np.array_equal(c, split) for c in calls) == 1
