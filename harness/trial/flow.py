"""The trial: one :class:`~harness.spec.TrialSpec` in, one :class:`~harness.result.TrialResult` out.

The flow (shared/DESIGN.md, "The flow of one trial"): load the scene and check
its fingerprint -> split -> preprocess (fitted on what the spec allows) ->
patches extracted once and moved to the device once -> build the model -> fit
(deep models: the recipe's optimizer and schedule, batched augmentation on the
device, the selected checkpoint restored; tree models: one ``fit`` with the
validation set for early stopping) -> evaluate on the test set, embed, t-SNE,
full-scene classification and entropy maps -> a result bundle. The trial never
opens the database: the single writer stores the bundle.

A trial is a pure function of its spec: the seed drives the split, the
initialisation, the batch order and the augmentation.

:func:`run_trial` reads as that flow, one step per line, each step handing a
dataclass to the next: :func:`prepare_data` (:class:`PreparedData`) -> the model
(:class:`TrialModel`) -> :func:`fit_deep` (:class:`DeepFit`; its epochs are
:class:`EpochStats`, selected by :class:`BestCheckpoint`) or the tree fit
(:class:`TrialFit`) -> :class:`Predictions` -> :class:`Evaluation` -> the
:class:`~harness.result.TrialResult`. The validation patches are extracted once
(:func:`device_patches`) and serve both the fit's validation and the evaluation.

    result = run_trial(spec)                  # raises on failure
    result = run_trial_safely(spec)           # failure -> TrialResult(status="failed")
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from ..result import TrialResult
from ..spec import TrialSpec
from .data import PreparedData, device_patches, pixel_table, prepare_data, seed_everything
from .device import backend_flags, device_name, peak_memory, resolve_device
from .evaluate import (
    Evaluation,
    Predictions,
    evaluate_predictions,
    predict_deep,
    predict_tree,
    sha256_of_test_set,
)
from .fit import DeepFit, ProgressCallback, TrialFit, TrialModel, fit_deep
from .ticker import MAP_MODES, PHASE_INTERVAL, Clock, PhaseCallback, PhaseReporter


def run_trial(
    spec: TrialSpec,
    *,
    scene: Any = None,
    data_dir: str | None = None,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    map_chunk: int = 4096,
    save_model: bool = True,
    maps: str = "scene",
    on_phase: PhaseCallback | None = None,
    clock: Clock = time.monotonic,
    phase_interval: float = PHASE_INTERVAL,
) -> TrialResult:
    """Run one trial and return its complete result (raises on failure).

    Args:
        spec: the trial.
        scene: the spec's :class:`datasets.Scene` as the driver resolved it (checked
            against the spec's fingerprint); None loads it from the files.
        data_dir: a folder searched first for the scene files (when ``scene`` is None).
        device: "cpu", "cuda", "cuda:1"...; default: CUDA when available, else CPU.
        progress: called after every epoch with (epoch, stats) (the Ray runner forwards
            it); the stats carry ``map_pixels``, the pixels of the map phase to come.
        map_chunk: pixels per chunk of the full-scene classification map.
        save_model: export the fitted model and preprocessing as files
            (``result.model_files``, :mod:`harness.saved_model`), which the store keeps.
        maps: what the map phase classifies besides the test and validation pixels:
            "scene" (every pixel: the class and entropy maps of the paper's figures),
            "labelled" (the labelled pixels; the maps are 0 / NaN elsewhere) or
            "none" (no maps). Not part of the spec: the metrics are the same.
            Recorded as ``info["maps"]``.
        on_phase: called with a :class:`~harness.trial.ticker.PhaseProgress` at most
            every ``phase_interval`` seconds within a long epoch and the map phase.
        clock: the time source of those reports (tests pass a fake one).
        phase_interval: seconds between two reports of one phase.

    Raises:
        ValueError: ``maps`` is not one of "scene", "labelled", "none".
    """
    if maps not in MAP_MODES:
        raise ValueError(
            f"maps={maps!r} is not a map mode; expected one of {', '.join(MAP_MODES)} "
            "(--maps scene|labelled|none)."
        )
    reporter = PhaseReporter(on_phase, clock, phase_interval)
    seed_everything(spec.seed)
    data = prepare_data(spec, data_dir, scene=scene)
    built = _build_model(spec, data, device)
    precision = None
    if built.kind == "sklearn":
        fit = _fit_tree(built.model, data)
        predictions = predict_tree(built.model, data, map_chunk, maps, reporter)
    else:
        with backend_flags(spec.training, built.device) as flags:
            val = device_patches(spec, data, data.val, built.device)  # validation and evaluation
            deep = fit_deep(
                built.model,
                spec,
                data,
                built.device,
                _with_map_pixels(progress, data, maps),
                val=val,
                reporter=reporter,
            )
            predictions = predict_deep(built, spec, data, deep, val, map_chunk, maps, reporter)
        fit = _deep_trial_fit(built.model, deep, flags)
        precision = deep.amp
    evaluation = evaluate_predictions(spec, data, predictions)
    info = _trial_info(fit, predictions, data, built.device)
    saved = _export(spec, built, data, precision, map_chunk) if save_model else None
    if saved is not None:
        info["model_file_bytes"], info["save_seconds"] = saved[1], saved[2]
    result = _assemble_result(spec, data, fit, evaluation, info)
    if saved is not None:
        result.model_files = saved[0]
    return result


def _with_map_pixels(
    progress: ProgressCallback | None, data: PreparedData, maps: str
) -> ProgressCallback | None:
    """The epoch callback, its stats completed with ``map_pixels``: the pixels the map
    phase will predict (test, validation and the map's), for the run's ETA."""
    if progress is None:
        return None
    from .evaluate import map_phase_parts

    pixels = sum(n for _, n in map_phase_parts(data, maps))

    def report(epoch: int, stats: dict[str, Any]) -> None:
        progress(epoch, {**stats, "map_pixels": pixels})

    return report


def _export(
    spec: TrialSpec, built: TrialModel, data: PreparedData, precision: str | None, map_chunk: int
) -> tuple[list[Any], int, float]:
    """The saved-model files of the fitted model, their bytes and the seconds they took."""
    from ..saved_model import export_model

    t0 = time.perf_counter()
    files = export_model(
        spec, built.model, built.kind, data, precision=precision, map_chunk=map_chunk
    )
    return files, sum(f.size for f in files), time.perf_counter() - t0


def _build_model(spec: TrialSpec, data: PreparedData, device: str | None) -> TrialModel:
    """The spec's model for the data's features and classes, on the requested device."""
    import torch

    import models

    entry = models.get_model_entry(spec.model)
    dev = resolve_device(device) if entry.kind == "torch" else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    hparams = dict(spec.hparams)
    if entry.name.startswith("xgboost") and dev.type == "cuda" and "device" not in hparams:
        hparams["device"] = "cuda"
    model = models.build_model(
        spec.model,
        n_bands=data.image.shape[2],
        n_classes=data.n_classes,
        patch_size=spec.patch_size,
        **hparams,
    )
    return TrialModel(model=model, kind=entry.kind, device=dev)


def _fit_tree(model: Any, data: PreparedData) -> TrialFit:
    """One ``fit`` on the training pixels, the validation set for early stopping."""
    x_all = pixel_table(data)
    has_val = data.val.size > 0
    t0 = time.perf_counter()
    model.fit(
        x_all[data.train],
        data.labels(data.train),
        x_all[data.val] if has_val else None,
        data.labels(data.val) if has_val else None,
    )
    fit_seconds = time.perf_counter() - t0
    info = {
        "fit_seconds": fit_seconds,
        "train_samples_per_second": data.train.size / fit_seconds if fit_seconds > 0 else None,
        "epochs_run": 1,
        "best_epoch": 1,
        "n_parameters": int(model.n_parameters()),
        "model_info": getattr(model, "fit_info", {}),
    }
    return TrialFit(curves={}, info=info)


def _deep_trial_fit(model: Any, fit: DeepFit, flags: dict[str, bool]) -> TrialFit:
    """The record of a deep fit, with the backend flags it ran under and the parameter count."""
    info = fit.info()
    info["fast_path"] = {**fit.fast_path, **flags}
    info["n_parameters"] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return TrialFit(curves=fit.curves.as_dict(), info=info)


def _trial_info(
    fit: TrialFit, predictions: Predictions, data: PreparedData, device: Any
) -> dict[str, Any]:
    """The result's ``info``: the fit's entries, then inference, device, sizes and versions."""
    import torch

    seconds = predictions.seconds
    predicted = predictions.map_pixels + data.test.size
    return {
        **fit.info,
        "inference_seconds": seconds,
        "inference_samples_per_second": predicted / seconds if seconds > 0 else None,
        "maps": predictions.maps,
        "device": device_name(device),
        "peak_memory_bytes": peak_memory(device),
        "n_train": int(data.train.size),
        "n_val": int(data.val.size),
        "n_test": int(data.test.size),
        "test_set_sha256": sha256_of_test_set(data.test, data.gt.shape),
        "n_features": data.image.shape[2],
        "preprocessing": data.preprocess_info,
        "scene_files": list(data.scene_files),
        "torch_version": torch.__version__,
        "deterministic": device.type == "cpu",
    }


def _assemble_result(
    spec: TrialSpec,
    data: PreparedData,
    fit: TrialFit,
    evaluation: Evaluation,
    info: dict[str, Any],
) -> TrialResult:
    """The completed trial's result bundle."""
    return TrialResult(
        spec=spec,
        status="completed",
        metrics=evaluation.metrics,
        per_class=evaluation.per_class,
        confusion=evaluation.confusion,
        pr_curves=evaluation.pr_curves,
        embedding_2d=evaluation.embedding_2d,
        embedding_labels=evaluation.embedding_labels,
        class_map=evaluation.class_map,
        entropy_map=evaluation.entropy_map,
        curves=fit.curves,
        info=info,
        split_counts=data.split_counts,
        test_predictions=evaluation.test_predictions,
    )


def run_trial_safely(spec: TrialSpec, **kwargs: Any) -> TrialResult:
    """:func:`run_trial`, with any exception turned into a failed result (error + traceback)."""
    try:
        return run_trial(spec, **kwargs)
    except KeyboardInterrupt as exc:
        return TrialResult.failed(spec, exc, traceback.format_exc(), status="interrupted")
    except Exception as exc:  # noqa: BLE001 - every failure is stored, the caller goes on
        return TrialResult.failed(spec, exc, traceback.format_exc())
