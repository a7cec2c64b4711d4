"""The fit loop of a deep model: epochs, validation, checkpoint selection, early
stopping, progress reports and the curves."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..spec import TrialSpec
from .data import DevicePatches, PreparedData, device_patches
from .device import MixedPrecision, fast_forward, mixed_precision
from .optim import make_optimizer, make_scheduler
from .steps import evaluate_loss, is_better, train_epoch
from .ticker import PhaseReporter

ProgressCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainingSetup:
    """What every epoch of a deep fit uses, built once before the first.

    Attributes:
        forward: the callable that runs the forward passes (the model or its fast path).
        optimizer: the recipe's optimizer.
        step_scheduler: the LR scheduler when it steps after every optimizer step, else None.
        epoch_scheduler: the LR scheduler when it steps after every epoch, else None.
        loss_fn: the training loss (cross-entropy).
        augment: the seeded batch augmenter, or None.
        generator: the CPU generator of the batch order (seeded with the trial seed).
        precision: the mixed precision that runs.
        select_on: the checkpoint selection metric in use ("last" when the spec's
            needs a validation set and there is none).
        fast_path: what :func:`fast_forward` applied.
    """

    forward: Callable[[Any], Any]
    optimizer: Any
    step_scheduler: Any
    epoch_scheduler: Any
    loss_fn: Any
    augment: Any
    generator: Any
    precision: MixedPrecision
    select_on: str
    fast_path: dict[str, Any]


def _training_setup(model: Any, spec: TrialSpec, device: Any, n_val: int) -> TrainingSetup:
    import torch

    from datasets.augment import BatchAugmenter

    cfg = spec.training
    forward, fast = fast_forward(model, cfg, device)
    optimizer = make_optimizer(model, cfg, fused=fast["fused_optimizer"])
    scheduler, every = make_scheduler(optimizer, cfg)
    return TrainingSetup(
        forward=forward,
        optimizer=optimizer,
        step_scheduler=scheduler if every == "step" else None,
        epoch_scheduler=scheduler if every == "epoch" else None,
        loss_fn=torch.nn.CrossEntropyLoss(),
        augment=BatchAugmenter(seed=spec.seed) if cfg.augment else None,
        generator=torch.Generator(device="cpu").manual_seed(spec.seed),
        precision=mixed_precision(cfg, device),
        select_on="last" if cfg.select_on.startswith("val_") and n_val == 0 else cfg.select_on,
        fast_path=fast,
    )


@dataclass
class EpochStats:
    """One epoch of a deep fit: its training steps, then the validation.

    Attributes:
        epoch: 1-based.
        train_loss: mean training loss over the epoch's samples.
        train_acc: training accuracy over the epoch's samples.
        val_loss: validation loss (NaN without a validation set).
        val_acc: validation accuracy (NaN without a validation set).
        lr: the first parameter group's learning rate after the epoch.
        samples: the training samples of the epoch's steps.
        train_seconds: wall time of the training steps.
        val_samples: the validation pixels the epoch predicted.
        val_seconds: time of the validation pass (by the trial's progress clock).
    """

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    samples: int
    train_seconds: float
    val_samples: int = 0
    val_seconds: float = 0.0

    def selection_value(self, select_on: str) -> float:
        """The value the checkpoint selection compares ("last": the epoch itself)."""
        if select_on == "last":
            return float(self.epoch)
        if select_on not in ("val_acc", "val_loss", "train_acc"):
            raise KeyError(select_on)
        return getattr(self, select_on)

    def progress_stats(self, best_epoch: int) -> dict[str, Any]:
        """The progress callback's ``stats`` (and so the keys ``tune.report`` gets)."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "best_epoch": best_epoch,
            # training samples of this epoch per second of its training steps
            "samples_per_second": self.samples / self.train_seconds
            if self.train_seconds > 0
            else None,
            # validation pixels per second of the validation pass: the trial's own
            # inference pace, from which the ETA estimates its map phase
            "val_samples_per_second": self.val_samples / self.val_seconds
            if self.val_samples and self.val_seconds > 0
            else None,
        }


@dataclass
class EpochCurves:
    """The per-epoch curves of a deep fit (``TrialResult.curves``, in this key order)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def append(self, stats: EpochStats) -> None:
        """Add one epoch's values."""
        for curve in fields(self):
            getattr(self, curve.name).append(float(getattr(stats, curve.name)))

    def as_dict(self) -> dict[str, list[float]]:
        """The curves as ``TrialResult.curves`` stores them."""
        return {curve.name: list(getattr(self, curve.name)) for curve in fields(self)}


@dataclass
class BestCheckpoint:
    """The checkpoint selection of a deep fit: the best epoch so far and its weights.

    Attributes:
        select_on: the selection metric (:attr:`TrainingSetup.select_on`).
        value: the selected epoch's value of it (None before the first selection).
        epoch: the selected epoch (0 before the first selection).
        state: a CPU copy of the selected epoch's ``state_dict``, or None.
        stale: epochs since the last selection (what the patience counts).
    """

    select_on: str
    value: float | None = None
    epoch: int = 0
    state: dict[str, Any] | None = None
    stale: int = 0

    def update(self, model: Any, stats: EpochStats) -> None:
        """Select the epoch just run (copying the weights) when it is better, else count it stale."""
        value = stats.selection_value(self.select_on)
        if self.select_on == "last" or is_better(self.select_on, value, self.value):
            self.value, self.epoch, self.stale = value, stats.epoch, 0
            self.state = copy.deepcopy(
                {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            )
        else:
            self.stale += 1

    def patience_spent(self, patience: int | None) -> bool:
        """Whether early stopping ends the fit now."""
        return patience is not None and self.stale >= patience


@dataclass
class DeepFit:
    """What :func:`fit_deep` hands back: the fitted model's record and how to run it.

    Attributes:
        curves: the per-epoch curves.
        epochs_run: epochs trained.
        best_epoch: the epoch whose weights were restored (0 when none was selected).
        selected_on: the checkpoint selection metric used.
        stop_reason: "epochs" (every epoch ran) or "patience" (early stopping).
        fit_seconds: wall time of the epochs.
        n_train: training samples per epoch.
        amp: the mixed precision that ran ("bf16", "fp16") or None.
        fast_path: what :func:`fast_forward` applied.
        forward: the callable the evaluation runs forward passes with.
        autocast: the autocast context factory the evaluation runs under.
    """

    curves: EpochCurves
    epochs_run: int
    best_epoch: int
    selected_on: str
    stop_reason: str
    fit_seconds: float
    n_train: int
    amp: str | None
    fast_path: dict[str, Any]
    forward: Callable[[Any], Any]
    autocast: Callable[[], Any]

    def info(self) -> dict[str, Any]:
        """The trial's ``info`` entries about the fit (keys as stored)."""
        return {
            "fit_seconds": self.fit_seconds,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "selected_on": self.selected_on,
            "train_samples_per_second": self.n_train * self.epochs_run / self.fit_seconds
            if self.fit_seconds > 0
            else None,
            "amp": self.amp,
            "fast_path": dict(self.fast_path),
        }


def fit_deep(
    model: Any,
    spec: TrialSpec,
    data: PreparedData,
    device: Any,
    progress: ProgressCallback | None = None,
    *,
    val: DevicePatches | None = None,
    reporter: PhaseReporter | None = None,
) -> DeepFit:
    """Train a torch model per the spec and restore its selected checkpoint.

    Args:
        model: the built model (moved to ``device``; left in eval mode).
        spec: the trial (``spec.training`` is the recipe).
        data: the prepared scene.
        device: where the fit runs.
        progress: called after every epoch with (epoch, stats).
        val: the validation patches when the caller has them already (they are
            reused for the evaluation); None extracts them here.
        reporter: how the batches of a long epoch are reported
            (:mod:`harness.trial.ticker`); None: not at all.

    Raises:
        FloatingPointError: the training loss became non-finite.
    """
    cfg = spec.training
    train = device_patches(spec, data, data.train, device)
    if val is None:
        val = device_patches(spec, data, data.val, device)
    model.to(device)
    setup = _training_setup(model, spec, device, n_val=len(val))
    curves, best = EpochCurves(), BestCheckpoint(setup.select_on)
    t_fit = time.perf_counter()
    epochs_run, stop_reason = 0, "epochs"
    bar = _progress_bar(cfg.epochs, spec)
    for epoch in range(1, cfg.epochs + 1):
        stats = _train_and_validate(
            model, setup, train, val, epoch, cfg, reporter or PhaseReporter()
        )
        epochs_run = epoch
        curves.append(stats)
        best.update(model, stats)
        _report_epoch(stats, best.epoch, progress, bar)
        if best.patience_spent(cfg.patience):
            stop_reason = "patience"
            break
    if bar is not None:
        bar.close()
    fit_seconds = time.perf_counter() - t_fit
    if best.state is not None:
        model.load_state_dict(best.state)
    model.eval()
    return DeepFit(
        curves=curves,
        epochs_run=epochs_run,
        best_epoch=best.epoch,
        selected_on=setup.select_on,
        stop_reason=stop_reason,
        fit_seconds=fit_seconds,
        n_train=len(train),
        amp=setup.precision.mode,
        fast_path=setup.fast_path,
        forward=setup.forward,
        autocast=setup.precision.autocast,
    )


def _train_and_validate(
    model: Any,
    setup: TrainingSetup,
    train: DevicePatches,
    val: DevicePatches,
    epoch: int,
    cfg: Any,
    reporter: PhaseReporter,
) -> EpochStats:
    """One epoch: the training steps in a new seeded order, the epoch's LR step, the validation."""
    import torch

    ticker = reporter.ticker("train", -(-len(train) // cfg.batch_size), epoch=epoch)
    model.train()
    perm = torch.randperm(len(train), generator=setup.generator).to(train.x.device)
    t_epoch = time.perf_counter()
    loss_sum, correct, seen, bad_step = train_epoch(
        setup.forward,
        setup.optimizer,
        train.x,
        train.y,
        perm,
        cfg.batch_size,
        loss_fn=setup.loss_fn,
        augment=setup.augment,
        amp=setup.precision.autocast,
        scaler=setup.precision.scaler,
        step_scheduler=setup.step_scheduler,
        on_step=ticker.update,
    )
    train_seconds = time.perf_counter() - t_epoch  # train_epoch ends with a host read
    if bad_step is not None:
        raise FloatingPointError(
            f"the training loss became non-finite at epoch {epoch} (step {bad_step}); "
            f"lr={cfg.lr}. Fix: lower the learning rate, or check the input scaling."
        )
    if setup.epoch_scheduler is not None:
        setup.epoch_scheduler.step()
    model.eval()
    t_val = reporter.clock()
    val_loss, val_acc = evaluate_loss(
        setup.forward, val.x, val.y, cfg.eval_batch_size, setup.precision.autocast
    )
    val_seconds = reporter.clock() - t_val
    return EpochStats(
        epoch=epoch,
        train_loss=loss_sum / max(seen, 1),
        train_acc=correct / max(seen, 1),
        val_loss=val_loss,
        val_acc=val_acc,
        lr=float(setup.optimizer.param_groups[0]["lr"]),
        samples=seen,
        train_seconds=train_seconds,
        val_samples=len(val),
        val_seconds=val_seconds,
    )


def _report_epoch(
    stats: EpochStats, best_epoch: int, progress: ProgressCallback | None, bar: Any
) -> None:
    if progress is not None:
        progress(stats.epoch, stats.progress_stats(best_epoch))
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{stats.train_loss:.3f}", val_acc=f"{stats.val_acc:.3f}")


def _progress_bar(total: int, spec: TrialSpec) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, desc=f"{spec.model} {spec.scene} seed {spec.seed}", unit="epoch", leave=False
    )


@dataclass
class TrialModel:
    """The spec's model, built for the prepared data, and where it runs.

    Attributes:
        model: the torch module or the tree model.
        kind: the registry's kind ("torch" or "sklearn").
        device: the torch device (always the CPU for tree models).
    """

    model: Any
    kind: str
    device: Any


@dataclass
class TrialFit:
    """A fit as the trial records it, deep or tree.

    Attributes:
        curves: the per-epoch curves (empty for tree models).
        info: the ``info`` entries about the fit (fit_seconds, epochs_run,
            best_epoch, n_parameters, ...), in their stored order.
    """

    curves: dict[str, list[float]]
    info: dict[str, Any]
