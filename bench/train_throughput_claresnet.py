"""Training and inference throughput of CLAReSNet at the paper configuration on the CPU.

The issue sets a floor: "the reference code of the paper trains at about 9
samples/s on a 2-core machine of this kind — yours must not be slower for the
same math". This benchmark measures the project's implementation doing that
math, and shows where the time of a step goes.

Setup (the paper's configuration and training recipe):

- model: ``build_model("claresnet", n_bands=30, n_classes=16, patch_size=11)``
  (D = 256, 64 channels, 3 encoder layers, 8 heads, 17.3 M parameters);
- optimiser: ``AdamW(lr=1e-4, weight_decay=1e-2)``, loss: cross-entropy;
- data: 512 random (30, 11, 11) patches held as one tensor (the content does not
  change the arithmetic); each step slices a batch of 16 with ``index_select``
  from a shuffled permutation and augments it with
  :class:`datasets.augment.BatchAugmenter` (noise, rotation, flip);
- one training step: batch + augmentation, forward in train mode, loss,
  ``zero_grad(set_to_none=True)``, backward, ``optimizer.step()``.

Figures:

1. training throughput: samples/s of ``--repeats`` timed windows of ``--steps``
   steps each, after warm-up steps; the median window is reported, and each
   step's time is split into batch preparation, forward (with the loss),
   backward and optimiser step;
2. inference throughput: forward only, eval mode, ``torch.no_grad()``, batch 32,
   the same windows;
3. a breakdown of one training step's forward time by component (band encoder
   CNN and its parts; per encoder layer the BiLSTM + BiGRU, MSLA, and the FFN
   with the LayerNorms and residuals; fusion and head), taken with forward
   pre-/post-hooks and ``time.perf_counter`` on the modules (CPU kernels run
   synchronously, so a module's wall time is its cost); median over ``--steps``
   full training steps run after the timed windows. Parts that are not modules
   (residual additions, pooling) are the remainder of their parent;
4. the operators of two whole training steps (forward, backward, optimiser) by
   self CPU time from ``torch.profiler``, which shows where the backward time goes
   (hooks on modules see the forward only).

The share of CPU time other processes used during the run is recorded; with
``--write`` the section is not written when it exceeds ``--max-other-load``.

Usage::

    python bench/train_throughput_claresnet.py [--steps 10] [--repeats 5] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from datasets.augment import BatchAugmenter
from models.claresnet import CLAReSNet
from models.registry import build_model

# isort: split
# shared benchmark helpers (bench/ is first on sys.path when this script runs)
from _common import (
    BusyGuard,
    MachineBusy,
    OtherLoad,
    add_common_options,
    code_version,
    context_lines,
    machine_info,
    report,
)

SECTION = "claresnet_train_throughput"
CODE_PATHS = (
    "models/claresnet.py",
    "models/registry.py",
    "datasets/augment.py",
    "bench/train_throughput_claresnet.py",
    "bench/_common.py",
)
N_BANDS = 30
N_CLASSES = 16
PATCH_SIZE = 11
TRAIN_BATCH = 16
EVAL_BATCH = 32
N_PATCHES = 512
LR = 1e-4
WEIGHT_DECAY = 1e-2
WARMUP_STEPS = 3
REFERENCE_RATE = 9.0  # samples/s of the paper's reference code, per the issue
SEED = 0
PROFILED_STEPS = 2
TOP_OPS = 10


# --------------------------------------------------------------------------- training steps


class Trainer:
    """The training loop of the paper's recipe, one step at a time.

    Args:
        model: CLAReSNet.
        x: (N, T, P, P) patch tensor.
        y: (N,) labels.
        batch_size: samples per step.
        seed: seed of the shuffling and augmentation generators.
    """

    def __init__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int
    ) -> None:
        self.model, self.x, self.y, self.batch_size = model, x, y, batch_size
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.augment = BatchAugmenter(seed=seed)
        self.generator = torch.Generator().manual_seed(seed)
        self._perm = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def _indices(self) -> torch.Tensor:
        if self._pos + self.batch_size > len(self._perm):
            self._perm = torch.randperm(len(self.x), generator=self.generator)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def step(self) -> dict[str, float]:
        """One training step; returns the seconds of its phases."""
        t0 = time.perf_counter()
        idx = self._indices()
        xb, yb = self.augment(self.x.index_select(0, idx)), self.y[idx]
        t1 = time.perf_counter()
        loss = F.cross_entropy(self.model(xb), yb)
        t2 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        self.optimizer.step()
        t4 = time.perf_counter()
        return {"batch": t1 - t0, "forward": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}


@dataclass
class TrainResult:
    warmup: list[float]  # seconds of the warm-up steps
    windows: list[float]  # seconds of the timed windows
    phases: dict[str, list[float]]  # seconds per step and phase, timed windows only
    steps: int
    batch_size: int

    @property
    def rates(self) -> list[float]:
        return [self.steps * self.batch_size / w for w in self.windows]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def _nothing() -> None:
    pass


def time_training(
    trainer: Trainer, steps: int, repeats: int, check: Callable[[], None] = _nothing
) -> TrainResult:
    """Warm-up steps, then ``repeats`` timed windows of ``steps`` steps (``check`` after each)."""
    trainer.model.train()
    warmup = []
    for _ in range(WARMUP_STEPS):
        t0 = time.perf_counter()
        trainer.step()
        warmup.append(time.perf_counter() - t0)
    windows, phases = [], defaultdict(list)
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            for name, sec in trainer.step().items():
                phases[name].append(sec)
        windows.append(time.perf_counter() - t0)
        check()
    return TrainResult(warmup, windows, dict(phases), steps, trainer.batch_size)


def time_inference(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int,
    steps: int,
    repeats: int,
    check: Callable[[], None] = _nothing,
) -> list[float]:
    """Samples/s of ``repeats`` windows of ``steps`` forward calls (eval, no_grad), after 2 warm-ups."""
    model.eval()
    starts = [(i * batch_size) % (len(x) - batch_size + 1) for i in range(steps)]
    rates = []
    with torch.no_grad():
        for s in starts[:2]:
            model(x[s : s + batch_size])
        for _ in range(repeats):
            t0 = time.perf_counter()
            for s in starts:
                model(x[s : s + batch_size])
            rates.append(steps * batch_size / (time.perf_counter() - t0))
            check()
    return rates


# --------------------------------------------------------------------------- forward breakdown


class ModuleTimer:
    """Wall time of chosen modules' forward calls, via forward pre-/post-hooks.

    Args:
        modules: name -> module; every call of a module adds to its name's total.
    """

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._start: dict[int, float] = {}
        self._handles = []
        for name, module in modules.items():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post(name)))

    def _pre(self, module: nn.Module, args: object) -> None:
        self._start[id(module)] = time.perf_counter()

    def _post(self, name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            self.totals[name] += time.perf_counter() - self._start.pop(id(module))

        return hook

    def take(self) -> dict[str, float]:
        """The totals since the last call (and reset them)."""
        out, self.totals = dict(self.totals), defaultdict(float)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def timed_modules(model: CLAReSNet) -> dict[str, nn.Module]:
    """The modules :func:`forward_breakdown` times, by name."""
    enc = model.band_encoder
    mods: dict[str, nn.Module] = {
        "forward": model,
        "band": enc,
        "band.stem": enc.stem,
        "band.blocks": enc.blocks,
        "band.attention": enc.attention,
    }
    for i, layer in enumerate(model.layers):
        mods[f"layer{i}"] = layer
        mods[f"layer{i}.msla"] = layer.msla
        for j, rnn in enumerate(layer.rnns):
            mods[f"layer{i}.rnn{j}"] = rnn
    return mods


def forward_breakdown(trainer: Trainer, steps: int) -> dict[str, list[float]]:
    """Per component, the forward seconds of each of ``steps`` full training steps.

    Components: "band", "band.stem", "band.blocks", "band.attention", "band.rest"
    (pooling + projection), per layer i "layer{i}.rnn", "layer{i}.msla",
    "layer{i}.rest" (FFN, LayerNorms, residuals), "fusion_head" (layer-to-layer
    residuals, pooling, fusion attention, head) and "forward".
    """
    model = trainer.model
    timer = ModuleTimer(timed_modules(model))
    n_layers = len(model.layers)
    out: dict[str, list[float]] = defaultdict(list)
    try:
        model.train()
        for _ in range(steps):
            trainer.step()
            t = timer.take()
            parts = {
                "band": t["band"],
                "band.stem": t["band.stem"],
                "band.blocks": t["band.blocks"],
                "band.attention": t["band.attention"],
                "band.rest": t["band"] - t["band.stem"] - t["band.blocks"] - t["band.attention"],
                "forward": t["forward"],
            }
            layers_total = 0.0
            for i in range(n_layers):
                rnn = sum(v for k, v in t.items() if k.startswith(f"layer{i}.rnn"))
                parts[f"layer{i}.rnn"] = rnn
                parts[f"layer{i}.msla"] = t[f"layer{i}.msla"]
                parts[f"layer{i}.rest"] = t[f"layer{i}"] - rnn - t[f"layer{i}.msla"]
                layers_total += t[f"layer{i}"]
            parts["fusion_head"] = t["forward"] - t["band"] - layers_total
            for k, v in parts.items():
                out[k].append(v)
    finally:
        timer.remove()
    return dict(out)


def profile_steps(trainer: Trainer, steps: int = 2) -> tuple[list[tuple[str, float, float]], float]:
    """The operators of ``steps`` full training steps by self CPU time (``torch.profiler``).

    Returns ([(operator, self ms per step, calls per step)] sorted by time, total self ms
    per step). Forward and backward operators are both counted, which is what shows
    where the backward time goes.
    """
    trainer.model.train()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            trainer.step()
    ops = [
        (e.key, e.self_cpu_time_total / 1000 / steps, e.count / steps) for e in prof.key_averages()
    ]
    ops.sort(key=lambda o: o[1], reverse=True)
    return ops, sum(o[1] for o in ops)


# --------------------------------------------------------------------------- report


def _ms(v: float) -> str:
    return f"{1000 * v:,.1f}"


def _reading(m: Measurements, med: dict[str, float], phase: dict[str, float], n_layers: int) -> str:
    """Where the time goes, in words (numbers from the run)."""
    fwd, step = med["forward"], sum(phase.values())
    top_name, top_ms, _ = m.ops[0]
    conv = sum(ms for name, ms, _ in m.ops if "convolution" in name)

    def layers(key: str) -> float:
        return sum(med[f"layer{i}.{key}"] for i in range(n_layers))

    return (
        f"**Reading.** The backward pass takes {100 * phase['backward'] / step:.0f} % of a "
        f"step, the forward {100 * phase['forward'] / step:.0f} %, the optimiser "
        f"{100 * phase['optimizer'] / step:.0f} % and batch preparation with augmentation "
        f"{100 * phase['batch'] / step:.1f} %. In the forward, the band encoder (a 2-D CNN on "
        f"{TRAIN_BATCH} x {N_BANDS} = {TRAIN_BATCH * N_BANDS} single-band {PATCH_SIZE} x "
        f"{PATCH_SIZE} images with 64 channels) takes {100 * med['band'] / fwd:.0f} %, its "
        f"residual blocks alone {100 * med['band.blocks'] / fwd:.0f} %; the {n_layers} MSLA "
        f"modules {100 * layers('msla') / fwd:.0f} %, the recurrent layers "
        f"{100 * layers('rnn') / fwd:.0f} %. Over the whole step the convolution operators "
        f"(forward and backward) take {100 * conv / m.ops_total:.0f} % of the profiled time; the "
        f"largest single operator is `{top_name}` ({100 * top_ms / m.ops_total:.0f} %)."
    )


@dataclass
class Measurements:
    train: TrainResult
    eval_rates: list[float]  # samples/s per window
    breakdown: dict[str, list[float]]  # see forward_breakdown
    ops: list[tuple[str, float, float]]  # see profile_steps
    ops_total: float  # ms per profiled step


def render(
    m: Measurements, n_params: int, n_layers: int, command: str, other_load: float | None
) -> str:
    """The benchmark's Markdown section (heading, tables, context), without the markers."""
    info = machine_info()
    train, eval_rates, breakdown = m.train, m.eval_rates, m.breakdown
    med = {k: statistics.median(v) for k, v in breakdown.items()}
    fwd = med["forward"]
    phase = {k: statistics.median(v) for k, v in train.phases.items()}
    step_total = sum(phase.values())
    met = train.rate >= REFERENCE_RATE
    ev = statistics.median(eval_rates)

    def share(v: float) -> str:
        return f"{100 * v / fwd:.0f} %"

    def layer_row(label: str, key: str) -> str:
        per = [med[f"layer{i}.{key}"] for i in range(n_layers)]
        return (
            f"| {label} | {' / '.join(_ms(v) for v in per)} | {_ms(sum(per))} | {share(sum(per))} |"
        )

    lines = [
        "## CLAReSNet training throughput (paper configuration, CPU)",
        "",
        f'`build_model("claresnet", n_bands={N_BANDS}, n_classes={N_CLASSES}, '
        f"patch_size={PATCH_SIZE})` ({n_params / 1e6:.2f} M parameters), batch {TRAIN_BATCH}, "
        f"T = {N_BANDS}, P = {PATCH_SIZE}, AdamW (lr {LR:g}, weight decay {WEIGHT_DECAY:g}), "
        "cross-entropy, train mode. Each step slices a batch from "
        f"{N_PATCHES} pre-extracted random patches, augments it with `BatchAugmenter`, runs "
        "forward, loss, `zero_grad`, backward and `optimizer.step()`. "
        f"Samples/s: median of {len(train.windows)} windows of {train.steps} steps after "
        f"{WARMUP_STEPS} warm-up steps. Inference: forward only, eval mode, `torch.no_grad()`, "
        f"batch {EVAL_BATCH}, the same windows. torch.get_num_threads() = "
        f"{torch.get_num_threads()}.",
        "",
        "| | samples/s (median) | windows (samples/s) |",
        "| --- | ---: | --- |",
        f"| training, batch {TRAIN_BATCH} | {train.rate:.1f} "
        f"| {', '.join(f'{r:.1f}' for r in train.rates)} |",
        f"| inference, batch {EVAL_BATCH} | {ev:.1f} "
        f"| {', '.join(f'{r:.1f}' for r in eval_rates)} |",
        "",
        f"**Against the issue's floor of {REFERENCE_RATE:g} samples/s for the paper's reference "
        f"code on a 2-core machine: {'met' if met else 'not met'}** "
        f"({train.rate:.1f} samples/s, {train.rate / REFERENCE_RATE:.2f}x the reference figure; "
        f"slowest window {min(train.rates):.1f} samples/s). The warm-up steps took "
        f"{', '.join(_ms(s) for s in train.warmup)} ms (the first includes one-off "
        "initialisation).",
        "",
        "One training step, median ms per step over the timed windows:",
        "",
        "| batch + augmentation | forward + loss | zero_grad + backward | optimizer step | sum |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {_ms(phase['batch'])} | {_ms(phase['forward'])} | {_ms(phase['backward'])} "
        f"| {_ms(phase['optimizer'])} | {_ms(step_total)} |",
        "",
        f"Where the forward time of a training step goes (median ms over {len(breakdown['forward'])} "
        "steps, taken with forward hooks in separate steps after the timed windows; per-layer "
        f"figures are layers {' / '.join(str(i + 1) for i in range(n_layers))}):",
        "",
        "| component | per layer | ms | share of forward |",
        "| --- | ---: | ---: | ---: |",
        f"| band encoder (2-D CNN, the {N_BANDS} bands folded into the batch) | | "
        f"{_ms(med['band'])} | {share(med['band'])} |",
        f"| - multi-scale stem + SE | | {_ms(med['band.stem'])} | {share(med['band.stem'])} |",
        f"| - residual blocks (dilations 1-4) | | {_ms(med['band.blocks'])} "
        f"| {share(med['band.blocks'])} |",
        f"| - Enhanced CBAM | | {_ms(med['band.attention'])} | {share(med['band.attention'])} |",
        f"| - pooling + projection to D | | {_ms(med['band.rest'])} | {share(med['band.rest'])} |",
        layer_row("encoder layers: BiLSTM + BiGRU", "rnn"),
        layer_row("encoder layers: MSLA", "msla"),
        layer_row("encoder layers: FFN, LayerNorms, residuals", "rest"),
        f"| layer-to-layer residuals, pooling, fusion attention, head | | "
        f"{_ms(med['fusion_head'])} | {share(med['fusion_head'])} |",
        f"| forward total (hooked steps) | | {_ms(fwd)} | 100 % |",
        "",
        f"Operators of a whole training step (forward, backward, optimiser) by self CPU time, "
        f"`torch.profiler` over {PROFILED_STEPS} steps, the top {TOP_OPS} (profiled steps run "
        "somewhat slower than plain ones; the shares are what to read):",
        "",
        "| operator | ms per step | calls per step | share of the step |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| `{name}` | {ms:,.1f} | {calls:,.0f} | {100 * ms / m.ops_total:.0f} % |"
            for name, ms, calls in m.ops[:TOP_OPS]
        ),
        f"| all {len(m.ops)} operators | {m.ops_total:,.1f} | | 100 % |",
        "",
        _reading(m, med, phase, n_layers),
        "",
        *context_lines(info, code_version(CODE_PATHS), other_load, command),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=10, help="steps (batches) per timed window")
    ap.add_argument("--repeats", type=int, default=5, help="timed windows")
    add_common_options(ap)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be positive")
    command = shlex.join(
        ["python", "bench/train_throughput_claresnet.py", *(sys.argv[1:] if argv is None else argv)]
    )

    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(N_PATCHES, N_BANDS, PATCH_SIZE, PATCH_SIZE, generator=g)
    y = torch.randint(0, N_CLASSES, (N_PATCHES,), generator=g)
    model = build_model("claresnet", n_bands=N_BANDS, n_classes=N_CLASSES, patch_size=PATCH_SIZE)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    trainer = Trainer(model, x, y, TRAIN_BATCH, SEED)

    other = OtherLoad()
    guard = BusyGuard(args.max_other_load if args.write else None)
    try:
        train = time_training(trainer, args.steps, args.repeats, guard.check)
        print(f"training: {train.rate:.1f} samples/s ({train.rates})", file=sys.stderr)
        breakdown = forward_breakdown(trainer, args.steps)
        guard.check()
        eval_rates = time_inference(model, x, EVAL_BATCH, args.steps, args.repeats, guard.check)
        ops, ops_total = profile_steps(trainer, PROFILED_STEPS)
        guard.check()
    except MachineBusy as busy:
        print(f"not writing {args.write}: {busy}", file=sys.stderr)
        sys.exit(3)
    print(f"inference: {statistics.median(eval_rates):.1f} samples/s", file=sys.stderr)
    other_load = other.share()

    measured = Measurements(train, eval_rates, breakdown, ops, ops_total)
    section = render(measured, n_params, len(model.layers), command, other_load)
    report(section, SECTION, other_load, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
