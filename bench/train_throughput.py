"""Training throughput: the reference training style against the harness's path, per model.

For every registered non-tiny torch model at its ``unified`` recipe (patch size,
batch size, optimizer, learning rate and weight decay, PCA components for Indian
Pines as T), on random data of the Indian Pines geometry (a 145 x 145 image with
T bands, 512 labelled training pixels over 16 classes), training samples per
second of

(a) the reference style (``bench/reference_style.py``): a Dataset slicing one
    reflect-padded window per sample and augmenting it on the CPU, a shuffling
    DataLoader (seeded generator, no workers), ``.to(device)`` per batch, eager
    float32, ``loss.item()`` every step;
(b) the harness's path (:func:`harness.trial.steps.train_epoch`): the patch tensor
    resident on the device, ``index_select`` batches, whole-batch augmentation on
    the device (:class:`datasets.augment.BatchAugmenter`), no host read per step;
(c) the harness's path with fast-path switches on (``--variants``), each
    applied as a trial applies it (:func:`harness.trial.device.fast_forward`,
    :func:`harness.trial.device.backend_flags`, the fused optimizer, bf16 autocast):
    ``bf16``, ``channels_last``, ``compile``, ``cuda_graphs``, ``fused``, ``tf32``,
    ``cudnn_benchmark``, or several joined by ``+`` (e.g.
    ``tf32+cudnn_benchmark+cuda_graphs+fused``). A switch that does not apply on
    the device (CUDA graphs, TF32, the fused optimizer on a CPU) is refused.

Both start from the same weights (deep copies of one model), with the same
optimizer (:func:`harness.trial.optim.make_optimizer`, as the trials build it) and the same
batch size; both augment (the paper's recipe). A window is the first ``k`` steps
of an epoch, including what an epoch costs beyond its steps (the DataLoader's
iterator and shuffle; the harness's permutation); windows of the paths alternate,
after one warm-up window each. ``k`` is ``--steps`` (default 32, one epoch of 512
samples at batch 16), lowered for slow models so that a window takes about
``--window-s`` seconds (default 10; CLAReSNet takes about 1.2 s per step on a 2-core CPU). The
median of ``--repeats`` windows is reported; on CUDA, ``torch.cuda.synchronize()``
brackets every window.

Usage::

    python bench/train_throughput.py [--device cpu|cuda] [--models claresnet ssrn]
        [--steps 32] [--repeats 5] [--variants bf16 channels_last ...]
        [--write docs/BENCHMARKS.md]

Default variants: on the CPU ``bf16`` and ``channels_last`` (``compile`` costs
about two minutes of compilation per model there and gave CLAReSNet 1.04x);
on CUDA every switch alone and the float32 and bf16 combinations (see
:data:`CUDA_VARIANTS`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
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

sys.path.insert(0, str(ROOT))

from reference_style import (  # noqa: E402
    ReferencePatchDataset,
    reference_epoch,
    reference_loader,
)

import datasets  # noqa: E402
import models  # noqa: E402
from datasets.augment import BatchAugmenter  # noqa: E402
from harness.spec import TrainingConfig  # noqa: E402
from harness.trial.device import backend_flags, fast_forward  # noqa: E402
from harness.trial.optim import make_optimizer  # noqa: E402
from harness.trial.steps import train_epoch  # noqa: E402

SCENE, RAW_BANDS, N_CLASSES = "indian_pines", 200, 16
HEIGHT = WIDTH = 145
N_TRAIN = 512
NAME = "train_throughput"

#: variant token -> the TrainingConfig field it sets
SWITCHES = {
    "bf16": ("amp", "bf16"),
    "channels_last": ("channels_last", True),
    "compile": ("compile", True),
    "cuda_graphs": ("cuda_graphs", True),
    "fused": ("fused_optimizer", True),
    "tf32": ("tf32", True),
    "cudnn_benchmark": ("cudnn_benchmark", True),
}
CUDA_ONLY = {"cuda_graphs", "fused", "tf32", "cudnn_benchmark"}
CPU_VARIANTS = ("bf16", "channels_last")
FP32_FAST = "tf32+cudnn_benchmark+channels_last+cuda_graphs+fused"
CUDA_VARIANTS = (
    "tf32",
    "cudnn_benchmark",
    "channels_last",
    "compile",
    "cuda_graphs",
    "fused",
    FP32_FAST,
    "bf16",
    "bf16+" + FP32_FAST,
)


def variant_training(variant: str, base: TrainingConfig) -> TrainingConfig:
    """The training config of a variant ("bf16+cuda_graphs": both switches on)."""
    changes = {}
    for token in variant.split("+"):
        if token not in SWITCHES:
            raise ValueError(
                f"variant {variant!r}: unknown switch {token!r}; expected one of "
                f"{', '.join(SWITCHES)}, joined by '+'."
            )
        field, value = SWITCHES[token]
        changes[field] = value
    return TrainingConfig(**{**base.__dict__, **changes})


@dataclass
class Row:
    model: str
    t: int
    p: int
    batch: int
    steps: int
    rates: dict[str, float]  # "reference", "harness", then one per variant
    ref_data_ms: float
    harness_data_ms: float
    profile: list[str] | None = None  # Markdown lines (``--profile``)

    @property
    def reference(self) -> float:
        return self.rates["reference"]


#: op-name fragments -> the category a profile sums them under (first match wins)
CATEGORIES = (
    ("convolutions", ("conv", "cudnn_convolution", "mkldnn_convolution")),
    ("recurrent (LSTM/GRU)", ("lstm", "gru", "rnn")),
    ("attention (softmax, batched products)", ("softmax", "bmm", "attention", "sdpa")),
    ("matrix products (linear)", ("mm", "addmm", "linear", "matmul", "gemm")),
    ("normalisation", ("norm",)),
    ("optimizer", ("adam", "foreach", "lerp", "optimizer")),
)


def profile_path(run, k: int, device: torch.device, label: str) -> list[str]:
    """Markdown lines: where ``k`` steps of ``run`` spend their time (torch.profiler).

    On CUDA, the kernels' summed time against the wall time of the window gives the
    share of the window the GPU sat idle (launch gaps, host work, synchronisation);
    on the CPU, the ops' own CPU time is what is summed.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    sync(device)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        run(k)
        sync(device)
        wall_us = (time.perf_counter() - t0) * 1e6
    events = [e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")]
    on_gpu = device.type == "cuda"

    def own(e) -> float:
        return float(e.self_device_time_total if on_gpu else e.self_cpu_time_total)

    total = sum(own(e) for e in events) or 1.0
    by_cat: dict[str, float] = {}
    for e in events:
        name = e.key.lower()
        cat = next((c for c, keys in CATEGORIES if any(x in name for x in keys)), "other")
        by_cat[cat] = by_cat.get(cat, 0.0) + own(e)
    what = "GPU kernel time" if on_gpu else "the ops' own CPU time"
    lines = [
        f"Profile of `{label}`, {k} steps ({wall_us / 1e3 / k:.1f} ms per step, "
        f"torch.profiler; shares of {what}):",
        "",
    ]
    if on_gpu:
        idle = max(0.0, 1.0 - total / wall_us)
        lines[0] = lines[0][:-1] + (
            f"; the GPU was busy {total / 1e3 / k:.1f} ms per step, idle {100 * idle:.0f} % "
            "of the window: launch gaps, host work and synchronisation):"
        )
    lines += ["| category | share |", "| --- | ---: |"]
    for cat, v in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {cat} | {100 * v / total:.0f} % |")
    lines += [
        "",
        "| op (top 10) | calls per step | ms per step | share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for e in sorted(events, key=own, reverse=True)[:10]:
        lines.append(
            f"| `{e.key}` | {e.count / k:.0f} | {own(e) / 1e3 / k:.2f} | {100 * own(e) / total:.0f} % |"
        )
    return [*lines, ""]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, args: argparse.Namespace, device: torch.device, guard: BusyGuard) -> Row:
    recipe = models.get_model_entry(name).recipe("unified")
    t = recipe.components_for(SCENE) or RAW_BANDS
    p, batch = recipe.patch_size, recipe.batch_size
    rng = np.random.default_rng(0)
    image = rng.standard_normal((HEIGHT, WIDTH, t)).astype(np.float32)
    idx = np.sort(rng.choice(HEIGHT * WIDTH, size=N_TRAIN, replace=False))
    labels = rng.integers(0, N_CLASSES, size=N_TRAIN)
    loss_fn = torch.nn.CrossEntropyLoss()

    torch.manual_seed(0)
    base = models.build_model(name, n_bands=t, n_classes=N_CLASSES, patch_size=p, **recipe.hparams)

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = copy.deepcopy(base).to(device).train()
        return model, make_optimizer(model, recipe)

    # (a) reference style
    ref_model, ref_opt = fresh()
    ds = ReferencePatchDataset(
        image, idx, labels, p, pad_mode=recipe.pad_mode, augment=recipe.augment, seed=0
    )
    loader = reference_loader(ds, batch, seed=0)

    def run_reference(k: int) -> None:
        reference_epoch(ref_model, ref_opt, loader, device, loss_fn, max_steps=k)

    # (b, c) harness path: patches extracted once and resident on the device
    x = torch.from_numpy(datasets.extract_patches(image, idx, p, pad_mode=recipe.pad_mode)).to(
        device
    )
    y = torch.from_numpy(labels).to(device)

    base_cfg = TrainingConfig(
        optimizer=recipe.optimizer,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        batch_size=batch,
        augment=recipe.augment,
    )

    def harness_runner(cfg: TrainingConfig):
        """The harness's path with ``cfg``'s switches, set up as fit_deep sets it up."""
        model = copy.deepcopy(base).to(device).train()
        forward, applied = fast_forward(model, cfg, device)
        opt = make_optimizer(model, cfg, fused=applied["fused_optimizer"])
        augment = BatchAugmenter(seed=0) if recipe.augment else None
        gen = torch.Generator().manual_seed(0)
        amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else None

        def amp():
            if amp_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device.type, dtype=amp_dtype)

        def run(k: int) -> None:
            perm = torch.randperm(N_TRAIN, generator=gen).to(device)
            with backend_flags(cfg, device):
                train_epoch(
                    forward,
                    opt,
                    x,
                    y,
                    perm[: k * batch],
                    batch,
                    loss_fn=loss_fn,
                    augment=augment,
                    amp=amp,
                )

        return run

    paths = {"reference": run_reference, "harness": harness_runner(base_cfg)}
    for variant in args.variants:
        paths[variant] = harness_runner(variant_training(variant, base_cfg))

    def window(run, k: int) -> float:
        sync(device)
        t0 = time.perf_counter()
        run(k)
        sync(device)
        return time.perf_counter() - t0

    # warm-up: one short window per path (compilation, graph recording, cuDNN's
    # autotuning happen here); the reference's sets the window length
    warm = min(3, args.steps)
    step_s = {key: window(run, warm) / warm for key, run in paths.items()}
    guard.check()
    k = max(1, min(args.steps, math.ceil(args.window_s / step_s["reference"])))
    times: dict[str, list[float]] = {key: [] for key in paths}
    for _ in range(args.repeats):
        for key, run in paths.items():
            times[key].append(window(run, k))
        guard.check()
    rate = {key: k * batch / statistics.median(v) for key, v in times.items()}

    # the data side alone, per batch: the loader's batches moved to the device, against
    # index_select + BatchAugmenter on the resident tensor (median of the repeats)
    augment = BatchAugmenter(seed=0) if recipe.augment else (lambda b: b)
    gen = torch.Generator().manual_seed(1)

    def ref_data() -> None:
        for xb, yb in loader:
            xb.to(device), yb.to(device)

    def harness_data() -> None:
        perm = torch.randperm(N_TRAIN, generator=gen).to(device)
        for start in range(0, N_TRAIN, batch):
            sel = perm[start : start + batch]
            augment(x.index_select(0, sel)), y.index_select(0, sel)

    n_batches = math.ceil(N_TRAIN / batch)
    data_ms = [
        1e3
        * statistics.median(window(lambda _k, f=f: f(), 0) for _ in range(args.repeats))
        / n_batches
        for f in (ref_data, harness_data)
    ]
    profiled = None
    if name in (args.profile or []):
        profiled = []
        for key in ["harness", *args.variants[-1:]]:
            profiled += profile_path(paths[key], k, device, f"{name}, {key}")
    return Row(name, t, p, batch, k, rate, *data_ms, profile=profiled)


def paper_note(rows: list[Row]) -> str:
    """Whether CLAReSNet ran at the paper's configuration (T = 30, P = 11, batch 16)."""
    row = next((r for r in rows if r.model == "claresnet"), None)
    if row is None:
        return ""
    same = (row.t, row.p, row.batch) == (30, 11, 16)
    return f"CLAReSNet: the unified recipe gives T = {row.t}, P = {row.p}, batch {row.batch}" + (
        ", the paper's configuration." if same else ", NOT the paper's T = 30, P = 11, batch 16."
    )


GPU_COMMAND = "python3 bench/train_throughput.py --device cuda --write docs/BENCHMARKS.md"


def discussion(device: torch.device) -> list[str]:
    """What the figures show (the data columns: one epoch of batches without training)."""
    if device.type == "cuda":
        return [
            "Data ms/batch: one epoch of batches without training, per batch (reference: the "
            "loader's batches moved to the GPU; harness: `index_select` and `BatchAugmenter` on "
            "the resident tensor).",
            "",
        ]
    return [
        "On the CPU the model's arithmetic dominates: forward, backward and the optimizer step "
        "take 20-35 ms per batch of 16 for the small baselines and over a second for CLAReSNet "
        "(its band CNN's convolutions, forward and backward, are about 40 % of a step), while "
        "the data side of either path costs about a millisecond or less per batch (the data "
        "columns: one epoch of batches without training, per batch; reference: the "
        "DataLoader's batches, sliced and augmented per sample; harness: `index_select` and "
        "`BatchAugmenter`), and a per-step `loss.item()` costs nothing when the step runs "
        "synchronously on the host. So in float32 the two paths are close here; the small, "
        "20 ms-per-step models move by up to +-30 % from run to run on this 2-core machine. "
        "What changes the arithmetic on the CPU is bf16 autocast (`--amp bf16`, a recorded "
        "switch, off in every suite): this processor has AVX-512 BF16 instructions, which "
        "oneDNN uses for the convolutions and matrix products, so it pays for the "
        "convolution-heavy models (CLAReSNet, SSRN) while the two SpectralFormers slow down "
        "(their small matrix products gain less than the casts around them cost). "
        "Channels-last does not help on the CPU (oneDNN picks its own blocked layout for "
        "convolutions either way). `torch.compile` is not in the default CPU variants: it "
        "takes minutes to compile CLAReSNet here (measure it with `--variants compile`; "
        "one such run is recorded below this section). "
        "The harness's path is built for the GPU, where per-sample host work and a host read "
        "every step stall the launch queue at batch 16. "
        f"The GPU run is one command: `{GPU_COMMAND}`.",
        "",
    ]


def fmt_rate(v: float) -> str:
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def render(
    rows: list[Row], args: argparse.Namespace, device: torch.device, command: str, other: float
) -> str:
    info = machine_info()
    where = f"CUDA, {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "CPU"
    lines = [
        f"## Training throughput: reference style against the harness's path ({where})",
        "",
        "Every registered non-tiny torch model at its `unified` recipe on random data of the Indian "
        f"Pines geometry ({HEIGHT} x {WIDTH} image, T = the recipe's PCA components, {N_TRAIN} "
        f"training pixels, {N_CLASSES} classes), the paper's augmentation on. Reference: "
        "`bench/reference_style.py` (per-sample Dataset slicing the reflect-padded image and augmenting on "
        "the CPU with NumPy, shuffling DataLoader without workers, `.to(device)` per batch, eager "
        "float32, `loss.item()` every step). Harness: `harness.trial.steps.train_epoch` (patches resident "
        "on the device, `index_select` batches, `BatchAugmenter` on the whole batch, no host read "
        "per step), float32 with every fast-path switch off, then with the switches of each "
        "variant on, applied as a trial applies them. Same initial weights, optimizer (the "
        "recipe's, as trials build it) and batch "
        f"size. Samples/s: median of {args.repeats} windows of `steps` steps (the first steps of an "
        "epoch), the paths alternating, after one warm-up window each"
        + (", `torch.cuda.synchronize()` around every window" if device.type == "cuda" else "")
        + ". "
        + paper_note(rows),
        "",
        "| model | T | P | batch | steps | reference samples/s | harness samples/s "
        "| harness / reference | data ms/batch, reference | data ms/batch, harness |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.t} | {r.p} | {r.batch} | {r.steps} | {fmt_rate(r.reference)} "
            f"| {fmt_rate(r.rates['harness'])} | {r.rates['harness'] / r.reference:.2f} "
            f"| {r.ref_data_ms:.2f} | {r.harness_data_ms:.2f} |"
        )
    if args.variants:
        lines += [
            "",
            "Fast-path switches (the harness's path with the variant's switches on; "
            "`bf16`: autocast, `fused`: the fused optimizer, `a+b`: both):",
            "",
            "| model | variant | samples/s | / reference | / harness float32 |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for r in rows:
            for variant in args.variants:
                v = r.rates[variant]
                lines.append(
                    f"| {r.model} | `{variant}` | {fmt_rate(v)} | {v / r.reference:.2f} "
                    f"| {v / r.rates['harness']:.2f} |"
                )
    for r in rows:
        if r.profile:
            lines += ["", *r.profile]
    lines += ["", *discussion(device)]
    lines.append("")
    lines += context_lines(
        info, code_version(["bench", "harness", "datasets", "models"]), other, command
    )
    if device.type == "cuda":
        lines.append(f"- Device: {torch.cuda.get_device_name(device)}")
    lines.append(f"- Threads: torch.get_num_threads() = {torch.get_num_threads()}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument(
        "--models", nargs="+", help="only these models (default: every non-tiny torch model)"
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=32,
        help="steps per timed window, at most (default 32: an epoch)",
    )
    ap.add_argument(
        "--window-s",
        type=float,
        default=10.0,
        help="lower the steps of slow models so that a window takes about this long (default 10)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="timed windows per path (default 5)")
    ap.add_argument(
        "--variants",
        nargs="*",
        metavar="SWITCH[+SWITCH]",
        help="fast-path variants to time besides the float32 harness path: "
        f"{', '.join(SWITCHES)}, or several joined by '+' "
        f"(default: {' '.join(CPU_VARIANTS)} on the CPU, every switch and the combinations "
        "on CUDA; none: --variants with no value)",
    )
    ap.add_argument(
        "--profile",
        nargs="*",
        metavar="MODEL",
        help="profile these models' harness path (float32, and the last variant) and add "
        "where the time goes to the section (default on CUDA: claresnet)",
    )
    add_common_options(ap)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be positive")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")
    device = torch.device(args.device)
    if args.profile is None:
        args.profile = ["claresnet"] if device.type == "cuda" else []
    if args.variants is None:
        args.variants = list(CUDA_VARIANTS if device.type == "cuda" else CPU_VARIANTS)
    args.variants = list(dict.fromkeys(args.variants))
    for variant in args.variants:
        try:
            variant_training(variant, TrainingConfig())
        except ValueError as exc:
            ap.error(str(exc))
        cuda_only = sorted(CUDA_ONLY & set(variant.split("+")))
        if cuda_only and device.type != "cuda":
            ap.error(
                f"variant {variant!r}: {', '.join(cuda_only)} apply on CUDA only; "
                "drop them or use --device cuda."
            )
    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench/train_throughput.py", *argv])]
    )
    names = args.models or [
        n
        for n in models.list_models(include_tiny=False)
        if models.get_model_entry(n).kind == "torch"
    ]
    for name in names:
        entry = models.get_model_entry(name)
        if entry.kind != "torch":
            ap.error(f"{name} is not a torch model")
    guard = BusyGuard(args.max_other_load if args.write else None)
    rows: list[Row] = []
    try:
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = measure(name, args, device, guard)
            rows.append(row)
            extra = "".join(f"  {v} {row.rates[v] / row.reference:4.2f}x" for v in args.variants)
            print(
                f"{name:<22} steps {row.steps:>3}  reference {row.reference:9.1f}/s  "
                f"harness {row.rates['harness']:9.1f}/s  "
                f"ratio {row.rates['harness'] / row.reference:5.2f}{extra}",
                file=sys.stderr,
                flush=True,
            )
    except MachineBusy as exc:
        sys.exit(f"{exc}")
    share = guard.load.share()
    report(render(rows, args, device, command, share), NAME, share, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
