"""Throughput of augmented training batches: per-sample Dataset vs. pre-extracted patches.

Published hyperspectral classification code (HybridSN, SSRN, CLAReSNet and most
of their descendants) feeds the network through a ``torch.utils.data.Dataset``
whose ``__getitem__`` slices one P x P x T window out of the padded image with
Python indexing, transposes it, converts it to a tensor and augments that one
sample with Python ``random`` and per-sample torch calls; a ``DataLoader`` then
collates the samples into a batch. The question is how much of that cost is
per-sample Python overhead that gathering and augmenting whole batches removes,
and how much is work that remains (chiefly drawing the Gaussian noise).

This benchmark compares, on the same data, three ways of producing augmented
training batches of shape (B, T, P, P):

(a) reference style: :class:`ReferencePatchDataset` (reflect-padded image held as
    numpy; per sample: window slice, transpose to T x P x P, ``torch.from_numpy``,
    then with probability 0.5 each: Gaussian noise of std 0.05, ``torch.rot90``
    by k in {1, 2, 3}, a horizontal or vertical ``torch.flip``) iterated by
    ``DataLoader(batch_size=B, shuffle=True, num_workers=0)`` with the default
    collate;
(a') the same Dataset written as the CLAReSNet release writes it (coordinates and
    labels read per item from a pandas DataFrame with ``.loc``, ``np.random`` for
    every decision, the label as ``torch.tensor(label).long()``);
(b) the project's path: :func:`datasets.extract_patches` gathers every training
    patch once into an (N, T, P, P) tensor; each batch is then an index slice of
    a shuffled permutation followed by one :class:`datasets.augment.BatchAugmenter`
    call on the whole batch.

Data: the Indian Pines surrogate (``load_scene(..., source="surrogate")``), PCA
to T = 30 components fitted on the scene, P = 11, the training pixels of the
paper split with seed 0 (about 7,400 pixels). Each timed repeat is one full pass
over the training set after one warm-up pass; the figure is the median over
repeats, with torch's default thread count. The one-off cost of (b), the patch
extraction, is timed on its own and also charged to one epoch in the "epoch"
figures ((a)'s one-off cost, padding the image, is charged the same way).

A second table splits (b)'s per-batch time into the index slice and the
``BatchAugmenter`` call, next to ``torch.randn`` of the whole batch alone (the cost
of noise for every sample), which bounds what batching can gain on the CPU.

Before timing, the script checks that both paths yield the same data: with
augmentation off, (a)'s samples equal (b)'s patches exactly (border pixels
included), and with noise off every augmented sample of either path is one of
the 12 rotation/flip variants of its patch.

The share of CPU time other processes used during the run is recorded; with
``--write`` the section is not written when it exceeds ``--max-other-load``.

Usage::

    python bench/patch_throughput.py [--batch-sizes 16 256] [--repeats 5] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import datasets
from datasets.augment import AugmentConfig, BatchAugmenter, apply_transform

# isort: split
# shared benchmark helpers (bench/ is first on sys.path when this script runs)
from _common import OtherLoad, add_common_options, code_version, context_lines, machine_info, report

SCENE = "indian_pines"
N_COMPONENTS = 30
PATCH_SIZE = 11
SPLIT_SEED = 0
SEED = 0
GOAL_RATIO = 30.0
SECTION = "patch_throughput"
CODE_PATHS = ("datasets", "bench/patch_throughput.py")


# --------------------------------------------------------------------------- the two paths


class ReferencePatchDataset(Dataset):
    """(a) The per-sample Dataset of published HSI code.

    Args:
        image: (H, W, T) preprocessed image.
        indices: flat row-major indices of the samples' centre pixels.
        labels: one label per index.
        patch_size: P, odd.
        config: augmentation probabilities and noise std; ``None`` turns augmentation off.
    """

    def __init__(
        self,
        image: np.ndarray,
        indices: np.ndarray,
        labels: np.ndarray,
        patch_size: int,
        config: AugmentConfig | None = None,
    ) -> None:
        r = patch_size // 2
        self.padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
        self.rows, self.cols = np.divmod(np.asarray(indices), image.shape[1])
        self.labels = np.asarray(labels)
        self.patch_size = patch_size
        self.config = config

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        r, c, p = self.rows[i], self.cols[i], self.patch_size
        # pixel (r, c) is at (r + radius, c + radius) in the padded image
        patch = self.padded[r : r + p, c : c + p, :].transpose(2, 0, 1)
        x = torch.from_numpy(np.ascontiguousarray(patch))
        cfg = self.config
        if cfg is not None:
            if random.random() < cfg.p_noise:
                x = x + torch.randn_like(x) * cfg.noise_std
            if random.random() < cfg.p_rotate:
                x = torch.rot90(x, random.randint(1, 3), dims=(1, 2))
            if random.random() < cfg.p_flip:
                x = torch.flip(x, dims=(2,) if random.random() < 0.5 else (1,))
        return x, int(self.labels[i])


class PaperStylePatchDataset(ReferencePatchDataset):
    """(a') The same Dataset written as the CLAReSNet release writes it.

    Sample coordinates and labels live in a pandas DataFrame and are read per item
    with ``.loc[i, column]``; every random decision is an ``np.random`` call; the
    label is returned as ``torch.tensor(label).long()``. Same data, same
    augmentation as (a); only the per-sample bookkeeping differs.
    """

    def __init__(self, image, indices, labels, patch_size, config=None) -> None:
        import pandas as pd

        super().__init__(image, indices, labels, patch_size, config)
        r = patch_size // 2
        self.samples = pd.DataFrame(
            {"pad_row": self.rows + r, "pad_col": self.cols + r, "label": self.labels}
        )
        self.radius = r

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        pr = self.samples.loc[i, "pad_row"]
        pc = self.samples.loc[i, "pad_col"]
        r = self.radius
        patch = self.padded[pr - r : pr + r + 1, pc - r : pc + r + 1, :]
        x = torch.from_numpy(np.transpose(patch, (2, 0, 1))).float()
        label = self.samples.loc[i, "label"]
        cfg = self.config
        if cfg is not None:
            if np.random.rand() < cfg.p_noise:
                x = x + torch.randn_like(x) * cfg.noise_std
            if np.random.rand() < cfg.p_rotate:
                x = torch.rot90(x, k=np.random.randint(1, 4), dims=(1, 2))
            if np.random.rand() < cfg.p_flip:
                x = torch.flip(x, dims=[int(np.random.choice([1, 2]))])
        return x, torch.tensor(label).long()


class PatchBatches:
    """(b) Batches sliced from pre-extracted patches and augmented as a whole.

    Args:
        x: (N, T, P, P) patch tensor (from :func:`datasets.extract_patches`).
        y: (N,) labels.
        batch_size: B.
        augmenter: applied to every batch; ``None`` turns augmentation off.
        seed: seed of the shuffling generator.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        augmenter: BatchAugmenter | None,
        seed: int = 0,
    ) -> None:
        self.x, self.y, self.batch_size, self.augmenter = x, y, batch_size, augmenter
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(len(self.x), generator=self.generator)
        for start in range(0, len(perm), self.batch_size):
            idx = perm[start : start + self.batch_size]
            xb = self.x.index_select(0, idx)
            yield (self.augmenter(xb) if self.augmenter is not None else xb), self.y[idx]


def reference_loader(ds: Dataset, batch_size: int, seed: int = 0) -> DataLoader:
    """(a)'s DataLoader: shuffled, single process, default collate."""
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )


# --------------------------------------------------------------------------- data and checks


@dataclass
class TrainingData:
    image: np.ndarray  # (H, W, T) float32
    indices: np.ndarray  # flat training indices
    labels: np.ndarray  # 0-based labels


def load_training_data() -> TrainingData:
    """The Indian Pines surrogate, PCA to 30 components, paper split seed 0 training pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene(SCENE, source="surrogate")
    sp = datasets.split(scene.gt, "paper", seed=SPLIT_SEED)
    pre = datasets.preprocess(scene.cube, datasets.PreprocessConfig(n_components=N_COMPONENTS))
    labels = scene.gt.ravel()[sp.train].astype(np.int64) - 1
    return TrainingData(image=pre.image, indices=sp.train, labels=labels)


def check_same_data(data: TrainingData, x: torch.Tensor, n_random: int = 32) -> str:
    """Assert that (a) and (b) deliver the same patches; returns a one-line summary.

    Compared: the training pixels closest to the image border (reflect padding),
    the first and last ones and ``n_random`` random ones.
    """
    h, w = data.image.shape[:2]
    rows, cols = np.divmod(data.indices, w)
    border = np.minimum.reduce([rows, cols, h - 1 - rows, w - 1 - cols])
    rng = np.random.default_rng(SEED)
    picks = np.unique(
        np.concatenate(
            [
                np.argsort(border, kind="stable")[:8],
                [0, len(x) - 1],
                rng.choice(len(x), n_random, replace=False),
            ]
        )
    )
    plain = ReferencePatchDataset(data.image, data.indices, data.labels, PATCH_SIZE, config=None)
    for i in picks:
        xa, ya = plain[int(i)]
        assert torch.equal(xa, x[i]), f"un-augmented patch {i} differs between (a) and (b)"
        assert ya == data.labels[i]
    # a collated, un-augmented batch of (a) equals (b)'s index slice
    xb_a, yb_a = next(iter(DataLoader(plain, batch_size=64, shuffle=False)))
    assert torch.equal(xb_a, x[:64]) and torch.equal(yb_a, torch.from_numpy(data.labels[:64]))

    # with noise off, every augmented sample is one of the 12 rotation/flip variants of its patch
    no_noise = AugmentConfig(noise_std=0.0)
    aug_a = ReferencePatchDataset(
        data.image, data.indices, data.labels, PATCH_SIZE, config=no_noise
    )
    aug_b = BatchAugmenter(no_noise, seed=SEED)(x[picks])
    random.seed(SEED)
    for j, i in enumerate(picks):
        variants = [apply_transform(x[i], k) for k in range(12)]
        xa = aug_a[int(i)][0]
        assert any(torch.equal(xa, v) for v in variants), f"(a) sample {i}: unknown transform"
        assert any(torch.equal(aug_b[j], v) for v in variants), f"(b) sample {i}: unknown transform"
    return (
        f"{len(picks)} samples (the 8 training pixels nearest the border among them) "
        "and one collated batch of 64 are identical with augmentation off; with noise off, every "
        "augmented sample of either path is one of the 12 rotation/flip variants of its patch."
    )


# --------------------------------------------------------------------------- timing


def _one_pass(batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> int:
    n = 0
    for xb, _yb in batches:
        n += xb.shape[0]
    return n


def time_passes(batches: Iterable, repeats: int) -> tuple[list[float], int]:
    """Seconds of ``repeats`` full passes after one warm-up pass, and the samples per pass."""
    n = _one_pass(batches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = _one_pass(batches)
        times.append(time.perf_counter() - t0)
        assert got == n
    return times, n


def time_call(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """(first call, following ``repeats`` calls) in seconds; the first call is the cold one."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    rest = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rest.append(time.perf_counter() - t0)
    return first, rest


def profile_batches(x: torch.Tensor, batch_size: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per batch of (b)'s two steps, and of a dense noise draw alone.

    ``torch.randn`` of the whole batch shape (noise for every sample, noisy or not)
    shows how much random-number generation alone costs next to the
    :class:`BatchAugmenter` call. Each step runs in its own loop over full batches.
    """
    aug = BatchAugmenter(AugmentConfig(), seed=SEED)
    g = torch.Generator().manual_seed(SEED)
    perm = torch.randperm(len(x), generator=g)
    starts = range(0, len(perm) - batch_size + 1, batch_size)
    xb = x[perm[:batch_size]]
    steps: dict[str, Callable[[int], object]] = {
        "index": lambda i: x.index_select(0, perm[i : i + batch_size]),
        "augment": lambda i: aug(xb),
        "randn": lambda i: torch.randn(xb.shape, generator=g),
    }
    out = {}
    for name, step in steps.items():
        times = []
        for _ in range(repeats):
            for i in starts:
                t0 = time.perf_counter()
                step(i)
                times.append(time.perf_counter() - t0)
        out[name] = 1000 * statistics.median(times)
    return out


@dataclass
class Row:
    batch_size: int
    n: int
    a_times: list[float]
    a2_times: list[float]
    b_times: list[float]
    a_setup: float
    a2_setup: float
    b_setup: float
    b_steps: dict[str, float]
    other_load: float | None

    @property
    def a_rate(self) -> float:
        return self.n / statistics.median(self.a_times)

    @property
    def a2_rate(self) -> float:
        return self.n / statistics.median(self.a2_times)

    @property
    def a2_epoch_rate(self) -> float:
        return self.n / (statistics.median(self.a2_times) + self.a2_setup)

    @property
    def b_rate(self) -> float:
        return self.n / statistics.median(self.b_times)

    @property
    def a_epoch_rate(self) -> float:
        return self.n / (statistics.median(self.a_times) + self.a_setup)

    @property
    def b_epoch_rate(self) -> float:
        return self.n / (statistics.median(self.b_times) + self.b_setup)


# --------------------------------------------------------------------------- report


def _rate(v: float) -> str:
    return f"{v:,.0f}"


def _ms(ts: Iterable[float]) -> str:
    return ", ".join(f"{1000 * t:.1f}" for t in ts)


def render(
    rows: list[Row],
    shape: tuple[int, ...],
    extract_first: float,
    extract_times: list[float],
    check: str,
    repeats: int,
    command: str,
    other_load: float | None,
) -> str:
    """The benchmark's Markdown section (heading, tables, context), without the markers."""
    info = machine_info()
    n, t, p = shape[0], shape[1], shape[2]
    ext = statistics.median(extract_times)
    lines = [
        "## Patch extraction and augmentation throughput",
        "",
        f"Augmented training batches (B, {t}, {p}, {p}) from the {n:,} training pixels of the Indian Pines "
        f"surrogate (PCA to T = {t}, P = {p}, paper split seed {SPLIT_SEED}), CPU only:",
        "",
        "- **(a) reference**: per-sample `Dataset.__getitem__` (slice the reflect-padded numpy image, "
        "transpose, `torch.from_numpy`, noise / `torch.rot90` / `torch.flip` with Python `random`) "
        "through `DataLoader(batch_size=B, shuffle=True, num_workers=0)`.",
        "- **(a') reference as released with CLAReSNet**: the same, but coordinates and labels read "
        "per item from a pandas DataFrame with `.loc`, random decisions with `np.random`, the label "
        "returned as `torch.tensor(label).long()`.",
        "- **(b) project**: `datasets.extract_patches` once for all training pixels, then per batch "
        "`x.index_select(0, perm[i:i + B])` and one `BatchAugmenter` call.",
        "",
        f'Samples per second, median of {repeats} full passes after a warm-up pass. "Steady" excludes '
        'one-off work; "epoch" adds it to one pass ((b): the patch extraction; (a): padding the image).',
        "",
        "| batch | (a) samples/s | (a') samples/s | (b) samples/s | (b)/(a) | (b)/(a') "
        "| (a) epoch | (a') epoch | (b) epoch incl. extraction | (b)/(a) epoch | (b)/(a') epoch |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.batch_size} | {_rate(r.a_rate)} | {_rate(r.a2_rate)} | {_rate(r.b_rate)} "
            f"| {r.b_rate / r.a_rate:.1f}x | {r.b_rate / r.a2_rate:.1f}x "
            f"| {_rate(r.a_epoch_rate)} | {_rate(r.a2_epoch_rate)} | {_rate(r.b_epoch_rate)} "
            f"| {r.b_epoch_rate / r.a_epoch_rate:.1f}x | {r.b_epoch_rate / r.a2_epoch_rate:.1f}x |"
        )
    met = [r.batch_size for r in rows if r.b_rate / r.a_rate >= GOAL_RATIO]
    met_epoch = [r.batch_size for r in rows if r.b_epoch_rate / r.a_epoch_rate >= GOAL_RATIO]
    met2 = [r.batch_size for r in rows if r.b_rate / r.a2_rate >= GOAL_RATIO]
    lines += [
        "",
        f"Patch extraction (b, one-off): {1000 * ext:.1f} ms median of {len(extract_times)} calls "
        f"({1000 * min(extract_times):.1f}-{1000 * max(extract_times):.1f} ms); the first, cold call of the "
        f"process took {1000 * extract_first:.1f} ms. Output {n:,} x {t} x {p} x {p} float32 = "
        f"{n * t * p * p * 4 / 2**20:.0f} MiB. The epoch figures use the median.",
        "",
        f"Goal of the issue, (b)/(a) >= {GOAL_RATIO:.0f}x: steady state met at batch "
        f"{', '.join(map(str, met)) or 'none'}; epoch incl. extraction met at batch "
        f"{', '.join(map(str, met_epoch)) or 'none'}. Against (a'), steady state met at batch "
        f"{', '.join(map(str, met2)) or 'none'}.",
        "",
        f"Same data: {check}",
        "",
        "Times of the timed passes (ms):",
        "",
        "| batch | (a) passes | (a') passes | (b) passes | (a) setup | (b) extraction "
        "| other processes' CPU share |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        load = "unknown" if r.other_load is None else f"{100 * r.other_load:.0f} %"
        lines.append(
            f"| {r.batch_size} | {_ms(r.a_times)} | {_ms(r.a2_times)} | {_ms(r.b_times)} "
            f"| {1000 * r.a_setup:.1f} "
            f"| {1000 * r.b_setup:.1f} | {load} |"
        )
    lines += [
        "",
        "Where (b)'s time goes, median ms per batch. For scale, the last two columns time "
        "`torch.randn` of the whole batch shape alone, i.e. Gaussian noise drawn for every "
        "sample (the augmentation adds noise to half of them on average):",
        "",
        "| batch | `x.index_select(0, idx)` | `BatchAugmenter` call | `torch.randn(B, T, P, P)` alone | "
        "samples/s if only that `randn` ran |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        s = r.b_steps
        lines.append(
            f"| {r.batch_size} | {s['index']:.3f} | {s['augment']:.3f} | {s['randn']:.3f} "
            f"| {_rate(1000 * r.batch_size / s['randn'])} |"
        )
    floor = "; ".join(
        f"batch {r.batch_size}: at most {_rate(2000 * r.batch_size / r.b_steps['randn'])} samples/s "
        f"from the noise draws alone, against {_rate(GOAL_RATIO * r.a_rate)} for {GOAL_RATIO:.0f}x (a) "
        f"and {_rate(GOAL_RATIO * r.a2_rate)} for {GOAL_RATIO:.0f}x (a')"
        for r in rows
    )
    lines += [
        "",
        "Noise floor: any implementation that draws exact Gaussian noise for the half of the samples "
        f"that get it spends at least half the `randn` time above per batch ({floor}).",
    ]
    lines += [
        "",
        *context_lines(info, code_version(CODE_PATHS), other_load, command),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 256])
    ap.add_argument(
        "--repeats", type=int, default=5, help="timed full passes per path and batch size"
    )
    add_common_options(ap)
    args = ap.parse_args(argv)
    if args.repeats < 1 or any(b < 1 for b in args.batch_sizes):
        ap.error("--repeats and --batch-sizes must be positive")
    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench/patch_throughput.py", *argv])]
    )

    random.seed(SEED)
    torch.manual_seed(SEED)
    data = load_training_data()
    other = OtherLoad()

    def extract() -> torch.Tensor:
        return torch.from_numpy(datasets.extract_patches(data.image, data.indices, PATCH_SIZE))

    extract_first, extract_times = time_call(extract, args.repeats)
    x = extract()
    y = torch.from_numpy(data.labels)
    check = check_same_data(data, x)
    print(f"check: {check}", file=sys.stderr)

    cfg = AugmentConfig()
    rows = []
    for bs in args.batch_sizes:
        row_load = OtherLoad()
        t0 = time.perf_counter()
        ds = ReferencePatchDataset(data.image, data.indices, data.labels, PATCH_SIZE, config=cfg)
        a_setup = time.perf_counter() - t0
        a_times, n = time_passes(reference_loader(ds, bs, SEED), args.repeats)
        t0 = time.perf_counter()
        ds2 = PaperStylePatchDataset(data.image, data.indices, data.labels, PATCH_SIZE, config=cfg)
        a2_setup = time.perf_counter() - t0
        a2_times, n2 = time_passes(reference_loader(ds2, bs, SEED), args.repeats)
        b_batches = PatchBatches(x, y, bs, BatchAugmenter(cfg, seed=SEED), SEED)
        b_times, n_b = time_passes(b_batches, args.repeats)
        assert n == n2 == n_b == len(x)
        steps = profile_batches(x, bs, args.repeats)
        b_setup = statistics.median(extract_times)
        rows.append(
            Row(
                bs,
                n,
                a_times,
                a2_times,
                b_times,
                a_setup,
                a2_setup,
                b_setup,
                steps,
                row_load.share(),
            )
        )
        print(
            f"batch {bs}: (a) {rows[-1].a_rate:,.0f}/s, (a') {rows[-1].a2_rate:,.0f}/s, "
            f"(b) {rows[-1].b_rate:,.0f}/s",
            file=sys.stderr,
        )

    other_load = other.share()
    section = render(
        rows, tuple(x.shape), extract_first, extract_times, check, args.repeats, command, other_load
    )
    report(section, SECTION, other_load, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
