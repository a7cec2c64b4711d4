"""The leakage table: test OA per model under each split x PCA setting, and the leakage gap.

The ``leakage`` suite runs every model under the random split of the paper
(``paper``), the spatially disjoint split (``disjoint``) and the 5-fold spatial
cross-validation (``block_cv``), each with PCA fitted on the whole scene and on the
training pixels only. This module turns those trials into one table per scene,
recipe and source (:func:`collect`), for ``python -m harness.report`` and the
dashboard's paper-tables page:

- one cell per setting: test OA, mean ± sample std over seeds. A seed of
  ``block_cv`` is one repetition of its k folds, and its OA is the mean over the
  folds (as on the leaderboard: ``harness.analysis.seeds.leaderboard``); every labelled pixel
  is tested once per repetition and the folds' test sets are of similar size, so
  this is close to the OA pooled over the folds;
- Δ OA: the paper's setting (random split, PCA on the scene) minus the leak-free
  one (disjoint split, PCA on the training pixels), both leaks together;
- the *leakage gap*: random split minus disjoint split, both with PCA fitted on
  the training pixels, so that it measures the split alone, with the 95 %
  confidence interval of a difference of two means with unequal variances over
  the seeds (Welch; statsmodels' ``CompareMeans.tconfint_diff``). The seeds of
  the two protocols are independent splits, so the comparison is unpaired.

A model's cells across settings are one configuration: its trials' specs agree in
every field but the protocol, its parameters, the PCA fit, the seed and the study.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import statistics
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datasets.cli_options import python_command

from .. import metric_table
from ..spec import TrialSpec, group_fields, group_of
from . import seeds
from .cells import tex

#: Where a Δ or a gap is shown in percentage points, the stored fractions times this.
PP = 100.0
#: The confidence of the leakage gap's interval.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Setting:
    """One column of the table: a split protocol and where PCA was fitted."""

    protocol: str
    pca_fit: str
    title: str

    @property
    def key(self) -> tuple[str, str]:
        return self.protocol, self.pca_fit


SETTINGS: tuple[Setting, ...] = (
    Setting("paper", "scene", "random split, PCA on scene (paper)"),
    Setting("paper", "train", "random split, PCA on train"),
    Setting("disjoint", "scene", "disjoint, PCA on scene"),
    Setting("disjoint", "train", "disjoint, PCA on train (leak-free)"),
    Setting("block_cv", "scene", "block CV, PCA on scene"),
    Setting("block_cv", "train", "block CV, PCA on train (leak-free)"),
)
#: Settings shown only when some model has results in them.
OPTIONAL = {("block_cv", "scene"), ("block_cv", "train")}
PROTOCOLS = tuple(dict.fromkeys(s.protocol for s in SETTINGS))
#: Δ OA: the paper's setting minus the leak-free one (the split and PCA together).
DELTA: tuple[tuple[str, str], tuple[str, str]] = (("paper", "scene"), ("disjoint", "train"))
#: The leakage gap: random minus disjoint split, both with PCA on the training pixels.
GAP: tuple[tuple[str, str], tuple[str, str]] = (("paper", "train"), ("disjoint", "train"))
EMPTY_MESSAGE = (
    "no leakage study in this database (no trial with the disjoint or block_cv protocol, "
    f"or PCA fitted on training pixels) — run {python_command('harness.run --suite leakage')}"
)
DELTA_HEADER = "Δ OA (pp)"
GAP_HEADER = "Leakage gap (pp, 95 % CI)"
#: Spec fields that make the settings (or differ between seeds and folds): the rest of a
#: spec tells a model's configurations apart across the settings.
SETTING_FIELDS = ("protocol", "protocol_params", "pca_fit", "seed", "study", "protocol_version")
#: Models in the order of the paper's tables (others after them, by name).
MODEL_ORDER = ("random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet")


@dataclass(frozen=True)
class Cell:
    """Test OA of one model under one setting.

    Attributes:
        per_seed: {seed: OA} (a ``block_cv`` seed: the mean over its folds).
        n_trials: trials behind it (every fold of every seed).
    """

    per_seed: dict[int, float]
    n_trials: int

    @property
    def n(self) -> int:
        return len(self.per_seed)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.per_seed.values()) if self.per_seed else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (None for fewer than 2)."""
        return statistics.stdev(self.per_seed.values()) if self.n > 1 else None

    def stats(self) -> dict[str, Any]:
        """{"mean", "std", "n"}, as a leaderboard cell."""
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass(frozen=True)
class Gap:
    """A difference of two settings' mean OA with its confidence interval (fractions).

    ``low`` and ``high`` are None when the interval is undefined: fewer than two
    seeds on a side, or no spread over seeds on either (``note`` says which).
    """

    estimate: float | None
    low: float | None
    high: float | None
    n_a: int
    n_b: int
    confidence: float = CONFIDENCE
    note: str = ""


def leakage_gap(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Gap:
    """mean(a) - mean(b) and its Welch confidence interval (unequal variances).

    Args:
        a: per-seed values of the first setting.
        b: per-seed values of the second setting (independent of ``a``).
        confidence: the interval's confidence (0.95: a 95 % interval).
    """
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    a, b = [float(v) for v in a], [float(v) for v in b]
    if not a or not b:
        return Gap(None, None, None, len(a), len(b), confidence, "no seeds on one side")
    estimate = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Gap(estimate, None, None, len(a), len(b), confidence, "needs 2 seeds per side")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no spread: statsmodels says NaN
        low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
            alpha=1 - confidence, usevar="unequal"
        )
    if not (math.isfinite(low) and math.isfinite(high)):
        return Gap(estimate, None, None, len(a), len(b), confidence, "no spread over seeds")
    return Gap(estimate, float(low), float(high), len(a), len(b), confidence)


@dataclass(frozen=True)
class Row:
    """One model configuration across the settings."""

    label: str
    model: str
    family: str
    cells: dict[tuple[str, str], Cell]
    gap: Gap

    @property
    def delta(self) -> float | None:
        """Mean OA of the paper's setting minus the leak-free one (fraction), or None."""
        leaky, clean = (self.cells.get(key) for key in DELTA)
        if leaky is None or clean is None or leaky.mean is None or clean.mean is None:
            return None
        return leaky.mean - clean.mean


@dataclass(frozen=True)
class Table:
    """The leakage table of one scene, recipe and source."""

    scene: str
    recipe: str
    source: str
    rows: list[Row]

    @property
    def settings(self) -> tuple[Setting, ...]:
        """The settings shown: the four of the paper's study, ``block_cv`` when run."""
        held = {key for row in self.rows for key in row.cells}
        return tuple(s for s in SETTINGS if s.key not in OPTIONAL or s.key in held)

    @property
    def title(self) -> str:
        return f"Leakage · scene {self.scene} · recipe {self.recipe} · source {self.source}"


@dataclass(frozen=True)
class Entry:
    """One leaderboard row of a leakage setting, with what the table needs of it."""

    scene: str
    recipe: str
    source: str
    protocol: str
    pca_fit: str
    model: str
    family: str
    label: str
    #: The spec but its setting's fields (:data:`SETTING_FIELDS`), as canonical JSON.
    config: str
    per_seed: dict[int, float]
    n_trials: int


def config_of(spec: dict[str, Any]) -> str:
    """What tells a model's configurations apart across the settings: its canonical
    spec without :data:`SETTING_FIELDS`, as JSON."""
    canonical = TrialSpec.from_json(json.dumps(spec)).canonical()
    rest = {k: v for k, v in canonical.items() if k not in SETTING_FIELDS}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"))


def _order(row: Row) -> tuple[int, str]:
    family = row.family or row.model
    rank = MODEL_ORDER.index(family) if family in MODEL_ORDER else len(MODEL_ORDER)
    return rank, row.label


def build(entries: Iterable[Entry]) -> list[Table]:
    """The tables of ``entries``: one per scene, recipe and source that holds a leakage
    study (a result off the paper's setting: the disjoint split, the block CV or PCA on
    training pixels); rows in the paper's model order."""
    by_table: dict[tuple[str, str, str], list[Entry]] = {}
    for e in entries:
        if (e.protocol, e.pca_fit) in {s.key for s in SETTINGS}:
            by_table.setdefault((e.scene, e.recipe, e.source), []).append(e)
    tables = []
    for (scene, recipe, source), group in sorted(by_table.items()):
        if all((e.protocol, e.pca_fit) == ("paper", "scene") for e in group):
            continue  # the paper's setting alone: no leakage study
        slots: dict[tuple[str, str, int], dict[tuple[str, str], Entry]] = {}
        for e in sorted(group, key=lambda e: (e.model, e.config, e.label)):
            dup = 0  # two configurations of one setting that differ only in its parameters
            while (e.protocol, e.pca_fit) in slots.get((e.model, e.config, dup), {}):
                dup += 1
            slots.setdefault((e.model, e.config, dup), {})[(e.protocol, e.pca_fit)] = e
        per_model: dict[str, int] = {}
        for model, _, _ in slots:
            per_model[model] = per_model.get(model, 0) + 1
        rows = []
        for (model, config, dup), cells in slots.items():
            first = next(iter(cells.values()))
            label = model
            if per_model[model] > 1:  # "model [config hash head]", "... #2" for a duplicate
                label += f" [{hashlib.sha256(config.encode()).hexdigest()[:8]}]"
                label += f" #{dup + 1}" if dup else ""
            shown = {key: Cell(dict(e.per_seed), e.n_trials) for key, e in cells.items()}
            a, b = (shown.get(key) for key in GAP)
            gap = leakage_gap(
                list(a.per_seed.values()) if a else [], list(b.per_seed.values()) if b else []
            )
            rows.append(Row(label, model, first.family, shown, gap))
        tables.append(Table(scene, recipe, source, sorted(rows, key=_order)))
    return tables


def collect(
    store: Any,
    scene: str | None = None,
    recipe: str | None = None,
    source: str | None = None,
    *,
    run_id: int | None = None,
    board: Sequence[Mapping[str, Any]] | None = None,
    seeds_of: Callable[[tuple[str, ...]], dict[str, dict[int, float]]] | None = None,
) -> list[Table]:
    """The leakage tables of a :class:`~harness.store.ResultStore` (an empty list when
    it holds no leakage study), filtered by scene, recipe and source.

    Args:
        store: the store (its trials' specs are read).
        scene: only this scene (None: all).
        recipe: only this recipe (None: all).
        source: only this source (None: all).
        run_id: count only this run's trials.
        board: the store's leaderboard rows with "oa" (of ``run_id``), when the caller
            has them already (the dashboard); None: queried here.
        seeds_of: {label: {seed: test OA}} of a group, when the caller has it cached;
            None: :func:`harness.analysis.seeds.per_seed`.
    """
    kwargs: dict[str, Any] = {"scene": scene, "recipe": recipe, "source": source}
    if board is None:
        board = seeds.leaderboard(store, metrics=("oa",), run_id=run_id, **kwargs)
    board = [
        row
        for row in board
        if row["protocol"] in PROTOCOLS
        and all(value is None or row[name] == value for name, value in kwargs.items())
    ]
    specs = store.specs(row["trial_ids"][0] for row in board)
    per_seed: dict[tuple[str, ...], dict[str, dict[int, float]]] = {}
    entries = []
    for row in board:
        key = group_of(row)
        if key not in per_seed and seeds_of is not None:
            per_seed[key] = seeds_of(key)
        elif key not in per_seed:
            per_seed[key] = seeds.per_seed(store, **group_fields(key), metric="oa", run_id=run_id)
        entries.append(
            Entry(
                scene=row["scene"],
                recipe=row["recipe"],
                source=row["source"],
                protocol=row["protocol"],
                pca_fit=row["pca_fit"],
                model=row["model"],
                family=row.get("family") or "",
                label=row["label"],
                config=config_of(specs[row["trial_ids"][0]]),
                per_seed=per_seed[key].get(row["label"], {}),
                n_trials=row["n_trials"],
            )
        )
    return build(entries)


# --------------------------------------------------------------------------- text


def fmt_cell(cell: Cell | None, *, pm: str = " ± ", dash: str = "–") -> str:
    """ "mean ± std (n=seeds)" as the metric table shows OA (percent); a ``block_cv``
    cell adds its trials (folds)."""
    if cell is None or cell.mean is None:
        return dash
    oa = metric_table.get_metric("oa")
    text = oa.format(cell.mean)
    if cell.std is not None:
        text += f"{pm}{oa.format(cell.std)}"
    trials = f", {cell.n_trials} trials" if cell.n_trials > cell.n else ""  # folds
    return f"{text} (n={cell.n}{trials})"


def fmt_delta(value: float | None, dash: str = "–") -> str:
    return dash if value is None else f"{PP * value:+.2f}"


def fmt_gap(gap: Gap, dash: str = "–") -> str:
    """ "+8.12 [+5.30, +10.94]" in percentage points (the note when there is no interval)."""
    if gap.estimate is None:
        return dash
    if gap.low is None or gap.high is None:
        return f"{PP * gap.estimate:+.2f} ({gap.note})"
    return f"{PP * gap.estimate:+.2f} [{PP * gap.low:+.2f}, {PP * gap.high:+.2f}]"


def caption(settings: Sequence[Setting] = SETTINGS) -> list[str]:
    """The notes under a leakage table."""
    lines = [
        "Test OA (%), mean ± sample std over seeds; n = seeds.",
        "Δ OA = random split with PCA on the scene (the paper's setting) − disjoint split "
        "with PCA on the training pixels (leak-free), in percentage points: both leaks.",
        "Leakage gap = random split − disjoint split, both with PCA on the training pixels "
        "(the split alone), in percentage points, with its 95 % confidence interval over "
        "seeds (Welch's interval for a difference of means, unequal variances; unpaired: "
        "the two protocols' seeds are independent splits).",
    ]
    if any(s.protocol == "block_cv" for s in settings):
        lines.append(
            "Block CV: spatial k-fold cross-validation (protocol block_cv); a seed is one "
            "repetition of its k folds, every labelled pixel tested once, and its OA is the "
            "mean over the folds."
        )
    return lines


def _header(settings: Sequence[Setting]) -> list[str]:
    return ["Model", *(s.title for s in settings), DELTA_HEADER, GAP_HEADER]


def table_cells(table: Table) -> list[list[str]]:
    """The text cells of each row (columns of the header: model, settings, Δ, gap)."""
    return [
        [
            row.label,
            *(fmt_cell(row.cells.get(s.key)) for s in table.settings),
            fmt_delta(row.delta),
            fmt_gap(row.gap),
        ]
        for row in table.rows
    ]


def render_markdown(tables: Sequence[Table]) -> str:
    out = ["# Leakage: random vs spatially disjoint split, PCA on the scene vs on train pixels", ""]
    for t in tables:
        header = _header(t.settings)
        out += [f"## {t.title}", ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("| --- | " + " | ".join("---:" for _ in header[1:]) + " |")
        out += ["| " + " | ".join(cells) + " |" for cells in table_cells(t)]
        for line in caption(t.settings):
            out += ["", line]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


#: Characters of the cells and notes that LaTeX takes in math mode (after escaping).
_LATEX_SYMBOLS = {"±": r"$\pm$", "Δ": r"$\Delta$", "−": "$-$", "–": "--"}


def _latex(text: str) -> str:
    out = tex(text)
    for symbol, latex in _LATEX_SYMBOLS.items():
        out = out.replace(symbol, latex)
    return out


def render_latex(tables: Sequence[Table]) -> str:
    out = ["% Leakage tables (generated by harness.report)."]
    for t in tables:
        header = _header(t.settings)
        width = len(header)
        out += ["", f"% {t.title}", r"\begin{tabular}{l" + "r" * (width - 1) + "}", r"\hline"]
        out.append(
            rf"\multicolumn{{{width}}}{{l}}{{{_latex(t.scene)}, recipe {_latex(t.recipe)}, "
            rf"source {_latex(t.source)}}} \\"
        )
        out.append(r"\hline")
        out.append(" & ".join(_latex(h) for h in header) + r" \\")
        out.append(r"\hline")
        for cells in table_cells(t):
            out.append(" & ".join(_latex(c) for c in cells) + r" \\")
        out.append(r"\hline")
        for line in caption(t.settings):
            out.append(
                rf"\multicolumn{{{width}}}{{p{{0.95\linewidth}}}}{{\footnotesize {_latex(line)}}} \\"
            )
        out.append(r"\end{tabular}")
    return "\n".join(out) + "\n"


CSV_FIELDS = (
    "scene",
    "recipe",
    "source",
    "model",
    "label",
    "quantity",
    "protocol",
    "pca_fit",
    "mean",
    "std",
    "n",
    "n_trials",
    "ci_low",
    "ci_high",
)


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


def render_csv(tables: Sequence[Table]) -> str:
    """One row per model and setting (quantity "oa"), then its Δ ("delta", the settings
    of :data:`DELTA`) and leakage gap ("gap", :data:`GAP`, with its interval; the seeds
    on each side are the "oa" rows' n), in the stored units (fractions)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for t in tables:
        for row in t.rows:
            head = [t.scene, t.recipe, t.source, row.model, row.label]
            for s in t.settings:
                cell = row.cells.get(s.key)
                if cell is None:
                    continue
                writer.writerow(
                    [*head, "oa", s.protocol, s.pca_fit, _num(cell.mean), _num(cell.std),
                     cell.n, cell.n_trials, "", ""]
                )  # fmt: skip
            for quantity, (a, b) in (("delta", DELTA), ("gap", GAP)):
                gap = row.gap if quantity == "gap" else None
                writer.writerow(
                    [*head, quantity, f"{a[0]}-{b[0]}",
                     a[1] if a[1] == b[1] else f"{a[1]}-{b[1]}",
                     _num(row.delta if gap is None else gap.estimate), "", "", "",
                     _num(gap.low if gap else None), _num(gap.high if gap else None)]
                )  # fmt: skip
    return buffer.getvalue()


RENDERERS = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}


def render(tables: Sequence[Table], fmt: str = "markdown") -> str:
    """The leakage tables in ``fmt`` ("markdown", "latex" or "csv")."""
    if fmt not in RENDERERS:
        raise ValueError(f"format={fmt!r} must be one of {', '.join(RENDERERS)}.")
    return RENDERERS[fmt](tables)
