"""Device and precision: the torch device, the fast-path switches (channels-last,
compile, CUDA graphs, TF32, cuDNN benchmark), mixed precision and peak memory."""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


def resolve_device(requested: str | None) -> Any:
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from ..provenance import cpu_model

    cpu = cpu_model() or "unknown CPU"
    n = torch.get_num_threads()
    return f"cpu ({cpu}, {n} thread{'' if n == 1 else 's'})"


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


def mixed_precision(cfg: Any, device: Any) -> MixedPrecision:
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp or "")
    if dtype is None or (device.type != "cuda" and dtype != torch.bfloat16):
        return MixedPrecision(mode=None, device_type=device.type)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return MixedPrecision(mode=cfg.amp, device_type=device.type, dtype=dtype, scaler=scaler)


def peak_memory(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    # ru_maxrss is in KiB on Linux: the process's peak resident memory
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
