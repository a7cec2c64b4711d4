"""The run's progress without Ray: expected trial costs, the ETA, the epoch lines.

A fake clock drives every time; no trial trains and Ray is never started.
"""

from __future__ import annotations

import re

import pytest

from harness.execute.progress import (
    LEFT_FLOOR_SHARE,
    EpochLines,
    Eta,
    EtaEstimator,
    Job,
    Observation,
    epoch_event,
    estimate_split,
    format_duration,
    history_from_store,
    status_line,
)
from harness.spec import TrainingConfig, TrialSpec


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make(model: str, *, epochs: int = 40, seed: int = 0, scene: str = "indian_pines") -> TrialSpec:
    """A resolved spec without the model registry or the scene's files."""
    return TrialSpec(
        model=model,
        recipe="unified",
        hparams={},
        scene=scene,
        source="surrogate",
        scene_fingerprint="test",
        protocol="paper",
        protocol_params={"test": 0.2, "val": 0.1},
        seed=seed,
        n_components=30,
        pca_fit="scene",
        scale="none",
        whiten=False,
        patch_size=1 if model in ("xgboost", "random_forest") else 11,
        pad_mode="reflect",
        training=TrainingConfig(epochs=epochs),
    )


def seconds_only(text: str) -> bool:
    """Whether an ETA text is a number of seconds (like the "ETA 12s" of old)."""
    return re.fullmatch(r"[~>]?\d+s\b.*", text) is not None


# ----------------------------------------------------------------------------- the ETA


def test_long_trials_after_fast_tree_trials_do_not_show_seconds():
    clock = FakeClock()
    est = EtaEstimator(clock=clock)
    deep = [make("claresnet", seed=s) for s in (0, 1)]
    trees = [make("xgboost", epochs=1, seed=s) for s in range(6)]
    est.plan(deep + trees)
    est.start("c0", deep[0])
    est.start("c1", deep[1])
    # six fast tree trials, two at a time beside the two CLAReSNet trials
    for pair in range(3):
        for i in (2 * pair, 2 * pair + 1):
            est.start(f"t{i}", trees[i])
        clock.advance(3.0)
        for i in (2 * pair, 2 * pair + 1):
            est.finish(f"t{i}", fit_seconds=2.5)
    clock.advance(420.0 - 9.0)  # 7 minutes into the run, both CLAReSNet trials still going

    eta = est.eta()
    # the mean of the finished trials would say 420 s / 6 * 2 = 140 s
    assert eta.left == 2 and eta.unknown == 0
    assert eta.seconds > 30 * 60, eta
    assert not seconds_only(eta.text())
    assert eta.prior and eta.text().startswith("~")

    # an epoch report: the trial's own pace takes over (10 min for epoch 1 of 40)
    clock.advance(180.0)
    est.epoch("c0", 1, 40)
    est.epoch("c1", 1, 40)
    assert est.eta().seconds >= 39 * 600


def test_without_any_cost_the_eta_says_unknown():
    clock = FakeClock()
    est = EtaEstimator(priors={}, clock=clock)
    deep = [make("claresnet", seed=s) for s in (0, 1)]
    trees = [make("xgboost", epochs=1, seed=s) for s in range(4)]
    est.plan(deep + trees)
    for i, spec in enumerate(deep + trees):
        est.start(str(i), spec)
    clock.advance(2.0)
    for i in range(2, 6):
        est.finish(str(i), fit_seconds=1.5)  # trees measured: says nothing of CLAReSNet
    clock.advance(400.0)
    eta = est.eta()
    assert eta.seconds is None and eta.unknown == 2
    assert eta.text() == "unknown"
    line = status_line(
        "trials",
        6,
        {"finished": 4, "done": 4, "pruned": 0, "failed": 0, "running": 2, "remaining": 0},
        402.0,
        eta.text(),
        "started  claresnet",
    )
    assert "ETA unknown]" in line and "4/6: 4 done" in line and "6m42s elapsed" in line
    # one epoch of 40 took 10 minutes: the pace gives hours
    clock.advance(198.0)
    est.epoch("0", 1, 40)
    est.epoch("1", 1, 40)
    assert est.eta().seconds >= 39 * 600


def test_eta_learned_from_completed_trials_of_the_same_model_and_scene():
    ssrn = make("ssrn", epochs=40)
    work = Job.of(ssrn).work
    history = [
        Observation(
            ("ssrn", "unified", "indian_pines"), work, fit_seconds=100.0, other_seconds=10.0
        ),
        Observation(
            ("ssrn", "unified", "indian_pines"), work, fit_seconds=120.0, other_seconds=12.0
        ),
        Observation(("ssrn", "unified", "indian_pines"), work, fit_seconds=80.0, other_seconds=8.0),
        # another model and another scene: not used for ssrn on indian_pines
        Observation(
            ("hybridsn", "unified", "indian_pines"), work, fit_seconds=1.0, other_seconds=0.0
        ),
        Observation(("ssrn", "unified", "salinas"), work, fit_seconds=5.0, other_seconds=0.0),
    ]
    clock = FakeClock()
    est = EtaEstimator(history, concurrency=1, priors={}, clock=clock)
    assert est.expected(Job.of(ssrn)).seconds == pytest.approx(110.0)
    assert est.expected(Job.of(ssrn)).source == "measured"
    # the cost scales with the training samples: half the epochs, half the fit
    assert est.expected(Job.of(make("ssrn", epochs=20))).seconds == pytest.approx(60.0)
    est.plan([make("ssrn", seed=s) for s in range(3)])
    eta = est.eta()
    assert eta.seconds == pytest.approx(330.0) and not eta.prior and eta.unknown == 0
    assert eta.text() == "5m30s"

    # a running trial counts with what it has left, never below the floor
    est.start("a", make("ssrn", seed=0))
    clock.advance(30.0)
    assert est.eta().seconds == pytest.approx(80.0 + 2 * 110.0)
    clock.advance(200.0)
    assert est.eta().seconds == pytest.approx(LEFT_FLOOR_SHARE * 110.0 + 2 * 110.0)


def test_eta_learned_from_a_trial_completed_in_this_run():
    clock = FakeClock()
    est = EtaEstimator(priors={}, concurrency=1, clock=clock)
    est.plan([make("hybridsn", seed=s) for s in range(2)])
    est.start("a", make("hybridsn", seed=0))
    assert est.eta().text() == "unknown"
    clock.advance(50.0)
    est.finish("a", fit_seconds=40.0)
    eta = est.eta()
    assert eta.seconds == pytest.approx(50.0) and (eta.left, eta.unknown) == (1, 0)
    assert eta.text() == "50s"


def test_eta_divides_by_the_trials_that_run_at_once():
    history = [
        Observation(("ssrn", "unified", "indian_pines"), Job.of(make("ssrn")).work, 100.0, 0.0)
    ]
    clock = FakeClock()
    est = EtaEstimator(history, priors={}, clock=clock)
    specs = [make("ssrn", seed=s) for s in range(6)]
    est.plan(specs)
    est.start("a", specs[0])
    est.start("b", specs[1])
    # 2 running (100 s each) + 4 waiting (100 s each), two at a time
    assert est.eta().seconds == pytest.approx(300.0)


def test_history_from_the_database(tmp_path):
    from harness.result import TrialResult
    from harness.store import ResultStore

    store = ResultStore(tmp_path / "r.db")
    done = make("random_forest", epochs=1)
    store.write(
        TrialResult(
            spec=done,
            metrics={"test": {"oa": 0.5}},
            info={"fit_seconds": 12.0, "inference_seconds": 3.0},
        )
    )
    failed = make("random_forest", epochs=1, seed=1)
    store.write(TrialResult.failed(failed, RuntimeError("boom"), "tb"))
    history = history_from_store(store)
    assert history == [
        Observation(("random_forest", "unified", "indian_pines"), Job.of(done).work, 12.0, 3.0)
    ]
    est = EtaEstimator(history, priors={})
    est.plan([make("random_forest", epochs=1, seed=2)])
    assert est.eta().seconds == pytest.approx(15.0)


def test_split_estimate_from_the_registry():
    split = estimate_split(make("claresnet"))
    # the paper split of Indian Pines: 7,379 training pixels (docs/BENCHMARKS.md)
    assert split.train == pytest.approx(7379, abs=2)
    assert split.train + split.val + split.test == pytest.approx(10249)
    assert split.scene == 145 * 145
    cropped = make("claresnet").with_(crop=(0, 29, 0, 145), max_train_per_class=10)
    small = estimate_split(cropped)
    assert small.scene == 29 * 145 and small.train <= 16 * 10
    assert estimate_split(make("claresnet", scene="no_such_scene")) is None
    cv = make("claresnet").with_(
        protocol="block_cv", protocol_params={"k": 5, "fold": 3, "val": 0.1}
    )
    fold = estimate_split(cv)  # 4 of 5 folds, a tenth of them validation; buffer ignored
    assert (fold.train, fold.val, fold.test) == pytest.approx((0.72 * 10249, 0.08 * 10249, 2049.8))


# ----------------------------------------------------------------------------- epoch lines


STATS = {
    "epoch": 3.0,
    "train_loss": 1.23456,
    "val_acc": 0.4567,
    "samples_per_second": 13.24,
    "training_iteration": 3,
}


def test_epoch_line_says_epoch_loss_val_oa_and_samples_per_second():
    text = epoch_event("claresnet indian_pines seed 0 1a2b3c4d", STATS, 40)
    assert text == (
        "epoch 3/40 claresnet indian_pines seed 0 1a2b3c4d: "
        "train loss 1.2346, val OA 0.457, 13.2 samples/s"
    )
    fast = epoch_event("ssrn", {**STATS, "samples_per_second": 1234.4}, 40)
    assert fast.endswith("1,234 samples/s")
    missing = epoch_event("ssrn", {"epoch": 1.0, "val_acc": float("nan")}, 40)
    assert missing == "epoch 1/40 ssrn: train loss -, val OA -, - samples/s"


def test_epoch_lines_are_throttled_but_first_and_last_are_shown():
    clock = FakeClock()
    lines = EpochLines(interval=30.0, clock=clock)
    shown = []
    for epoch in range(1, 11):  # 10 epochs, 7 s each
        if lines.offer("a", epoch, 10, f"a{epoch}"):
            shown.append(epoch)
        clock.advance(7.0)
    # the first (0 s), then one 30 s or more after the last shown (35 s), and the last (63 s)
    assert shown == [1, 6, 10]
    assert lines.flush("a") is None  # the last epoch was shown already


def test_each_trial_is_throttled_on_its_own_and_its_last_epoch_comes_at_the_end():
    clock = FakeClock()
    lines = EpochLines(interval=30.0, clock=clock)
    assert lines.offer("a", 1, 40, "a1") == "a1"
    clock.advance(1.0)
    assert lines.offer("b", 1, 40, "b1") == "b1"  # another trial's first epoch
    clock.advance(1.0)
    assert lines.offer("a", 2, 40, "a2") is None
    assert lines.offer("a", 3, 40, "a3") is None
    # stopped early (patience, the scheduler): the held-back last report comes out once
    assert lines.flush("a") == "a3"
    assert lines.flush("a") is None
    clock.advance(30.0)
    assert lines.offer("b", 2, 40, "b2") == "b2"


def test_durations():
    assert format_duration(12.4) == "12s"
    assert format_duration(185) == "3m05s"
    assert format_duration(2 * 3600 + 7 * 60 + 30) == "2h07m"
    assert format_duration(None) == "-" and format_duration(float("inf")) == "-"
    assert Eta(None, left=0).text() == "-"
    assert (
        Eta(300.0, left=3, unknown=1, prior=True).text() == ">5m00s (from priors; 1 trial unknown)"
    )
