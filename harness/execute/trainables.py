"""The Tune trainables: one spec of a grid, or one point of a study, run as a trial."""

from __future__ import annotations

import traceback
from typing import Any

from ..result import TrialResult
from ..scenes import fetch
from ..spec import TrialSpec
from ..trial.flow import run_trial_safely
from ..trial.ticker import PhaseProgress
from .callbacks import board_name
from .keys import DONE_KEY, STORED_TRIAL_KEY, search_spec


def execute_spec(spec: TrialSpec, config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """Run one spec inside a Tune trial: mark it running, train, store, report.

    ``scenes``: the run's scenes in Ray's object store (fingerprint -> ObjectRef);
    the trial takes its own from there and opens no scene file. The epochs go to Tune
    (``tune.report``); the progress within a long epoch and the map phase to the run's
    progress board (:func:`~harness.execute.callbacks.progress_board`). ``config["maps"]``
    is the run's ``--maps`` (default "scene").
    """
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(config.get("cpus", 1))))
    writer = ray.get_actor(config["writer"])
    ray.get(writer.mark_running.remote(spec.to_json(), bool(config.get("fresh", False))))

    def progress(epoch: int, stats: dict[str, float]) -> None:
        tune.report({k: float(v) for k, v in stats.items() if v is not None})

    on_phase = _phase_poster(config["writer"])

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
            maps=str(config.get("maps", "scene")),
            on_phase=on_phase,
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
            # what the "done" line needs to say whether the trial is a result
            **{
                f"test_{name}": float("nan") if test.get(name) is None else float(test[name])
                for name in ("majority_rate", "top_prediction_share")
            },
            "val_acc": float(val.get("oa") or 0.0),
            "fit_seconds": float(result.info.get("fit_seconds") or 0.0),
        }
    )


def _phase_poster(writer_name: str) -> Any:
    """The trial's ``on_phase``: posts to the run's progress board (None without one)."""
    import ray
    from ray import tune

    try:
        board = ray.get_actor(board_name(writer_name))
    except ValueError:  # no board: a run without the progress callback
        return None
    trial_id = tune.get_context().get_trial_id()

    def post(progress: PhaseProgress) -> None:
        board.post.remote(trial_id, progress.as_dict())  # not awaited: a view only

    return post


def grid_trainable(config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """One Tune trial of a grid: the spec is in the config, its resources in the
    config's per-spec table (see :class:`GridResources`), its scene in ``scenes``
    (given by ``tune.with_parameters``)."""
    spec = TrialSpec.from_json(config["spec"])
    cpu, gpu = config["resources"][spec.spec_hash]
    execute_spec(spec, {**config, "cpus": cpu, "gpus": gpu}, scenes)


class GridResources:
    """Tune's per-trial resource request of a grid: each trial asks for its own
    spec's CPUs and GPU fraction, so that deep trials sharing the GPUs and tree
    trials on the CPUs run side by side in one ``Tuner`` (packing)."""

    def __call__(self, config: dict[str, Any]) -> Any:
        from ray import tune

        cpu, gpu = config["resources"][TrialSpec.from_json(config["spec"]).spec_hash]
        return tune.PlacementGroupFactory([{"CPU": cpu, "GPU": gpu}])


def search_trainable(config: dict[str, Any], scenes: dict[str, Any]) -> None:
    """One Tune trial of a study: the base spec plus the values the sampler chose.

    A configuration already completed (same spec hash) is not trained again: its
    stored validation accuracy is reported.
    """
    import ray
    from ray import tune

    spec = search_spec(config)
    seen: Any = ray.get(  # (trial id, value) or None
        ray.get_actor(config["writer"]).completed_metric.remote(spec.spec_hash)
    )
    if seen is not None:
        tune.report({DONE_KEY: 1.0, "val_acc": float(seen[1] or 0.0), "reused": 1.0})
        return
    execute_spec(spec, config, scenes)
