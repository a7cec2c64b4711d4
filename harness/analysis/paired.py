"""Paired statistics of a table: each baseline against CLAReSNet on the seeds both
completed (paired t-test and Wilcoxon signed-rank test, with the Wilcoxon test's floor).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

REFERENCE_FAMILY = "claresnet"


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p of the exact Wilcoxon signed-rank test on n non-zero
    differences: all n signs agree, probability 2 / 2**n (1.0 for n = 0)."""
    return min(1.0, 2.0 / 2**n)


@dataclass(frozen=True)
class Paired:
    """Paired comparison of a baseline against the reference on common seeds.

    ``mean_diff`` is reference minus baseline (positive: the reference is better),
    in the metric's stored units. ``t_p`` / ``wilcoxon_p`` are None when n < 3
    (``note`` says why) or when the test is undefined (every difference zero).
    ``n_nonzero`` counts the differences the Wilcoxon test uses (zeros are dropped),
    ``min_p`` the smallest p it can reach with them.
    """

    reference: str
    baseline: str
    seeds: tuple[int, ...]
    mean_diff: float | None
    t_p: float | None
    wilcoxon_p: float | None
    n_nonzero: int
    min_p: float
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired_comparison(
    reference: dict[int, float], baseline: dict[int, float], *, names: tuple[str, str] = ("", "")
) -> Paired:
    """Paired t-test and two-sided Wilcoxon signed-rank test on the common seeds.

    Args:
        reference: {seed: value} of the reference model (CLAReSNet).
        baseline: {seed: value} of the baseline.
        names: (reference, baseline) labels carried into the result.
    """
    from scipy import stats

    seeds = tuple(sorted(set(reference) & set(baseline)))
    ref = [reference[s] for s in seeds]
    base = [baseline[s] for s in seeds]
    diffs = [a - b for a, b in zip(ref, base, strict=True)]
    n_nonzero = sum(1 for d in diffs if d != 0)
    mean_diff = math.fsum(diffs) / len(diffs) if diffs else None
    common: dict[str, Any] = {"reference": names[0], "baseline": names[1], "seeds": seeds}
    if len(seeds) < 3:
        return Paired(
            **common,
            mean_diff=mean_diff,
            t_p=None,
            wilcoxon_p=None,
            n_nonzero=n_nonzero,
            min_p=min_wilcoxon_p(n_nonzero),
            note="n too small",
        )
    note = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: scipy says NaN
        t_p = _p(stats.ttest_rel(ref, base).pvalue)
        if n_nonzero == 0:
            w_p, note = None, "all differences are zero"
        else:
            w_p = _p(stats.wilcoxon(ref, base, alternative="two-sided").pvalue)
    return Paired(
        **common,
        mean_diff=mean_diff,
        t_p=t_p,
        wilcoxon_p=w_p,
        n_nonzero=n_nonzero,
        min_p=min_wilcoxon_p(n_nonzero),
        note=note,
    )


def _p(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def is_reference(row: dict[str, Any]) -> bool:
    """CLAReSNet: the family "claresnet" or the model literally named "claresnet"."""
    return row["model"] == REFERENCE_FAMILY or row.get("family") == REFERENCE_FAMILY
