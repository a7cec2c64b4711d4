"""The Indian Pines surrogate against the real cube, where it claims to match and where not.

The surrogate (``datasets/surrogate.py``, generator seed 0) keeps the real ground
truth and is written in the real cube's units: per-band mean and standard deviation
taken from the real cube. This measures, on the real cube (the PyPI copy, or the GIC
file) and on the surrogate:

- per band: mean and standard deviation, and their relative differences;
- the PCA spectrum: the share of variance of the first components (PCA fitted on
  every pixel, as the ``paper`` protocol's "PCA on the scene"), and the first
  component's standard deviation;
- a Random Forest (scikit-learn, ``--trees`` trees, all 200 bands) under the paper
  protocol (72/8/20, split seed 0) on centre-pixel spectra and on the mean spectrum
  of the 5 x 5 neighbourhood (what spatial context carries).

    python bench/surrogate_vs_real.py [--data-dir data] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass

import numpy as np
from _common import OtherLoad, add_common_options, code_version, context_lines, machine_info, report

NAME = "surrogate-vs-real"
#: Components whose variance shares are listed.
N_COMPONENTS = 5


@dataclass(frozen=True)
class SceneStats:
    """What is measured on one cube."""

    band_mean: np.ndarray
    band_std: np.ndarray
    variance_share: np.ndarray  # of the first N_COMPONENTS principal components
    pc1_std: float
    rf_centre: float  # OA on the paper split's test pixels
    rf_mean5: float
    seconds: float


def scene_stats(scene, trees: int, seed: int = 0) -> SceneStats:
    """Band statistics, the PCA spectrum and the two Random Forests of one scene."""
    from scipy.ndimage import uniform_filter
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier

    import datasets

    t0 = time.perf_counter()
    cube = np.asarray(scene.cube, dtype=np.float32)
    bands = cube.shape[2]
    pixels = cube.reshape(-1, bands).astype(np.float64)
    pca = PCA(N_COMPONENTS, random_state=seed).fit(pixels)
    y = scene.gt.ravel()
    train, _val, test = datasets.split(scene.gt, "paper", seed=seed)

    def rf_oa(x: np.ndarray) -> float:
        rf = RandomForestClassifier(n_estimators=trees, n_jobs=-1, random_state=seed)
        rf.fit(x[train], y[train])
        return float((rf.predict(x[test]) == y[test]).mean())

    mean5 = uniform_filter(cube, size=(5, 5, 1), mode="reflect").reshape(-1, bands)
    return SceneStats(
        band_mean=pixels.mean(0),
        band_std=pixels.std(0),
        variance_share=pca.explained_variance_ratio_,
        pc1_std=float(np.sqrt(pca.explained_variance_[0])),
        rf_centre=rf_oa(pixels),
        rf_mean5=rf_oa(mean5),
        seconds=time.perf_counter() - t0,
    )


def compare(data_dir: str | None, trees: int) -> tuple[SceneStats, SceneStats]:
    """The real cube's statistics, then the surrogate's (generator seed 0)."""
    import datasets

    real = datasets.load_scene("indian_pines", source="real", data_dir=data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        surrogate = datasets.load_scene("indian_pines", source="surrogate", data_dir=data_dir)
    return scene_stats(real, trees), scene_stats(surrogate, trees)


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / |b| per band."""
    return np.abs(a - b) / np.abs(b)


def section(real: SceneStats, sur: SceneStats, trees: int, context: list[str]) -> str:
    mean_err = relative(sur.band_mean, real.band_mean)
    std_err = relative(sur.band_std, real.band_std)
    shares = " / ".join
    lines = [
        "## The Indian Pines surrogate against the real cube",
        "",
        "Generator seed 0 against the real corrected cube; Random Forest with "
        f"{trees} trees on all 200 bands, paper split (72/8/20) at seed 0.",
        "",
        "| quantity | real cube | surrogate | difference |",
        "| --- | ---: | ---: | --- |",
        f"| per-band mean (digital numbers) | {real.band_mean.min():,.0f} .. "
        f"{real.band_mean.max():,.0f} | {sur.band_mean.min():,.0f} .. {sur.band_mean.max():,.0f} "
        f"| median {100 * np.median(mean_err):.2f} %, max {100 * mean_err.max():.2f} % of the real |",
        f"| per-band std | {real.band_std.min():,.1f} .. {real.band_std.max():,.1f} | "
        f"{sur.band_std.min():,.1f} .. {sur.band_std.max():,.1f} | median "
        f"{100 * np.median(std_err):.2f} %, max {100 * std_err.max():.2f} % of the real |",
        f"| variance share of PCs 1-{N_COMPONENTS} (PCA on every pixel) | "
        f"{shares(f'{100 * v:.1f}' for v in real.variance_share)} % | "
        f"{shares(f'{100 * v:.1f}' for v in sur.variance_share)} % | first two: "
        f"{100 * real.variance_share[:2].sum():.1f} % against "
        f"{100 * sur.variance_share[:2].sum():.1f} % |",
        f"| first component's std | {real.pc1_std:,.0f} | {sur.pc1_std:,.0f} | "
        f"{100 * (sur.pc1_std / real.pc1_std - 1):+.1f} % |",
        f"| RF OA, centre pixel | {100 * real.rf_centre:.2f} % | {100 * sur.rf_centre:.2f} % | "
        f"{100 * (sur.rf_centre - real.rf_centre):+.2f} points |",
        f"| RF OA, 5 x 5 mean spectrum | {100 * real.rf_mean5:.2f} % | "
        f"{100 * sur.rf_mean5:.2f} % | {100 * (sur.rf_mean5 - real.rf_mean5):+.2f} points |",
        f"| seconds | {real.seconds:.0f} | {sur.seconds:.0f} | |",
        "",
        *context,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default=None, metavar="DIR", help="folder with the real cube")
    ap.add_argument("--trees", type=int, default=200, help="Random Forest trees (default 200)")
    # accuracies and statistics, not timings: a busy machine changes only the seconds
    add_common_options(ap, default_max_other_load=1.0)
    args = ap.parse_args()
    load = OtherLoad()
    real, sur = compare(args.data_dir, args.trees)
    command = "python bench/surrogate_vs_real.py" + (
        f" --data-dir {args.data_dir}" if args.data_dir else ""
    )
    context = context_lines(machine_info(), code_version(["datasets"]), load.share(), command)
    report(section(real, sur, args.trees, context), NAME, load.share(), args.write,
           args.max_other_load)  # fmt: skip


if __name__ == "__main__":
    main()
