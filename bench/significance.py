"""The cost of the statistics every trial and report computes: bootstrap, silhouette, McNemar.

On Salinas' ground truth (the package's copy) with the paper protocol at seed 42:
its 10,826 test pixels, predictions at ``--accuracy`` (wrong pixels get another
class, seeded). Timed, each the median of ``--repeats`` runs:

1. :func:`harness.metrics.bootstrap_intervals`: the percentile bootstrap 95 %
   intervals of OA, AA and kappa, 1,000 resamples of the test pixels, as every
   trial computes it (``scipy.stats.bootstrap``, vectorised in batches); also
   ``method="BCa"`` for comparison (what the harness does not use: its jackknife
   costs n more evaluations);
2. :func:`harness.metrics.silhouette` of 2,000 stratified test embeddings
   (``--width`` features), as every deep trial computes it;
3. :func:`harness.analysis.significance.mcnemar_seed`: McNemar's exact test of two models'
   predictions of the same pixels, what the report runs per seed and baseline.

The goal: the bootstrap of one trial well under a second for Salinas' test set.

    python bench/significance.py [--repeats 7] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from _common import (
    OtherLoad,
    add_common_options,
    code_version,
    context_lines,
    machine_info,
    report,
)

NAME = "significance"
GOAL_S = 1.0


def _salinas_test() -> np.ndarray:
    """0-based labels of Salinas' paper-protocol test pixels at seed 42."""
    import datasets
    from datasets.scene import _load_gt  # the ground truth alone (no cube needed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt, _ = _load_gt(datasets.get_scene_info("salinas"), None)
    split = datasets.split(gt, "paper", seed=42)
    return gt.ravel()[split.test] - 1


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--accuracy", type=float, default=0.95)
    ap.add_argument("--width", type=int, default=64, help="embedding width for the silhouette")
    add_common_options(ap)
    args = ap.parse_args()

    from scipy import stats

    from harness import embeddings as E
    from harness import metrics as M
    from harness.analysis.significance import mcnemar_seed

    load = OtherLoad()
    y = _salinas_test()
    n_classes = int(y.max()) + 1
    rng = np.random.default_rng(0)
    wrong = (y + rng.integers(1, n_classes, y.size)) % n_classes
    pred = np.where(rng.random(y.size) < args.accuracy, y, wrong)
    other = np.where(rng.random(y.size) < args.accuracy - 0.01, y, wrong)
    cm = M.confusion(y, pred, n_classes)
    emb = np.eye(n_classes, args.width)[y] * 3 + rng.normal(0, 1, (y.size, args.width))

    boot = _timed(lambda: M.bootstrap_intervals(cm, seed=0), args.repeats)
    codes = np.repeat(np.arange(n_classes**2), cm.ravel())

    def oa(sample, axis=-1):
        return np.mean(sample % (n_classes + 1) == 0, axis=axis)  # the diagonal's codes

    bca = _timed(
        lambda: stats.bootstrap(
            (codes,), oa, n_resamples=1000, method="BCa", vectorized=True, batch=100,
            rng=np.random.default_rng(0),
        ),
        max(1, args.repeats // 3),
    )  # fmt: skip
    sil = _timed(lambda: E.silhouette(emb, y, seed=0), args.repeats)
    mcn = _timed(lambda: mcnemar_seed(0, y, pred, other), args.repeats)
    share = load.share()
    ci = M.bootstrap_intervals(cm, seed=0)

    med = statistics.median
    verdict = "met" if med(boot) < GOAL_S else "NOT met"
    info = machine_info()
    command = "python " + " ".join(["bench/significance.py", *sys.argv[1:]])
    lines = [
        "## Statistics per trial: bootstrap intervals, silhouette, McNemar",
        "",
        f"Salinas' paper-protocol test set at seed 42 ({y.size:,} pixels, {n_classes} "
        f"classes), predictions {100 * args.accuracy:.0f} % correct. Median of "
        f"{args.repeats} runs (BCa: {len(bca)}).",
        "",
        "| computation | median | runs (s) |",
        "| --- | ---: | --- |",
        f"| `bootstrap_intervals`: OA, AA, kappa, 1,000 resamples, percentile | "
        f"{med(boot) * 1000:.0f} ms | " + ", ".join(f"{v:.3f}" for v in boot) + " |",
        f"| 1,000 resamples, OA only, BCa (not used) | {med(bca) * 1000:.0f} ms | "
        + ", ".join(f"{v:.3f}" for v in bca)
        + " |",
        f"| `silhouette`: 2,000 stratified embeddings, {args.width} features | "
        f"{med(sil) * 1000:.0f} ms | " + ", ".join(f"{v:.3f}" for v in sil) + " |",
        f"| `mcnemar_seed`: two models on the same {y.size:,} pixels | "
        f"{med(mcn) * 1000:.1f} ms | " + ", ".join(f"{v:.4f}" for v in mcn) + " |",
        "",
        f"Goal (one trial's bootstrap well under {GOAL_S:g} s on Salinas' test set): "
        f"**{verdict}** ({med(boot):.2f} s). The intervals here: OA "
        f"[{100 * ci['oa_ci_low']:.2f}, {100 * ci['oa_ci_high']:.2f}] %, AA "
        f"[{100 * ci['aa_ci_low']:.2f}, {100 * ci['aa_ci_high']:.2f}] %, kappa "
        f"[{ci['kappa_ci_low']:.4f}, {ci['kappa_ci_high']:.4f}].",
        "",
        *context_lines(info, code_version(["bench", "harness"]), share, command),
        "",
    ]
    report("\n".join(lines), NAME, share, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
