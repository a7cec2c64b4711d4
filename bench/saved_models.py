"""Saved models: predict throughput, peak memory, the cost of saving, a suite's disk use.

Four measurements, all on the CPU of this machine:

1. **Predict throughput** of :meth:`harness.saved_model.SavedModel.predict` on the
   Salinas surrogate (512 x 217 x 204). Deep models (CLAReSNet, SSRN: paper size,
   the ``unified`` recipe: 30 PCA components, 11 x 11 windows) are exported with
   their initial (untrained) weights from the trial's data pipeline on the full
   scene (the scene-fitted PCA) and loaded back, then classify the scene's
   top-left ``--claresnet-tile`` / ``--ssrn-tile`` rows x columns (throughput
   does not depend on the weights); the full-scene time is extrapolated from it.
   Tree models (``--trees``) are trained by a real trial (``run_trial``, with
   ``--tree-train`` pixels per class) and classify the whole scene. The
   time is split by wrapping the model's preprocessing and the model itself in
   timers: preprocessing (``saved.preprocessing.transform``), model (the forward
   passes / ``predict_proba``) and the rest (padding, window gathering, softmax,
   argmax, entropy). Medians over ``--repeats`` passes.
2. **Peak memory on Pavia Centre** (1096 x 715 x 102): ``python -m harness.predict``
   in a child process, its own peak RSS from GNU ``time -f %M``; a tree model trained
   on Pavia Centre classifies the whole scene (``--scene pavia_centre``), the deep
   models (trained 1 epoch on an 8 x 8 crop) classify a tile of it
   (``--cube``), and their full-scene peak is estimated from the tile's.
3. **The cost of saving** a deep model in a trial: ``info["save_seconds"]``, the
   file bytes per kind, and the time ``ResultStore.write`` takes with and without
   the model files (fresh SQLite database each time), for each deep model of the
   paper on the Indian Pines geometry (16 classes, 200 bands, 30 PCA components,
   11 x 11), from 1-epoch trials on an 8 x 8 crop (the files have the full
   scene's sizes: the crop keeps all 16 classes). Compared with the fit the
   ``paper`` suite's trial would need on this machine: the recipe's epochs x the
   paper split's training pixels / training samples per second (full optimizer
   steps at the recipe's batch size on random input, median of ``--steps``).
4. **Disk use of the ``paper`` suite** (surrogate scenes): the suite's trials per
   model and scene x the bytes of that model's three files on that scene (deep
   models: exported from the scene's own preprocessing; trees: from trials on
   the scene with ``--tree-train`` pixels per class, the model file scaled
   linearly to the paper split's training pixels: an estimate).

    python bench/saved_models.py [--quick] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import collections
import copy
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from model_costs import optimizer_for, timed

sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
import models  # noqa: E402
from harness.saved_model import export_model, load_model  # noqa: E402
from harness.spec import make_spec  # noqa: E402
from harness.store import ResultStore  # noqa: E402
from harness.trial.data import prepare_data  # noqa: E402
from harness.trial.flow import run_trial  # noqa: E402

NAME = "saved_models"
DEEP = ("claresnet", "ssrn", "hybridsn", "spectralformer")
TREES = ("random_forest", "xgboost")
KINDS = ("model", "preprocessing", "manifest")
MB = 1e6
#: Side of the labelled crop the deep trials train on (1 epoch): small, because the
#: trial itself classifies the crop, its test and validation pixels.
CROP = 8
#: GNU time, which reports its child's own peak RSS (see child_peak).
TIME = "/usr/bin/time"


# ----------------------------------------------------------------------------- timers


class Clock:
    """Seconds accumulated by the timed wrappers, and the calls' own durations."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    @property
    def seconds(self) -> float:
        return sum(self.calls)

    def time(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.calls.append(time.perf_counter() - t0)


class TimedPreprocessing:
    """The fitted preprocessing, with ``transform`` timed."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def transform(self, *args: Any, **kwargs: Any) -> Any:
        return self._clock.time(self._inner.transform, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimedModel:
    """The model, with its forward call (torch) or ``predict_proba`` (trees) timed."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._clock.time(self._inner, *args, **kwargs)

    def predict_proba(self, *args: Any, **kwargs: Any) -> Any:
        return self._clock.time(self._inner.predict_proba, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# ----------------------------------------------------------------------------- 1. throughput


@dataclass
class PredictRow:
    model: str
    region: tuple[int, int]
    pixels: int
    seconds: float  # median total
    pre: float  # median preprocessing seconds
    model_s: float  # median model seconds
    batch_rate: float | None  # median forward samples/s over full batches (deep)
    repeats: int
    threads: dict[int, float] | None = None  # forward samples/s at 1 thread and the default

    @property
    def rate(self) -> float:
        return self.pixels / self.seconds


def measure_predict(
    name: str, saved: Any, cube: np.ndarray, repeats: int, guard: BusyGuard
) -> PredictRow:
    pre0, model0 = saved.preprocessing, saved.model
    totals, pres, mods, batches = [], [], [], []
    batch = max(int(saved.manifest.get("eval_batch_size") or 0), 256)
    if saved.kind == "torch":  # one warm-up forward pass (first-call allocations)
        m = saved.manifest
        with torch.no_grad():
            model0(torch.zeros(2, m["n_features"], m["patch_size"], m["patch_size"]))
    try:
        for _ in range(repeats):
            pc, mc = Clock(), Clock()
            saved.preprocessing, saved.model = TimedPreprocessing(pre0, pc), TimedModel(model0, mc)
            t0 = time.perf_counter()
            saved.predict(cube)
            totals.append(time.perf_counter() - t0)
            pres.append(pc.seconds)
            mods.append(mc.seconds)
            if saved.kind == "torch":
                batches += mc.calls
            guard.check()
    finally:
        saved.preprocessing, saved.model = pre0, model0
    # the per-batch rate: full batches only (a chunk's last batch is smaller)
    full = [t for t in batches if t > 0]
    rate = batch / statistics.median(full[:-1] or full) if full else None
    h, w = cube.shape[:2]
    return PredictRow(
        name, (h, w), h * w, statistics.median(totals), statistics.median(pres),
        statistics.median(mods), rate, repeats,
    )  # fmt: skip


def thread_rates(model: Any, t: int, p: int, repeats: int, batch: int = 64) -> dict[int, float]:
    """Forward samples/s of one batch of ``batch`` random windows at one intra-op thread
    and at torch's default, interleaved, medians over ``repeats``."""
    default = torch.get_num_threads()
    x = torch.randn(batch, t, p, p)
    rates: dict[int, list[float]] = {1: [], default: []}
    try:
        with torch.no_grad():
            for _ in range(repeats):
                for n in rates:
                    torch.set_num_threads(n)
                    model(x[:2])
                    t0 = time.perf_counter()
                    model(x)
                    rates[n].append(batch / (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(default)
    return {n: statistics.median(v) for n, v in rates.items()}


def deep_saved(name: str, scene: Any, data: Any = None) -> tuple[Any, list[Any], Any]:
    """An untrained paper-size model exported from the trial's data pipeline on ``scene``,
    loaded back; its files; the prepared data (reused for the next model)."""
    spec = make_spec(name, scene, seed=0, training={"epochs": 1})
    if data is None:
        data = prepare_data(spec, scene=scene)
    torch.manual_seed(0)
    model = models.build_model(
        name, n_bands=data.image.shape[2], n_classes=data.n_classes,
        patch_size=spec.patch_size, **spec.hparams,
    ).eval()  # fmt: skip
    files = export_model(spec, model, "torch", data)
    return load_model({f.kind: f.data for f in files}, device="cpu"), files, data


def tree_trial(name: str, scene: Any, max_train: int | None) -> Any:
    spec = make_spec(name, scene, seed=0, max_train_per_class=max_train)
    return run_trial(spec, scene=scene, device="cpu")


# ----------------------------------------------------------------------------- 2. peak memory


@dataclass
class PeakRow:
    what: str
    pixels: int
    cube_bytes: int
    image_bytes: int
    peak: int
    seconds: float
    estimate: int | None = None


def child_peak(args: list[str], log: Path) -> tuple[int, float, str]:
    """Peak RSS (bytes) and wall seconds of ``python ARGS`` run as a child; its output.

    Measured by ``/usr/bin/time -f %M`` (GNU time), not by this process's ``wait4``:
    on Linux a forked child's ``ru_maxrss`` starts from its parent's RSS at the fork
    (the high-water mark survives ``exec``), so a child of this big process would
    report at least this process's size. GNU time is small, so its child's is its own.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [TIME, "-f", "MAXRSS_KIB=%M", sys.executable, *args]
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        seconds = time.perf_counter() - t0
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"python {shlex.join(args)} failed ({proc.returncode}):\n{text[-3000:]}")
    kib = [ln for ln in text.splitlines() if ln.startswith("MAXRSS_KIB=")][-1]
    return int(kib.split("=", 1)[1]) * 1024, seconds, text


def labelled_crop(scene: Any, size: int) -> Any:
    """The ``size`` x ``size`` crop (on a grid) with the most labelled pixels."""
    gt = np.asarray(scene.gt) > 0
    h, w = gt.shape
    best, where = -1, (0, 0)
    for r in range(0, h - size + 1, size):
        for c in range(0, w - size + 1, size):
            n = int(gt[r : r + size, c : c + size].sum())
            if n > best:
                best, where = n, (r, c)
    r, c = where
    return scene.crop_to(r, r + size, c, c + size)


def write_trial(result: Any, db: Path) -> int:
    with ResultStore(db) as store:
        return int(store.write(result).trial_id)


def predict_args(db: Path, trial: int, data: list[str], out: Path) -> list[str]:
    return ["-m", "harness.predict", "--db", str(db), "--trial", str(trial), *data,
            "--out", str(out), "--device", "cpu"]  # fmt: skip


def image_bytes(h: int, w: int, t: int) -> int:
    return h * w * t * 4  # float32


def scene_terms(h: int, w: int, t: int, p: int, chunk: int, deep: bool) -> int:
    """Bytes of predict's scene-sized arrays: preprocessed image, its padded copy
    (deep), labels and entropy; plus one chunk of windows (deep)."""
    pad = p // 2
    total = image_bytes(h, w, t) + h * w * (2 + 4)
    if deep:
        total += (h + 2 * pad) * (w + 2 * pad) * t * 4 + min(chunk, h * w) * t * p * p * 4
    return total


# ----------------------------------------------------------------------------- 3. save cost


@dataclass
class SaveRow:
    model: str
    params: int
    bytes_by_kind: dict[str, int]
    save_s: float
    write_with: float
    write_without: float
    train_rate: float
    fit_estimate: float  # seconds
    epochs: int
    n_train: int

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_kind.values())

    @property
    def added(self) -> float:
        return self.save_s + max(self.write_with - self.write_without, 0.0)


def store_write_seconds(result: Any, tmp: Path, tag: str, repeats: int) -> float:
    times = []
    for i in range(repeats):
        with ResultStore(tmp / f"{tag}{i}.db") as store:
            t0 = time.perf_counter()
            store.write(copy.copy(result))
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_rate(name: str, spec: Any, n_features: int, n_classes: int, steps: int) -> float:
    """Training samples/s: full optimizer steps at the recipe's batch size on random input."""
    entry = models.get_model_entry(name)
    recipe = entry.recipe(spec.recipe)
    torch.manual_seed(0)
    model = models.build_model(name, n_bands=n_features, n_classes=n_classes,
                               patch_size=spec.patch_size, **spec.hparams)  # fmt: skip
    b, p = spec.training.batch_size, spec.patch_size
    x, y = torch.randn(b, n_features, p, p), torch.randint(0, n_classes, (b,))
    opt = optimizer_for(recipe, model)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return b / timed(step, warmup=1, steps=steps)


# ----------------------------------------------------------------------------- the run


@dataclass
class Results:
    predict: list[PredictRow] = field(default_factory=list)
    salinas_scene: tuple[int, int, int] = (0, 0, 0)
    peaks: list[PeakRow] = field(default_factory=list)
    baseline_peak: int = 0
    pavia: tuple[int, int, int, int] = (0, 0, 0, 0)  # h, w, b, cube bytes
    save: list[SaveRow] = field(default_factory=list)
    disk: list[tuple[str, str, int, int]] = field(
        default_factory=list
    )  # model, scene, trials, bytes
    disk_scaled: set[tuple[str, str, int, int]] = field(default_factory=set)
    disk_skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def fmt_rate(v: float) -> str:
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def thread_cell(rates: dict[int, float] | None) -> str:
    if not rates:
        return "-"
    one, default = rates[1], rates[max(rates)]
    return f"{fmt_rate(one)} / {fmt_rate(default)} ({max(rates)} threads): x{one / default:.2f}"


def fmt_s(v: float) -> str:
    if v >= 3600:
        return f"{v / 3600:.1f} h"
    if v >= 120:
        return f"{v / 60:.1f} min"
    return f"{v:.2f} s" if v < 10 else f"{v:.0f} s"


def gib(v: float) -> str:
    return f"{v / 2**30:.2f} GiB"


def mib(v: float) -> str:
    return f"{v / 2**20:,.0f} MiB" if v >= 2**20 else f"{v / 2**10:,.0f} KiB"


def run_predict(args: Any, res: Results, guard: BusyGuard) -> tuple[Any, dict[str, Any]]:
    """Part 1; returns the Salinas scene and the exported files per model (for part 4)."""
    scene = datasets.load_scene("salinas", source="surrogate")
    cube = np.asarray(scene.cube)
    h, w, b = cube.shape
    res.salinas_scene = (h, w, b)
    files: dict[str, Any] = {}
    data = None
    for name in ("claresnet", "ssrn"):
        saved, files[name], data = deep_saved(name, scene, data)
        rows, cols = args.claresnet_tile if name == "claresnet" else args.ssrn_tile
        repeats = 1 if name == "claresnet" else args.repeats
        row = measure_predict(name, saved, cube[:rows, :cols], repeats, guard)
        m = saved.manifest
        row.threads = thread_rates(saved.model, m["n_features"], m["patch_size"], repeats)
        res.predict.append(row)
        print(f"predict {name}: {row.rate:,.1f} pixels/s on {rows} x {cols}", file=sys.stderr,
              flush=True)  # fmt: skip
    for name in ("hybridsn", "spectralformer"):  # files only, for part 4
        files[name] = deep_saved(name, scene, data)[1]
    for name in args.trees:
        result = tree_trial(name, scene, args.tree_train)
        files[name] = result.model_files
        saved = load_model({f.kind: f.data for f in result.model_files})
        row = measure_predict(name, saved, cube, args.repeats, guard)
        res.predict.append(row)
        print(f"predict {name}: {row.rate:,.0f} pixels/s", file=sys.stderr, flush=True)
    return scene, files


def run_peaks(args: Any, res: Results, tmp: Path, guard: BusyGuard) -> None:
    """Part 2."""
    scene = datasets.load_scene("pavia_centre", source="surrogate")
    cube = np.asarray(scene.cube)
    h, w, b = cube.shape
    res.pavia = (h, w, b, cube.nbytes)
    res.baseline_peak = child_peak(
        [
            "-c",
            "import harness.predict, harness.store, harness.saved_model, datasets, models, "
            "torch, sklearn, xgboost, skops.io",
        ],  # fmt: skip
        tmp / "baseline.log",
    )[0]
    # a tree model on the whole scene
    tree = args.pavia_tree
    result = tree_trial(tree, scene, args.tree_train)
    db = tmp / "pavia.db"
    tid = write_trial(result, db)
    t = int(load_model({f.kind: f.data for f in result.model_files}).manifest["n_features"])
    peak, secs, _ = child_peak(
        predict_args(db, tid, ["--scene", "pavia_centre"], tmp / "pavia_tree.npy"),
        tmp / "pavia_tree.log",
    )
    res.peaks.append(PeakRow(f"{tree}, whole scene (`--scene pavia_centre`)", h * w,
                             cube.nbytes, image_bytes(h, w, t), peak, secs))  # fmt: skip
    print(f"peak {tree}: {gib(peak)}", file=sys.stderr, flush=True)
    guard.check()
    # deep models on a tile (from a 1-epoch trial on a CROP x CROP crop)
    crop = labelled_crop(scene, CROP)
    for name, size in (("ssrn", args.pavia_ssrn_tile), ("claresnet", args.pavia_claresnet_tile)):
        if size <= 0:
            continue
        spec = make_spec(name, crop, seed=0, training={"epochs": 1}, max_train_per_class=2)
        result = run_trial(spec, scene=crop, device="cpu")
        db = tmp / f"pavia_{name}.db"
        tid = write_trial(result, db)
        tile = np.ascontiguousarray(cube[:size, :size])
        np.save(tmp / f"tile_{name}.npy", tile)
        peak, secs, _ = child_peak(
            predict_args(db, tid, ["--cube", str(tmp / f"tile_{name}.npy")], tmp / f"{name}.npy"),
            tmp / f"pavia_{name}.log",
        )
        p, chunk = spec.patch_size, 4096
        tt = spec.n_components or b
        est = (peak - tile.nbytes - scene_terms(size, size, tt, p, chunk, True)
               + cube.nbytes + scene_terms(h, w, tt, p, chunk, True))  # fmt: skip
        res.peaks.append(PeakRow(f"{name}, {size} x {size} tile (`--cube`)", size * size,
                                 tile.nbytes, image_bytes(size, size, tt), peak, secs, est))  # fmt: skip
        print(f"peak {name} tile {size}: {gib(peak)}", file=sys.stderr, flush=True)
        guard.check()


def run_save(args: Any, res: Results, tmp: Path, guard: BusyGuard) -> dict[str, Any]:
    """Part 3; returns the files per deep model on Indian Pines (for part 4)."""
    full = datasets.load_scene("indian_pines", source="surrogate")
    crop = labelled_crop(full, CROP)
    spec0 = make_spec("claresnet", full, seed=0)
    sp = datasets.split(np.asarray(full.gt), spec0.protocol, seed=0, **spec0.protocol_params)
    n_train = int(sp.train.size)
    files: dict[str, Any] = {}
    for name in args.save_models:
        spec = make_spec(name, crop, seed=0, training={"epochs": 1}, max_train_per_class=2)
        result = run_trial(spec, scene=crop, device="cpu")
        files[name] = result.model_files
        kinds = {f.kind: f.size for f in result.model_files}
        assert sum(kinds.values()) == result.info["model_file_bytes"]
        with_files = store_write_seconds(result, tmp, f"w_{name}_", args.repeats)
        bare = copy.copy(result)
        bare.model_files = []
        without = store_write_seconds(bare, tmp, f"n_{name}_", args.repeats)
        full_spec = make_spec(name, full, seed=0)
        n_feat = full_spec.n_components or 200
        rate = train_rate(name, full_spec, n_feat, full.n_classes, args.steps)
        epochs = full_spec.training.epochs
        res.save.append(SaveRow(
            name, int(result.info["n_parameters"]), kinds, float(result.info["save_seconds"]),
            with_files, without, rate, epochs * n_train / rate, epochs, n_train,
        ))  # fmt: skip
        print(f"save {name}: {kinds} in {result.info['save_seconds']:.2f} s", file=sys.stderr,
              flush=True)  # fmt: skip
        guard.check()
    return files


def run_disk(args: Any, res: Results, salinas: Any, sal_files: dict[str, Any],
             ip_files: dict[str, Any]) -> None:  # fmt: skip
    """Part 4: the paper suite's trials x each model's file bytes on each scene."""
    from harness.suites import SuiteOptions, get_suite

    specs = get_suite("paper").build(SuiteOptions(source="surrogate", source_given=True))
    counts = collections.Counter((s.model, s.scene) for s in specs)
    ip = datasets.load_scene("indian_pines", source="surrogate")
    ip_data = None
    per_scene = {"salinas": dict(sal_files), "indian_pines": dict(ip_files)}
    for (model, scene_name), n in sorted(counts.items()):
        if model in TREES and model not in args.trees:
            res.disk_skipped[model] = res.disk_skipped.get(model, 0) + n
            continue
        have = per_scene[scene_name]
        if model not in have:
            if model in TREES:
                have[model] = tree_trial(model, ip if scene_name == "indian_pines" else salinas,
                                         args.tree_train).model_files  # fmt: skip
            else:
                on_ip = scene_name == "indian_pines"
                _, have[model], data = deep_saved(model, ip if on_ip else salinas,
                                                  ip_data if on_ip else None)  # fmt: skip
                if on_ip:
                    ip_data = data
        size = sum(f.size for f in have[model])
        if model in TREES and args.tree_train:
            sc = ip if scene_name == "indian_pines" else salinas
            spec = make_spec(model, sc, seed=0)
            gt = np.asarray(sc.gt)
            sp = datasets.split(gt, spec.protocol, seed=0, **spec.protocol_params)
            labels = gt.ravel()[sp.train]
            used = sum(min(int((labels == c).sum()), args.tree_train) for c in np.unique(labels))
            weights = next(f.size for f in have[model] if f.kind == "model")
            size += round(weights * (sp.train.size / used - 1))
            res.disk_scaled.add((model, scene_name, used, int(sp.train.size)))
        res.disk.append((model, scene_name, n, size))


# ----------------------------------------------------------------------------- report


def render(res: Results, args: Any, command: str, other_load: float | None) -> str:
    info = machine_info()
    h, w, b = res.salinas_scene
    lines = [
        "## Saved models: predict throughput, peak memory, saving cost, disk use (CPU)",
        "",
        "What keeping every trial's model costs, and how fast a saved model classifies a cube "
        "(`harness.saved_model`, `python -m harness.predict`). Scenes are the surrogates "
        "(the real cubes' sizes and band counts; synthetic spectra)."
        + (" **Quick run: smoke-check sizes, not figures to quote.**" if args.quick else ""),
    ]
    if res.predict:
        lines += [
            "",
            f"### Predict throughput on Salinas ({h} x {w} x {b}, {h * w:,} pixels)",
            "",
            "`SavedModel.predict` on the CPU, chunks of 4,096 pixels, deep models in batches of "
            "256. Deep models: paper size (`unified` recipe: 30 PCA components, 11 x 11 windows), "
            "initial weights exported from the trial's pipeline on the full scene and loaded back, "
            "on the scene's top-left tile (the full-scene time is **extrapolated** linearly from "
            "it: an estimate); trees: trained by a trial on Salinas"
            + (
                f" ({args.tree_train} training pixels per class)"
                if args.tree_train
                else " (the paper split's training pixels)"
            )
            + ", whole scene. Split: preprocessing = `saved.preprocessing.transform` (scaler + "
            "PCA); model = the forward passes (`predict_proba` for trees); rest = padding, window "
            "gathering (`datasets.iter_scene_patches`), softmax, argmax and entropy. Medians over "
            "the passes.",
            "",
            "| model | tile (pixels) | passes | pixels/s | preprocessing | model | rest "
            "| forward samples/s (batch of 256) | forward, batch 64: 1 thread / default "
            "| full scene (111,104 px) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in res.predict:
            rest = r.seconds - r.pre - r.model_s
            share = lambda v, t=r.seconds: f"{fmt_s(v)} ({100 * v / t:.0f} %)"  # noqa: E731
            full_s = r.seconds * (h * w) / r.pixels
            lines.append(
                f"| {r.model} | {r.region[0]} x {r.region[1]} ({r.pixels:,}) | {r.repeats} | {fmt_rate(r.rate)} "
                f"| {share(r.pre)} | {share(r.model_s)} | {share(rest)} "
                f"| {'-' if r.batch_rate is None else fmt_rate(r.batch_rate)} "
                f"| {thread_cell(r.threads)} "
                f"| {fmt_s(full_s)}{' (estimate)' if r.pixels < h * w else ' (measured)'} |"
            )
    if res.peaks:
        ph, pw, pb, cube_b = res.pavia
        lines += [
            "",
            f"### Peak memory on Pavia Centre ({ph} x {pw} x {pb}, {ph * pw:,} pixels)",
            "",
            "`python -m harness.predict --device cpu` in a child process; peak RSS of that "
            "process alone (`/usr/bin/time -f %M`). The tree model was trained by a trial on the whole scene "
            f"and classifies it (`--scene`); the deep models were trained 1 epoch on a {CROP} x {CROP} crop "
            "and classify a square tile of the scene's top-left corner (`--cube`, a `.npy` file): "
            "their whole-scene peak is an **estimate**: the tile's peak minus the tile's "
            "scene-sized arrays (cube, preprocessed image and its padded copy, labels, entropy, "
            "one chunk of windows) plus the whole scene's. "
            f"The cube itself is {mib(cube_b)} ({pb} bands, uint16 as the surrogate keeps the "
            f"sensor's integers); the preprocessed image is {mib(image_bytes(ph, pw, 30))} "
            f"(30 components, float32); the imports alone (torch, scikit-learn, XGBoost, skops, "
            f"the project) peak at {mib(res.baseline_peak)}.",
            "",
            "| run | pixels | cube in memory | preprocessed image | peak RSS | wall time "
            "| whole-scene peak |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for p in res.peaks:
            est = (
                gib(p.peak) + " (measured)"
                if p.estimate is None
                else gib(p.estimate) + " (estimate)"
            )
            lines.append(
                f"| {p.what} | {p.pixels:,} | {mib(p.cube_bytes)} | {mib(p.image_bytes)} "
                f"| {gib(p.peak)} | {fmt_s(p.seconds)} | {est} |"
            )
    if res.save:
        s0 = res.save[0]
        lines += [
            "",
            "### What saving adds to a trial (Indian Pines geometry: 16 classes, 200 bands)",
            "",
            f"1-epoch trials (2 training pixels per class) on a {CROP} x {CROP} crop of the Indian Pines "
            "surrogate (the crop keeps all 16 classes, so the files have the full scene's sizes). "
            'Export: `info["save_seconds"]` (state dict to safetensors, preprocessing to skops, '
            "manifest with sha256s). Store write: `ResultStore(fresh SQLite).write(result)`, "
            f"median of {args.repeats}, with the model files and with `model_files` cleared. Fit "
            f"for comparison: what the `paper` suite's trial trains on this machine, the recipe's "
            f"{s0.epochs} epochs x the paper split's {s0.n_train:,} training pixels / the training "
            f"rate (full optimizer steps at the recipe's batch size, random input, median of "
            f"{args.steps}); without validation passes and early stopping, so the share is an "
            "upper bound.",
            "",
            "| model | parameters | model file | preprocessing | manifest | export "
            "| store write with files | without | training samples/s | paper fit (estimate) "
            "| saving / fit |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in res.save:
            k = r.bytes_by_kind
            lines.append(
                f"| {r.model} | {r.params:,} | {k['model'] / MB:,.2f} MB | {k['preprocessing'] / 1e3:,.1f} kB "
                f"| {k['manifest'] / 1e3:,.1f} kB | {fmt_s(r.save_s)} | {fmt_s(r.write_with)} "
                f"| {fmt_s(r.write_without)} | {fmt_rate(r.train_rate)} | {fmt_s(r.fit_estimate)} "
                f"| {100 * r.added / r.fit_estimate:.2g} % |"
            )
    if res.disk:
        total = sum(n * size for _, _, n, size in res.disk)
        trials = sum(n for _, _, n, _ in res.disk)
        by_model: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for model, _, n, size in res.disk:
            by_model[model][0] += n
            by_model[model][1] += n * size
        lines += [
            "",
            "### Disk use of the `paper` suite",
            "",
            '`harness.suites.get_suite("paper")` (surrogate scenes): trials per model and scene x '
            "the bytes of that model's three files on that scene (deep models: exported from the "
            "scene's own preprocessing, sizes independent of the weights; trees: from a trial on "
            "the scene"
            + (
                f" with {args.tree_train} training pixels per class, its model file scaled "
                "linearly to the paper split's training pixels: an **estimate**, as a fully grown "
                "forest's node count grows with its training pixels"
                if args.tree_train
                else ", the paper split"
            )
            + "). Files are content-addressed, so identical files (e.g. one seed's preprocessing "
            "shared by several models) are kept once; the totals count every file.",
            "",
            "| model | scene | trials | bytes per trial | total |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for model, scene, n, size in res.disk:
            lines.append(
                f"| {model} | {scene} | {n} | {size / MB:,.2f} MB | {n * size / MB:,.1f} MB |"
            )
        lines.append(f"| **all** | | **{trials}** | | **{total / 1e9:.2f} GB** |")
        for model, scene, used, paper in sorted(res.disk_scaled):
            lines.append(
                f"\n{model} on {scene}: fitted on {used:,} training pixels, scaled to the "
                f"paper split's {paper:,}."
            )
        for model, n in sorted(res.disk_skipped.items()):
            lines.append(
                f"\nNot counted: {model} ({n} trials; not fitted in this run, see --trees)."
            )
        cl = by_model.get("claresnet", [0, 0])
        rest = total - cl[1]
        others = len(by_model) - ("claresnet" in by_model)
        missing = sum(res.disk_skipped.values())
        sentence = readme_sentence(trials, total, cl, rest, others, missing)
        lines += ["", f"README sentence: {sentence}"]
    lines.append("")
    lines += res.notes
    lines += context_lines(info, code_version(["bench", "harness", "models", "datasets"]),
                           other_load, command)  # fmt: skip
    return "\n".join(lines) + "\n"


def readme_sentence(
    trials: int, total: int, cl: list[int], rest: int, others: int, missing: int = 0
) -> str:
    each = cl[1] / cl[0] / MB if cl[0] else 0.0
    return (
        f"Saved models take about {total / 1e9:.1f} GB for {trials} trials of the `paper` suite: "
        f"{cl[1] / 1e9:.2f} GB for CLAReSNet's {cl[0]} trials ({each:.0f} MB each, 17.3 million "
        f"float32 parameters) and {rest / 1e6:,.0f} MB for the other {others} models together"
        + (f" ({missing} trials not counted)." if missing else ".")
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a smoke check (under a minute)")
    ap.add_argument(
        "--claresnet-tile",
        type=int,
        nargs=2,
        default=[16, 16],
        metavar=("R", "C"),
        help="top-left rows x columns of Salinas CLAReSNet classifies (default 16 16, "
        "one batch of 256)",
    )
    ap.add_argument(
        "--ssrn-tile",
        type=int,
        nargs=2,
        default=[32, 217],
        metavar=("R", "C"),
        help="the same for SSRN (default 32 217; 512 217 = the whole scene)",
    )
    ap.add_argument(
        "--trees",
        nargs="*",
        default=["random_forest"],
        choices=TREES,
        help="tree models measured on Salinas and counted in the suite's disk use "
        "(default random_forest; XGBoost's fit is slow here)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="passes per predict measurement (CLAReSNet: 1), store writes (default 3)",
    )
    ap.add_argument("--steps", type=int, default=3, help="timed training steps (default 3)")
    ap.add_argument(
        "--tree-train",
        type=int,
        default=100,
        metavar="N",
        help="training pixels per class of the tree trials (default 100; 0: the paper split's)",
    )
    ap.add_argument(
        "--pavia-tree",
        default="random_forest",
        choices=TREES,
        help="tree model for the whole-scene Pavia Centre run (default random_forest)",
    )
    ap.add_argument(
        "--pavia-ssrn-tile",
        type=int,
        default=64,
        help="side of the Pavia Centre tile SSRN classifies (0: skip; default 64, "
        "one chunk of 4,096 pixels)",
    )
    ap.add_argument(
        "--pavia-claresnet-tile",
        type=int,
        default=16,
        help="side of the tile CLAReSNet classifies (0: skip; default 16, one batch)",
    )
    ap.add_argument(
        "--parts",
        nargs="+",
        default=["predict", "peak", "save", "disk"],
        choices=["predict", "peak", "save", "disk"],
        help="what to measure",
    )
    add_common_options(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.claresnet_tile, args.ssrn_tile = [6, 8], [6, 32]
        args.repeats, args.steps = 1, 1
        args.tree_train = 5
        args.pavia_ssrn_tile, args.pavia_claresnet_tile = 16, 0
    args.save_models = ("ssrn",) if args.quick else DEEP
    args.tree_train = args.tree_train or None
    if min(*args.claresnet_tile, *args.ssrn_tile) < 6:
        ap.error("tiles must be at least 6 x 6 (an 11 x 11 window's reflect padding)")
    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench/saved_models.py", *argv])]
    )
    guard = BusyGuard(args.max_other_load if args.write else None)
    res = Results()
    warnings.simplefilter("ignore")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-saved-") as tmp_name:
            tmp = Path(tmp_name)
            salinas, sal_files, ip_files = None, {}, {}
            if "predict" in args.parts or "disk" in args.parts:
                if "predict" in args.parts:
                    salinas, sal_files = run_predict(args, res, guard)
                else:
                    salinas = datasets.load_scene("salinas", source="surrogate")
            if "peak" in args.parts:
                run_peaks(args, res, tmp, guard)
            if "save" in args.parts:
                ip_files = run_save(args, res, tmp, guard)
            if "disk" in args.parts:
                run_disk(args, res, salinas, sal_files, ip_files)
    except MachineBusy as exc:
        sys.exit(f"{exc}")
    share = guard.load.share()
    report(render(res, args, command, share), NAME, share, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
