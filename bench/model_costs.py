"""Cost of every registered model at its ``unified`` and ``published`` settings.

For each model (tiny variants excluded) and recipe, on the Indian Pines geometry
(C = 16 classes; T = the recipe's PCA components for ``indian_pines``, or the
corrected cube's 200 bands when the recipe keeps raw bands; P = the recipe's
window):

- parameters (deep models: trainable parameters; tree models: tree nodes after
  fitting, which is what they store);
- forward FLOPs per sample, counted by ``torch.utils.flop_counter.FlopCounterMode``
  on a batch of one in eval mode, plus the recurrent layers' matrix products
  counted from their shapes (the counter does not see inside ``nn.LSTM`` /
  ``nn.GRU``): 2 * T * directions * gates * hidden * (input + hidden);
- training samples per second: deep models run full optimizer steps (forward,
  cross-entropy, backward, the recipe's optimizer) at the recipe's batch size on
  random input, median over timed steps after warm-up; tree models fit on 4,000
  random samples of the recipe's shape (fit time per sample);
- inference samples per second: eval mode, ``torch.no_grad()``, the recipe's
  evaluation batch size (trees: ``predict_proba`` on 4,000 samples).

Random input is enough: none of these costs depends on the values (tree sizes
do, so their node counts are only indicative of a tree fitted on noise; the
trial records the real ones).

    python bench/model_costs.py [--steps 3] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from _common import (
    ROOT,
    BusyGuard,
    MachineBusy,
    add_common_options,
    code_version,
    context_lines,
    machine_info,
    report,
)
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from harness.trial.optim import make_optimizer  # noqa: E402
from models.recipes import Recipe  # noqa: E402

SCENE, RAW_BANDS, N_CLASSES = "indian_pines", 200, 16
TREE_SAMPLES = 4000
NAME = "model_costs"


@dataclass
class Cost:
    model: str
    recipe: str
    t: int
    p: int
    batch: int
    params: int
    flops: float | None
    train_rate: float
    infer_rate: float


def rnn_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Matrix-product FLOPs of the LSTM/GRU layers in one forward call on ``x``."""
    total = 0.0

    def hook(module, inputs, _output):
        nonlocal total
        seq = inputs[0]
        n, t = seq.shape[0], seq.shape[1]
        gates = 4 if isinstance(module, torch.nn.LSTM) else 3
        dirs = 2 if module.bidirectional else 1
        h, i = module.hidden_size, module.input_size
        total += 2.0 * n * t * dirs * gates * h * (i + h)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, torch.nn.LSTM | torch.nn.GRU)
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return total


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter:  # not under no_grad: the counter's module tracker needs autograd
        model(x)
    return float(counter.get_total_flops()) + rnn_flops(model, x)


def optimizer_for(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The recipe's optimizer, built as the trials build it (its settings and groups)."""
    return make_optimizer(model, recipe)


def timed(fn, warmup: int, steps: int) -> float:
    """Median seconds of one ``fn()`` call over ``steps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def shape_of(recipe: Recipe) -> tuple[int, int]:
    t = recipe.components_for(SCENE)
    return (RAW_BANDS if t is None else t), recipe.patch_size


def deep_cost(name: str, recipe: Recipe, steps: int, guard: BusyGuard) -> Cost:
    t, p = shape_of(recipe)
    torch.manual_seed(0)
    model = models.build_model(name, n_bands=t, n_classes=N_CLASSES, patch_size=p, **recipe.hparams)
    params = sum(q.numel() for q in model.parameters() if q.requires_grad)
    model.eval()
    flops = forward_flops(model, torch.randn(1, t, p, p))
    b = recipe.batch_size
    x, y = torch.randn(b, t, p, p), torch.randint(0, N_CLASSES, (b,))
    opt = optimizer_for(recipe, model)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    train = timed(step, warmup=1, steps=steps)
    guard.check()
    model.eval()
    xe = torch.randn(recipe.eval_batch_size, t, p, p)

    def infer() -> None:
        with torch.no_grad():
            model(xe)

    infer_s = timed(infer, warmup=1, steps=steps)
    guard.check()
    return Cost(
        name, recipe.name, t, p, b, params, flops, b / train, recipe.eval_batch_size / infer_s
    )


def tree_cost(name: str, recipe: Recipe, guard: BusyGuard) -> Cost:
    t, _ = shape_of(recipe)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((TREE_SAMPLES, t)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, TREE_SAMPLES)
    x[:, 0] += y  # some signal, so that trees and early stopping behave as on data
    model = models.build_model(name, n_bands=t, n_classes=N_CLASSES, patch_size=1, **recipe.hparams)
    split = int(0.9 * TREE_SAMPLES)
    t0 = time.perf_counter()
    model.fit(x[:split], y[:split], x[split:], y[split:])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict_proba(x)
    pred_s = time.perf_counter() - t0
    guard.check()
    return Cost(
        name,
        recipe.name,
        t,
        1,
        split,
        int(model.n_parameters()),
        None,
        split / fit_s,
        TREE_SAMPLES / pred_s,
    )


def fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def fmt_rate(v: float) -> str:
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def render(rows: list[Cost], command: str, other_load: float | None, steps: int) -> str:
    info = machine_info()
    lines = [
        "## Model costs at the unified and published settings (CPU)",
        "",
        "Every registered model (tiny variants excluded) on the Indian Pines geometry (C = 16; T = the "
        "recipe's PCA components, or 200 raw bands; P = the recipe's window), random input. "
        "Parameters: trainable parameters (trees: nodes after fitting 3,600 noisy samples, "
        "indicative only). FLOPs: forward, per sample, `torch.utils.flop_counter` plus the LSTM/GRU "
        "matrix products from their shapes. Training: full optimizer steps at the recipe's batch size "
        f"(median of {steps} after one warm-up; trees: one fit on 3,600 samples with 400 for "
        "validation, samples per second of fit time). Inference: eval mode, no_grad, the recipe's "
        "evaluation batch (trees: `predict_proba` on 4,000 samples).",
        "",
        "| model | recipe | T | P | batch | parameters | forward MFLOPs / sample | train samples/s "
        "| inference samples/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        flops = "-" if r.flops is None else f"{r.flops / 1e6:,.1f}"
        lines.append(
            f"| {r.model} | {r.recipe} | {r.t} | {r.p} | {r.batch} | {fmt_int(r.params)} | {flops} "
            f"| {fmt_rate(r.train_rate)} | {fmt_rate(r.infer_rate)} |"
        )
    lines.append("")
    lines += context_lines(info, code_version(["bench", "models"]), other_load, command)
    lines.append(f"- Threads: torch.get_num_threads() = {torch.get_num_threads()}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default 3)")
    ap.add_argument("--models", nargs="+", help="only these models (default: every non-tiny model)")
    add_common_options(ap)
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be positive")
    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench/model_costs.py", *argv])]
    )
    names = args.models or models.list_models(include_tiny=False)
    guard = BusyGuard(args.max_other_load if args.write else None)
    rows: list[Cost] = []
    try:
        for name in names:
            entry = models.get_model_entry(name)
            for recipe_name in ("unified", "published"):
                recipe = entry.recipe(recipe_name)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    row = (
                        tree_cost(name, recipe, guard)
                        if entry.kind == "sklearn"
                        else deep_cost(name, recipe, args.steps, guard)
                    )
                rows.append(row)
                print(
                    f"{name:<22} {recipe_name:<9} params {row.params:>11,}  train {row.train_rate:9.1f}/s  "
                    f"infer {row.infer_rate:9.1f}/s",
                    file=sys.stderr,
                    flush=True,
                )
    except MachineBusy as exc:
        sys.exit(f"{exc}")
    report(
        render(rows, command, guard.load.share(), args.steps),
        NAME,
        guard.load.share(),
        args.write,
        args.max_other_load,
    )


if __name__ == "__main__":
    main()
