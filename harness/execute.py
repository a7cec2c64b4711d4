"""Executes trial specs and searches on Ray Tune; results written by one writer.

One code path for a laptop and a cluster: ``ray.init()`` locally (the CPUs and
GPUs it detects) or ``address=`` an existing cluster. Each trial is a Tune trial
of a function trainable that runs :func:`harness.trial.run_trial_safely`,
reports per-epoch scalars with ``tune.report`` and hands the result bundle (the
:class:`~harness.result.TrialResult` itself: Ray serialises it, its arrays without
a copy) to a named ``ResultWriter`` actor pinned to the driver's node: the only
process that opens the database, whatever host a trial ran on. The writer returns
what it stored (:class:`~harness.store.Stored`), error included.

- :func:`run_specs`: a grid of trial specs (every suite but ``search``).
- :func:`run_search`: an Optuna study through Tune's ``OptunaSearch`` with ASHA
  early stopping, then the best configuration over the evaluation seeds.

Both take one :class:`RunOptions` (the database, the cluster, the resources per
trial, retries...), which ``python -m harness.run`` builds once from its flags.

Resume: trials whose spec hash is completed in the database are skipped;
trials that were running when a driver died are re-run (their row is reused); a
study continues from its stored trials (given to the sampler as evaluated
points). Failures: Tune retries a failed trial ``max_failures`` times; every
failed attempt is stored with its error and traceback, and the suite carries on.
Ctrl-C: Tune stops the trials; the run and the trials that were running are
marked "interrupted" (nothing half-written: a trial is stored in one transaction
or not at all), and the same command resumes.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from .result import TrialResult
from .scenes import SceneRefs
from .spec import TrialSpec
from .store import ResultStore, Stored

WRITER_PREFIX = "hsi-result-writer"
#: Key of the last report of a trial that finished and stored its result (a trial
#: stopped by the scheduler before it never sends it: it was pruned).
DONE_KEY = "harness_done"
#: Key of the stored trial's database id in that last report. (Not "trial_id": Tune
#: fills that key of every result with its own trial id, over the trainable's.)
STORED_TRIAL_KEY = "stored_trial_id"
#: Default ``out`` of :func:`run_specs` and :func:`run_search`: ``sys.stderr`` as it
#: is when the run starts (a default bound at import would keep a stream that a test
#: harness or a caller swapped and closed since).
_STDERR: Any = object()


class OptionError(ValueError):
    """A run option that cannot be used (the message names its command-line flag)."""


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite's trials: one object from the command line to the runner.

    ``python -m harness.run`` builds it once from its flags
    (:func:`harness.run.config_from_args`); :func:`run_specs` and :func:`run_search`
    take it as it is. Each attribute names its flag.

    Attributes:
        db: the results database, a SQLite path or a SQLAlchemy URL (``--db``);
            opened first, so that a bad one fails before any training.
        command: the command line, recorded with the run.
        suite: the suite's name, recorded with the run (``--suite``; "" in
            :func:`run_search` records "search").
        address: an existing Ray cluster, "auto" or "HOST:PORT" (``--address``);
            None starts a local Ray.
        gpus_per_trial: GPU fraction per deep trial (``--gpus-per-trial``); None:
            0.5 when the cluster has GPUs.
        cpus_per_trial: CPUs per trial (``--cpus-per-trial``); None: 1.
        max_concurrent: at most this many trials at once (``--max-concurrent``);
            None: as many as the resources allow.
        max_failures: Tune's retries of a failed trial (``--max-failures``).
        fresh: re-run completed trials as new attempts (``--fresh``).
        data_dir: a folder searched first for scene files, on the driver, for specs
            whose scene this process has not resolved (``--data-dir``; trials never
            open scene files).
        storage_path: Tune's experiment folder (``--storage-path``; shared storage
            on a cluster of several nodes); None: ``~/ray_results``.
        artifacts: the folder of the saved models (``--artifacts``); None:
            ``NAME.artifacts`` beside a SQLite database ``NAME.db``, none for a server
            database. Only the driver's node writes it: the files travel with each
            trial's result bundle.
        save_models: keep each completed trial's model and preprocessing
            (``--no-save-models`` turns it off).
        track: mirror each trial to an experiment tracker (``--track``): "mlflow"
            (:mod:`harness.tracking`; the optional extra ``mlflow``), or None. The
            database stays the source of truth.
        tracking_uri: the tracker's store (``--tracking-uri``): an MLflow tracking
            URI; None: MLflow's default (``MLFLOW_TRACKING_URI``, else MLflow 3's
            ``sqlite:///mlflow.db`` in the working directory).
        experiment: the tracker's experiment (``--experiment``); None: ``hsi-SUITE``
            (see :attr:`experiment_name`).

    Raises:
        OptionError: a value out of range (the message names the flag).
    """

    db: str
    command: str = ""
    suite: str = ""
    address: str | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: int | None = None
    max_concurrent: int | None = None
    max_failures: int = 1
    fresh: bool = False
    data_dir: str | None = None
    storage_path: str | None = None
    artifacts: str | None = None
    save_models: bool = True
    track: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None

    @property
    def experiment_name(self) -> str:
        """The tracker's experiment: ``experiment``, or ``hsi-SUITE``."""
        return self.experiment or f"hsi-{self.suite or 'run'}"

    def __post_init__(self) -> None:
        if self.track is not None and self.track != "mlflow":
            raise OptionError(f"--track {self.track!r} is not a tracker; choose from mlflow.")
        for option, given in (
            ("--tracking-uri", self.tracking_uri),
            ("--experiment", self.experiment),
        ):
            if given is not None and self.track is None:
                raise OptionError(
                    f"{option} {given!r} applies with --track mlflow only. Fix: add --track "
                    f"mlflow, or drop {option}."
                )
            if given is not None and not given.strip():
                raise OptionError(
                    f"{option} '' is empty. Fix: give a value, or leave {option} out."
                )
        for flag, value, low in (
            ("--cpus-per-trial", self.cpus_per_trial, 1),
            ("--max-concurrent", self.max_concurrent, 1),
            ("--max-failures", self.max_failures, 0),
        ):
            if value is not None and value < low:
                raise OptionError(f"{flag} {value} must be >= {low}.")
        if self.gpus_per_trial is not None and not 0 <= self.gpus_per_trial <= 8:
            raise OptionError(
                f"--gpus-per-trial {self.gpus_per_trial} must be between 0 and 8 "
                "(fractions share a GPU)."
            )


@dataclass
class RunSummary:
    """What a suite run did."""

    run_id: int
    planned: int
    skipped: int
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0
    #: Seconds from the run's start until Ray answered (0 when no trial ran).
    ray_start_seconds: float = 0.0
    #: The scenes handed to the trials through Ray's object store, their arrays'
    #: bytes (one copy per node that runs their trials) and the driver's seconds
    #: spent resolving and putting them.
    scenes: list[str] = field(default_factory=list)
    scene_bytes: int = 0
    scene_seconds: float = 0.0
    #: The studies of a search run: {name: {"best_trial_id", "best_value", "best_params"}}.
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


# ----------------------------------------------------------------------------- Ray pieces


def _writer_class():
    import ray

    @ray.remote(num_cpus=0, max_restarts=-1)
    class ResultWriter:
        """The single database writer (a Ray actor on the driver's node)."""

        def __init__(self, url: str, run_id: int, artifacts: str | None) -> None:
            self.store = ResultStore(url, artifacts=artifacts)
            self.run_id = run_id
            #: The last failed result stored of each spec in this run (see failure()).
            self.failures: dict[str, Stored] = {}

        def mark_running(self, spec_json: str, fresh: bool) -> int:
            return self.store.mark_running(TrialSpec.from_json(spec_json), self.run_id, fresh=fresh)

        def write(self, result: TrialResult) -> Stored:
            # the result arrives as Ray serialised it (its NumPy arrays zero-copy, read-only)
            stored = self.store.write(result, self.run_id)
            if stored.status == "failed":
                self.failures[stored.spec_hash] = stored
            return stored

        def failure(self, spec_hash: str) -> Stored | None:
            """What the last failed attempt of ``spec_hash`` stored in this run, if any."""
            return self.failures.get(spec_hash)

        def completed_metric(self, spec_hash: str) -> tuple[int, float | None] | None:
            return self.store.completed_metric(spec_hash)

    return ResultWriter


def _execute(spec: TrialSpec, config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """Run one spec inside a Tune trial: mark it running, train, store, report.

    ``scenes``: the run's scenes in Ray's object store (fingerprint -> ObjectRef);
    the trial takes its own from there and opens no scene file.
    """
    import ray
    import torch
    from ray import tune

    from .scenes import fetch
    from .trial.flow import run_trial_safely

    torch.set_num_threads(max(1, int(config.get("cpus", 1))))
    writer = ray.get_actor(config["writer"])
    ray.get(writer.mark_running.remote(spec.to_json(), bool(config.get("fresh", False))))

    def progress(epoch: int, stats: dict[str, float]) -> None:
        tune.report({k: float(v) for k, v in stats.items() if v is not None})

    device = "cuda" if config.get("gpus", 0) > 0 and torch.cuda.is_available() else "cpu"
    try:
        scene = fetch(scenes, spec)
    except Exception as exc:  # noqa: BLE001 - stored as the trial's failure, like any other
        result = TrialResult.failed(spec, exc, traceback.format_exc())
    else:
        result = run_trial_safely(
            spec,
            scene=scene,
            device=device,
            progress=progress,
            save_model=bool(config.get("save_models", True)),
        )
    if result.status == "completed":
        result.info["node_id"] = ray.get_runtime_context().get_node_id()  # where it ran
    stored = ray.get(writer.write.remote(result))
    if stored.status != "completed":
        raise RuntimeError(f"trial {spec.spec_hash[:12]} {stored.status}: {stored.error}")
    test = result.metrics.get("test", {})
    val = result.metrics.get("val", {})
    tune.report(
        {
            DONE_KEY: 1.0,
            STORED_TRIAL_KEY: float(stored.trial_id),
            "test_oa": float(test.get("oa") or 0.0),
            "val_acc": float(val.get("oa") or 0.0),
            "fit_seconds": float(result.info.get("fit_seconds") or 0.0),
        }
    )


def _grid_trainable(config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """One Tune trial of a grid: the spec is in the config, its resources in the
    config's per-spec table (see :class:`_GridResources`), its scene in ``scenes``
    (given by ``tune.with_parameters``)."""
    spec = TrialSpec.from_json(config["spec"])
    cpu, gpu = config["resources"][spec.spec_hash]
    _execute(spec, {**config, "cpus": cpu, "gpus": gpu}, scenes)


class _GridResources:
    """Tune's per-trial resource request of a grid: each trial asks for its own
    spec's CPUs and GPU fraction, so that deep trials sharing the GPUs and tree
    trials on the CPUs run side by side in one ``Tuner`` (packing)."""

    def __call__(self, config: dict[str, Any]) -> Any:
        from ray import tune

        cpu, gpu = config["resources"][TrialSpec.from_json(config["spec"]).spec_hash]
        return tune.PlacementGroupFactory([{"CPU": cpu, "GPU": gpu}])


def _search_spec(config: dict[str, Any]) -> TrialSpec:
    from .search import apply_params

    space = config["space"]
    params = {k: config[k] for k in space if k in config}
    return apply_params(TrialSpec.from_json(config["base"]), params, space, config["study"])


def _search_trainable(config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """One Tune trial of a study: the base spec plus the values the sampler chose.

    A configuration already completed (same spec hash) is not trained again: its
    stored validation accuracy is reported.
    """
    import ray
    from ray import tune

    spec = _search_spec(config)
    seen: Any = ray.get(  # (trial id, value) or None
        ray.get_actor(config["writer"]).completed_metric.remote(spec.spec_hash)
    )
    if seen is not None:
        tune.report({DONE_KEY: 1.0, "val_acc": float(seen[1] or 0.0), "reused": 1.0})
        return
    _execute(spec, config, scenes)


def _spec_of(trial: Any) -> TrialSpec:
    return (
        TrialSpec.from_json(trial.config["spec"])
        if "spec" in trial.config
        else _search_spec(trial.config)
    )


def _trial_dirname(trial: Any) -> str:
    spec = _spec_of(trial)
    return f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:12]}"


def _progress_callback_class():
    from ray import tune

    from .progress import EpochLines, EtaEstimator, epoch_event, history_from_store, status_line

    class Progress(tune.Callback):
        """Driver-side view of the trials: a progress line per event and per epoch
        (throttled), an ETA from the expected cost of the trials left, and the
        "pruned" record of trials that the scheduler stopped early. The logic lives
        in :mod:`harness.progress`; this adapter feeds it Tune's events.

        Args:
            ctx: the run.
            total: trials of this Tuner.
            label: the Tuner's label in the lines.
            pruner: the scheduler that stops trials early (search), or None.
            param_space: the Tuner's param space (the planned specs: a grid's
                ``spec`` list, or ``total`` times a study's ``base`` spec).
        """

        def __init__(
            self,
            ctx: _RunContext,
            total: int,
            label: str,
            pruner: Any = None,
            param_space: dict[str, Any] | None = None,
        ) -> None:
            self.ctx = ctx
            self.pruner = pruner
            self.total = total
            self.label = label
            self.t0 = time.perf_counter()
            self.running: set[str] = set()
            self.ended: dict[str, str] = {}
            self.history: dict[str, list[dict[str, Any]]] = {}
            self.specs: dict[str, TrialSpec] = {}
            # one query: the completed trials' timings in the database
            self.eta = EtaEstimator(
                history_from_store(ctx.store), concurrency=ctx.options.max_concurrent
            )
            self.eta.plan(self.planned(param_space or {}, total))
            self.epoch_lines = EpochLines()

        @staticmethod
        def planned(param_space: dict[str, Any], total: int) -> list[TrialSpec]:
            grid = param_space.get("spec")
            if isinstance(grid, dict) and "grid_search" in grid:
                return [TrialSpec.from_json(s) for s in grid["grid_search"]]
            if "base" in param_space:
                return [TrialSpec.from_json(param_space["base"])] * total
            return []

        def __getstate__(self) -> dict[str, Any]:
            # Tune pickles its callbacks with the experiment state; the run context
            # (database engine, actor handle) stays with the driver.
            return {**self.__dict__, "ctx": None}

        # counts ----------------------------------------------------------------
        def counts(self) -> dict[str, int]:
            ended = list(self.ended.values())
            return {
                "done": ended.count("completed"),
                "pruned": ended.count("pruned"),
                "failed": ended.count("failed"),
                "running": len(self.running),
                "remaining": max(0, self.total - len(self.ended) - len(self.running)),
            }

        def line(self, event: str) -> str:
            counts = {**self.counts(), "finished": len(self.ended)}
            elapsed = time.perf_counter() - self.t0
            return status_line(
                self.label, self.total, counts, elapsed, self.eta.eta().text(), event
            )

        def say(self, event: str | None) -> None:
            if self.ctx.out is not None and event is not None:
                print(self.line(event), file=self.ctx.out, flush=True)

        def spec(self, trial: Any) -> TrialSpec:
            if trial.trial_id not in self.specs:
                self.specs[trial.trial_id] = _spec_of(trial)
            return self.specs[trial.trial_id]

        def ended_trial(self, trial: Any, fit_seconds: float | None = None) -> None:
            """Forget a trial that ended; show its held-back last epoch first."""
            self.say(self.epoch_lines.flush(trial.trial_id))
            self.eta.finish(trial.trial_id, fit_seconds)
            self.specs.pop(trial.trial_id, None)

        # Tune events -----------------------------------------------------------
        def on_trial_start(self, iteration, trials, trial, **info):
            self.running.add(trial.trial_id)
            self.history.setdefault(trial.trial_id, [])
            self.eta.start(trial.trial_id, self.spec(trial))
            self.say(f"started  {_describe(self.spec(trial))}")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if DONE_KEY in result:
                return
            self.history.setdefault(trial.trial_id, []).append(dict(result))
            if "epoch" not in result:
                return
            spec, epoch = self.spec(trial), int(result["epoch"])
            self.eta.epoch(trial.trial_id, epoch, spec.training.epochs)
            text = epoch_event(_describe(spec), result, spec.training.epochs)
            self.say(self.epoch_lines.offer(trial.trial_id, epoch, spec.training.epochs, text))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            spec = self.spec(trial)
            last = trial.last_result or {}
            learn = last.get(DONE_KEY) and not last.get("reused")
            self.ended_trial(trial, float(last.get("fit_seconds") or 0.0) if learn else None)
            if last.get(DONE_KEY):
                self.ended[trial.trial_id] = "completed"
                self.ctx.summary.completed.append(spec.spec_hash)
                detail = (
                    f"val OA {last.get('val_acc', 0):.3f} (stored before)"
                    if last.get("reused")
                    else f"test OA {last.get('test_oa', 0):.3f}, fit {last.get('fit_seconds', 0):.1f} s"
                )
                self.say(f"done     {_describe(spec)}: {detail}")
            elif self.pruner is None or trial.trial_id not in self.pruner.stopped:
                self.ended[trial.trial_id] = "interrupted"  # stopped by Ctrl-C, not pruned
            else:
                self.ended[trial.trial_id] = "pruned"
                self.ctx.summary.pruned.append(spec.spec_hash)
                epochs = self.history.get(trial.trial_id, [])
                self.ctx.write_pruned(spec, epochs)
                best = max((e.get("val_acc", 0.0) for e in epochs), default=0.0)
                self.say(
                    f"pruned   {_describe(spec)} after {len(epochs)} epoch(s), val OA {best:.3f}"
                )

        def on_trial_error(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            spec = self.spec(trial)
            self.ended_trial(trial)
            self.ended[trial.trial_id] = "failed"
            # the error as the writer stored it (none when the trial died before its write)
            stored = self.ctx.stored_failure(spec)
            error = (
                stored.error
                if stored is not None and stored.error
                else "error (see Tune's log of the trial)"
            )
            self.ctx.summary.failed[spec.spec_hash] = error.strip().splitlines()[-1][:300]
            self.say(f"FAILED   {_describe(spec)} (error stored in the database)")

    return Progress


def _pruning_asha(**kwargs: Any) -> Any:
    """Tune's ASHA scheduler, remembering which trials it stopped (they were pruned).

    A trial that has trained all its epochs is never stopped: ASHA's top rung can
    equal ``max_t``, and a stop there would drop the test evaluation of a trial
    that finished (it goes on to store its result instead).
    """
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class PruningASHA(ASHAScheduler):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.stopped: set[str] = set()

        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == TrialScheduler.STOP and DONE_KEY not in result:
                if result.get(self._time_attr, 0) >= self._max_t:
                    return TrialScheduler.CONTINUE  # trained every epoch: not pruned
                self.stopped.add(trial.trial_id)
            return decision

    return PruningASHA(**kwargs)


def _describe(spec: TrialSpec) -> str:
    return f"{spec.model} {spec.scene} seed {spec.seed} {spec.spec_hash[:8]}"


def cluster_resources(address: str | None) -> dict[str, float]:
    """Start (or join) Ray and return what the cluster has."""
    import ray

    # Tune's own console output stays off: the runner prints its progress lines.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    return dict(ray.cluster_resources())


def trial_resources(
    entry_kind: str,
    total: dict[str, float],
    gpus_per_trial: float | None,
    cpus_per_trial: int | None,
) -> dict[str, float]:
    """Resources of one trial, never more than the cluster has (nothing waits forever)."""
    cpus_total = max(1.0, float(total.get("CPU", 1)))
    gpus_total = float(total.get("GPU", 0))
    cpus = float(min(cpus_per_trial or 1, cpus_total))
    gpus = 0.0
    if entry_kind == "torch" and gpus_total > 0:
        gpus = float(min(gpus_per_trial if gpus_per_trial is not None else 0.5, gpus_total))
    return {"cpu": cpus, "gpu": gpus}


# ----------------------------------------------------------------------------- one run


@dataclass
class _RunContext:
    """A run in progress: its store row, Ray, the writer actor and the options."""

    store: ResultStore
    summary: RunSummary
    options: RunOptions
    out: TextIO | None
    t0: float
    writer_name: str = ""
    writer: Any = None
    total: dict[str, float] = field(default_factory=dict)
    stopping: bool = False
    n_tuners: int = 0
    scenes: SceneRefs = field(default_factory=SceneRefs)

    def ensure_ray(self) -> None:
        """Start Ray and the writer on first use (a run with nothing to do never starts Ray)."""
        if self.writer is not None:
            return
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.total = cluster_resources(self.options.address)
        self.writer_name = f"{WRITER_PREFIX}-{self.summary.run_id}"
        node = ray.get_runtime_context().get_node_id()
        self.writer = (
            _writer_class()
            .options(
                name=self.writer_name,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            )
            .remote(
                self.store.url.render_as_string(hide_password=False),
                self.summary.run_id,
                None if self.store.artifacts is None else str(self.store.artifacts.root),
            )
        )
        ray.get(self.writer.__ray_ready__.remote())
        self.summary.ray_start_seconds = time.perf_counter() - self.t0

    def resources(self, spec: TrialSpec) -> dict[str, float]:
        import models

        kind = models.get_model_entry(spec.model).kind
        opts = self.options
        return trial_resources(kind, self.total, opts.gpus_per_trial, opts.cpus_per_trial)

    def base_config(self, res: dict[str, float] | None = None) -> dict[str, Any]:
        """The trainable's constant config (``res``: the resources of every trial,
        when they are all the same)."""
        config = {
            "writer": self.writer_name,
            "fresh": self.options.fresh,
            "save_models": self.options.save_models and self.store.artifacts is not None,
        }
        if res is not None:
            config.update(cpus=res["cpu"], gpus=res["gpu"])
        return config

    def stored_failure(self, spec: TrialSpec) -> Stored | None:
        """What the writer stored of the last failed attempt of ``spec`` in this run
        (None: no failed result of it was written, or the writer is gone)."""
        import ray

        if self.writer is None:
            return None
        try:
            return ray.get(self.writer.failure.remote(spec.spec_hash))
        except ray.exceptions.RayError:
            return None

    def write_pruned(self, spec: TrialSpec, epochs: list[dict[str, Any]]) -> None:
        """Store a trial the scheduler stopped: status "pruned", its curves so far."""
        import ray

        val = [float(e.get("val_acc", 0.0)) for e in epochs]
        best = max(range(len(val)), key=val.__getitem__) if val else None
        result = TrialResult(
            spec=spec,
            status="pruned",
            metrics={"val": {"oa": val[best]}} if best is not None else {},
            curves={
                key: [float(e[key]) for e in epochs if key in e]
                for key in ("train_loss", "train_acc", "val_loss", "val_acc")
            },
            info={
                "epochs_run": len(epochs),
                "best_epoch": None if best is None else best + 1,
                "pruned_by": "ASHAScheduler",
            },
        )
        ray.get(self.writer.write.remote(result))

    def tune(
        self,
        trainable: Any,
        res: dict[str, float] | Callable[[dict[str, Any]], Any],
        param_space: dict[str, Any],
        total: int,
        label: str,
        specs: list[TrialSpec],
        **tune_config: Any,
    ) -> Any:
        """One ``Tuner.fit()`` with the run's progress callback; returns the callback.

        The scenes of ``specs`` are put into Ray's object store first (once per run,
        see :mod:`harness.scenes`) and reach the trainable as its ``scenes`` argument.
        """
        from ray import tune

        before = len(self.scenes.names)
        scenes = self.scenes.add(specs, self.options.data_dir)
        self.summary.scenes = list(self.scenes.names)
        self.summary.scene_bytes = self.scenes.nbytes
        self.summary.scene_seconds = self.scenes.seconds
        if self.out is not None and len(self.scenes.names) > before:
            print(
                f"scenes: {', '.join(self.scenes.names[before:])} resolved on the driver and put "
                f"in Ray's object store ({self.scenes.nbytes / 2**20:.1f} MiB in all, "
                f"{self.scenes.seconds:.1f} s); trials read them from there",
                file=self.out,
                flush=True,
            )

        self.n_tuners += 1
        progress = _progress_callback_class()(
            self, total, label, pruner=tune_config.get("scheduler"), param_space=param_space
        )
        callbacks = [progress]
        if self.options.track == "mlflow":
            from .tracking import mlflow_callback

            callbacks.append(mlflow_callback(self, pruner=tune_config.get("scheduler")))
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(trainable, scenes=scenes),
                res if callable(res) else {"cpu": res["cpu"], "gpu": res["gpu"]},
            ),
            param_space=param_space,
            # reuse_actors: a trial's worker process (torch and the data layer imported)
            # serves the next trial of the same resources instead of a new process each
            tune_config=tune.TuneConfig(
                trial_dirname_creator=_trial_dirname, reuse_actors=True, **tune_config
            ),
            run_config=tune.RunConfig(
                name=f"hsi-run-{self.summary.run_id}-{self.n_tuners}",
                storage_path=self.options.storage_path,
                failure_config=tune.FailureConfig(max_failures=self.options.max_failures),
                callbacks=callbacks,
                verbose=0,
            ),
        )
        tuner.fit()
        finished = sum(v != "interrupted" for v in progress.ended.values())
        if finished < total and not self.stopping:
            # Tune's own Ctrl-C handler ends fit() early with trials unfinished
            self.stopping = True
            self.summary.interrupted = True
        return progress

    def run_grid(self, specs: list[TrialSpec], label: str = "trials") -> None:
        """Run the specs not yet completed (every one with ``fresh``)."""
        done = set() if self.options.fresh else self.store.completed_hashes()
        unique: dict[str, TrialSpec] = {}
        for s in specs:
            if s.spec_hash not in done:
                unique.setdefault(s.spec_hash, s)
        self.summary.planned += len(specs)
        self.summary.skipped += len(specs) - sum(s.spec_hash not in done for s in specs)
        if not unique:
            return
        self.ensure_ray()
        from ray import tune

        # One Tuner for the whole grid, each trial with its own resources: deep trials
        # share the GPUs (fractions) while tree trials run on the CPUs beside them.
        # Deep trials go first: they are the long ones, and trees fill the CPUs left;
        # within each kind, the longest expected first (measured throughput priors:
        # harness.progress), so that no long trial starts last and runs alone.
        from .progress import EtaEstimator, Job

        prior = EtaEstimator()

        def order(spec: TrialSpec) -> tuple[bool, float]:
            expected = prior.expected(Job.of(spec))
            # a trial with no prior is taken as long (it may be: better early than last)
            return self.resources(spec)["gpu"] == 0, -(expected.seconds if expected else math.inf)

        specs_in_order = sorted(unique.values(), key=order)
        table = {
            s.spec_hash: (self.resources(s)["cpu"], self.resources(s)["gpu"])
            for s in specs_in_order
        }
        space = {
            "spec": tune.grid_search([s.to_json() for s in specs_in_order]),
            "resources": table,
            **self.base_config(),
        }
        self.tune(
            _grid_trainable,
            _GridResources(),
            space,
            len(specs_in_order),
            label,
            specs_in_order,
            max_concurrent_trials=self.options.max_concurrent,
        )


@contextmanager
def _run(options: RunOptions, out: TextIO | None) -> Iterator[_RunContext]:
    """Open the store, record the run, and close it with the right status whatever happens."""
    import ray

    if out is _STDERR:
        out = sys.stderr

    from .provenance import collect_provenance

    t0 = time.perf_counter()
    store = ResultStore(options.db, artifacts=options.artifacts)
    if options.track is not None:  # a tracker that cannot be used fails before any training
        from .tracking import open_experiment

        try:
            uri, _ = open_experiment(options)
        except BaseException:
            store.close()
            raise
        if out is not None:
            print(
                f"tracking: each trial mirrored to the MLflow experiment "
                f"'{options.experiment_name}' at {uri} (the database {store.location} stays "
                "the source of truth)",
                file=out,
                flush=True,
            )
    store.close_dead_runs()  # runs of drivers that were killed on this host
    published, deleted = store.recover_artifacts()  # model files of killed writers
    if out is not None and (published or deleted):
        print(
            f"artifacts: settled the model files of a killed run in {store.artifacts}: "
            f"{len(published)} published (their trials were stored), {len(deleted)} deleted "
            "(their trials were not)",
            file=out,
            flush=True,
        )
    if out is not None and options.save_models and store.artifacts is None:
        print(
            f"models: not saved: the database {store.location} keeps no files. Fix: pass "
            "--artifacts DIR (a folder the driver's node can write) to keep them.",
            file=out,
            flush=True,
        )
    run_id = store.start_run(options.command, options.suite, collect_provenance())
    ctx = _RunContext(
        store=store,
        summary=RunSummary(run_id=run_id, planned=0, skipped=0),
        options=options,
        out=out,
        t0=t0,
    )
    status = "completed"
    try:
        yield ctx
    except KeyboardInterrupt:
        ctx.stopping = True
        ctx.summary.interrupted = True
        raise
    except Exception as exc:  # e.g. a scene that cannot be resolved: the run failed
        ctx.summary.failed["run"] = str(exc).strip().splitlines()[0][:300]
        raise
    finally:
        if ctx.summary.interrupted:
            status = "interrupted"
            if ctx.writer is not None:
                ray.kill(ctx.writer)  # no write lands after the run is closed
                ctx.writer = None
        elif ctx.summary.failed:
            status = "failed"
        store.finish_run(run_id, status)  # trials still open become "interrupted"
        if ctx.writer is not None:
            ray.kill(ctx.writer)
        store.close()
        ctx.summary.wall_seconds = time.perf_counter() - t0


def run_specs(
    specs: list[TrialSpec], options: RunOptions, *, out: TextIO | None = _STDERR
) -> RunSummary:
    """Run trials through Ray Tune; results reach the database through the single writer.

    Args:
        specs: the trials (those completed in the database are skipped, unless
            ``options.fresh``).
        options: the database, the cluster and the resources of the trials.
        out: where progress lines go (default: ``sys.stderr``; None: silent).

    Returns:
        What the run did (its id, the trials completed, failed with their errors...).

    Raises:
        harness.store.StoreError: the database cannot be opened (before any training).
        OptionError: ``options.track`` and the tracker cannot be used: mlflow not
            installed, a tracking store that cannot be opened (before any training).
        KeyboardInterrupt: Ctrl-C; the run and its running trials are marked
            "interrupted" first.
    """
    with _run(options, out) as ctx:
        ctx.run_grid(specs)
    return ctx.summary


def _best(trials: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    scored = [t for t in trials if t["status"] == "completed" and t["value"] is not None]
    if not scored:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda t: (sign * t["value"], -t["number"]))


def _search_one(ctx: _RunContext, plan: Any) -> None:
    """One study: the remaining search trials, then the best configuration over the seeds."""
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from .search import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ctx.store
    store.start_study(
        plan.study,
        run_id=ctx.summary.run_id,
        base_spec=plan.base_spec,
        metric=plan.metric,
        mode=plan.mode,
        n_trials=plan.n_trials,
        seed=plan.seed,
        sampler=plan.sampler_info(),
        scheduler=plan.scheduler_info(),
        search_space=plan.space,
    )
    before = store.study_trials(plan.study)
    told = [t for t in before if t["status"] in ("completed", "pruned") and t["value"] is not None]
    remaining = plan.n_trials - len(told)
    ctx.summary.planned += plan.n_trials
    ctx.summary.skipped += min(len(told), plan.n_trials)
    if ctx.out is not None:
        print(
            f"study {plan.study}: {len(told)} of {plan.n_trials} trials stored, "
            f"{max(remaining, 0)} to run ({plan.base_spec.model} on {plan.base_spec.scene}, "
            f"{plan.epochs} epochs each, TPE seed {plan.seed})",
            file=ctx.out,
            flush=True,
        )
    if remaining > 0:
        ctx.ensure_ray()
        res = ctx.resources(plan.base_spec)
        sampler = optuna.samplers.TPESampler(seed=plan.seed, n_startup_trials=plan.n_startup_trials)
        searcher = OptunaSearch(
            space=to_optuna(plan.space),
            metric="val_acc",
            mode=plan.mode,
            sampler=sampler,
            points_to_evaluate=[t["params"] for t in told] or None,
            evaluated_rewards=[t["value"] for t in told] or None,
        )
        concurrent = max(
            1, min(plan.max_concurrent, ctx.options.max_concurrent or plan.max_concurrent)
        )
        info = plan.scheduler_info()
        scheduler = _pruning_asha(
            time_attr="training_iteration",
            metric="val_acc",
            mode=plan.mode,
            max_t=info["max_t"],
            grace_period=info["grace_period"],
            reduction_factor=info["reduction_factor"],
            stop_last_trials=False,  # the final "stored" report comes after max_t epochs
        )
        space = {
            "base": plan.base_spec.to_json(),
            "space": plan.space,
            "study": plan.study,
            **ctx.base_config(res),
        }
        ctx.tune(
            _search_trainable,
            res,
            space,
            remaining,
            "search",
            [plan.base_spec],
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=concurrent),
            scheduler=scheduler,
            num_samples=remaining,
        )
    if ctx.stopping:
        store.finish_study(plan.study, "interrupted")
        return
    best = _best(store.study_trials(plan.study), plan.mode)
    if best is None:
        store.finish_study(plan.study, "failed")
        ctx.summary.failed[f"study {plan.study}"] = "no search trial completed"
        return
    store.finish_study(
        plan.study,
        "completed",
        best_trial_id=best["id"],
        best_value=best["value"],
        best_params=best["params"],
    )
    ctx.summary.studies[plan.study] = {
        "best_trial_id": best["id"],
        "best_value": best["value"],
        "best_params": best["params"],
    }
    if ctx.out is not None:
        print(
            f"study {plan.study}: best val OA {best['value']:.4f} (trial {best['id']}) with "
            f"{best['params']}; training it with seeds {list(plan.final_seeds)}",
            file=ctx.out,
            flush=True,
        )
    ctx.run_grid(plan.final_specs(best["params"]), label="best config")


def run_search(
    plans: list[Any], options: RunOptions, *, out: TextIO | None = _STDERR
) -> RunSummary:
    """Run :class:`~harness.search.SearchPlan` studies (one after another) and their
    final evaluations.

    Args:
        plans: the studies.
        options: as for :func:`run_specs`; ``options.fresh`` applies to the final
            evaluation trials: a study always continues from the trials it has
            stored (use another study name to start over). A run with no
            ``options.suite`` is recorded as suite "search".
        out: where progress lines go (default: ``sys.stderr``; None: silent).

    Returns:
        What the run did; ``studies`` holds each study's best trial.
    """
    if not options.suite:
        options = replace(options, suite="search")
    with _run(options, out) as ctx:
        for plan in plans:
            if ctx.stopping:
                break
            _search_one(ctx, plan)
    return ctx.summary
