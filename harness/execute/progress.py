"""What the terminal says while a run goes on: the ETA and the progress lines.

Nothing here needs Ray: the runner's Tune callback (:mod:`harness.execute`) is a thin
adapter that feeds the events of its trials to an :class:`EtaEstimator` and an
:class:`EpochLines`, and prints :func:`status_line`. Every time comes from an
injectable ``clock`` (``time.monotonic`` by default), so the tests drive it.

The ETA is the expected cost of the trials still to run, not the mean of the ones
that finished (a few fast tree trials say nothing about two long CLAReSNet trials).
The expected cost of one trial, per (model, recipe, scene), first found of:

1. ``measured``: completed trials of the same model, recipe and scene, in this run
   or already in the database (one query when the run's Tuner starts): fit time per
   training sample (median) times the trial's training samples, plus the median of
   the rest of their wall time (data preparation, inference, metrics, the write).
2. ``pace``: a running trial of the same model, recipe and scene that reported
   epochs: its wall time per epoch scaled to the trial's epochs and training pixels.
3. ``prior``: the throughput measured per model and recipe on the 2-core CPU of
   docs/BENCHMARKS.md (:data:`PRIOR_THROUGHPUT`), applied to the trial's estimated
   training samples and inference pixels (see :func:`estimate_split`).
4. none: the trial counts as "unknown" and the ETA says so.

Training samples of a spec are ``epochs x estimated training pixels`` (tree models
have ``epochs = 1``). The pixel counts come from the scene registry's class counts,
the crop's share of the scene's area and the protocol's fractions, without loading
the scene; the buffer of the disjoint and block_cv protocols is ignored (an
over-estimate).

A running trial counts with what it has left: its expected cost (from its own epoch
pace once it reported one, else as above) minus its elapsed time, but at least
:data:`LEFT_FLOOR_SHARE` of the expected cost (a trial that overran its estimate is
not done). Its own pace includes the batches of the epoch under way (the trial's
``train`` progress reports, :mod:`harness.trial.ticker`), and its time after the
epochs, the map phase, is, first found of: the measured rest of completed trials of
the same key; the pixels its epoch reports say the map phase will predict
(``map_pixels``: test, validation and the map's, per the run's ``--maps``) at its own
inference pace (the validation pass's ``val_samples_per_second``), else at the
prior's inference throughput, else at its training pace (a forward pass is not slower
than a training step); the prior's as above. Once the map phase reports (``map``
progress), what it has left is its pixels left at its own pixels per second. Waiting trials count with their full expected cost. The sum is divided by
the trials that run at once (the most seen running together, capped by the run's
``max_concurrent``), and the ETA is never below the longest single trial left.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..spec import TrialSpec

Clock = Callable[[], float]

#: (training samples/s, inference samples/s) per (model, recipe): docs/BENCHMARKS.md,
#: "Model costs at the unified and published settings (CPU)" (bench/model_costs.py;
#: AMD EPYC, 2 cores, torch threads 2, git bc9c95d, 2026-11-21). Deep models: optimizer
#: steps at the recipe's batch; trees: samples per second of one fit on 3,600 samples.
#: Tiny variants were not measured: they have no prior (their ETA is "unknown" until
#: one of them completed). On a GPU the deep priors over-estimate; the measured costs
#: and the trials' own epoch pace take over as soon as there are any.
PRIOR_THROUGHPUT: dict[tuple[str, str], tuple[float, float]] = {
    ("claresnet", "unified"): (12.7, 55.5),
    ("claresnet", "published"): (13.5, 56.4),
    ("hybridsn", "unified"): (1046.0, 4666.0),
    ("hybridsn", "published"): (69.3, 187.0),
    ("random_forest", "unified"): (1227.0, 47243.0),
    ("random_forest", "published"): (615.0, 47438.0),
    ("spectralformer", "unified"): (1096.0, 6045.0),
    ("spectralformer", "published"): (174.0, 635.0),
    ("spectralformer_pixel", "unified"): (1101.0, 6558.0),
    ("spectralformer_pixel", "published"): (164.0, 613.0),
    ("ssrn", "unified"): (638.0, 2443.0),
    ("ssrn", "published"): (231.0, 697.0),
    ("xgboost", "unified"): (1818.0, 227870.0),
    ("xgboost", "published"): (229.0, 176097.0),
}
#: Seconds a trial spends besides fit and inference (data preparation, metrics, the
#: write) in a prior: docs/BENCHMARKS.md, "Harness overhead", smoke suite: trials' own
#: times 13.4 s, of which fit + inference 7.4 s, over 6 trials.
PRIOR_SETUP_SECONDS = 1.0
#: A running trial has at least this share of its expected cost left.
LEFT_FLOOR_SHARE = 0.1
#: Default seconds between two epoch lines of one trial (first and last always shown).
EPOCH_LINE_INTERVAL = 30.0

Key = tuple[str, str, str]  # model, recipe, scene


# ----------------------------------------------------------------------------- formatting


def format_duration(seconds: float | None) -> str:
    """``"45s"``, ``"3m05s"``, ``"2h07m"``; ``"-"`` for None or a non-finite number."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _number(value: Any, fmt: str) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "-"
    return format(value, fmt) if math.isfinite(value) else "-"


def epoch_event(trial: str, stats: Mapping[str, Any], epochs: int) -> str:
    """The text of one epoch line.

    Args:
        trial: the trial as the runner describes it (model, scene, seed, short hash).
        stats: the epoch's report (``epoch``, ``train_loss``, ``val_acc``,
            ``samples_per_second``; a missing value prints as "-").
        epochs: the spec's number of epochs.

    Returns:
        E.g. ``"epoch 3/40 claresnet indian_pines seed 0 1a2b3c4d: train loss 1.2345,
        val OA 0.456, 13.2 samples/s"``.
    """
    sps: Any = stats.get("samples_per_second")
    try:
        rate = _number(sps, ",.0f" if float(sps) >= 100 else ".1f")
    except (TypeError, ValueError):
        rate = "-"
    return (
        f"epoch {int(stats.get('epoch', 0))}/{epochs} {trial}: "
        f"train loss {_number(stats.get('train_loss'), '.4f')}, "
        f"val OA {_number(stats.get('val_acc'), '.3f')}, {rate} samples/s"
    )


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return _number(value, ",.0f" if value >= 100 else ".1f")


def phase_event(trial: str, progress: Mapping[str, Any], epochs: int) -> str:
    """The text of one progress line within a long phase of a trial.

    Args:
        trial: the trial as the runner describes it.
        progress: a :class:`~harness.trial.ticker.PhaseProgress` as a dict
            (:meth:`~harness.trial.ticker.PhaseProgress.as_dict`).
        epochs: the spec's number of epochs.

    Returns:
        E.g. ``"epoch 3/40 claresnet indian_pines seed 0 1a2b3c4d: batch 120/256,
        13.2 samples/s"`` or ``"map phase ssrn houston seed 0 1a2b3c4d: 301,056/667,874
        pixels (test 3,006, val 1,202, scene 664,845), 512 pixels/s, 11m56s left"``.
    """
    done, total = int(progress.get("done", 0)), int(progress.get("total", 0))
    seconds = float(progress.get("seconds", 0.0))
    samples = int(progress.get("samples", done))
    rate = samples / seconds if seconds > 0 else None
    if progress.get("phase") == "train":
        return (
            f"epoch {int(progress.get('epoch', 0))}/{epochs} {trial}: batch {done:,}/{total:,}, "
            f"{_rate(rate)} samples/s"
        )
    parts = ", ".join(f"{name} {int(n):,}" for name, n in progress.get("parts", ()))
    left = format_duration((total - done) / rate) if rate else "-"
    return (
        f"map phase {trial}: {done:,}/{total:,} pixels ({parts}), {_rate(rate)} pixels/s, "
        f"{left} left"
    )


def status_line(
    label: str,
    total: int,
    counts: Mapping[str, int],
    elapsed: float,
    eta: str,
    event: str,
) -> str:
    """One progress line: where the run stands, then the event.

    Args:
        label: the Tuner's label ("trials", "search", ...).
        total: trials of the Tuner.
        counts: ``done``, ``pruned``, ``failed``, ``running``, ``remaining`` (waiting)
            and ``finished`` (ended in any way).
        elapsed: seconds since the Tuner started.
        eta: the ETA's text (:meth:`Eta.text`).
        event: what happened.
    """
    pruned = f" · {counts['pruned']} pruned" if counts.get("pruned") else ""
    return (
        f"[{label} {counts['finished']}/{total}: {counts['done']} done{pruned} · "
        f"{counts['running']} running · {counts['failed']} failed · "
        f"{counts['remaining']} waiting · {format_duration(elapsed)} elapsed · ETA {eta}] "
        f"{event}"
    )


# ----------------------------------------------------------------------------- epoch lines


class EpochLines:
    """Which epoch reports become a line: per trial, the first one, the last epoch
    (``epoch == epochs``), and otherwise one at most every ``interval`` seconds. A
    report held back is kept; :meth:`flush` returns it when the trial ends (so a
    trial stopped early by patience or the scheduler still shows its last epoch).

    Args:
        interval: seconds between two shown epochs of one trial.
        clock: the time source.
    """

    def __init__(self, interval: float = EPOCH_LINE_INTERVAL, clock: Clock = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._shown_at: dict[str, float] = {}
        self._held: dict[str, str] = {}

    def offer(self, trial_id: str, epoch: int, epochs: int, text: str) -> str | None:
        """The line to print now for this epoch report, or None (held back)."""
        now = self.clock()
        last = self._shown_at.get(trial_id)
        if last is None or epoch >= epochs or now - last >= self.interval:
            self._shown_at[trial_id] = now
            self._held.pop(trial_id, None)
            return text
        self._held[trial_id] = text
        return None

    def flush(self, trial_id: str) -> str | None:
        """The trial ended: its held-back last report, if any (and forget the trial)."""
        self._shown_at.pop(trial_id, None)
        return self._held.pop(trial_id, None)


# ----------------------------------------------------------------------------- costs


@dataclass(frozen=True)
class SplitSize:
    """Estimated pixel counts of a spec's split and of the scene it classifies."""

    train: float
    val: float
    test: float
    scene: float


_split_cache: dict[str, SplitSize | None] = {}


def estimate_split(spec: TrialSpec) -> SplitSize | None:
    """Pixel counts of the spec's split, from the scene registry without loading data.

    The registry's per-class counts are scaled by the crop's share of the scene's
    area, then split by the protocol's parameters (paper: ``test`` share, then ``val``
    of the rest; fraction and disjoint: ``train`` and ``val`` shares; block_cv: the
    other ``k - 1`` folds, ``val`` of them validation; per_class: ``n``
    per class, at most half the class), and capped by ``max_train_per_class``.

    Returns:
        None when the scene, its class counts or shape, or the protocol is unknown.
    """
    key = json.dumps(
        [spec.scene, spec.crop, spec.protocol, spec.protocol_params, spec.max_train_per_class],
        sort_keys=True,
    )
    if key not in _split_cache:
        _split_cache[key] = _estimate_split(spec)
    return _split_cache[key]


def _estimate_split(spec: TrialSpec) -> SplitSize | None:
    import datasets

    try:
        info = datasets.get_scene_info(spec.scene)
    except Exception:  # noqa: BLE001 - an unknown scene only means no estimate
        return None
    if not info.class_counts or not info.shape:
        return None
    h, w = info.shape
    pixels = float(h * w)
    if spec.crop is not None:
        r0, r1, c0, c1 = spec.crop
        pixels = float(max(0, r1 - r0) * max(0, c1 - c0))
    share = pixels / float(h * w)
    p = spec.protocol_params
    train = val = test = 0.0
    for count in info.class_counts:
        c = count * share
        if spec.protocol == "paper":
            rest = c * (1 - p.get("test", 0.2))
            t, v = rest * (1 - p.get("val", 0.1)), rest * p.get("val", 0.1)
        elif spec.protocol in ("fraction", "disjoint"):
            t, v = c * p.get("train", 0.1), c * p.get("val", 0.05)
        elif spec.protocol == "block_cv":  # the other folds train, a share val of them validates
            rest = c * (1 - 1 / p.get("k", 5))
            t, v = rest * (1 - p.get("val", 0.1)), rest * p.get("val", 0.1)
        elif spec.protocol == "per_class":
            n = p.get("n", 20)
            t = min(float(n), c // 2)
            v = min(float(n // 2), (c - t) // 2)
        else:
            return None
        if spec.max_train_per_class is not None:
            t = min(t, float(spec.max_train_per_class))
        train, val, test = train + t, val + v, test + max(0.0, c - t - v)
    return SplitSize(train=train, val=val, test=test, scene=pixels)


@dataclass(frozen=True)
class Job:
    """What the estimator needs of a trial spec: its cost key, its size and what its
    map phase classifies (the run's ``--maps``)."""

    key: Key
    epochs: int
    split: SplitSize | None
    maps: str = "scene"

    @classmethod
    def of(cls, spec: TrialSpec, maps: str = "scene") -> Job:
        return cls(
            (spec.model, spec.recipe, spec.scene),
            max(1, spec.training.epochs),
            estimate_split(spec),
            maps,
        )

    @property
    def map_pixels(self) -> float | None:
        """Estimated pixels of the map phase: test, validation and the map's (the scene,
        its labelled pixels or none); None when the split is unknown."""
        if self.split is None:
            return None
        s = self.split
        mapped = {"scene": s.scene, "labelled": s.train + s.val + s.test}.get(self.maps, 0.0)
        return s.test + s.val + mapped

    @property
    def pixels_per_epoch(self) -> float:
        """Training pixels of one epoch (1 when unknown: costs then scale with epochs)."""
        return max(self.split.train, 1.0) if self.split else 1.0

    @property
    def work(self) -> float:
        """Training samples: epochs x training pixels per epoch."""
        return self.epochs * self.pixels_per_epoch


@dataclass(frozen=True)
class Observation:
    """The timing of one completed trial.

    Attributes:
        key: (model, recipe, scene).
        work: its :attr:`Job.work`.
        fit_seconds: training time.
        other_seconds: the rest of its wall time (data, inference, metrics, write).
    """

    key: Key
    work: float
    fit_seconds: float
    other_seconds: float


@dataclass(frozen=True)
class Estimate:
    """The expected cost of one trial and where it came from."""

    seconds: float
    source: str  # "measured", "pace" or "prior"


def history_from_store(store: Any) -> list[Observation]:
    """Timings of the completed trials of a :class:`~harness.store.ResultStore` (one query).

    Wall time is ``finished_at - started_at`` (from ``mark_running`` to the stored
    result); when a trial has no start time, the rest besides the fit is its
    inference time.
    """
    rows = store.completed_timings()
    out = []
    for spec_data, fit, inference, started, finished in rows:
        try:
            job = Job.of(TrialSpec.from_json(json.dumps(spec_data)))
        except Exception:  # noqa: BLE001 - a spec of an older layout is skipped
            continue
        wall = (finished - started).total_seconds() if started and finished else None
        other = wall - fit if wall is not None and wall >= fit else (inference or 0.0)
        out.append(Observation(job.key, job.work, float(fit), float(other)))
    return out


# ----------------------------------------------------------------------------- the ETA


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


@dataclass(frozen=True)
class Eta:
    """The time left, over the trials whose cost is known.

    Attributes:
        seconds: the estimate (None when no trial is left or none has a cost).
        left: trials still to end (running and waiting).
        unknown: of those, the ones without any cost estimate.
        prior: whether a prior (not a measurement) entered the estimate.
    """

    seconds: float | None
    left: int
    unknown: int = 0
    prior: bool = False

    def text(self) -> str:
        """``"-"`` (nothing left), ``"unknown"``, ``"12m30s"``, ``"~6h24m (from priors)"``
        or ``">12m30s (2 trials unknown)"``."""
        if self.left == 0:
            return "-"
        if self.seconds is None:
            return "unknown"
        notes = []
        if self.prior:
            notes.append("from priors")
        if self.unknown:
            notes.append(f"{self.unknown} trial{'s' if self.unknown > 1 else ''} unknown")
        mark = ">" if self.unknown else ("~" if self.prior else "")
        note = f" ({'; '.join(notes)})" if notes else ""
        return f"{mark}{format_duration(self.seconds)}{note}"


@dataclass
class _Running:
    job: Job
    started: float
    epoch: int = 0
    epochs: int = 0
    epoch_at: float = 0.0
    #: epochs done, counting the share of the one under way (train progress)
    progress: float = 0.0
    progress_at: float = 0.0
    #: what the epoch reports say of the map phase to come
    map_pixels: float | None = None
    infer_rate: float | None = None
    train_rate: float | None = None
    #: the map phase under way: pixels left and pixels per second, when reported
    map_left: float | None = None
    map_rate: float | None = None
    map_at: float = 0.0

    def pace(self) -> tuple[float, float] | None:
        """(epochs done with the share of the current one, the time they took)."""
        if self.progress > 0:
            return self.progress, self.progress_at - self.started
        return None


class EtaEstimator:
    """The expected cost of the trials left (see the module's docstring).

    Args:
        history: completed trials known before the run (:func:`history_from_store`).
        concurrency: at most this many trials at once (the run's ``max_concurrent``).
        priors: (training, inference) samples/s per (model, recipe); default
            :data:`PRIOR_THROUGHPUT`.
        clock: the time source.
        maps: what the run's map phases classify (``--maps``: scene, labelled, none).
    """

    def __init__(
        self,
        history: Iterable[Observation] = (),
        *,
        concurrency: int | None = None,
        priors: Mapping[tuple[str, str], tuple[float, float]] | None = None,
        clock: Clock = time.monotonic,
        maps: str = "scene",
    ) -> None:
        self.maps = maps
        self.concurrency = concurrency
        self.priors = dict(PRIOR_THROUGHPUT if priors is None else priors)
        self.clock = clock
        self._observed: dict[Key, list[Observation]] = {}
        self._waiting: Counter[Job] = Counter()
        self._running: dict[str, _Running] = {}
        self._peak = 0
        for obs in history:
            self.learn(obs)

    # events ----------------------------------------------------------------------
    def plan(self, specs: Iterable[TrialSpec]) -> None:
        """Trials that will run (each ``start`` takes one of them off the waiting list)."""
        self._waiting.update(Job.of(s, self.maps) for s in specs)

    def start(self, trial_id: str, spec: TrialSpec) -> None:
        """A trial started (the waiting trial of the same cost, if planned, leaves the list)."""
        job = Job.of(spec, self.maps)
        if trial_id in self._running:  # a retry of a failed attempt: it starts over
            self._running[trial_id] = _Running(job, self.clock())
            return
        if self._waiting[job] > 0:
            self._waiting[job] -= 1
        else:  # a search trial: its sampled spec differs from the planned base spec
            same = next((j for j, n in self._waiting.items() if n > 0 and j.key == job.key), None)
            if same is not None:
                self._waiting[same] -= 1
        self._waiting += Counter()  # drop the zeros
        self._running[trial_id] = _Running(job, self.clock())
        self._peak = max(self._peak, len(self._running))

    def epoch(
        self, trial_id: str, epoch: int, epochs: int, stats: Mapping[str, Any] | None = None
    ) -> None:
        """A running trial reported its epoch ``epoch`` of ``epochs`` (``stats``: the
        report, whose ``map_pixels``, ``val_samples_per_second`` and
        ``samples_per_second`` estimate its map phase)."""
        run = self._running.get(trial_id)
        if run is None or epoch < 1:
            return
        now = self.clock()
        run.epoch, run.epochs, run.epoch_at = epoch, max(epochs, epoch), now
        run.progress, run.progress_at = float(epoch), now
        stats = stats or {}
        for attr, key in (
            ("map_pixels", "map_pixels"),
            ("infer_rate", "val_samples_per_second"),
            ("train_rate", "samples_per_second"),
        ):
            value = _positive(stats.get(key))
            if value is not None:
                setattr(run, attr, value)

    def phase(self, trial_id: str, progress: Mapping[str, Any]) -> None:
        """A running trial reported progress within a phase (a
        :class:`~harness.trial.ticker.PhaseProgress` as a dict): the batches of its
        epoch under way ("train") or the pixels of its map phase ("map")."""
        run = self._running.get(trial_id)
        if run is None:
            return
        now = self.clock()
        done, total = float(progress.get("done", 0)), float(progress.get("total", 0))
        seconds = float(progress.get("seconds", 0.0))
        if progress.get("phase") == "train" and total > 0:
            epoch = int(progress.get("epoch", run.epoch + 1))
            share = min(done / total, 1.0)
            if epoch - 1 + share > run.progress:
                run.progress, run.progress_at = epoch - 1 + share, now
        elif progress.get("phase") == "map" and seconds > 0 and done > 0:
            run.map_left, run.map_rate, run.map_at = total - done, done / seconds, now

    def finish(self, trial_id: str, fit_seconds: float | None = None) -> None:
        """A trial ended; with its ``fit_seconds`` (completed trials) its cost is learned."""
        run = self._running.pop(trial_id, None)
        if run is None or fit_seconds is None or fit_seconds <= 0:
            return
        wall = self.clock() - run.started
        self.learn(
            Observation(run.job.key, run.job.work, fit_seconds, max(0.0, wall - fit_seconds))
        )

    def learn(self, obs: Observation) -> None:
        """Add the timing of a completed trial."""
        if obs.work > 0 and obs.fit_seconds >= 0:
            self._observed.setdefault(obs.key, []).append(obs)

    # estimates -------------------------------------------------------------------
    def _rest(self, job: Job) -> tuple[float, bool] | None:
        """Seconds of a trial besides its epochs, and whether that is a prior."""
        seen = self._observed.get(job.key)
        if seen:
            return statistics.median(o.other_seconds for o in seen), False
        prior = self.priors.get(job.key[:2])
        if prior is not None and job.split is not None:
            inference = (job.map_pixels or 0.0) / prior[1]
            return PRIOR_SETUP_SECONDS + inference, True
        return None

    def expected(self, job: Job) -> Estimate | None:
        """The expected cost of a trial that has not started (None: nothing known)."""
        seen = self._observed.get(job.key)
        if seen:
            per_sample = statistics.median(o.fit_seconds / o.work for o in seen)
            other = statistics.median(o.other_seconds for o in seen)
            return Estimate(per_sample * job.work + other, "measured")
        paced = [r for r in self._running.values() if r.job.key == job.key and r.epoch]
        if paced:
            r = max(paced, key=lambda r: r.epoch_at)
            per_sample = (r.epoch_at - r.started) / r.epoch / r.job.pixels_per_epoch
            rest = self._rest(job)
            return Estimate(
                per_sample * job.work + (rest[0] if rest else 0.0),
                "prior" if rest and rest[1] else "pace",
            )
        prior = self.priors.get(job.key[:2])
        if prior is None or job.split is None:
            return None
        train_rate, infer_rate = prior
        fit = job.epochs * (job.split.train / train_rate + job.split.val / infer_rate)
        rest = self._rest(job)
        return Estimate(fit + (rest[0] if rest else 0.0), "prior")

    def _after_fit(self, run: _Running) -> tuple[float, bool] | None:
        """Seconds of a running trial after its epochs (its map phase and the rest), and
        whether that is a prior (see the module's docstring for the order)."""
        if self._observed.get(run.job.key):
            return self._rest(run.job)
        pixels = run.map_pixels if run.map_pixels is not None else run.job.map_pixels
        prior = self.priors.get(run.job.key[:2])
        for rate, is_prior in (
            (run.infer_rate, False),
            (prior[1] if prior else None, True),
            (run.train_rate, False),
        ):
            if pixels is not None and rate:
                return PRIOR_SETUP_SECONDS + pixels / rate, is_prior
        return self._rest(run.job)

    def _left(self, run: _Running, now: float) -> Estimate | None:
        """What a running trial has left: its map phase's pixels left at its pace once
        it reports them; else from its own epoch pace, else its expected cost."""
        if run.map_left is not None and run.map_rate:
            left = run.map_left / run.map_rate
            return Estimate(
                PRIOR_SETUP_SECONDS + max(left - (now - run.map_at), LEFT_FLOOR_SHARE * left),
                "pace",
            )
        total: Estimate | None
        pace = run.pace()
        if pace is not None:
            done, seconds = pace
            per_epoch = seconds / done
            rest = self._after_fit(run)
            total = Estimate(
                per_epoch * max(run.epochs, run.job.epochs) + (rest[0] if rest else 0.0),
                "prior" if rest and rest[1] else "pace",
            )
        else:
            total = self.expected(run.job)
        if total is None:
            return None
        left = max(total.seconds - (now - run.started), LEFT_FLOOR_SHARE * total.seconds)
        return Estimate(left, total.source)

    def eta(self) -> Eta:
        """The ETA now."""
        now = self.clock()
        items = [self._left(r, now) for r in self._running.values()]
        for job, n in self._waiting.items():
            items += [self.expected(job)] * n
        known = [e for e in items if e is not None]
        if not known:
            return Eta(None, len(items), unknown=len(items))
        parallel = max(1, self._peak)
        if self.concurrency:
            parallel = min(parallel, self.concurrency)
        total = sum(e.seconds for e in known)
        seconds = max(total / parallel, max(e.seconds for e in known))
        return Eta(
            seconds,
            len(items),
            unknown=len(items) - len(known),
            prior=any(e.source == "prior" for e in known),
        )
