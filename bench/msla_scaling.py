"""How MSLA's cost grows with the sequence length T, next to full self-attention.

The CLAReSNet paper (Section IV.3) claims that Multi-Scale Spectral Latent
Attention (MSLA) costs O(T log T * D) where standard self-attention costs
O(T^2 * D): the L(T) latent tokens grow with log T (:func:`models.claresnet.latent_count`),
every sequence position attends only to them, so attention is O(T * L(T) * D).
This benchmark measures the forward time and the peak memory of

(a) ``MultiScaleLatentAttention(emb_dim=256, heads=8, scales=(1, 2, 4),
    max_bands=4096, dropout=0.1)``: the whole module as CLAReSNet uses it
    (hybrid positional encoding; per scale: latents-to-sequence cross-attention,
    latent self-attention, latent FFN, sequence-to-latents cross-attention, three
    LayerNorms, interpolation back to T; the 3D -> 2D -> D fusion FFN, residual
    and LayerNorm);
(b) standard full self-attention, ``nn.MultiheadAttention(256, 8,
    batch_first=True)`` called as ``mha(x, x, x, need_weights=False)``: the QKV
    in-projection, softmax(QK^T / sqrt(d)) V over all T x T pairs and the output
    projection, nothing else (no FFN, no LayerNorm, no residual). In eval mode
    under ``torch.no_grad()`` PyTorch runs this through its fused "fast path"
    (``aten::_native_multi_head_attention``), which on the CPU materialises the
    B x heads x T x T score matrix;
(b') the same module with that fast path disabled
    (``torch.backends.mha.set_fastpath_enabled(False)``): PyTorch then calls
    ``F.scaled_dot_product_attention``, whose CPU flash-attention kernel computes
    the same result in blocks without the T x T matrix. Same arithmetic as (b),
    different memory behaviour; it shows how much of (b)'s memory growth is a
    property of attention and how much of the kernel.

Batch 16, D = 256, float32, eval mode, ``torch.no_grad()``, torch's default
thread count, input ``torch.randn(16, T, 256)``.

Time: median over two fresh subprocesses per (module, T), each timing
``--repeats`` forward calls after two warm-up calls; the modules take turns (all
three at one T, then all three again), so that a slow spell of the shared
machine does not fall on one module only.

Peak memory (CPU): in another fresh subprocess per (module, T), started with
``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc serves every tensor buffer of 64
KiB or more with its own mmap and returns it to the kernel when it is freed (the
resident set then follows the live tensors instead of malloc's caches). After
one warm-up forward call (one-off allocations of the libraries), the kernel's
peak-RSS mark is reset (writing ``5`` to ``/proc/self/clear_refs``), the
resident set is read (``VmRSS``), one forward call runs and the peak is read
(``VmHWM``); the figure is peak minus the RSS right before the call, i.e. the
most memory the forward call held at once beyond the module and its input (the
output included). Where ``clear_refs`` cannot be written, the first forward call
of the process is measured instead with ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
before and after (the method used is written next to the table).

Fits: least squares of log(time) and log(memory) on log T over all T, and over
the upper half of the range (T >= sqrt(T_min * T_max)), where constant overheads
matter least. A slope of 1 is linear, 2 quadratic; T log T has a local slope of
1 + 1 / ln T (1.29 at T = 32, 1.13 at T = 2048).

The share of CPU time other processes used during the run is recorded; with
``--write`` the section is not written when it exceeds ``--max-other-load``.

Usage::

    python bench/msla_scaling.py [--t-values 32 64 ... 2048] [--repeats 5] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.claresnet import MultiScaleLatentAttention, latent_count

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

SECTION = "msla_scaling"
CODE_PATHS = ("models/claresnet.py", "bench/msla_scaling.py", "bench/_common.py")
BATCH = 16
EMB_DIM = 256
HEADS = 8
SCALES = (1, 2, 4)
MAX_BANDS = 4096
DEFAULT_T = (32, 64, 128, 256, 512, 1024, 2048)
WARMUP = 2
TIME_PROCESSES = 2  # fresh timing processes per (module, T), run in turns across the modules
MODULES = ("msla", "full", "sdpa")
MMAP_THRESHOLD = "65536"


# --------------------------------------------------------------------------- worker side


def _build(kind: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The forward function of module ``kind`` ("msla", "full" or "sdpa"), in eval mode."""
    torch.manual_seed(0)
    if kind == "msla":
        msla = MultiScaleLatentAttention(
            emb_dim=EMB_DIM, heads=HEADS, scales=SCALES, max_bands=MAX_BANDS, dropout=0.1
        ).eval()
        return msla
    mha = nn.MultiheadAttention(EMB_DIM, HEADS, batch_first=True).eval()
    if kind == "sdpa":
        torch.backends.mha.set_fastpath_enabled(False)
    elif kind != "full":
        raise ValueError(f"unknown module {kind!r}; one of {', '.join(MODULES)}")
    return lambda x: mha(x, x, x, need_weights=False)[0]


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def worker(kind: str, t: int, mode: str, repeats: int) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    forward = _build(kind)
    x = torch.randn(BATCH, t, EMB_DIM, generator=torch.Generator().manual_seed(0))
    out: dict = {"threads": torch.get_num_threads()}
    with torch.no_grad():
        if mode == "time":
            for _ in range(WARMUP):
                forward(x)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                forward(x)
                times.append(time.perf_counter() - t0)
            out["times"] = times
            return out
        if _reset_peak():
            forward(x)  # one-off allocations of the libraries
            gc.collect()
            _reset_peak()
            before = _status_mib("VmRSS")
            y = forward(x)
            out.update(method="clear_refs", peak_mib=_status_mib("VmHWM") - before)
        else:
            gc.collect()
            before = _status_mib("VmRSS")
            high_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            y = forward(x)
            high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            # a peak below the process's earlier high-water mark cannot be seen
            out.update(method="ru_maxrss", peak_mib=high - before if high > high_before else None)
        del y
    return out


# --------------------------------------------------------------------------- parent side


def run_worker(kind: str, t: int, mode: str, repeats: int) -> dict:
    """Run :func:`worker` in a fresh interpreter (memory mode: with a fixed mmap threshold)."""
    env = dict(os.environ)
    if mode == "memory":
        env["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD
    cmd = [sys.executable, __file__, "--worker", kind, str(t), mode, str(repeats)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {kind} T={t} {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Row:
    t: int
    latents: int
    times: dict[str, list[float]]  # seconds, per module
    peak_mib: dict[str, float | None]
    method: str
    threads: int
    other_load: float | None

    def ms(self, kind: str) -> float:
        return 1000 * statistics.median(self.times[kind])


def measure(t_values: list[int], repeats: int, guard: BusyGuard | None = None) -> list[Row]:
    """All modules at every T; ``guard`` is checked after each T."""
    rows = []
    for t in t_values:
        load = OtherLoad()
        times: dict[str, list[float]] = {kind: [] for kind in MODULES}
        peaks, methods, threads = {}, set(), set()
        # the modules take turns, so that a slow spell of the machine hits all of them
        for _ in range(TIME_PROCESSES):
            for kind in MODULES:
                timed = run_worker(kind, t, "time", repeats)
                times[kind] += timed["times"]
                threads.add(timed["threads"])
        for kind in MODULES:
            mem = run_worker(kind, t, "memory", repeats)
            peaks[kind] = mem["peak_mib"]
            methods.add(mem["method"])
            threads.add(mem["threads"])
        rows.append(
            Row(
                t,
                latent_count(t),
                times,
                peaks,
                "/".join(sorted(methods)),
                max(threads),
                load.share(),
            )
        )
        r = rows[-1]
        print(
            f"T={t}: MSLA {r.ms('msla'):.1f} ms {r.peak_mib['msla']} MiB, full {r.ms('full'):.1f} ms "
            f"{r.peak_mib['full']} MiB, sdpa {r.ms('sdpa'):.1f} ms {r.peak_mib['sdpa']} MiB",
            file=sys.stderr,
        )
        if guard is not None:
            guard.check()
    return rows


def slope(t: list[int], y: list[float | None]) -> float | None:
    """Least-squares slope of log y on log t (points with no or non-positive y left out)."""
    pts = [(math.log(a), math.log(b)) for a, b in zip(t, y, strict=True) if b is not None and b > 0]
    if len(pts) < 2:
        return None
    xs, ys = zip(*pts, strict=True)
    return float(np.polyfit(xs, ys, 1)[0])


def slopes(t: list[int], y: list[float | None]) -> tuple[float | None, float | None]:
    """(slope over all T, slope over T >= sqrt(T_min * T_max))."""
    mid = math.sqrt(min(t) * max(t))
    upper = [(a, b) for a, b in zip(t, y, strict=True) if a >= mid]
    return slope(t, y), slope([a for a, _ in upper], [b for _, b in upper])


# --------------------------------------------------------------------------- report


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f}"


def macs(kind: str, t: int) -> int:
    """Multiply-accumulates of the matrix products of one sample's forward call (a cost model).

    MSLA, per scale s (T_s = ceil(T / s) positions, L = L(T) latents): encoding
    cross-attention (Q of the latents, K and V of the positions, scores, weighted
    sum, output projection), latent self-attention, latent FFN (D -> 2D -> D),
    decoding cross-attention (Q and output projection of the positions, K and V
    of the latents); then the fusion FFN (3D -> 2D -> D) on every position.
    Full self-attention: QKV and output projections of T positions, T x T scores
    and the weighted sum. Element-wise work (softmax, LayerNorm, GELU) is left out.
    """
    d = EMB_DIM
    if kind != "msla":
        return 4 * t * d * d + 2 * t * t * d
    n_lat = latent_count(t)
    total = 0
    for s in SCALES:
        ts = -(-t // s) if t >= s else t
        encode = n_lat * d * d + 2 * ts * d * d + 2 * n_lat * ts * d + n_lat * d * d
        process = 4 * n_lat * d * d + 2 * n_lat * n_lat * d
        latent_ffn = 4 * n_lat * d * d
        decode = ts * d * d + 2 * n_lat * d * d + 2 * ts * n_lat * d + ts * d * d
        total += encode + process + latent_ffn + decode
    return total + t * (len(SCALES) * d * 2 * d + 2 * d * d)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b <= 0 else f"{a / b:.2f}x"


def _verdict(slope_up: float | None) -> str:
    if slope_up is None:
        return "cannot be judged (too few lengths)"
    if abs(slope_up - 1) <= 0.15:
        return "consistent with linear growth"
    if slope_up < 1:
        return "below linear (fixed per-call costs still weigh at these sizes)"
    return "steeper than linear"


def reading(rows: list[Row], fits: dict[str, tuple[float | None, float | None]]) -> str:
    """The paragraph interpreting the measurements (every number filled in from the run)."""
    cap_l = latent_count(MAX_BANDS)
    cap_t = next(x for x in range(1, MAX_BANDS + 1) if latent_count(x) == cap_l)
    first, last = rows[0], rows[-1]
    ms_all, ms_up = fits["time msla"]
    fa_all, fa_up = fits["time full"]
    st_all, st_up = fits["time sdpa"]
    mm_all, mm_up = fits["memory msla"]
    fm_all, fm_up = fits["memory full"]
    sm_all, sm_up = fits["memory sdpa"]

    def crossover(kind: str) -> int | None:
        """The smallest measured T from which on MSLA is faster than ``kind``."""
        return next(
            (r.t for r in rows if all(q.ms("msla") < q.ms(kind) for q in rows if q.t >= r.t)),
            None,
        )

    def rel(r: Row, kind: str) -> str:
        ratio = r.ms(kind) / r.ms("msla")
        return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"

    def faster_from(kind: str) -> str:
        t = crossover(kind)
        return f"from T = {t} on" if t is not None else "at no measured T"

    model_cross = next(
        (x for x in range(1, MAX_BANDS + 1) if macs("full", x) > macs("msla", x)), None
    )
    growth = (
        "about linearly in T"
        if ms_up is not None and abs(ms_up - 1) <= 0.15
        else f"with a slope of {_f(ms_up)} over the upper half"
    )
    memory = (
        f"Memory slopes: MSLA {_f(mm_all)} / {_f(mm_up)}, (b) {_f(fm_all)} / {_f(fm_up)}, "
        f"(b') {_f(sm_all)} / {_f(sm_up)}."
    )
    if fm_up is not None and fm_up >= 1.5:
        memory += (
            " The quadratic memory of (b) is its fast-path kernel materialising the "
            f"B x heads x T x T scores ({BATCH * HEADS * last.t**2 * 4 / 2**20:,.0f} MiB at "
            f"T = {last.t}); the flash kernel (b') computes the same attention in memory linear "
            "in T, so MSLA's memory advantage is over the fast path, not over attention as such "
            f"(at T = {last.t} MSLA holds {_ratio(last.peak_mib['msla'], last.peak_mib['full'])} "
            f"the memory of (b) and {_ratio(last.peak_mib['msla'], last.peak_mib['sdpa'])} that "
            "of (b'))."
        )
    return " ".join(
        [
            f"**Reading.** L(T) grows with log T only up to T = {cap_t} and is {cap_l} from "
            f"there on, so above T = {cap_t} each scale attends T positions to {cap_l} latents: "
            "MSLA's attention is linear in T with a constant bottleneck, and its projections, "
            "FFNs (the fusion FFN on every position), LayerNorms and the interpolation are linear "
            "in T at every length. As built, the module can be T log T at most up to the cap and "
            "is linear beyond it: O(T * D * (D + L_max)).",
            f"Measured time slopes (all T / upper half): MSLA {_f(ms_all)} / {_f(ms_up)}, "
            f"{_verdict(ms_up)}; full self-attention (b) {_f(fa_all)} / {_f(fa_up)}; the flash "
            f"kernel (b') {_f(st_all)} / {_f(st_up)}. Standard attention approaches slope 2 only "
            "slowly because at D = 256 its T x D^2 projections cost as much as its T^2 x D "
            f"scores up to T = 2D = {2 * EMB_DIM}.",
            "MSLA's constant is large: three scales of three attention blocks (encode, latent "
            "self-attention, decode) and a latent FFN each, plus the 3D -> 2D -> D fusion FFN, "
            f"about {macs('msla', first.t) / macs('full', first.t):.1f}x the multiply-accumulates "
            f"of (b) at T = {first.t}; the MAC model breaks even at T = {model_cross}. Measured, "
            f"MSLA is faster than (b) {faster_from('full')} ({rel(last, 'full')} at T = "
            f"{last.t}) and faster than (b') {faster_from('sdpa')} ({rel(last, 'sdpa')} at "
            f"T = {last.t}); at T = {first.t} it is {rel(first, 'full')} than (b).",
            memory,
            f"In short: MSLA grows {growth} (the log factor stops at T = {cap_t}, so "
            "O(T log T * D) describes only the short lengths), "
            + (
                "it is faster than standard self-attention (b) only at lengths far beyond the "
                "T = 30 PCA components CLAReSNet is run with"
                if crossover("full") is not None
                else "it is not faster than standard self-attention (b) at any measured length"
            )
            + (
                ", and within the measured range it does not beat attention computed by the "
                "flash kernel"
                if crossover("sdpa") is None
                else f", and against the flash kernel only from T = {crossover('sdpa')}"
            )
            + f"; at T = {first.t} MSLA is {rel(first, 'full')} than plain attention.",
        ]
    )


def render(rows: list[Row], repeats: int, command: str, other_load: float | None) -> str:
    """The benchmark's Markdown section (heading, tables, context), without the markers."""
    info = machine_info()
    t = [r.t for r in rows]
    fits = {}
    for kind in MODULES:
        fits[f"time {kind}"] = slopes(t, [r.ms(kind) for r in rows])
        fits[f"memory {kind}"] = slopes(t, [r.peak_mib[kind] for r in rows])
    t_log_t = slopes(t, [x * math.log(x) for x in t])
    t_l = slopes(t, [x * latent_count(x) for x in t])
    mid = math.sqrt(min(t) * max(t))
    methods = sorted({r.method for r in rows})
    lines = [
        "## MSLA scaling with sequence length",
        "",
        "Forward time and peak memory of MSLA against full self-attention over sequence length T "
        f"(batch {BATCH}, D = {EMB_DIM}, {HEADS} heads, float32, eval mode, `torch.no_grad()`, CPU):",
        "",
        "- **MSLA**: `MultiScaleLatentAttention(emb_dim=256, heads=8, scales=(1, 2, 4), "
        "max_bands=4096, dropout=0.1)`, the whole module: hybrid positional encoding; per scale "
        "latents-to-sequence cross-attention, latent self-attention, latent FFN, "
        "sequence-to-latents cross-attention, three LayerNorms, interpolation back to T; the "
        "3D -> 2D -> D fusion FFN, residual and LayerNorm.",
        "- **(b) full**: `nn.MultiheadAttention(256, 8, batch_first=True)` as self-attention, "
        "`mha(x, x, x, need_weights=False)`: QKV projection, softmax(QK^T / sqrt(d)) V over all "
        "T x T pairs, output projection. Attention only: no FFN, LayerNorm or residual, so it "
        "is less than a transformer layer (a full layer would add a 4D FFN, linear in T). PyTorch "
        "runs it through its fused fast path (`aten::_native_multi_head_attention`), which "
        "materialises the B x heads x T x T scores.",
        "- **(b') full, flash kernel**: the same module with "
        "`torch.backends.mha.set_fastpath_enabled(False)`, so that PyTorch calls "
        "`F.scaled_dot_product_attention` (CPU flash attention, no T x T matrix). Same arithmetic "
        "as (b).",
        "",
        f"Time: median of {TIME_PROCESSES} x {repeats} forward calls: {TIME_PROCESSES} fresh "
        f"processes per (module, T), the modules taking turns, each timing {repeats} calls after "
        f"{WARMUP} warm-up calls. Peak memory: the most resident memory one forward call held "
        "beyond the module and its input (output included), each (module, T) in another fresh process "
        f"started with `MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD}` (every tensor buffer of 64 KiB or "
        "more gets its own mmap and goes back to the kernel when freed, so RSS follows the live "
        "tensors); "
        + (
            "after one warm-up call the kernel's peak-RSS mark is reset through "
            "`/proc/self/clear_refs`, and the figure is `VmHWM` after the call minus `VmRSS` "
            "right before it."
            if methods == ["clear_refs"]
            else f"method(s) used: {', '.join(methods)} (see the script's docstring)."
        ),
        "",
        "| T | L(T) | MSLA ms | full (b) ms | (b) / MSLA | flash (b') ms | (b') / MSLA "
        "| (b) / MSLA, MAC model | MSLA MiB | full (b) MiB | flash (b') MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.t} | {r.latents} | {r.ms('msla'):,.1f} | {r.ms('full'):,.1f} "
            f"| {r.ms('full') / r.ms('msla'):.2f} | {r.ms('sdpa'):,.1f} "
            f"| {r.ms('sdpa') / r.ms('msla'):.2f} | {macs('full', r.t) / macs('msla', r.t):.2f} "
            f"| {_mib(r.peak_mib['msla'])} "
            f"| {_mib(r.peak_mib['full'])} | {_mib(r.peak_mib['sdpa'])} |"
        )
    lines += [
        "",
        "MAC model: the ratio of multiply-accumulates in the matrix products of one forward "
        "call, counted from the shapes (`macs` in the script; softmax, LayerNorm and GELU left "
        "out), i.e. what the ratio of times would be if every matrix product ran equally fast.",
        "",
        f"Log-log slopes (least squares of log y on log T; upper half: T >= {mid:.0f}). "
        "1 is linear, 2 quadratic:",
        "",
        f"| quantity | all T ({min(t)}-{max(t)}) | upper half |",
        "| --- | ---: | ---: |",
    ]
    names = {"msla": "MSLA", "full": "full (b)", "sdpa": "flash (b')"}
    for what in ("time", "memory"):
        for kind in MODULES:
            a, u = fits[f"{what} {kind}"]
            lines.append(f"| {names[kind]} {what} | {_f(a)} | {_f(u)} |")
    lines += [
        f"| reference: T log T | {_f(t_log_t[0])} | {_f(t_log_t[1])} |",
        f"| reference: T x L(T) (MSLA's attention term) | {_f(t_l[0])} | {_f(t_l[1])} |",
        "",
        reading(rows, fits),
        "",
        "Spread of the timed calls (min-max ms) and other processes' CPU share per T:",
        "",
        "| T | MSLA | full (b) | flash (b') | other processes' CPU share |",
        "| ---: | --- | --- | --- | ---: |",
    ]
    for r in rows:
        spread = " | ".join(
            f"{1000 * min(r.times[k]):,.1f}-{1000 * max(r.times[k]):,.1f}" for k in MODULES
        )
        load = "unknown" if r.other_load is None else f"{100 * r.other_load:.0f} %"
        lines.append(f"| {r.t} | {spread} | {load} |")
    threads = sorted({r.threads for r in rows})
    lines += [
        "",
        *context_lines(info, code_version(CODE_PATHS), other_load, command),
        f"- Threads in the measuring processes: torch.get_num_threads() = "
        f"{', '.join(map(str, threads))}",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--worker"]:
        kind, t, mode, repeats = args_in[1:5]
        print(json.dumps(worker(kind, int(t), mode, int(repeats))))
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--t-values", nargs="+", type=int, default=list(DEFAULT_T), metavar="T")
    ap.add_argument("--repeats", type=int, default=5, help="timed forward calls per module and T")
    add_common_options(ap)
    args = ap.parse_args(args_in)
    if args.repeats < 1 or any(t < 1 for t in args.t_values) or len(set(args.t_values)) < 2:
        ap.error("--repeats must be positive and --t-values at least two positive lengths")
    if max(args.t_values) > MAX_BANDS:
        ap.error(f"T must not exceed max_bands = {MAX_BANDS}")
    command = shlex.join(["python", "bench/msla_scaling.py", *args_in])

    other = OtherLoad()
    guard = BusyGuard(args.max_other_load if args.write else None)
    try:
        rows = measure(sorted(set(args.t_values)), args.repeats, guard)
    except MachineBusy as busy:
        print(f"not writing {args.write}: {busy}", file=sys.stderr)
        sys.exit(3)
    other_load = other.share()
    section = render(rows, args.repeats, command, other_load)
    report(section, SECTION, other_load, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
