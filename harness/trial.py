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

    result = run_trial(spec)                  # raises on failure
    result = run_trial_safely(spec)           # failure -> TrialResult(status="failed")
"""

from __future__ import annotations

import contextlib
import copy
import math
import platform
import random
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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


def prepare_data(
    spec: TrialSpec, data_dir: str | None = None, scene: Any = None
) -> PreparedData:
    """Check, split and preprocess the spec's scene.

    Args:
        spec: the trial.
        data_dir: where to look for the scene's files when ``scene`` is not given.
        scene: the :class:`datasets.Scene` the driver resolved for this spec (the Ray
            path: no file is opened); None loads it here (in-process use).
    """
    import datasets

    if scene is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", datasets.SurrogateWarning)
            scene = datasets.load_scene(
                spec.scene,
                source=spec.source,
                data_dir=data_dir,
                surrogate_seed=spec.surrogate_seed,
            )
    if spec.crop is not None and scene.crop != spec.crop:
        scene = scene.crop_to(*spec.crop)
    if scene.fingerprint != spec.scene_fingerprint:
        raise TrialError(
            f"Scene '{spec.scene}' ({spec.source}) now has fingerprint {scene.fingerprint[:12]}..., but "
            f"the trial was specified on {spec.scene_fingerprint[:12]}...: the data files or the "
            "surrogate generator changed. Fix: re-create the trial spec (re-run the suite) so that "
            "results are never mixed across different data."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SplitWarning)  # recorded in split_counts instead
        sp = datasets.split(scene.gt, spec.protocol, seed=spec.seed, **spec.protocol_params)
    train = sp.train
    if spec.max_train_per_class is not None:
        train = _subsample_per_class(
            train, scene.gt.ravel()[train], spec.max_train_per_class, spec.seed
        )
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
    cfg = datasets.PreprocessConfig(
        n_components=spec.n_components, fit=spec.pca_fit, scale=spec.scale, whiten=spec.whiten
    )
    pre = datasets.preprocess(scene.cube, cfg, train_indices=train, seed=spec.seed)
    counts = np.zeros(
        (scene.n_classes, 4), dtype=np.int64
    )  # every class, even if absent from a crop
    counts[: sp.counts.shape[0]] = sp.counts
    return PreparedData(
        image=pre.image,
        gt=np.asarray(scene.gt, dtype=np.int64),
        train=train,
        val=sp.val,
        test=sp.test,
        class_names=scene.class_names,
        split_counts=counts,
        preprocess_info={
            "n_fit_pixels": pre.n_fit_pixels,
            "explained_variance": float(pre.explained_variance_ratio.sum())
            if pre.explained_variance_ratio.size
            else None,
            "n_features": pre.n_features,
        },
    )


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
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"cpu ({cpu}, {torch.get_num_threads()} threads)"


def _optimizer(model: Any, cfg: Any, fused: bool = False) -> Any:
    """The recipe's optimizer; ``fused`` asks Adam/AdamW for their single-kernel version."""
    import torch

    groups = (
        model.param_groups(cfg.weight_decay)
        if hasattr(model, "param_groups")
        else model.parameters()
    )
    kinds = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    if cfg.optimizer not in kinds:
        raise TrialError(
            f"optimizer={cfg.optimizer!r} is not one of {', '.join(kinds)} for a deep model."
        )
    extra = {"fused": True} if fused and cfg.optimizer in ("adam", "adamw") else {}
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


def fit_deep(
    model: Any,
    spec: TrialSpec,
    data: PreparedData,
    device: Any,
    progress: ProgressCallback | None = None,
) -> tuple[dict[str, list[float]], dict[str, Any], dict[str, Any]]:
    """Train a torch model per the spec; returns (curves, info, tensors for evaluation)."""
    import torch

    import datasets
    from datasets.augment import BatchAugmenter

    cfg = spec.training
    p = spec.patch_size

    def patches(idx: np.ndarray) -> Any:
        arr = datasets.extract_patches(data.image, idx, p, pad_mode=spec.pad_mode)
        return torch.from_numpy(arr).to(device)

    x_train, x_val, x_test = patches(data.train), patches(data.val), patches(data.test)
    y_train = torch.from_numpy(data.labels(data.train)).to(device)
    y_val = torch.from_numpy(data.labels(data.val)).to(device)
    model.to(device)
    forward, fast = fast_forward(model, cfg, device)
    opt = _optimizer(model, cfg, fused=fast["fused_optimizer"])
    sched, sched_every = _scheduler(opt, cfg)
    loss_fn = torch.nn.CrossEntropyLoss()
    augment = BatchAugmenter(seed=spec.seed) if cfg.augment else None
    gen = torch.Generator(device="cpu").manual_seed(spec.seed)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp or "")
    # bf16 autocast runs on CUDA and on the CPU (where it pays on processors with bf16
    # instructions); fp16 only on CUDA (with a gradient scaler). info["amp"] says which ran.
    use_amp = amp_dtype is not None and (device.type == "cuda" or amp_dtype == torch.bfloat16)

    def amp():
        return torch.autocast(device.type, dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
    select_on = cfg.select_on
    if select_on.startswith("val_") and x_val.shape[0] == 0:
        select_on = "last"  # recorded in info
    curves: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
    }
    best_value, best_state, best_epoch, stale = None, None, 0, 0
    n = x_train.shape[0]
    t_fit = time.perf_counter()
    epochs_run = 0
    bar = _progress_bar(cfg.epochs, spec)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        t_epoch = time.perf_counter()
        loss_sum, correct, seen, bad_step = train_epoch(
            forward,
            opt,
            x_train,
            y_train,
            perm,
            cfg.batch_size,
            loss_fn=loss_fn,
            augment=augment,
            amp=amp,
            scaler=scaler,
            step_scheduler=sched if sched_every == "step" else None,
        )
        train_seconds = time.perf_counter() - t_epoch  # train_epoch ends with a host read
        if bad_step is not None:
            raise FloatingPointError(
                f"the training loss became non-finite at epoch {epoch} (step {bad_step}); "
                f"lr={cfg.lr}. Fix: lower the learning rate, or check the input scaling."
            )
        if sched is not None and sched_every == "epoch":
            sched.step()
        epochs_run = epoch
        model.eval()
        val_loss, val_acc = _evaluate_loss(forward, x_val, y_val, cfg.eval_batch_size, amp)
        train_loss, train_acc = loss_sum / max(seen, 1), correct / max(seen, 1)
        for key, value in (
            ("train_loss", train_loss),
            ("train_acc", train_acc),
            ("val_loss", val_loss),
            ("val_acc", val_acc),
            ("lr", opt.param_groups[0]["lr"]),
        ):
            curves[key].append(float(value))
        value = {
            "val_acc": val_acc,
            "val_loss": val_loss,
            "train_acc": train_acc,
            "last": float(epoch),
        }[select_on]
        if select_on == "last" or _better(select_on, value, best_value):
            best_value, best_epoch, stale = value, epoch, 0
            best_state = copy.deepcopy(
                {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            )
        else:
            stale += 1
        stats = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "best_epoch": best_epoch,
            # training samples of this epoch per second of its training steps
            "samples_per_second": seen / train_seconds if train_seconds > 0 else None,
        }
        if progress is not None:
            progress(epoch, stats)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{val_acc:.3f}")
        if cfg.patience is not None and stale >= cfg.patience:
            break
    if bar is not None:
        bar.close()
    fit_seconds = time.perf_counter() - t_fit
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    info = {
        "fit_seconds": fit_seconds,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "selected_on": select_on,
        "train_samples_per_second": n * epochs_run / fit_seconds if fit_seconds > 0 else None,
        "amp": cfg.amp if use_amp else None,
        "fast_path": fast,
    }
    return curves, info, {"x_test": x_test, "amp": amp, "forward": forward}


def _progress_bar(total: int, spec: TrialSpec) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, desc=f"{spec.model} {spec.scene} seed {spec.seed}", unit="epoch", leave=False
    )


def run_trial(
    spec: TrialSpec,
    *,
    scene: Any = None,
    data_dir: str | None = None,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    map_chunk: int = 4096,
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
    """
    import torch

    import datasets
    import models

    from .metrics import classification_metrics, entropy, evaluate

    seed_everything(spec.seed)
    data = prepare_data(spec, data_dir, scene=scene)
    entry = models.get_model_entry(spec.model)
    t_features = data.image.shape[2]
    dev = _device(device) if entry.kind == "torch" else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    hparams = dict(spec.hparams)
    if entry.name.startswith("xgboost") and dev.type == "cuda" and "device" not in hparams:
        hparams["device"] = "cuda"
    model = models.build_model(
        spec.model,
        n_bands=t_features,
        n_classes=data.n_classes,
        patch_size=spec.patch_size,
        **hparams,
    )
    y_test = data.labels(data.test)
    y_val = data.labels(data.val)
    h, w = data.gt.shape
    if entry.kind == "sklearn":
        x_all = data.image.reshape(h * w, t_features)
        t0 = time.perf_counter()
        model.fit(
            x_all[data.train],
            data.labels(data.train),
            x_all[data.val] if data.val.size else None,
            y_val if data.val.size else None,
        )
        fit_seconds = time.perf_counter() - t0
        curves: dict[str, list[float]] = {}
        info: dict[str, Any] = {
            "fit_seconds": fit_seconds,
            "train_samples_per_second": data.train.size / fit_seconds if fit_seconds > 0 else None,
            "epochs_run": 1,
            "best_epoch": 1,
            "n_parameters": int(model.n_parameters()),
            "model_info": getattr(model, "fit_info", {}),
        }
        t0 = time.perf_counter()
        proba_test = model.predict_proba(x_all[data.test])
        proba_val = model.predict_proba(x_all[data.val]) if data.val.size else None
        embeddings = None
        full = np.concatenate(
            [model.predict_proba(x_all[s : s + map_chunk]) for s in range(0, h * w, map_chunk)]
        )
        infer_seconds = time.perf_counter() - t0
    else:
        with backend_flags(spec.training, dev) as flags:
            curves, info, tensors = fit_deep(model, spec, data, dev, progress)
            info["n_parameters"] = int(
                sum(p.numel() for p in model.parameters() if p.requires_grad)
            )
            amp = tensors["amp"]
            eval_bs = spec.training.eval_batch_size
            t0 = time.perf_counter()
            fwd = tensors["forward"]
            proba_t, emb_t = _predict(
                model, tensors["x_test"], eval_bs, amp, with_embed=True, forward=fwd
            )
            proba_test, embeddings = proba_t.cpu().numpy(), emb_t.cpu().numpy()
            if data.val.size:
                x_val = torch.from_numpy(
                    datasets.extract_patches(
                        data.image, data.val, spec.patch_size, pad_mode=spec.pad_mode
                    )
                ).to(dev)
                proba_val = _predict(model, x_val, eval_bs, amp, forward=fwd)[0].cpu().numpy()
            else:
                proba_val = None
            chunks = []
            for _idx, patches in datasets.iter_scene_patches(
                data.image, spec.patch_size, chunk_size=map_chunk, pad_mode=spec.pad_mode
            ):
                chunks.append(
                    _predict(
                        model,
                        torch.from_numpy(patches).to(dev),
                        max(eval_bs, 256),
                        amp,
                        forward=fwd,
                    )[0]
                    .cpu()
                    .numpy()
                )
            full = np.concatenate(chunks)
            infer_seconds = time.perf_counter() - t0
        info["fast_path"].update(flags)
    evaluation = evaluate(
        y_test, proba_test, data.n_classes, data.class_names, embeddings=embeddings, seed=spec.seed
    )
    metrics = {"test": dict(evaluation["metrics"])}
    metrics["test"]["centroid_distance"] = evaluation["centroid_distance"]
    if proba_val is not None:
        metrics["val"] = classification_metrics(y_val, proba_val.argmax(1), data.n_classes)
    info.update(
        inference_seconds=infer_seconds,
        inference_samples_per_second=(h * w + data.test.size) / infer_seconds
        if infer_seconds > 0
        else None,
        device=_device_name(dev),
        peak_memory_bytes=_peak_memory(dev),
        n_train=int(data.train.size),
        n_val=int(data.val.size),
        n_test=int(data.test.size),
        n_features=t_features,
        preprocessing=data.preprocess_info,
        torch_version=torch.__version__,
        deterministic=dev.type == "cpu",
    )
    return TrialResult(
        spec=spec,
        status="completed",
        metrics=metrics,
        per_class=evaluation["per_class"],
        confusion=evaluation["confusion"],
        pr_curves=evaluation["pr_curves"],
        embedding_2d=evaluation["embedding_2d"],
        embedding_labels=evaluation["embedding_labels"],
        class_map=(full.argmax(1) + 1).reshape(h, w).astype(np.int16),
        entropy_map=entropy(full).reshape(h, w).astype(np.float16),
        curves=curves,
        info=info,
        split_counts=data.split_counts,
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
