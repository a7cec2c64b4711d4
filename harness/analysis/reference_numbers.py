"""The project's reference numbers: real-data results a user can hold their own run against.

``dashboard/reference_numbers.csv`` (beside the paper's numbers, ``paper_numbers.csv``)
holds what this project measured on real data (``docs/RESULTS.md``): per
configuration and metric the mean, the sample std and the 95 % t-interval of the mean
over seeds, the seeds and their values, and the commits that produced them. It is
written by ``python bench/reference_numbers.py --db DB`` from a results database
(:func:`rows_from_store`, :func:`write_csv`) and read by the report and the Paper
tables page (:func:`load`, :func:`matching`).

A row matches a user's leaderboard row when their ``config_hash`` is equal: the same
model, hyperparameters, recipe, protocol, preprocessing, training and data (the
scene's fingerprint, made of its arrays' content), whatever the seeds. Anything else
(a crop, another epoch count, a surrogate) is another configuration, and no reference
number is shown beside it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import seeds as seed_stats

#: The checked-in table (package data of ``dashboard``), and the paper's beside it.
REFERENCE_NUMBERS = Path(__file__).resolve().parents[2] / "dashboard" / "reference_numbers.csv"
PAPER_NUMBERS = REFERENCE_NUMBERS.with_name("paper_numbers.csv")
#: The metrics kept, in the paper's units of the leaderboard (fractions).
METRICS = ("oa", "ba", "kappa")
COLUMNS = (
    "config_hash",
    "scene",
    "model",
    "recipe",
    "protocol",
    "pca_fit",
    "source",
    "metric",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n",
    "seeds",
    "values",
    "commits",
)
#: Decimals written (fractions: 1e-6 is 1e-4 percentage points).
DECIMALS = 6


@dataclass(frozen=True)
class ReferenceRow:
    """One configuration's numbers for one metric."""

    config_hash: str
    scene: str
    model: str
    recipe: str
    protocol: str
    pca_fit: str
    source: str
    metric: str
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    commits: tuple[str, ...]


def summarise(values: Sequence[float]) -> tuple[float, float | None, float | None, float | None]:
    """Mean, sample std (ddof=1) and the 95 % t-interval of the mean over seeds (statsmodels
    ``DescrStatsW.tconfint_mean``); std and interval None under two values."""
    import numpy as np
    from statsmodels.stats.weightstats import DescrStatsW

    a = np.asarray(values, dtype=np.float64)
    mean = float(a.mean())
    if a.size < 2:
        return mean, None, None, None
    low, high = DescrStatsW(a).tconfint_mean(alpha=0.05)
    return mean, float(a.std(ddof=1)), float(low), float(high)


#: A row's configuration, as the leaderboard and the CSV columns name it.
KEY_FIELDS = ("config_hash", "scene", "model", "recipe", "protocol", "pca_fit", "source")


def rows_from_store(store: Any, scene: str | None = None) -> list[ReferenceRow]:
    """The reference rows of a results database: every real-data configuration outside
    searches, per metric of :data:`METRICS`, sorted."""
    runs = {r["id"]: r.get("git_commit") or "unknown" for r in store.runs()}
    trial_runs = {t["id"]: t.get("run_id") for t in store.trials(status="completed")}
    out = []
    for row in seed_stats.leaderboard(store, scene=scene, source="real", metrics=METRICS):
        commits = tuple(
            sorted({str(runs.get(trial_runs.get(t), "unknown"))[:12] for t in row["trial_ids"]})
        )
        for metric in METRICS:
            by_seed = row["per_seed"][metric]
            if not by_seed:
                continue
            seeds = tuple(sorted(by_seed))
            values = tuple(round(float(by_seed[s]), DECIMALS) for s in seeds)
            mean, std, low, high = summarise(values)
            out.append(
                ReferenceRow(
                    **{key: row[key] for key in KEY_FIELDS},
                    metric=metric,
                    mean=mean,
                    std=std,
                    ci_low=low,
                    ci_high=high,
                    n=len(values),
                    seeds=seeds,
                    values=values,
                    commits=commits,
                )
            )
    out.sort(key=lambda r: (r.scene, r.protocol, r.pca_fit, r.recipe, r.model, r.metric))
    return out


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.{DECIMALS}f}"


def render_csv(rows: Iterable[ReferenceRow], header: Sequence[str] = ()) -> str:
    """The table as CSV text: ``# `` comment lines, then the columns, one row per line."""
    buffer = io.StringIO()
    for line in header:
        buffer.write(f"# {line}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(
            [
                *(getattr(r, key) for key in KEY_FIELDS),
                r.metric,
                _num(r.mean),
                _num(r.std),
                _num(r.ci_low),
                _num(r.ci_high),
                r.n,
                " ".join(str(s) for s in r.seeds),
                " ".join(_num(v) for v in r.values),
                " ".join(r.commits),
            ]
        )
    return buffer.getvalue()


def _opt(text: str) -> float | None:
    return float(text) if text else None


def parse_csv(text: str) -> list[ReferenceRow]:
    """Rows of :func:`render_csv`'s text (comment lines skipped)."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    out = []
    for rec in csv.DictReader(lines):
        out.append(
            ReferenceRow(
                **{key: rec[key] for key in KEY_FIELDS},
                metric=rec["metric"],
                mean=float(rec["mean"]),
                std=_opt(rec["std"]),
                ci_low=_opt(rec["ci_low"]),
                ci_high=_opt(rec["ci_high"]),
                n=int(rec["n"]),
                seeds=tuple(int(s) for s in rec["seeds"].split()),
                values=tuple(float(v) for v in rec["values"].split()),
                commits=tuple(rec["commits"].split()),
            )
        )
    return out


def load(path: str | Path | None = None) -> list[ReferenceRow]:
    """The reference rows of ``path`` (default: the checked-in :data:`REFERENCE_NUMBERS`);
    [] when the file is absent."""
    p = Path(path) if path is not None else REFERENCE_NUMBERS
    return parse_csv(p.read_text()) if p.is_file() else []


def matching(rows: Sequence[ReferenceRow], config_hash: str) -> dict[str, ReferenceRow]:
    """{metric: row} of the reference configuration ``config_hash`` ({} when none)."""
    return {r.metric: r for r in rows if r.config_hash == config_hash}


def consistent(row: ReferenceRow) -> bool:
    """Whether a row's mean, std and interval are those of its per-seed values (as
    :func:`rows_from_store` computed them, to the written decimals)."""
    mean, std, low, high = summarise(row.values)
    pairs = [(mean, row.mean), (std, row.std), (low, row.ci_low), (high, row.ci_high)]
    tol = 0.6 * 10**-DECIMALS
    return all(
        (a is None and b is None)
        or (a is not None and b is not None and math.isclose(a, b, abs_tol=tol))
        for a, b in pairs
    )


def paper_cells(
    path: str | Path | None = None,
) -> dict[tuple[str, str, str], tuple[float, float | None]]:
    """{(scene, family, metric): (mean, std)} of the paper's Tables III and IV as
    fractions (the leaderboard's units; the file has OA and BA in percent)."""
    p = Path(path) if path is not None else PAPER_NUMBERS
    if not p.is_file():
        return {}
    lines = [line for line in p.read_text().splitlines() if not line.startswith("#")]
    out = {}
    for rec in csv.DictReader(lines):
        if not rec["mean"]:
            continue
        scale = 100.0 if rec["metric"] in ("oa", "ba") else 1.0
        std = float(rec["std"]) / scale if rec["std"] else None
        out[(rec["scene"], rec["model"], rec["metric"])] = (float(rec["mean"]) / scale, std)
    return out
