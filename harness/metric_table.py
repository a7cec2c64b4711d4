"""The metric table: one row of facts per scalar metric a trial stores.

Every list of metric names in the harness derives from this table: the names
:func:`harness.metrics.classification_metrics` returns (:data:`METRIC_NAMES`), the
collapse diagnostics (:data:`COLLAPSE_METRICS`), the leaderboard columns of the
paper's Tables III/IV (:data:`LEADERBOARD_METRICS`, :data:`LEADERBOARD_COLUMNS`),
the report's columns (``harness.analysis.tables.COLUMNS``) and the dashboard's formats
(``dashboard.ui.COLUMN_BY_METRIC``). A metric a trial produces that has no row
here is an error (:class:`UnknownMetricError`), never silently dropped.

Adding a metric: compute it (for a classification score, one more entry in
``harness.metrics._scores``) and add one :class:`MetricInfo` row to
:data:`_ROWS` below. It is then stored with every trial, shown by the report
(markdown, LaTeX, CSV) and by the dashboard when ``leaderboard=True``, and
formatted with its header, scale and decimals everywhere.

The tuples (:data:`METRIC_NAMES`, :data:`LEADERBOARD_METRICS`...) are the table
as it is when this module is imported, for the code that imports those names. A
row registered later (:func:`register_metric`, or :func:`registered` in a test) is
seen by the functions (:func:`metric_names`, :func:`leaderboard_metrics`,
:func:`leaderboard_columns`, :data:`TABLE`), which the metrics, the report and the
dashboard read at every use.

This module imports nothing beyond the standard library, so that
:mod:`harness.result` stays light.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "BOOTSTRAP",
    "CI_METRICS",
    "CLASSIFICATION",
    "COLLAPSE",
    "COLLAPSE_METRICS",
    "EMBEDDING",
    "SEPARATION",
    "LEADERBOARD_COLUMNS",
    "LEADERBOARD_METRICS",
    "METRIC_NAMES",
    "TABLE",
    "Direction",
    "MetricInfo",
    "MetricTableError",
    "UnknownMetricError",
    "check_computed",
    "check_names",
    "get_metric",
    "leaderboard_columns",
    "leaderboard_metrics",
    "metric_names",
    "register_metric",
    "registered",
]

#: Where the table lives (named in error messages).
TABLE_FILE = "harness/metric_table.py"

#: The functions of :mod:`harness.metrics` that compute the metrics (``computed_by``).
CLASSIFICATION = "classification_metrics"
COLLAPSE = "collapse_metrics"
EMBEDDING = "centroid_distance"
SEPARATION = "silhouette"
BOOTSTRAP = "bootstrap_intervals"


class Direction(StrEnum):
    """Which way a metric improves."""

    #: Higher is better (accuracies, agreement indices).
    HIGHER = "higher"
    #: Lower is better (errors, losses).
    LOWER = "lower"
    #: Not comparable between trials as better or worse (diagnostics).
    NONE = "none"


class MetricTableError(ValueError):
    """The metrics a trial computes and the metric table disagree (the message says how)."""


class UnknownMetricError(MetricTableError):
    """A metric name with no row in the metric table."""


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """One row of the metric table: everything the harness knows about a metric.

    Attributes:
        name: the metric's key in ``TrialResult.metrics`` and in the database's
            ``metrics`` table.
        header: its column header in markdown tables and in the dashboard.
        latex: its column header in the LaTeX report.
        scale: the factor from the stored value to the shown one (100 for a
            fraction shown in percent).
        decimals: decimals shown (after scaling).
        direction: which way the metric improves (:class:`Direction`); the
            dashboard marks the best value of a column by it.
        computed_by: the function of :mod:`harness.metrics` that computes it
            (:data:`CLASSIFICATION`, :data:`COLLAPSE`, :data:`EMBEDDING`,
            :data:`SEPARATION` or :data:`BOOTSTRAP`).
        leaderboard: whether it is a column of the leaderboard, the report and the
            paper's Tables III/IV (in table order).
        description: one line on what it measures.
    """

    name: str
    header: str
    latex: str
    scale: float = 1.0
    decimals: int = 4
    direction: Direction
    computed_by: str
    leaderboard: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise MetricTableError(f"metric name {self.name!r} must be a Python identifier")
        if not self.header or not self.latex:
            raise MetricTableError(f"metric {self.name!r} needs a header and a LaTeX header")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise MetricTableError(f"metric {self.name!r}: scale must be > 0, got {self.scale}")
        if (
            isinstance(self.decimals, bool)
            or not isinstance(self.decimals, int)
            or self.decimals < 0
        ):
            raise MetricTableError(
                f"metric {self.name!r}: decimals must be an int >= 0, got {self.decimals!r}"
            )
        try:
            object.__setattr__(self, "direction", Direction(self.direction))
        except ValueError:
            choices = ", ".join(repr(d.value) for d in Direction)
            raise MetricTableError(
                f"metric {self.name!r}: direction must be one of {choices}, got {self.direction!r}"
            ) from None
        if not self.computed_by:
            raise MetricTableError(f"metric {self.name!r} needs computed_by")

    @property
    def metric(self) -> str:
        """The name (what ``harness.analysis.tables.Column`` called this field)."""
        return self.name

    def scaled(self, value: float | None) -> float | None:
        """``value`` in the shown units (None stays None)."""
        return None if value is None else value * self.scale

    def format(self, value: float) -> str:
        """``value`` scaled and rounded to :attr:`decimals`, as every table shows it."""
        return f"{value * self.scale:.{self.decimals}f}"


def _row(name: str, header: str, latex: str, **facts: Any) -> MetricInfo:
    return MetricInfo(name=name, header=header, latex=latex, **facts)


#: The table, in column order: the leaderboard rows in this order make the paper's
#: Tables III/IV (OA, BA, kappa, MCC, ARI, Avg. Dist.).
_ROWS = (
    _row("oa", "OA (%)", r"OA (\%)", scale=100.0, decimals=2, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION, leaderboard=True,
         description="overall accuracy: the share of test pixels classified correctly"),
    _row("ba", "BA (%)", r"BA (\%)", scale=100.0, decimals=2, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION, leaderboard=True,
         description="balanced accuracy: the mean recall over the classes present"),
    _row("kappa", "Kappa", r"$\kappa$", scale=1.0, decimals=4, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION, leaderboard=True,
         description="Cohen's kappa (0 when undefined)"),
    _row("mcc", "MCC", "MCC", scale=1.0, decimals=4, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION, leaderboard=True,
         description="Matthews correlation coefficient (0 when undefined)"),
    _row("ari", "ARI", "ARI", scale=1.0, decimals=4, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION, leaderboard=True,
         description="adjusted Rand index of the prediction against the truth"),
    # the paper's figure, in the units of each model's own feature space: it grows with
    # the embedding's width and scale, so it ranks no models (direction NONE) ...
    _row("centroid_distance", "Avg. Dist.", "Avg. Dist.", scale=1.0, decimals=2,
         direction=Direction.NONE, computed_by=EMBEDDING, leaderboard=True,
         description="mean distance between class centroids of the test embeddings "
         "(deep models only; raw feature units, so not comparable across models)"),
    # ... while the silhouette is scale-free, in [-1, 1], and compares models
    _row("silhouette", "Silhouette", "Silhouette", scale=1.0, decimals=3,
         direction=Direction.HIGHER, computed_by=SEPARATION, leaderboard=True,
         description="mean silhouette of the test embeddings by true class (Euclidean, "
         "up to 2,000 stratified pixels; deep models only): scale-free class separation"),
    _row("macro_f1", "Macro F1", r"Macro $F_1$", scale=1.0, decimals=4,
         direction=Direction.HIGHER, computed_by=CLASSIFICATION,
         description="unweighted mean F1 over the labels present in the truth or the prediction"),
    _row("aa", "AA (%)", r"AA (\%)", scale=100.0, decimals=2, direction=Direction.HIGHER,
         computed_by=CLASSIFICATION,
         description="average accuracy: the remote-sensing name of balanced accuracy"),
    _row("oa_ci_low", "OA 95% CI low (%)", r"OA 95\% CI low (\%)", scale=100.0, decimals=2,
         direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="lower end of the percentile bootstrap 95 % interval of OA over test "
         "pixels (1,000 seeded resamples)"),
    _row("oa_ci_high", "OA 95% CI high (%)", r"OA 95\% CI high (\%)", scale=100.0,
         decimals=2, direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="upper end of the bootstrap 95 % interval of OA"),
    _row("aa_ci_low", "AA 95% CI low (%)", r"AA 95\% CI low (\%)", scale=100.0, decimals=2,
         direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="lower end of the bootstrap 95 % interval of AA"),
    _row("aa_ci_high", "AA 95% CI high (%)", r"AA 95\% CI high (\%)", scale=100.0,
         decimals=2, direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="upper end of the bootstrap 95 % interval of AA"),
    _row("kappa_ci_low", "Kappa 95% CI low", r"$\kappa$ 95\% CI low", scale=1.0, decimals=4,
         direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="lower end of the bootstrap 95 % interval of Cohen's kappa"),
    _row("kappa_ci_high", "Kappa 95% CI high", r"$\kappa$ 95\% CI high", scale=1.0,
         decimals=4, direction=Direction.NONE, computed_by=BOOTSTRAP,
         description="upper end of the bootstrap 95 % interval of Cohen's kappa"),
    _row("majority_rate", "Majority class (%)", r"Majority class (\%)", scale=100.0,
         decimals=1, direction=Direction.NONE, computed_by=COLLAPSE,
         description="share of the test pixels in their most frequent class"),
    _row("top_prediction_share", "Top prediction (%)", r"Top prediction (\%)", scale=100.0,
         decimals=1, direction=Direction.NONE, computed_by=COLLAPSE,
         description="share of the test predictions in the most predicted class"),
)  # fmt: skip

_TABLE: dict[str, MetricInfo] = {}

#: Every row by name, in table order (a read-only live view).
TABLE: Mapping[str, MetricInfo] = MappingProxyType(_TABLE)


def register_metric(info: MetricInfo) -> MetricInfo:
    """Add a row to the metric table (after the others).

    The functions of this module and the metrics, report and dashboard code that
    call them see the row at once; the tuples derived at import
    (:data:`LEADERBOARD_METRICS`, the default columns of
    ``harness.analysis.seeds.leaderboard``...) do not. A row belongs in :data:`_ROWS`; this is
    for rows that exist for a while only (:func:`registered`).

    Args:
        info: the row.

    Returns:
        ``info``.

    Raises:
        MetricTableError: a row of that name exists.
    """
    if info.name in _TABLE:
        raise MetricTableError(f"metric {info.name!r} is registered twice")
    _TABLE[info.name] = info
    return info


@contextlib.contextmanager
def registered(*infos: MetricInfo) -> Iterator[tuple[MetricInfo, ...]]:
    """Rows in the table for the duration of a ``with`` block (tests, notebooks).

    Args:
        *infos: the rows, added after the others in this order.

    Yields:
        ``infos``.
    """
    added = []
    try:
        for info in infos:
            added.append(register_metric(info))
        yield infos
    finally:
        for info in added:
            if _TABLE.get(info.name) is info:
                del _TABLE[info.name]


for _info in _ROWS:
    register_metric(_info)
del _info


def get_metric(name: str) -> MetricInfo:
    """The row of ``name``.

    Raises:
        UnknownMetricError: no row of that name (the message says where to add one).
    """
    try:
        return _TABLE[name]
    except KeyError:
        raise UnknownMetricError(
            f"no metric {name!r} in the metric table ({TABLE_FILE}); it has {', '.join(_TABLE)}"
        ) from None


def metric_names(
    *, leaderboard: bool | None = None, computed_by: str | None = None
) -> tuple[str, ...]:
    """Names of the rows, in table order, optionally filtered.

    Args:
        leaderboard: True (False): only the rows on (off) the leaderboard; None: all.
        computed_by: only the rows computed by this function of :mod:`harness.metrics`.
    """
    return tuple(
        info.name
        for info in _TABLE.values()
        if (leaderboard is None or info.leaderboard == leaderboard)
        and (computed_by is None or info.computed_by == computed_by)
    )


def leaderboard_metrics() -> tuple[str, ...]:
    """Names of the leaderboard rows (the paper's Tables III/IV columns), in table order."""
    return metric_names(leaderboard=True)


def leaderboard_columns() -> tuple[MetricInfo, ...]:
    """The leaderboard rows (the report's and the dashboard's columns), in table order."""
    return tuple(info for info in _TABLE.values() if info.leaderboard)


def _unknown_message(name: str, where: str) -> str:
    return (
        f"{where} produced the metric {name!r}, which has no row in the metric table: add "
        f"a row for it to the table in {TABLE_FILE} (name, header, LaTeX header, scale, "
        "decimals, direction, computed_by, leaderboard) so that the database, the report "
        "and the dashboard know it"
    )


def check_names(names: Iterable[str], where: str) -> None:
    """Check that every name has a row in the table.

    Args:
        names: metric names a trial produced.
        where: what produced them, for the message (e.g. ``"TrialResult.metrics['test']"``).

    Raises:
        UnknownMetricError: the first name without a row (named in the message).
    """
    for name in names:
        if name not in _TABLE:
            raise UnknownMetricError(_unknown_message(str(name), where))


def check_computed(names: Iterable[str], computed_by: str) -> tuple[str, ...]:
    """Check the names a function of :mod:`harness.metrics` computed against the table.

    Args:
        names: the names it computed.
        computed_by: the function (:data:`CLASSIFICATION`, :data:`COLLAPSE`...).

    Returns:
        The table's names computed by ``computed_by``, in table order (the order of
        the function's result).

    Raises:
        UnknownMetricError: a computed name has no row.
        MetricTableError: a computed name's row names another function, or a row
            names this function but it did not compute that metric.
    """
    computed = list(names)
    check_names(computed, computed_by)
    for name in computed:
        if _TABLE[name].computed_by != computed_by:
            raise MetricTableError(
                f"{computed_by} computes the metric {name!r}, but its row in {TABLE_FILE} says "
                f"computed_by={_TABLE[name].computed_by!r}; correct the row"
            )
    expected = metric_names(computed_by=computed_by)
    missing = [name for name in expected if name not in computed]
    if missing:
        raise MetricTableError(
            f"the metric table ({TABLE_FILE}) says {computed_by} computes "
            f"{', '.join(map(repr, missing))}, but it does not; compute it there or "
            "correct the row"
        )
    return expected


#: What :func:`harness.metrics.classification_metrics` returns, in order (test and val).
METRIC_NAMES: tuple[str, ...] = metric_names(computed_by=CLASSIFICATION)
#: The collapse diagnostics stored beside the test metrics
#: (:func:`harness.metrics.collapse_metrics`).
COLLAPSE_METRICS: tuple[str, ...] = metric_names(computed_by=COLLAPSE)
#: The bootstrap interval ends stored beside the test metrics
#: (:func:`harness.metrics.bootstrap_intervals`).
CI_METRICS: tuple[str, ...] = metric_names(computed_by=BOOTSTRAP)
#: The columns of the leaderboard and the paper's Tables III/IV, in order.
LEADERBOARD_METRICS: tuple[str, ...] = leaderboard_metrics()
#: The rows of :data:`LEADERBOARD_METRICS` (the report's columns).
LEADERBOARD_COLUMNS: tuple[MetricInfo, ...] = leaderboard_columns()
