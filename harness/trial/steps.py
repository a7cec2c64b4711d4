"""One training epoch on the device, and evaluation passes (logits, loss, accuracy)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any


def predict_logits(
    model: Any,
    x: Any,
    batch_size: int,
    amp: Any,
    with_embed: bool = False,
    forward: Any = None,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[Any, Any]:
    """Softmax probabilities (and embeddings when asked) of ``x`` in eval mode, batched
    (``forward``: the model's fast-path callable, default the model; ``on_rows``: called
    with the rows done after every batch)."""
    import torch

    forward = forward or model
    probs, feats = [], []
    with torch.no_grad(), amp():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            probs.append(torch.softmax(forward(xb).float(), dim=1))
            if with_embed:
                feats.append(model.embed(xb).float())
            if on_rows is not None:
                on_rows(start + xb.shape[0])
    return torch.cat(probs), (torch.cat(feats) if with_embed else None)


def evaluate_loss(model: Any, x: Any, y: Any, batch_size: int, amp: Any) -> tuple[float, float]:
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


def is_better(select_on: str, value: float, best: float | None) -> bool:
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
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[float, int, int, int | None]:
    """One epoch of training steps over ``perm``: the harness's step loop.

    Batches are ``index_select`` slices of the device-resident ``x``/``y``,
    augmented on the device. The loss sum, the correct count and the finiteness
    check stay on the device during the epoch, so a step never waits for the
    device to answer (on a GPU, a host read per step would stall the launch
    queue at small batches); they are read once at the end. ``on_step`` is called
    after every step with (batches done, samples seen) and must not read the device
    either (a :class:`~harness.trial.ticker.Ticker` only reads the clock).

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
        if on_step is not None:
            on_step(step + 1, seen)
    bad = int(first_bad)
    return float(loss_sum), int(correct), seen, (None if bad < 0 else bad)
