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

import contextlib
import copy
import hashlib
import math
import random
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np

from .result import TrialResult
from .spec import TrialSpec

ProgressCallback = Callable[[int, dict[str, float]], None]


class TrialError(RuntimeError):
    """A trial that cannot run as specified (the message names the cause and the fix)."""


@dataclass
class PreparedData:
    """What the data pipeline hands to the model: split, image and labels."""

    image: np.ndarray  # (H, W, T) float32
    gt: np.ndarray  # (H, W) int64
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    class_names: tuple[str, ...]
    split_counts: np.ndarray
    preprocess_info: dict[str, Any]
    #: The fitted scaler and PCA (:class:`datasets.FittedPreprocessing`): saved with the model.
    preprocessing: Any = None
    #: The scene's band centres (nm), when known: saved with the model.
    wavelengths_nm: tuple[float, ...] | None = None
    #: The scene's georeference (of its crop), when it has one: saved with the model.
    georef: dict[str, Any] | None = None
    #: Which copy of each file the scene was read from (``SceneFile.provenance``): kept in
    #: the trial's ``info["scene_files"]``.
    scene_files: tuple[dict[str, Any], ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def labels(self, idx: np.ndarray) -> np.ndarray:
        """0-based labels of flat pixel indices."""
        return self.gt.ravel()[idx] - 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the trial seed."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_data(spec: TrialSpec, data_dir: str | None = None, scene: Any = None) -> PreparedData:
    """Check, split and preprocess the spec's scene.

    Args:
        spec: the trial.
        data_dir: where to look for the scene's files when ``scene`` is not given.
        scene: the :class:`datasets.Scene` the driver resolved for this spec (the Ray
            path: no file is opened); None loads it here (in-process use).
    """
    import datasets

    loaded_here = scene is None
    if scene is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", datasets.SurrogateWarning)
            scene = datasets.load_scene(
                spec.scene,
                source=cast(Any, spec.source),  # "real" or "surrogate": made by make_spec
                data_dir=data_dir,
                surrogate_seed=spec.surrogate_seed,
            )
    if spec.crop is not None and scene.crop != spec.crop:
        scene = scene.crop_to(*spec.crop)
    if scene.fingerprint != spec.scene_fingerprint:
        raise TrialError(
            f"Scene '{spec.scene}' ({spec.source}) now has fingerprint {scene.fingerprint[:12]}..., but "
            f"the trial was specified on {spec.scene_fingerprint[:12]}...: the data (a real scene's "
            "array values) or the surrogate generator changed. Fix: re-create the trial spec "
            "(re-run the suite) so that results are never mixed across different data."
        )
    if loaded_here:
        from .scenes import ensure_split

        ensure_split(scene, spec, data_dir)  # a fixed split the scene file declares
    gt, fixed = _labels_of(scene, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SplitWarning)  # recorded in split_counts instead
        sp = datasets.split(gt, spec.protocol, seed=spec.seed, fixed=fixed, **spec.protocol_params)
    train = sp.train
    if spec.max_train_per_class is not None:
        train = _subsample_per_class(train, gt.ravel()[train], spec.max_train_per_class, spec.seed)
    if train.size == 0:
        raise TrialError(
            f"The '{spec.protocol}' split of scene '{spec.scene}' left no training pixel. Fix: use a "
            "larger scene or crop, or another protocol."
        )
    if sp.test.size == 0:
        raise TrialError(
            f"The '{spec.protocol}' split of scene '{spec.scene}' left no test pixel. Fix: use a "
            "larger scene or crop, or another protocol."
        )
    cfg = datasets.PreprocessConfig(  # the values were checked when the spec was made
        n_components=spec.n_components,
        fit=cast(Any, spec.pca_fit),
        scale=cast(Any, spec.scale),
        whiten=spec.whiten,
    )
    pre = datasets.preprocess(scene.cube, cfg, train_indices=train, seed=spec.seed)
    counts = np.zeros(
        (scene.n_classes, 4), dtype=np.int64
    )  # every class, even if absent from a crop
    counts[: sp.counts.shape[0]] = sp.counts
    return PreparedData(
        image=pre.image,
        gt=np.asarray(gt, dtype=np.int64),
        train=train,
        val=sp.val,
        test=sp.test,
        class_names=scene.class_names,
        split_counts=counts,
        preprocessing=pre.fitted,
        wavelengths_nm=scene.wavelengths_nm,
        georef=scene.georef,
        scene_files=tuple(f.provenance() for f in scene.files),
        preprocess_info={
            "n_fit_pixels": pre.n_fit_pixels,
            "explained_variance": float(pre.explained_variance_ratio.sum())
            if pre.explained_variance_ratio.size
            else None,
            "n_features": pre.n_features,
        },
    )


def _labels_of(scene: Any, spec: TrialSpec) -> tuple[np.ndarray, Any]:
    """The label map a trial's sets are drawn from, and its fixed split (or None): the
    scene's ground truth, or for ``fixed:NAME`` the split's own labels.

    Raises:
        TrialError: the scene carries no such split, or one read from other files.
    """
    import datasets

    if not datasets.is_fixed(spec.protocol):
        return scene.gt, None
    name = datasets.fixed_name(spec.protocol)
    fixed = scene.splits.get(name)
    if fixed is None:
        raise TrialError(
            f"Trial {spec.spec_hash[:12]} uses the split '{name}', which the scene handed to it "
            "does not carry. Fix: run the trial through harness.execute.run_specs (or make its "
            "spec with make_spec), which reads the split and hands it on with the scene."
        )
    if fixed.identity() != spec.protocol_params.get("files"):
        raise TrialError(
            f"Trial {spec.spec_hash[:12]} was specified on the split '{name}' read from files "
            f"{spec.protocol_params.get('files')}, but the scene carries one read from "
            f"{fixed.identity()}. Fix: re-create the trial specs (re-run the suite)."
        )
    return fixed.labels, fixed


def _subsample_per_class(idx: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5AB5]))
    keep = [rng.permutation(idx[labels == k])[:n] for k in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def _device(requested: str | None) -> Any:
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from .provenance import cpu_model

    cpu = cpu_model() or "unknown CPU"
    return f"cpu ({cpu}, {torch.get_num_threads()} threads)"


def _optimizer(model: Any, cfg: Any, fused: bool = False) -> Any:
    """Build the optimizer a training config asks for.

    ``cfg`` is a :class:`~harness.spec.TrainingConfig` or a
    :class:`~models.recipes.Recipe`: its kind, ``lr``, ``weight_decay`` and
    ``optimizer_params``, on one parameter group with the weight decay on every
    parameter, unless ``model_param_groups`` asks for the model's own groups
    (``model.param_groups(weight_decay)``). ``fused`` asks Adam/AdamW for their
    single-kernel version.

    Raises:
        TrialError: an optimizer a deep model cannot use, or ``model_param_groups`` for a
            model that defines no parameter groups.
    """
    import torch

    kinds = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    if cfg.optimizer not in kinds:
        raise TrialError(
            f"optimizer={cfg.optimizer!r} is not one of {', '.join(kinds)} for a deep model."
        )
    if getattr(cfg, "model_param_groups", False):
        if not hasattr(model, "param_groups"):
            raise TrialError(
                f"model_param_groups is set but {type(model).__name__} defines no parameter "
                "groups (param_groups). Fix: training={'model_param_groups': False}."
            )
        groups = model.param_groups(cfg.weight_decay)
    else:
        groups = model.parameters()
    extra = dict(getattr(cfg, "optimizer_params", None) or {})
    if fused and cfg.optimizer in ("adam", "adamw"):
        extra["fused"] = True
    return kinds[cfg.optimizer](groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)


def fast_forward(model: Any, cfg: Any, device: Any) -> tuple[Any, dict[str, Any]]:
    """Apply the spec's fast-path switches to ``model``; returns (the callable to run
    forward passes with, what was applied).

    ``channels_last`` converts the 4-D weights to channels-last and the 5-D ones
    (3-D convolutions) to channels-last-3d, in place; ``compile`` wraps the model
    in ``torch.compile`` with Dynamo's eager fallback on, so that a model part that
    does not compile runs eagerly instead of failing the trial. ``cuda_graphs`` (on
    CUDA) compiles with ``mode="reduce-overhead"``: Inductor's CUDA graph trees
    record the forward and backward of each batch shape once and replay them, and
    every call starts a new graph step (``torch.compiler.cudagraph_mark_step_begin``),
    so a step's outputs are never those of a previous replay. A shape seen for the
    first time (the last partial batch, the evaluation batches) is recorded anew.
    The parameters are shared: the optimizer, ``state_dict`` and ``embed`` keep
    using ``model``.
    """
    import torch

    applied: dict[str, Any] = {"channels_last": False, "compiled": False, "cuda_graphs": False}
    if cfg.channels_last:
        formats = {4: torch.channels_last, 5: torch.channels_last_3d}
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                if tensor.dim() in formats:
                    tensor.data = tensor.data.contiguous(memory_format=formats[tensor.dim()])
        applied["channels_last"] = True
    forward = model
    graphs = bool(getattr(cfg, "cuda_graphs", False)) and device.type == "cuda"
    if cfg.compile or graphs:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True  # eager fallback, never a failed trial
        compiled = torch.compile(model, mode="reduce-overhead" if graphs else None)
        applied["compiled"] = True
        forward = compiled
        if graphs:

            def forward(x: Any) -> Any:
                torch.compiler.cudagraph_mark_step_begin()
                return compiled(x)

            applied["cuda_graphs"] = True
    applied["fused_optimizer"] = bool(
        cfg.fused_optimizer and device.type == "cuda" and cfg.optimizer in ("adam", "adamw")
    )
    return forward, applied


@contextlib.contextmanager
def backend_flags(cfg: Any, device: Any) -> Iterator[dict[str, bool]]:
    """The spec's process-wide CUDA switches (``tf32``, ``cudnn_benchmark``) for the
    duration of a trial, restored afterwards, so that a worker process reused for
    the next trial does not carry them over. Yields what was applied."""
    import torch

    on_cuda = device.type == "cuda"
    applied = {
        "tf32": bool(getattr(cfg, "tf32", False)) and on_cuda,
        "cudnn_benchmark": bool(getattr(cfg, "cudnn_benchmark", False)) and on_cuda,
    }
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    try:
        if applied["tf32"]:
            torch.backends.cuda.matmul.allow_tf32 = True
        if applied["cudnn_benchmark"]:
            torch.backends.cudnn.benchmark = True
        yield applied
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = saved


def _scheduler(optimizer: Any, cfg: Any) -> tuple[Any, str]:
    """The LR scheduler and when it steps ("epoch" or "step")."""
    import torch

    sched = cfg.scheduler
    if not sched:
        return None, "epoch"
    if sched.get("name") == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=int(sched["step_size"]), gamma=float(sched["gamma"])
        ), "epoch"
    if sched.get("name") == "inverse_time":
        decay = float(sched["decay"])
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 1.0 / (1.0 + decay * step)
        ), "step"
    raise TrialError(f"scheduler {sched!r} is not supported: use None, 'step' or 'inverse_time'.")


def _predict(
    model: Any,
    x: Any,
    batch_size: int,
    amp: Any,
    with_embed: bool = False,
    forward: Any = None,
) -> tuple[Any, Any]:
    """Softmax probabilities (and embeddings when asked) of ``x`` in eval mode, batched
    (``forward``: the model's fast-path callable, default the model)."""
    import torch

    forward = forward or model
    probs, feats = [], []
    with torch.no_grad(), amp():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            probs.append(torch.softmax(forward(xb).float(), dim=1))
            if with_embed:
                feats.append(model.embed(xb).float())
    return torch.cat(probs), (torch.cat(feats) if with_embed else None)


def _evaluate_loss(model: Any, x: Any, y: Any, batch_size: int, amp: Any) -> tuple[float, float]:
    import torch

    if x.shape[0] == 0:
        return math.nan, math.nan
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    total, correct = 0.0, 0
    with torch.no_grad(), amp():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size]).float()
            yb = y[start : start + batch_size]
            total += float(loss_fn(logits, yb))
            correct += int((logits.argmax(1) == yb).sum())
    return total / x.shape[0], correct / x.shape[0]


def _better(select_on: str, value: float, best: float | None) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if select_on == "val_loss" else value > best


def train_epoch(
    model: Any,
    opt: Any,
    x: Any,
    y: Any,
    perm: Any,
    batch_size: int,
    *,
    loss_fn: Any,
    augment: Any = None,
    amp: Callable[[], Any] = contextlib.nullcontext,
    scaler: Any = None,
    step_scheduler: Any = None,
) -> tuple[float, int, int, int | None]:
    """One epoch of training steps over ``perm``: the harness's step loop.

    Batches are ``index_select`` slices of the device-resident ``x``/``y``,
    augmented on the device. The loss sum, the correct count and the finiteness
    check stay on the device during the epoch, so a step never waits for the
    device to answer (on a GPU, a host read per step would stall the launch
    queue at small batches); they are read once at the end.

    Returns:
        (loss sum, correct, samples seen, index of the first step whose loss was
        not finite, or None).
    """
    import torch

    n = x.shape[0]
    device = x.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    seen = 0
    for step, start in enumerate(range(0, n, batch_size)):
        idx = perm[start : start + batch_size]
        if idx.numel() < 2 and n >= 2:
            continue  # a last batch of one sample cannot pass BatchNorm in train mode
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        if augment is not None:
            xb = augment(xb)
        opt.zero_grad(set_to_none=True)
        with amp():
            logits = model(xb)
            loss = loss_fn(logits.float(), yb)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if step_scheduler is not None:
            step_scheduler.step()
        detached = loss.detach()
        first_bad = torch.where(
            (first_bad < 0) & ~torch.isfinite(detached), torch.full_like(first_bad, step), first_bad
        )
        loss_sum += detached.double() * idx.numel()
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += idx.numel()
    bad = int(first_bad)
    return float(loss_sum), int(correct), seen, (None if bad < 0 else bad)


@dataclass
class DevicePatches:
    """The windows of some pixels and their labels, extracted once and moved to the device once.

    Attributes:
        x: (N, T, P, P) float32 patches on the device.
        y: (N,) int64 0-based labels on the device.
    """

    x: Any
    y: Any

    def __len__(self) -> int:
        return int(self.x.shape[0])


def device_patches(
    spec: TrialSpec, data: PreparedData, idx: np.ndarray, device: Any
) -> DevicePatches:
    """The spec's windows (size, padding) around the pixels ``idx``, with their labels.

    Args:
        spec: the trial (``patch_size``, ``pad_mode``).
        data: the prepared scene.
        idx: flat pixel indices (e.g. ``data.val``).
        device: where the tensors go.
    """
    import torch

    return DevicePatches(
        x=_patch_tensor(spec, data, idx, device),
        y=torch.from_numpy(data.labels(idx)).to(device),
    )


def _patch_tensor(spec: TrialSpec, data: PreparedData, idx: np.ndarray, device: Any) -> Any:
    import torch

    import datasets

    arr = datasets.extract_patches(data.image, idx, spec.patch_size, pad_mode=spec.pad_mode)
    return torch.from_numpy(arr).to(device)


@dataclass
class MixedPrecision:
    """The spec's mixed precision as it runs on the device.

    bf16 autocast runs on CUDA and on the CPU (where it pays on processors with
    bf16 instructions); fp16 only on CUDA, with a gradient scaler; anything else
    runs in float32.

    Attributes:
        mode: "bf16" or "fp16" when autocast runs, else None (the trial's ``info["amp"]``).
        device_type: "cuda" or "cpu".
        dtype: the autocast dtype (None without autocast).
        scaler: fp16's gradient scaler, or None.
    """

    mode: str | None
    device_type: str
    dtype: Any = None
    scaler: Any = None

    def autocast(self) -> Any:
        """A new autocast context (a null context without mixed precision)."""
        import torch

        if self.mode is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def _mixed_precision(cfg: Any, device: Any) -> MixedPrecision:
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp or "")
    if dtype is None or (device.type != "cuda" and dtype != torch.bfloat16):
        return MixedPrecision(mode=None, device_type=device.type)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return MixedPrecision(mode=cfg.amp, device_type=device.type, dtype=dtype, scaler=scaler)


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
    optimizer = _optimizer(model, cfg, fused=fast["fused_optimizer"])
    scheduler, every = _scheduler(optimizer, cfg)
    return TrainingSetup(
        forward=forward,
        optimizer=optimizer,
        step_scheduler=scheduler if every == "step" else None,
        epoch_scheduler=scheduler if every == "epoch" else None,
        loss_fn=torch.nn.CrossEntropyLoss(),
        augment=BatchAugmenter(seed=spec.seed) if cfg.augment else None,
        generator=torch.Generator(device="cpu").manual_seed(spec.seed),
        precision=_mixed_precision(cfg, device),
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
    """

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    samples: int
    train_seconds: float

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
        if self.select_on == "last" or _better(self.select_on, value, self.value):
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
        stats = _train_and_validate(model, setup, train, val, epoch, cfg)
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
) -> EpochStats:
    """One epoch: the training steps in a new seeded order, the epoch's LR step, the validation."""
    import torch

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
    val_loss, val_acc = _evaluate_loss(
        setup.forward, val.x, val.y, cfg.eval_batch_size, setup.precision.autocast
    )
    return EpochStats(
        epoch=epoch,
        train_loss=loss_sum / max(seen, 1),
        train_acc=correct / max(seen, 1),
        val_loss=val_loss,
        val_acc=val_acc,
        lr=float(setup.optimizer.param_groups[0]["lr"]),
        samples=seen,
        train_seconds=train_seconds,
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


@dataclass
class Predictions:
    """A fitted model's class probabilities, (n, C) NumPy arrays.

    Attributes:
        test: of the test pixels.
        val: of the validation pixels, or None without a validation set.
        embeddings: the test pixels' learned features (deep models), or None.
        scene: of every pixel of the scene, row-major.
        seconds: wall time of the predictions (``info["inference_seconds"]``).
    """

    test: np.ndarray
    val: np.ndarray | None
    embeddings: np.ndarray | None
    scene: np.ndarray
    seconds: float


@dataclass
class Evaluation:
    """What the trial stores about its predictions (the ``TrialResult`` fields of the same names)."""

    metrics: dict[str, dict[str, Any]]
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    pr_curves: dict[int, tuple[np.ndarray, np.ndarray]]
    embedding_2d: np.ndarray | None
    embedding_labels: np.ndarray | None
    class_map: np.ndarray
    entropy_map: np.ndarray
    test_predictions: dict[str, np.ndarray]


def run_trial(
    spec: TrialSpec,
    *,
    scene: Any = None,
    data_dir: str | None = None,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    map_chunk: int = 4096,
    save_model: bool = True,
) -> TrialResult:
    """Run one trial and return its complete result (raises on failure).

    Args:
        spec: the trial.
        scene: the spec's :class:`datasets.Scene` as the driver resolved it (checked
            against the spec's fingerprint); None loads it from the files.
        data_dir: a folder searched first for the scene files (when ``scene`` is None).
        device: "cpu", "cuda", "cuda:1"...; default: CUDA when available, else CPU.
        progress: called after every epoch with (epoch, stats) (the Ray runner forwards it).
        map_chunk: pixels per chunk of the full-scene classification map.
        save_model: export the fitted model and preprocessing as files
            (``result.model_files``, :mod:`harness.saved_model`), which the store keeps.
    """
    seed_everything(spec.seed)
    data = prepare_data(spec, data_dir, scene=scene)
    built = _build_model(spec, data, device)
    precision = None
    if built.kind == "sklearn":
        fit = _fit_tree(built.model, data)
        predictions = _predict_tree(built.model, data, map_chunk)
    else:
        with backend_flags(spec.training, built.device) as flags:
            val = device_patches(spec, data, data.val, built.device)  # validation and evaluation
            deep = fit_deep(built.model, spec, data, built.device, progress, val=val)
            predictions = _predict_deep(built, spec, data, deep, val, map_chunk)
        fit = _deep_trial_fit(built.model, deep, flags)
        precision = deep.amp
    evaluation = _evaluate_predictions(spec, data, predictions)
    info = _trial_info(fit, predictions, data, built.device)
    saved = _export(spec, built, data, precision, map_chunk) if save_model else None
    if saved is not None:
        info["model_file_bytes"], info["save_seconds"] = saved[1], saved[2]
    result = _assemble_result(spec, data, fit, evaluation, info)
    if saved is not None:
        result.model_files = saved[0]
    return result


def _export(
    spec: TrialSpec, built: TrialModel, data: PreparedData, precision: str | None, map_chunk: int
) -> tuple[list[Any], int, float]:
    """The saved-model files of the fitted model, their bytes and the seconds they took."""
    from .saved_model import export_model

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
    dev = _device(device) if entry.kind == "torch" else torch.device("cpu")
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


def _pixel_table(data: PreparedData) -> np.ndarray:
    """The preprocessed image as one (H * W, T) row per pixel (a view)."""
    h, w, t = data.image.shape
    return data.image.reshape(h * w, t)


def _fit_tree(model: Any, data: PreparedData) -> TrialFit:
    """One ``fit`` on the training pixels, the validation set for early stopping."""
    x_all = _pixel_table(data)
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


def _predict_tree(model: Any, data: PreparedData, map_chunk: int) -> Predictions:
    """Test, validation and full-scene probabilities of a fitted tree model."""
    x_all = _pixel_table(data)
    t0 = time.perf_counter()
    test = model.predict_proba(x_all[data.test])
    val = model.predict_proba(x_all[data.val]) if data.val.size else None
    scene = np.concatenate(
        [model.predict_proba(x_all[s : s + map_chunk]) for s in range(0, len(x_all), map_chunk)]
    )
    return Predictions(
        test=test, val=val, embeddings=None, scene=scene, seconds=time.perf_counter() - t0
    )


def _predict_deep(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    val: DevicePatches,
    map_chunk: int,
) -> Predictions:
    """Test probabilities and embeddings, validation probabilities (from the fit's
    validation patches) and the full-scene probabilities, with the fit's fast path."""
    x_test = _patch_tensor(spec, data, data.test, built.device)
    batch = spec.training.eval_batch_size
    t0 = time.perf_counter()
    proba, emb = _predict(
        built.model, x_test, batch, fit.autocast, with_embed=True, forward=fit.forward
    )
    proba_val = (
        _predict(built.model, val.x, batch, fit.autocast, forward=fit.forward)[0].cpu().numpy()
        if data.val.size
        else None
    )
    scene = _predict_scene(built, spec, data, fit, max(batch, 256), map_chunk)
    return Predictions(
        test=proba.cpu().numpy(),
        val=proba_val,
        embeddings=emb.cpu().numpy(),
        scene=scene,
        seconds=time.perf_counter() - t0,
    )


def _predict_scene(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    batch_size: int,
    map_chunk: int,
) -> np.ndarray:
    """Probabilities of every pixel of the scene, ``map_chunk`` windows at a time."""
    import torch

    import datasets

    chunks = []
    for _idx, patches in datasets.iter_scene_patches(
        data.image, spec.patch_size, chunk_size=map_chunk, pad_mode=spec.pad_mode
    ):
        x = torch.from_numpy(patches).to(built.device)
        proba = _predict(built.model, x, batch_size, fit.autocast, forward=fit.forward)[0]
        chunks.append(proba.cpu().numpy())
    return np.concatenate(chunks)


def _deep_trial_fit(model: Any, fit: DeepFit, flags: dict[str, bool]) -> TrialFit:
    """The record of a deep fit, with the backend flags it ran under and the parameter count."""
    info = fit.info()
    info["fast_path"] = {**fit.fast_path, **flags}
    info["n_parameters"] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return TrialFit(curves=fit.curves.as_dict(), info=info)


def _evaluate_predictions(
    spec: TrialSpec, data: PreparedData, predictions: Predictions
) -> Evaluation:
    """Test metrics, per-class scores, confusion, PR curves, t-SNE, validation metrics and maps."""
    from .metrics import classification_metrics, entropy, evaluate

    h, w = data.gt.shape
    evaluation = evaluate(
        data.labels(data.test),
        predictions.test,
        data.n_classes,
        data.class_names,
        embeddings=predictions.embeddings,
        seed=spec.seed,
    )
    metrics = {"test": dict(evaluation["metrics"])}
    metrics["test"]["centroid_distance"] = evaluation["centroid_distance"]
    metrics["test"]["silhouette"] = evaluation["silhouette"]
    metrics["test"].update(evaluation["intervals"])
    if predictions.val is not None:
        metrics["val"] = classification_metrics(
            data.labels(data.val), predictions.val.argmax(1), data.n_classes
        )
    return Evaluation(
        metrics=metrics,
        per_class=evaluation["per_class"],
        confusion=evaluation["confusion"],
        pr_curves=evaluation["pr_curves"],
        embedding_2d=evaluation["embedding_2d"],
        embedding_labels=evaluation["embedding_labels"],
        class_map=(predictions.scene.argmax(1) + 1).reshape(h, w).astype(np.int16),
        entropy_map=entropy(predictions.scene).reshape(h, w).astype(np.float16),
        test_predictions={
            "index": np.asarray(data.test, dtype=np.int64),
            "truth": (data.labels(data.test) + 1).astype(np.int16),
            "pred": (predictions.test.argmax(1) + 1).astype(np.int16),
        },
    )


def sha256_of_test_set(test: np.ndarray, shape: tuple[int, ...]) -> str:
    """sha256 of a test set (its sorted flat indices and the scene's shape): two trials
    with the same value were tested on the same pixels (McNemar's test pairs them)."""
    digest = hashlib.sha256(np.asarray(shape, dtype="<i8").tobytes())
    digest.update(np.sort(np.asarray(test, dtype="<i8")).tobytes())
    return digest.hexdigest()


def _trial_info(
    fit: TrialFit, predictions: Predictions, data: PreparedData, device: Any
) -> dict[str, Any]:
    """The result's ``info``: the fit's entries, then inference, device, sizes and versions."""
    import torch

    h, w = data.gt.shape
    seconds = predictions.seconds
    return {
        **fit.info,
        "inference_seconds": seconds,
        "inference_samples_per_second": (h * w + data.test.size) / seconds if seconds > 0 else None,
        "device": _device_name(device),
        "peak_memory_bytes": _peak_memory(device),
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


def _peak_memory(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    # ru_maxrss is in KiB on Linux: the process's peak resident memory
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_trial_safely(spec: TrialSpec, **kwargs: Any) -> TrialResult:
    """:func:`run_trial`, with any exception turned into a failed result (error + traceback)."""
    try:
        return run_trial(spec, **kwargs)
    except KeyboardInterrupt as exc:
        return TrialResult.failed(spec, exc, traceback.format_exc(), status="interrupted")
    except Exception as exc:  # noqa: BLE001 - every failure is stored, the caller goes on
        return TrialResult.failed(spec, exc, traceback.format_exc())
