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
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..provenance import collect_provenance
from ..result import TrialResult
from ..scenes import SceneRefs
from ..spec import TrialSpec
from ..store import ResultStore, Stored
from .callbacks import progress_callback_class
from .keys import WRITER_PREFIX, experiment_folder, trial_dirname
from .options import STDERR, RunOptions, RunSummary
from .progress import EtaEstimator, Job
from .resources import cluster_resources, trial_resources
from .tracking import mlflow_callback, open_experiment
from .trainables import GridResources, grid_trainable
from .writer import writer_class


@dataclass
class RunContext:
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

        self.total = cluster_resources(self.options.address, self.options.verbose)
        self.writer_name = f"{WRITER_PREFIX}-{self.summary.run_id}"
        node = ray.get_runtime_context().get_node_id()
        self.writer = (
            writer_class()
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
            "maps": self.options.maps,
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
        progress = progress_callback_class()(
            self, total, label, pruner=tune_config.get("scheduler"), param_space=param_space
        )
        callbacks = [progress]
        if self.options.track == "mlflow":
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
                trial_dirname_creator=trial_dirname, reuse_actors=True, **tune_config
            ),
            run_config=tune.RunConfig(
                name=experiment_folder(self.store.location, self.summary.run_id, self.n_tuners),
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
        # harness.execute.progress), so that no long trial starts last and runs alone.
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
            grid_trainable,
            GridResources(),
            space,
            len(specs_in_order),
            label,
            specs_in_order,
            max_concurrent_trials=self.options.max_concurrent,
        )


@contextmanager
def open_run(options: RunOptions, out: TextIO | None) -> Iterator[RunContext]:
    """Open the store, record the run, and close it with the right status whatever happens."""
    import ray

    if out is STDERR:
        out = sys.stderr

    t0 = time.perf_counter()
    store = ResultStore(options.db, artifacts=options.artifacts)
    if options.track is not None:  # a tracker that cannot be used fails before any training
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
    ctx = RunContext(
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
    specs: list[TrialSpec], options: RunOptions, *, out: TextIO | None = STDERR
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
    with open_run(options, out) as ctx:
        ctx.run_grid(specs)
    return ctx.summary
