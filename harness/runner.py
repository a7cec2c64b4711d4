"""Running many trials with Ray Tune, results written by one writer.

One code path for a laptop and a cluster: ``ray.init()`` locally (the CPUs and
GPUs it detects) or ``address=`` an existing cluster. Each trial is a Tune trial
of a function trainable that runs :func:`harness.trial.run_trial_safely`,
reports per-epoch scalars with ``tune.report`` and hands the result bundle to a
named :class:`ResultWriter` actor pinned to the driver's node: the only process
that opens the database, whatever host a trial ran on.

Resume: trials whose spec hash is completed in the database are skipped;
trials that were running when a driver died are re-run (their row is reused).
Failures: Tune retries a failed trial ``max_failures`` times; every failed
attempt is stored with its error and traceback, and the suite carries on.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any

from .spec import TrialSpec
from .store import ResultStore

WRITER_PREFIX = "hsi-result-writer"


@dataclass
class RunSummary:
    """What a suite run did."""

    run_id: int
    planned: int
    skipped: int
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _writer_class():
    import ray

    @ray.remote(num_cpus=0, max_restarts=-1)
    class ResultWriter:
        """The single database writer (a Ray actor on the driver's node)."""

        def __init__(self, url: str, run_id: int) -> None:
            self.store = ResultStore(url)
            self.run_id = run_id

        def mark_running(self, spec_json: str, fresh: bool) -> int:
            return self.store.mark_running(TrialSpec.from_json(spec_json), self.run_id, fresh=fresh)

        def write(self, payload: bytes) -> int:
            return self.store.write(pickle.loads(payload), self.run_id)

    return ResultWriter


def _trainable(config: dict[str, Any]) -> None:
    """One Tune trial: run the spec, store the bundle through the writer, report scalars."""
    import ray
    import torch
    from ray import tune

    from .trial import run_trial_safely

    spec = TrialSpec.from_json(config["spec"])
    cpus = int(config.get("cpus", 1))
    torch.set_num_threads(max(1, cpus))
    writer = ray.get_actor(config["writer"])
    ray.get(writer.mark_running.remote(config["spec"], bool(config.get("fresh", False))))

    def progress(epoch: int, stats: dict[str, float]) -> None:
        tune.report({k: float(v) for k, v in stats.items() if v is not None})

    device = "cuda" if config.get("gpus", 0) > 0 and torch.cuda.is_available() else "cpu"
    result = run_trial_safely(
        spec, data_dir=config.get("data_dir"), device=device, progress=progress
    )
    ray.get(writer.write.remote(pickle.dumps(result)))
    if result.status != "completed":
        raise RuntimeError(f"trial {spec.spec_hash[:12]} {result.status}: {result.error}")
    test = result.metrics.get("test", {})
    tune.report(
        {
            "done": 1.0,
            "test_oa": float(test.get("oa") or 0.0),
            "epoch": float(result.info.get("epochs_run", 0)),
        }
    )


def _trial_dirname(trial: Any) -> str:
    spec = TrialSpec.from_json(trial.config["spec"])
    return f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:12]}"


def cluster_resources(address: str | None) -> dict[str, float]:
    """Start (or join) Ray and return what the cluster has."""
    import ray

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


def run_specs(
    specs: list[TrialSpec],
    store_url: str,
    *,
    command: str = "",
    suite: str = "",
    address: str | None = None,
    gpus_per_trial: float | None = None,
    cpus_per_trial: int | None = None,
    max_concurrent: int | None = None,
    fresh: bool = False,
    data_dir: str | None = None,
    max_failures: int = 1,
    storage_path: str | None = None,
    verbose: int = 1,
) -> RunSummary:
    """Run trials through Ray Tune; results reach the database through the single writer.

    Args:
        specs: the trials.
        store_url: database path or SQLAlchemy URL (opened here first, so a bad one
            fails before any training).
        command, suite: recorded with the run.
        address: an existing Ray cluster ("auto", "HOST:PORT"); default: local.
        gpus_per_trial: GPU fraction per deep trial (default 0.5 when the cluster has GPUs).
        cpus_per_trial: CPUs per trial (default 1).
        max_concurrent: at most this many trials at once.
        fresh: re-run completed trials as new attempts.
        data_dir: a folder searched first for scene files (on every node).
        max_failures: Tune retries of a failed trial.
        storage_path: Tune's experiment folder (must be shared storage on several nodes).
        verbose: Tune's verbosity.
    """
    import ray
    from ray import tune

    import models

    from .store import collect_provenance

    t0 = time.perf_counter()
    store = ResultStore(store_url)
    done = set() if fresh else store.completed_hashes()
    todo = [s for s in specs if s.spec_hash not in done]
    unique: dict[str, TrialSpec] = {}
    for s in todo:
        unique.setdefault(s.spec_hash, s)
    run_id = store.start_run(command, suite, collect_provenance())
    summary = RunSummary(run_id=run_id, planned=len(specs), skipped=len(specs) - len(todo))
    if not unique:
        store.finish_run(run_id, "completed")
        summary.wall_seconds = time.perf_counter() - t0
        return summary
    total = cluster_resources(address)
    writer_name = f"{WRITER_PREFIX}-{run_id}"
    node = ray.get_runtime_context().get_node_id()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    writer = (
        _writer_class()
        .options(
            name=writer_name, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        )
        .remote(store.url.render_as_string(hide_password=False), run_id)
    )
    ray.get(writer.__ray_ready__.remote())
    groups: dict[tuple[float, float], list[TrialSpec]] = {}
    for spec in unique.values():
        kind = models.get_model_entry(spec.model).kind
        res = trial_resources(kind, total, gpus_per_trial, cpus_per_trial)
        groups.setdefault((res["cpu"], res["gpu"]), []).append(spec)
    status = "completed"
    try:
        for (cpu, gpu), group in groups.items():
            trainable = tune.with_resources(_trainable, {"cpu": cpu, "gpu": gpu})
            space = {
                "spec": tune.grid_search([s.to_json() for s in group]),
                "writer": writer_name,
                "data_dir": data_dir,
                "fresh": fresh,
                "cpus": cpu,
                "gpus": gpu,
            }
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=max_concurrent, trial_dirname_creator=_trial_dirname
                ),
                run_config=tune.RunConfig(
                    name=f"hsi-run-{run_id}-{int(cpu)}cpu-{gpu:g}gpu",
                    storage_path=storage_path,
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    verbose=verbose,
                ),
            )
            grid = tuner.fit()
            for result in grid:
                spec = TrialSpec.from_json(result.config["spec"])
                if result.error is None:
                    summary.completed.append(spec.spec_hash)
                else:
                    summary.failed[spec.spec_hash] = (
                        str(result.error).strip().splitlines()[-1][:300]
                    )
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.finish_run(
            run_id,
            status if status == "interrupted" else ("failed" if summary.failed else "completed"),
        )
        ray.kill(writer)
        summary.wall_seconds = time.perf_counter() - t0
    return summary
