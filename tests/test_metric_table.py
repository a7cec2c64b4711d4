"""The metric table: every metric list derives from it, and one new row reaches the
database, the report (markdown, LaTeX, CSV) and the dashboard; a computed metric
without a row is an error, never dropped."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import statistics

import numpy as np
import pytest
from test_store import make_test_spec

from harness import metric_table, report
from harness import metrics as M
from harness.analysis import render, seeds, tables
from harness.metric_table import (
    CLASSIFICATION,
    Direction,
    MetricInfo,
    MetricTableError,
    UnknownMetricError,
    registered,
)
from harness.result import TrialResult
from harness.store import ResultStore

#: The throwaway metric: a classification score shown in percent with one decimal.
TOY = MetricInfo(
    name="toy_score",
    header="Toy (%)",
    latex=r"Toy (\%)",
    scale=100.0,
    decimals=1,
    direction=Direction.HIGHER,
    computed_by=CLASSIFICATION,
    leaderboard=True,
    description="half the overall accuracy (a test metric)",
)
N_CLASSES = 4
SEEDS = (0, 1, 2)


# --------------------------------------------------------------------------- the lists


def test_every_metric_list_derives_from_the_table():
    from harness import result
    from harness.store import queries

    assert result.METRIC_NAMES == ("oa", "ba", "kappa", "mcc", "ari", "macro_f1", "aa")
    assert queries.LEADERBOARD_METRICS == (
        "oa", "ba", "kappa", "mcc", "ari", "centroid_distance", "silhouette"
    )  # fmt: skip
    assert M.COLLAPSE_METRICS == ("majority_rate", "top_prediction_share")
    for names, selected in (
        (result.METRIC_NAMES, metric_table.metric_names(computed_by=CLASSIFICATION)),
        (queries.LEADERBOARD_METRICS, metric_table.leaderboard_metrics()),
        (M.COLLAPSE_METRICS, metric_table.metric_names(computed_by=metric_table.COLLAPSE)),
    ):
        assert type(names) is tuple and names == selected
    # the report's columns as they were written out before the table existed
    assert [(c.name, c.header, c.latex, c.scale, c.decimals) for c in tables.COLUMNS] == [
        ("oa", "OA (%)", r"OA (\%)", 100.0, 2),
        ("ba", "BA (%)", r"BA (\%)", 100.0, 2),
        ("kappa", "Kappa", r"$\kappa$", 1.0, 4),
        ("mcc", "MCC", "MCC", 1.0, 4),
        ("ari", "ARI", "ARI", 1.0, 4),
        ("centroid_distance", "Avg. Dist.", "Avg. Dist.", 1.0, 2),
        ("silhouette", "Silhouette", "Silhouette", 1.0, 3),
    ]
    # the raw centroid distance is in each model's own feature units: it ranks nothing
    assert metric_table.get_metric("centroid_distance").direction is Direction.NONE
    assert metric_table.get_metric("silhouette").direction is Direction.HIGHER
    assert all(c.metric == c.name for c in tables.COLUMNS)  # the old Column field
    # every metric a trial stores has a row; the computed ones in their function's order
    y = np.array([0, 1, 2, 2, 1])
    evaluated = M.evaluate(y, np.eye(3)[[0, 1, 2, 1, 1]], 3, ["a", "b", "c"], tsne_max=0)
    assert tuple(evaluated["metrics"]) == (*result.METRIC_NAMES, *M.COLLAPSE_METRICS)
    assert tuple(evaluated["intervals"]) == metric_table.CI_METRICS
    assert set(metric_table.TABLE) == {
        *evaluated["metrics"], *evaluated["intervals"], "centroid_distance", "silhouette"
    }  # fmt: skip


def test_the_dashboard_formats_come_from_the_table():
    from dashboard import ui

    assert ui.COLUMNS == tables.COLUMNS
    assert ui.header("oa") == "OA (%)" and ui.fmt_value(0.91234, "oa") == "91.23"
    assert ui.fmt_value(0.91234, "kappa") == "0.9123" and ui.scaled(0.5, "ba") == 50.0
    assert ui.header("no_such_metric") == "no_such_metric"
    assert ui.fmt_value(0.123456, "no_such_metric") == "0.1235"  # unknown: 4 significant digits
    assert ui.COLUMN_BY_METRIC["centroid_distance"].decimals == 2


def test_rows_are_checked():
    with pytest.raises(MetricTableError, match="direction must be one of"):
        MetricInfo(name="x", header="X", latex="X", direction="up", computed_by=CLASSIFICATION)
    with pytest.raises(MetricTableError, match="decimals"):
        MetricInfo(name="x", header="X", latex="X", decimals=-1, direction="higher",
                   computed_by=CLASSIFICATION)  # fmt: skip
    assert MetricInfo(name="x", header="X", latex="X", direction="lower",
                      computed_by="f").direction is Direction.LOWER  # fmt: skip
    with pytest.raises(MetricTableError, match="registered twice"):
        metric_table.register_metric(metric_table.get_metric("oa"))
    with pytest.raises(UnknownMetricError, match="no metric 'nope'"):
        metric_table.get_metric("nope")


def test_registered_rows_leave_the_table_after_the_block():
    with registered(TOY):
        assert metric_table.leaderboard_metrics()[-1] == "toy_score"
        assert metric_table.TABLE["toy_score"] is TOY
    assert "toy_score" not in metric_table.TABLE
    assert metric_table.leaderboard_metrics() == metric_table.LEADERBOARD_METRICS


# --------------------------------------------------------------------------- missing rows


def _with_toy(monkeypatch) -> None:
    """Make classification_metrics compute the toy score: half the OA."""
    scores = M._scores
    monkeypatch.setattr(
        M, "_scores", lambda yt, yp, n: {**scores(yt, yp, n), "toy_score": np.mean(yt == yp) / 2}
    )


def test_a_computed_metric_missing_from_the_table_raises(monkeypatch):
    _with_toy(monkeypatch)
    y = np.array([0, 1, 2, 1])
    expected = r"'toy_score'.*no row in the metric table.*harness/metric_table\.py"
    with pytest.raises(UnknownMetricError, match=expected):
        M.classification_metrics(y, y, 3)
    with pytest.raises(UnknownMetricError, match=expected):
        M.evaluate(y, np.eye(3)[y], 3, ["a", "b", "c"], tsne_max=0)


def test_a_stored_metric_missing_from_the_table_raises():
    spec = make_test_spec()
    with pytest.raises(UnknownMetricError, match=r"TrialResult\.metrics\['test'\].*'toy_score'"):
        TrialResult(spec=spec, metrics={"test": {"oa": 0.9, "toy_score": 0.4}})
    TrialResult(spec=spec, metrics={"test": {"oa": 0.9, "centroid_distance": None}})  # fine


def test_a_row_whose_metric_is_not_computed_raises(monkeypatch):
    y = np.array([0, 1, 2, 1])
    with registered(TOY), pytest.raises(MetricTableError, match="'toy_score', but it does not"):
        M.classification_metrics(y, y, 3)  # the row is there, the computation is not
    wrong = MetricInfo(name="toy_score", header="T", latex="T", direction="higher",
                       computed_by=metric_table.COLLAPSE)  # fmt: skip
    with registered(wrong):
        with pytest.raises(MetricTableError, match="'toy_score', but it does not"):
            M.collapse_metrics(y, y, 3)
        _with_toy(monkeypatch)
        with pytest.raises(MetricTableError, match="computed_by='collapse_metrics'"):
            M.classification_metrics(y, y, 3)


# --------------------------------------------------------------------------- one new row


def _trial(model: str, seed: int) -> TrialResult:
    """A result as harness.trial assembles it, from predictions of a given accuracy."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, 120)
    accuracy = {"claresnet": 0.9, "hybridsn": 0.7}[model] - 0.05 * seed
    y_pred = np.where(rng.random(y.size) < accuracy, y, rng.integers(0, N_CLASSES, y.size))
    proba = np.eye(N_CLASSES)[y_pred] * 0.7 + 0.3 / N_CLASSES
    embeddings = np.eye(N_CLASSES)[y] * (3.0 + seed) + rng.normal(0, 0.1, (y.size, N_CLASSES))
    names = [f"class {k}" for k in range(N_CLASSES)]
    evaluation = M.evaluate(y, proba, N_CLASSES, names, embeddings=embeddings, tsne_max=0)
    metrics = {"test": dict(evaluation["metrics"])}
    metrics["test"]["centroid_distance"] = evaluation["centroid_distance"]
    metrics["val"] = M.classification_metrics(y[:40], y_pred[:40], N_CLASSES)
    return TrialResult(
        spec=make_test_spec(model, seed),
        metrics=metrics,
        per_class=evaluation["per_class"],
        confusion=evaluation["confusion"],
        pr_curves=evaluation["pr_curves"],
    )


@pytest.fixture
def toy_db(tmp_path, monkeypatch):
    """A database written with the toy row in the table and computed by the metrics."""
    _with_toy(monkeypatch)
    path = tmp_path / "toy.db"
    with registered(TOY):
        results = [_trial(model, seed) for model in ("claresnet", "hybridsn") for seed in SEEDS]
        with ResultStore(path) as store:
            run = store.start_run("test", "quick", {})
            ids = [store.write(r, run).trial_id for r in results]
            store.finish_run(run, "completed")
        yield path, results, ids


def _toy(results: list[TrialResult], model: str, split: str = "test") -> list[float]:
    return [r.metrics[split]["toy_score"] for r in results if r.spec.model == model]


def test_a_new_row_reaches_the_database(toy_db):
    path, results, ids = toy_db
    for result in results:
        assert result.metrics["test"]["toy_score"] == result.metrics["test"]["oa"] / 2
        assert tuple(result.metrics["val"])[-1] == "toy_score"  # table order
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT trial_id, split, value FROM metrics WHERE name = 'toy_score'"
        ).fetchall()
    assert len(rows) == 2 * len(results)  # test and val of every trial
    with ResultStore(path, readonly=True) as store:
        for trial_id, result in zip(ids, results, strict=True):
            stored = store.trial(trial_id)["metrics"]
            for split in ("test", "val"):
                assert stored[split]["toy_score"] == pytest.approx(
                    result.metrics[split]["toy_score"]
                )
        board = seeds.leaderboard(store, metrics=metric_table.leaderboard_metrics())
    (clares,) = [r for r in board if r["model"] == "claresnet"]
    assert list(clares["metrics"])[-1] == "toy_score"
    assert clares["metrics"]["toy_score"]["n"] == len(SEEDS)


def _cell(values: list[float], scale: float, decimals: int, pm: str) -> str:
    mean, std = statistics.fmean(values), statistics.stdev(values)
    return f"{mean * scale:.{decimals}f}{pm}{std * scale:.{decimals}f}"


def test_a_new_row_reaches_the_report(toy_db, capsys):
    path, results, _ = toy_db
    with ResultStore(path, readonly=True) as store:
        groups = tables.collect(store)
    clares = _toy(results, "claresnet")

    markdown = render.render(groups, "markdown")
    header = next(line for line in markdown.splitlines() if line.startswith("| Model |"))
    assert header.endswith("| Avg. Dist. | Silhouette | Toy (%) |")
    row = next(line for line in markdown.splitlines() if line.startswith("| claresnet |"))
    assert row.endswith(f"| {_cell(clares, 100, 1, ' ± ')} (n=3) |")

    latex = render.render(groups, "latex")
    assert r"\begin{tabular}{l" + "r" * 8 + "}" in latex
    assert r"& Avg. Dist. & Silhouette & Toy (\%) \\" in latex
    assert "$" + _cell(clares, 100, 1, r" \pm ") + "$ (3)" in latex

    assert report.main(["--db", str(path), "--format", "csv"]) == 0  # the CLI
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    toy = {r["model"]: r for r in rows if r["metric"] == "toy_score"}
    assert set(toy) == {"claresnet", "hybridsn"}
    assert float(toy["claresnet"]["mean"]) == pytest.approx(statistics.fmean(clares))
    assert float(toy["claresnet"]["std"]) == pytest.approx(statistics.stdev(clares))
    assert len(rows) == 2 * (len(metric_table.leaderboard_columns()))  # two models x columns


def test_a_new_row_reaches_the_dashboard_helpers(toy_db):
    from dashboard import queries, ui

    path, results, _ = toy_db
    queries.configure(queries.Settings(str(path)))
    rows = queries.leaderboard()
    assert all("toy_score" in r["metrics"] for r in rows)
    clares = _toy(results, "claresnet")
    (stats,) = [r["metrics"]["toy_score"] for r in rows if r["model"] == "claresnet"]
    assert ui.header("toy_score") == "Toy (%)"
    assert ui.fmt_stats(stats, "toy_score") == f"{_cell(clares, 100, 1, ' ± ')} (n=3)"
    assert ui.fmt_value(0.4567, "toy_score") == "45.7"

    frame, styler = ui.stats_table(rows, metric_table.leaderboard_metrics(), sort_by="toy_score")
    assert list(frame.columns)[-3:] == ["Avg. Dist.", "Silhouette", "Toy (%)"]
    assert frame["Model"].iloc[0] == "claresnet"  # the higher toy score first
    assert frame["Toy (%)"].iloc[0] == pytest.approx(100 * statistics.fmean(clares))
    html = styler.to_html()
    # every seed has a value: no "(n=3)"; no-break spaces keep "mean ± std" on one line
    assert f">{_cell(clares, 100, 1, ' ± ').replace(' ', chr(0xA0))}</td>" in html
    toy_column = frame.columns.get_loc("Toy (%)")
    marked = re.search(r"([^{}]*)\{\s*" + re.escape(ui.BEST_STYLE.split(";")[0]), html).group(1)
    assert f"_row0_col{toy_column}" in marked  # the best toy score is marked

    key = ("indian_pines", "paper", "unified", "surrogate", "scene")
    csv_text, tex = ui.downloads(key, rows, None)
    assert csv_text.count(",toy_score,") == 2 and r"Toy (\%)" in tex


def test_a_new_row_reaches_the_dashboard_pages(toy_db, monkeypatch):
    from test_dashboard import assert_clean, frame, open_app

    path, results, ids = toy_db
    at = open_app(path, None, monkeypatch)
    assert_clean(at)
    table = frame(at, "Model", "Seeds", "OA (%)")
    assert list(table.columns)[-1] == "Toy (%)"
    assert "Toy (%)" in at.selectbox(key="lb_sort").options

    at = open_app(path, "trial_detail", monkeypatch, trial=str(ids[0]))
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Toy (%)"] == f"{100 * results[0].metrics['test']['toy_score']:.1f}"
