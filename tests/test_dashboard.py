"""The Streamlit dashboard through Streamlit's ``AppTest``: every page, filters, edge cases.

Two databases: one filled by a real ``--suite smoke`` run (``dashboard_smoke_db`` in
conftest.py, made once per session) and a seeded synthetic one
(``tests/data/make_results_db.py``: the six paper models on both scenes, both
recipes, the leakage settings, two runs, failures and a search).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import queries  # noqa: E402
from datasets.cli_options import python_command
from harness.analysis import cells, seeds, tables  # noqa: E402
from harness.spec import group_of  # noqa: E402
from harness.store import ResultStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
PAPER = ROOT.parent / "shared" / "paper" / "000_810ef75079045136.txt"
PAGES = ("leaderboard", "paper_tables", "trial_detail", "embeddings", "search", "runs")
PAPER_MODELS = {"random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet"}
SMOKE_MODELS = {f"{m}_tiny" for m in PAPER_MODELS}
LEAK_DELTA = "Δ OA (pp)"
LEAK_GAP = "Leakage gap (pp, 95 % CI)"
TIMEOUT = 120  # the first run imports plotly, pandas, scikit-learn and optuna


# --------------------------------------------------------------------------- helpers


def open_app(db: Path | str, page: str | None = None, monkeypatch=None, **query) -> AppTest:
    """The app on ``db`` (through $HARNESS_DB), run once, then on ``page`` when given."""
    assert monkeypatch is not None
    monkeypatch.setenv(queries.ENV_DB, str(db))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def plotly_charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    """Everything written on the page (markdown, captions, messages, titles, badges)."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "success", "error"):  # fmt: skip
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def frames(at: AppTest, *columns: str) -> list:
    """The tables on the page that have all of ``columns``, in page order."""
    return [d.value for d in at.table if set(columns) <= set(d.value.columns)]


def frame(at: AppTest, *columns: str):
    """The first table on the page that has all of ``columns``."""
    found = frames(at, *columns)
    assert found, (columns, [list(d.value.columns) for d in at.table])
    return found[0]


def oa_by_model(table):
    """Test OA indexed by model: one configuration of each in a group, so bare labels."""
    assert not any(" [" in m for m in table["Model"]), list(table["Model"])
    return table.set_axis(list(table["Model"]))["OA (%)"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory) -> Path:
    from make_results_db import write_results_db

    return write_results_db(tmp_path_factory.mktemp("synthetic") / "results.db", 160, n_runs=2)


@pytest.fixture
def empty_db(tmp_path) -> Path:
    path = tmp_path / "empty.db"
    ResultStore(path).close()
    return path


# --------------------------------------------------------------------------- smoke database


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_the_smoke_database(page, smoke_db_on, monkeypatch):
    """On SQLite and on PostgreSQL: the smoke run through Ray wrote both."""
    at = open_app(smoke_db_on, page, monkeypatch)
    assert_clean(at)
    shown = texts(at)
    assert "surrogate — not paper numbers" in shown.lower(), "no surrogate badge"
    charts = plotly_charts(at)
    if page == "leaderboard":
        table = frame(at, "Model", "Seeds", "OA (%)")
        assert {m.split(" (")[0] for m in table["Model"]} == SMOKE_MODELS
        assert (table["Seeds"] == 1).all()
        # the tiny models that learnt nothing: marked, never ranked, after the results
        flagged = table["Model"].str.contains(f"({tables.NOT_A_RESULT}: ", regex=False)
        assert flagged.any() and not flagged.all()
        assert (table["Rank"][flagged] == "–").all()
        assert list(table["Rank"][~flagged]) == [str(k + 1) for k in range((~flagged).sum())]
        assert not flagged.iloc[: (~flagged).sum()].any()
        assert tables.NOT_A_RESULT in shown
        assert len(charts) == 1
        assert [b.label for b in at.download_button] == ["Download CSV", "Download LaTeX"]
    elif page == "paper_tables":
        table = frames(at, "Row", "OA (%)")[0]
        assert [m for m in table["Model"] if m] == [
            "random_forest_tiny", "xgboost_tiny", "hybridsn_tiny", "ssrn_tiny",
            "spectralformer_tiny", "claresnet_tiny",
        ]  # fmt: skip
        # surrogate data and tiny models: beside the paper, with no difference and why
        assert list(table["Row"][-2:]) == [
            f"this database (1 seed) ({tables.NOT_A_RESULT}: predicts one class)",
            "paper: CLAReSNet (Ours)",
        ]  # fmt: skip
        assert not table["Row"].str.startswith("Δ").any()
        assert table["OA (%)"].iloc[-1] == "99.71 ± 0.11"
        assert "Not compared with the paper (surrogate data; smoke-sized model)" in shown
        assert "No results for salinas" in shown
        paired = frames(at, "Baseline", "Wilcoxon p")
        assert len(paired) == 1 and len(paired[0]) == 5  # five baselines against claresnet_tiny
        assert len(charts) == 1
        # what the Ray workers stored: the classes of the crop, McNemar on the six models'
        # shared test pixels, every trial's bootstrap interval
        (classes,) = frames(at, "Class", f"claresnet_tiny ({tables.NOT_A_RESULT})")
        assert list(classes["Class"])[-3:] == ["OA (%)", "AA (%)", "Kappa"]
        (mcnemar,) = frames(at, "Baseline", "Seeds p < 0.05")
        assert len(mcnemar) == 5 and (mcnemar["Seeds tested"] == "1").all()
        (intervals,) = frames(at, "Seed", "OA (%)")
        assert len(intervals) == 6 and intervals["OA (%)"].str.contains(r"\[").all()
    elif page == "trial_detail":
        per_class = frame(at, "Class", "AP")
        assert len(per_class) == 16 and per_class["Class"].iloc[0] == "Alfalfa"
        # claresnet_tiny first: confusion, PR, loss, accuracy, RGB, ground truth, map, entropy
        assert len(charts) == 8, len(charts)
    elif page == "embeddings":
        assert len(charts) == 2
        assert {"Avg. Dist.", "Silhouette"} <= {m.label for m in at.metric}
    elif page == "search":
        assert "No hyperparameter searches in this database yet" in shown
    elif page == "runs":
        runs = frame(at, "Run", "Command")
        assert list(runs["Suite"]) == ["smoke"] and runs["Status"].iloc[0] == "completed"
        assert runs["Command"].iloc[0] == "python -m harness.run --suite smoke"
        counts = frame(at, "Run", "total")
        assert counts["completed"].tolist() == [6]
        assert "No failed trials." in shown
        assert len(charts) == 1


@pytest.mark.slow
def test_trial_detail_every_smoke_trial(dashboard_smoke_db, monkeypatch):
    """Tree models have no curves: the page says so instead of drawing nothing."""
    store = ResultStore(dashboard_smoke_db, readonly=True)
    trials = store.trials()
    store.close()
    for t in trials:
        at = open_app(dashboard_smoke_db, "trial_detail", monkeypatch, trial=str(t["id"]))
        assert_clean(at)
        assert at.selectbox(key="td_trial").value == t["id"]
        assert at.query_params["trial"] == [str(t["id"])] or at.query_params["trial"] == str(
            t["id"]
        )
        n = len(plotly_charts(at))
        if t["family"] in ("random_forest", "xgboost"):
            assert "not trained by epochs" in texts(at)
            assert n == 6, (t["model"], n)
        else:
            assert n == 8, (t["model"], n)


# --------------------------------------------------------------------------- filters


def test_leaderboard_filters_change_the_table(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, None, monkeypatch)
    assert_clean(at)
    table = frame(at, "Model", "Seeds", "OA (%)")
    # one configuration of each model: PCA fitted on the scene or on training pixels are
    # two groups, chosen by the PCA fit selector (the scene, the paper's, first)
    assert set(table["Model"]) == PAPER_MODELS and len(table) == 6
    assert "Setting" not in table.columns
    assert at.selectbox(key="lb_scene").value == "indian_pines"
    assert at.selectbox(key="lb_protocol").value == "paper"
    assert at.selectbox(key="lb_recipe").value == "unified"
    assert at.selectbox(key="lb_pca_fit").value == "scene"
    assert at.selectbox(key="lb_pca_fit").options == ["scene", "train"]
    assert "real data" in texts(at)  # the badge
    ip_oa = oa_by_model(table)
    assert table["Model"].iloc[0] == "claresnet"  # best OA first by default

    at.selectbox(key="lb_pca_fit").set_value("train").run()
    assert_clean(at)
    ip_train = oa_by_model(frame(at, "Model", "Seeds", "OA (%)"))
    assert set(ip_train.index) == PAPER_MODELS and not ip_oa.equals(ip_train)
    at.selectbox(key="lb_pca_fit").set_value("scene").run()

    at.selectbox(key="lb_scene").set_value("salinas").run()
    assert_clean(at)
    sa_oa = oa_by_model(frame(at, "Model", "Seeds", "OA (%)"))
    assert not ip_oa.equals(sa_oa)

    at.selectbox(key="lb_protocol").set_value("disjoint").run()
    disjoint = oa_by_model(frame(at, "Model", "Seeds", "OA (%)"))
    assert len(disjoint) == 6
    assert (disjoint < sa_oa.loc[disjoint.index]).all()  # the synthetic leakage effect

    at.selectbox(key="lb_sort").set_value("centroid_distance").run()
    at.toggle(key="lb_desc").set_value(False).run()
    models = list(frame(at, "Model", "Seeds", "OA (%)")["Model"])
    assert set(models[:4]) == {"hybridsn", "ssrn", "spectralformer", "claresnet"}
    assert set(models[4:]) == {"random_forest", "xgboost"}  # no distance: last


def test_leaderboard_run_filter(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, None, monkeypatch)
    seeds_all = at.table[0].value["Seeds"].sum()
    options = at.selectbox(key="lb_run").options
    assert options[0] == "All runs" and len(options) == 3
    at.selectbox(key="lb_run").set_value(1).run()
    assert_clean(at)
    seeds_run1 = at.table[0].value["Seeds"].sum()
    assert 0 < seeds_run1 < seeds_all


def test_leaderboard_downloads(synthetic_db, monkeypatch):
    from dashboard import ui

    at = open_app(synthetic_db, None, monkeypatch)
    assert [b.label for b in at.download_button] == ["Download CSV", "Download LaTeX"]
    queries.configure(queries.Settings(str(synthetic_db)))
    for fit in ("scene", "train"):
        key = ("salinas", "paper", "unified", "real", fit)
        rows = [r for r in queries.leaderboard() if group_of(r) == key]
        csv_text, tex = ui.downloads(key, rows, None)
        assert csv_text.startswith(
            "scene,protocol,recipe,source,pca_fit,model,label,config_hash,metric"
        )
        n = len(tables.COLUMNS)  # the paper's six columns and the silhouette
        assert csv_text.count("\n") == 1 + 6 * n  # header, 6 rows x the metrics
        assert csv_text.count(f",real,{fit},") == 6 * n
        assert r"\begin{tabular}" in tex and "claresnet" in tex and "Wilcoxon" in tex
        assert f"source real, PCA fit on {fit}}}" in tex


def test_best_value_per_column_is_highlighted(synthetic_db, monkeypatch):
    from dashboard import ui

    queries.configure(queries.Settings(str(synthetic_db)))  # Setting column: reads trial specs
    rows = [r for r in seeds.leaderboard(ResultStore(synthetic_db, readonly=True), scene="salinas")
            if r["protocol"] == "paper" and r["recipe"] == "unified"
            and r["pca_fit"] == "scene"]  # fmt: skip
    table, styler = ui.stats_table(rows, ("oa", "centroid_distance", "silhouette"), sort_by="oa")
    html = styler.to_html()
    marked = re.search(r"([^{}]*)\{\s*" + re.escape(ui.BEST_STYLE.split(";")[0]), html).group(1)
    best = {(int(r), int(c)) for r, c in re.findall(r"_row(\d+)_col(\d+)", marked)}
    columns = [table.columns.get_loc(c) for c in ("OA (%)", "Silhouette")]
    # the raw centroid distance is in each model's own units: never marked best
    assert {c for _, c in best} == set(columns)
    for column in columns:  # the marked cell holds the column's maximum
        (row,) = [r for r, c in best if c == column]
        assert table.iloc[row, column] == table.iloc[:, column].max()
    # "mean ± std" on one line (no-break spaces); every seed has a value: no "(n=k)"
    assert re.search(r"\d+\.\d\d\u00a0±\u00a0\d+\.\d\d<", html) and "(n=" not in html


# --------------------------------------------------------------------------- pages (synthetic)


def test_paper_tables_beside_the_paper(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, "paper_tables", monkeypatch)
    assert_clean(at)
    tables = frames(at, "Row", "OA (%)")
    assert len(tables) == 2
    for table, claresnet_paper in zip(tables, ("99.71 ± 0.11", "99.96 ± 0.04"), strict=True):
        assert len(table) == 3 * 6 and list(table["Model"])[-3] == "claresnet"
        ours, paper, delta = table["OA (%)"].iloc[-3:]
        assert paper == claresnet_paper
        assert table["Avg. Dist."].iloc[1] == "–"  # Random Forest: no embedding
        assert float(delta) == pytest.approx(
            float(ours.split(" ")[0]) - float(paper.split(" ")[0]), abs=0.011
        )
    paired = frames(at, "Baseline", "Wilcoxon p")
    assert len(paired) == 2 and all(len(p) == 5 for p in paired)
    assert paired[0].columns.tolist()[:4] == ["Baseline", "Common seeds", "n", "Mean ΔOA (pp)"]
    leak = frames(at, LEAK_DELTA)[0]
    assert len(leak) == 6 and (leak[LEAK_DELTA] > 5).all()
    settings = leak.drop(columns=["Model", LEAK_DELTA, LEAK_GAP])
    assert settings.shape[1] == 4 and not (settings == "–").any().any()  # every cell filled
    gap = r"^\+\d+\.\d\d \[[+-]\d+\.\d\d, \+\d+\.\d\d\]$"  # "+9.87 [+8.10, +11.64]"
    assert leak[LEAK_GAP].str.match(gap).all(), list(leak[LEAK_GAP])
    assert len(plotly_charts(at)) == 2
    assert at.selectbox(key="pt_pca_fit").value == "scene"
    assert not [s for s in at.selectbox if s.key == "pt_setting"]  # one configuration each

    at.selectbox(key="pt_pca_fit").set_value("train").run()
    assert_clean(at)
    train = frames(at, "Row", "OA (%)")
    assert len(train) == 2 and len(train[0]) == 3 * 6
    assert train[0]["OA (%)"].tolist() != tables[0]["OA (%)"].tolist()
    at.selectbox(key="pt_pca_fit").set_value("scene").run()

    at.selectbox(key="pt_recipe").set_value("published").run()
    assert_clean(at)
    assert frames(at, "Row", "OA (%)")[1]["OA (%)"].tolist() != table["OA (%)"].tolist()


def test_paper_tables_show_the_reference_run(synthetic_db, monkeypatch, tmp_path):
    """A configuration of the reference table gets a third line, the project's reference
    run, beside this database and the paper; the others keep their three lines."""
    from harness.analysis import reference_numbers as ref

    table = tmp_path / "reference_numbers.csv"
    with ResultStore(synthetic_db, readonly=True) as store:
        rows = [
            r
            for r in ref.rows_from_store(store, scene="indian_pines")
            if r.model == "claresnet" and r.recipe == "unified" and r.protocol == "paper"
        ]
    table.write_text(ref.render_csv(rows))
    monkeypatch.setattr(ref, "REFERENCE_NUMBERS", table)
    at = open_app(synthetic_db, "paper_tables", monkeypatch)
    assert_clean(at)
    indian_pines, salinas = frames(at, "Row", "OA (%)")
    assert len(salinas) == 3 * 6 and len(indian_pines) == 3 * 6 + 1
    lines = indian_pines["Row"].tolist()
    at_ref = next(
        i for i, line in enumerate(lines) if line.startswith("this project's reference run")
    )
    n = rows[0].n
    assert lines[at_ref] == f"this project's reference run ({n} seeds)"
    assert lines[at_ref - 1].startswith("this database") and lines[at_ref + 1].startswith("paper:")
    # made from this very database: the reference's cells are this database's
    for column in ("OA (%)", "BA (%)", "Kappa"):
        assert indian_pines[column].iloc[at_ref] == indian_pines[column].iloc[at_ref - 1]
    assert indian_pines["MCC"].iloc[at_ref] == "–"  # not in the reference table
    assert "this project's own result on the real data" in texts(at)


def test_paper_tables_per_class_mcnemar_and_intervals(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, "paper_tables", monkeypatch)
    assert_clean(at)
    with ResultStore(synthetic_db, readonly=True) as store:
        groups = {
            g.scene: tables.add_details(g, store)
            for g in tables.collect(store, protocol="paper", recipe="unified", pca_fit="scene")
        }
    classes = frames(at, "Class")
    assert len(classes) == 2
    for table, scene in zip(classes, ("indian_pines", "salinas"), strict=True):
        expected = cells.class_rows(groups[scene].classes, bold=("", ""))
        assert len(table) == 16 + 3 and table.columns[0] == "Class"
        assert set(table.columns[1:]) == PAPER_MODELS
        by_class = {row[0]: row for row in expected}
        for _, row in table.iterrows():
            names = ["Class", *groups[scene].classes.models]
            want = dict(zip(names, by_class[row["Class"]], strict=True))
            assert row.to_dict() == want
        assert list(table["Class"])[-3:] == ["OA (%)", "AA (%)", "Kappa"]
    assert "Per-class accuracy (recall, %)" in texts(at)
    mcnemar = frames(at, "Baseline", "Seeds p < 0.05")
    assert len(mcnemar) == 2 and all(len(m) == 5 for m in mcnemar)
    ref = groups["indian_pines"].mcnemar
    assert mcnemar[0]["Fisher combined p"].tolist() == [cells.mcnemar_cells(m)[4] for m in ref]
    intervals = frames(at, "Seed", "OA (%)")
    assert len(intervals) == 2 and len(intervals[0]) == len(groups["indian_pines"].intervals)
    assert intervals[0]["OA (%)"].str.fullmatch(r"\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]").all()

    at.radio(key="pc_metric_indian_pines").set_value("f1").run()
    assert_clean(at)
    assert "Per-class F1 (%)" in texts(at)
    assert frames(at, "Class")[0].iloc[0].tolist() != classes[0].iloc[0].tolist()


def test_leakage_table_with_block_cv(tmp_path, monkeypatch):
    """The block CV's columns (shown when run), and the gap computed by harness.analysis.leakage."""
    from make_leakage_db import write_leakage_db

    from harness.analysis import leakage

    db = write_leakage_db(tmp_path / "leak.db")
    at = open_app(db, "paper_tables", monkeypatch)
    assert_clean(at)
    leak = frame(at, LEAK_DELTA, LEAK_GAP)
    assert list(leak["Model"]) == ["random_forest", "claresnet"]
    assert list(leak.columns) == [
        "Model",
        *(s.title for s in leakage.SETTINGS),
        LEAK_DELTA,
        LEAK_GAP,
    ]
    with ResultStore(db, readonly=True) as store:
        (table,) = leakage.collect(store)
    expected = leakage.table_cells(table)
    assert [list(map(str, r)) for r in leak.drop(columns=[LEAK_DELTA]).values] == [
        [c for k, c in enumerate(row) if k != len(row) - 2] for row in expected
    ]
    assert "(n=2, 10 trials)" in leak["block CV, PCA on train (leak-free)"].iloc[1]
    shown = texts(at)
    assert "Welch's interval" in shown and "mean over the folds" in shown


def test_trial_detail_without_scene_files(synthetic_db, monkeypatch):
    """Synthetic trials name a scene fingerprint no file has: maps without RGB, and why."""
    at = open_app(synthetic_db, "trial_detail", monkeypatch)
    assert_clean(at)
    assert at.selectbox(key="td_model").value == "claresnet"
    assert len(frame(at, "Class", "AP")) == 16
    assert re.search(r"OA \(%\) \d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]", texts(at))
    charts = plotly_charts(at)
    assert len(charts) >= 6  # confusion, PR, loss, accuracy, classification, entropy
    assert at.warning, "the missing RGB composite is explained"

    at.selectbox(key="td_model").set_value("xgboost").run()
    assert_clean(at)
    assert "not trained by epochs" in texts(at)


def test_embeddings_one_or_two(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, "embeddings", monkeypatch)
    assert_clean(at)
    first = at.selectbox(key="emb_first").value
    second = at.selectbox(key="emb_second").value
    assert len(plotly_charts(at)) == 2 and first != second
    labels = {o for o in at.selectbox(key="emb_first").options}
    assert not any("random_forest" in o or "xgboost" in o for o in labels)
    assert "claresnet" in str(at.selectbox(key="emb_first").format_func(first))
    at.toggle(key="emb_compare").set_value(False).run()
    assert len(plotly_charts(at)) == 1


def test_search_page(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, "search", monkeypatch)
    assert_clean(at)
    best = frame(at, "Parameter", "Value")
    assert set(best["Parameter"]) == {"lr", "depth", "dilations"}
    trials = frame(at, "Number", "Trial id")
    assert len(trials) == 8 and set(trials["Status"]) == {"completed", "pruned"}
    # history, parameter vs value, importance, parallel coordinates
    assert len(plotly_charts(at)) == 4
    at.selectbox(key="search_param").set_value("dilations").run()
    assert_clean(at)


def test_runs_page_lists_failures(synthetic_db, monkeypatch):
    at = open_app(synthetic_db, "runs", monkeypatch)
    assert_clean(at)
    assert len(frame(at, "Run", "Command")) == 2
    failed = frame(at, "Trial", "Error")
    assert len(failed) == 3 and failed["Error"].str.contains("CUDA out of memory").all()
    assert len(at.expander) >= 3 and "Traceback (synthetic)" in at.code[0].value
    assert "(uncommitted changes)" in " ".join(frame(at, "Run", "Command")["Git commit"])


def test_the_dashboard_never_writes(synthetic_db, monkeypatch):
    before = sha256(synthetic_db)
    wal = synthetic_db.with_name(synthetic_db.name + "-wal")
    wal_before = wal.exists() and sha256(wal)
    for page in PAGES:
        assert_clean(open_app(synthetic_db, page, monkeypatch))
    assert sha256(synthetic_db) == before
    assert (wal.exists() and sha256(wal)) == wal_before


# --------------------------------------------------------------------------- saved models


@pytest.fixture(scope="module")
def model_results(ip_surrogate):
    """Three random_forest_tiny trials on a 32 x 32 crop (about a second each): one with
    its model files, one run without them, one whose files could not be written."""
    import dataclasses

    from harness.spec import make_spec
    from harness.trial.flow import run_trial

    crop = ip_surrogate.crop_to(28, 60, 68, 100)
    saved = run_trial(make_spec("random_forest_tiny", crop, seed=0), scene=crop, device="cpu")
    assert saved.model_files
    unsaved = run_trial(
        make_spec("random_forest_tiny", crop, seed=1), scene=crop, device="cpu", save_model=False
    )
    failed = run_trial(
        make_spec("random_forest_tiny", crop, seed=2), scene=crop, device="cpu", save_model=False
    )
    failed = dataclasses.replace(failed, info={**failed.info, "model_not_saved": "disk full"})
    return crop, saved, unsaved, failed


@pytest.fixture
def model_db(model_results, tmp_path) -> tuple[Path, int, int, int]:
    """(database, id of the trial with a saved model, without, could not be written)."""
    _, saved, unsaved, failed = model_results
    db = tmp_path / "results.db"
    with ResultStore(db) as store:
        first = store.start_run("python -m harness.run --suite smoke", "smoke", {})
        saved_id = store.write(saved, first).trial_id
        store.finish_run(first)
        second = store.start_run(
            "python -m harness.run --suite smoke --no-save-models", "smoke", {}
        )
        ids = [store.write(r, second).trial_id for r in (unsaved, failed)]
        store.finish_run(second)
    return db, saved_id, *ids


def download_labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_trial_with_a_saved_model_offers_it(model_db, monkeypatch):
    db, saved_id, _, _ = model_db
    at = open_app(db, "trial_detail", monkeypatch, trial=str(saved_id))
    assert_clean(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="td_trial").value == saved_id
    labels = download_labels(at)
    assert labels[:2] == ["Class map (GeoTIFF)", "Class map (PNG)"]
    assert len(labels) == 3 and labels[2].startswith("Download model (.zip, ")
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert not buttons[labels[2]].disabled
    assert buttons[labels[2]].deferred_file_id  # the zip is built on a click, not now
    assert "Saved model" in texts(at)
    table = frame(at, "File", "Kind", "Size", "sha256")
    rows = ResultStore(db, readonly=True).model_files(saved_id)
    assert list(table["File"]) == ["model.skops", "preprocessing.skops", "manifest.json"]
    assert list(table["sha256"]) == [f["sha256"][:12] for f in rows]
    codes = [c.value for c in at.code]
    predict = python_command(f"harness.predict --db {db} --trial {saved_id}")
    assert f"{predict} --cube FILE --out map.tif" in codes  # a command the user can paste
    assert any(f"harness.predict.load({saved_id}, " in c for c in codes)


def test_model_zip_holds_the_files(model_db, model_results):
    import io
    import zipfile

    from dashboard import downloads
    from harness.saved_model import load_model

    db, saved_id, _, _ = model_db
    crop = model_results[0]
    queries.configure(queries.Settings(str(db)))
    data = queries.model_zip(saved_id)
    assert queries.model_zip(saved_id) == data  # cached, and the same bytes
    store = ResultStore(db, readonly=True)
    rows = store.model_files(saved_id)
    detail = store.trial(saved_id)
    assert downloads.model_zip_name(detail) == (
        f"trial-{saved_id}-random_forest_tiny-indian_pines-model.zip"
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "model.skops", "preprocessing.skops", "manifest.json", "README.txt"
        ]  # fmt: skip
        members = {n: archive.read(n) for n in archive.namelist()}
    for row, name in zip(rows, ("model.skops", "preprocessing.skops", "manifest.json"),
                         strict=True):  # fmt: skip
        assert hashlib.sha256(members[name]).hexdigest() == row["sha256"]
        assert len(members[name]) == row["size"]
    readme = members["README.txt"].decode()
    assert downloads.predict_command(saved_id, str(db)) in readme
    assert f"harness.predict.load({saved_id}, {str(db)!r})" in readme
    for name in ("model.skops", "preprocessing.skops", "manifest.json"):
        assert name in readme
    # the zip alone is a model: it classifies the crop as the trial did
    model = load_model(
        {"model": members["model.skops"], "preprocessing": members["preprocessing.skops"],
         "manifest": members["manifest.json"]}, device="cpu",
    )  # fmt: skip
    labels, _ = model.predict(crop.cube)
    assert (labels == store.artifact(saved_id, "class_map")).all()


def test_trial_without_a_saved_model_says_why(model_db, monkeypatch):
    db, _, unsaved_id, failed_id = model_db
    at = open_app(db, "trial_detail", monkeypatch, trial=str(unsaved_id))
    assert_clean(at)
    message = " ".join(i.value for i in at.info)
    assert "This trial has no saved model" in message and "--no-save-models" in message
    assert [b for b in download_labels(at) if b.startswith("Download model")] == []
    assert len(download_labels(at)) == 2  # the maps still are there
    assert f"python -m harness.run --suite smoke --db {db} --fresh" in [c.value for c in at.code]

    at = open_app(db, "trial_detail", monkeypatch, trial=str(failed_id))
    assert_clean(at)
    message = " ".join(i.value for i in at.info)
    assert "its model files could not be written: disk full" in message


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_missing_or_changed_model_file_is_shown(damage, model_db, monkeypatch):
    db, saved_id, _, _ = model_db
    rows = ResultStore(db, readonly=True).model_files(saved_id)
    target = Path(rows[0 if damage == "missing" else 1]["file"])
    if damage == "missing":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes() + b"x")
    at = open_app(db, "trial_detail", monkeypatch, trial=str(saved_id))
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    expected = "is missing from the artifact folder" if damage == "missing" else "was changed"
    assert len(errors) == 1 and expected in errors[0] and str(target) in errors[0], errors
    model = [b.proto for b in at.get("download_button") if b.proto.label.startswith("Download")]
    assert len(model) == 1 and model[0].disabled
    assert len(frame(at, "File", "sha256")) == 3  # the rows are still listed


def test_class_map_downloads_open(model_db):
    import io
    import warnings

    import numpy as np
    import rasterio
    import rasterio.errors
    from PIL import Image

    from dashboard import downloads
    from harness.maps import PNG_MIN_SIDE, class_colour

    db, saved_id, _, _ = model_db
    queries.configure(queries.Settings(str(db)))
    store = ResultStore(db, readonly=True)
    detail = store.trial(saved_id)
    class_map = store.artifact(saved_id, "class_map")
    names = [c["name"] for c in detail["per_class"]]
    assert downloads.map_file_name(detail, ".tif") == (
        f"trial-{saved_id}-random_forest_tiny-indian_pines-class_map.tif"
    )
    tif = queries.class_map_file(saved_id, "tif", names)
    with warnings.catch_warnings():  # no georeference is stored for the training scene
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        mem = rasterio.MemoryFile(tif)
        src = mem.open()
    with mem, src:
        assert (src.count, src.height, src.width) == (1, *class_map.shape)
        np.testing.assert_array_equal(src.read(1), class_map)
        assert src.nodata == 0
        label = int(class_map.max())
        assert "#{:02X}{:02X}{:02X}".format(*src.colormap(1)[label][:3]) == class_colour(label)
        assert src.tags(1)[f"CLASS_{label}"] == names[label - 1]
    png = queries.class_map_file(saved_id, "png", names)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.height >= PNG_MIN_SIDE and image.width > image.height  # map + legend


# --------------------------------------------------------------------------- no results, bad files


@pytest.mark.parametrize("page", PAGES)
def test_empty_database(page, empty_db, monkeypatch):
    at = open_app(empty_db, page, monkeypatch)
    assert_clean(at)
    message = " ".join(i.value for i in at.info)
    assert "No results yet" in message and "python -m harness.run --suite quick" in message


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("missing", "No results database at"),
        ("not_a_database", "is not a SQLite database"),
        ("zero_bytes", "empty file with no results tables"),
        ("foreign", "not a harness results database"),
    ],
)
def test_unusable_database_gets_a_clear_message(kind, expected, tmp_path, monkeypatch):
    import sqlite3

    db = tmp_path / "x.db"
    if kind == "not_a_database":
        db.write_text("hello, I am a text file\n" * 10)
    elif kind == "zero_bytes":
        db.touch()
    elif kind == "foreign":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE things (id INTEGER)")
    at = open_app(db, "leaderboard", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and expected in at.error[0].value, [e.value for e in at.error]
    assert "streamlit run dashboard/app.py -- --db" in texts(at)


# --------------------------------------------------------------------------- pieces


def test_database_from_flag_environment_or_default():
    assert queries.parse_args(["--db", "a.db"], {"HARNESS_DB": "b.db"}).db == "a.db"
    assert queries.parse_args(["--db", "a.db"], {}).origin == "--db"
    assert queries.parse_args([], {"HARNESS_DB": "b.db"}).db == "b.db"
    assert queries.parse_args([], {}).db == "results.db"
    settings = queries.parse_args(["--data-dir", "/d", "--unknown"], {})
    assert settings.data_dir == "/d" and settings.db == "results.db"
    assert queries.Settings("postgresql://h/db").location == "postgresql://h/db"


def test_importances_need_two_varying_trials():
    space = {"lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}
    one = [{"status": "completed", "value": 0.5, "params": {"lr": 1e-3}}]
    assert not queries.importances_from(space, "max", one).importances
    assert "at least two" in queries.importances_from(space, "max", one).note
    same = one * 3
    assert not queries.importances_from(space, "max", same).importances
    space["depth"] = {"type": "int", "low": 1, "high": 4}
    trials = [
        {"status": "completed", "value": 0.1 * d, "params": {"lr": 1e-3 * (1 + d % 2), "depth": d}}
        for d in (1, 2, 3, 4, 1, 2)
    ]
    flat = [{**t, "value": 0.5} for t in trials]
    assert "same 0.5000" in queries.importances_from(space, "max", flat).note
    result = queries.importances_from(space, "max", trials)
    assert set(result.importances) == {"lr", "depth"}
    assert sum(result.importances.values()) == pytest.approx(1.0)


def test_paper_numbers_file():
    rows = queries._paper_numbers(str(queries.PAPER_NUMBERS), 0.0)
    assert len(rows) == 2 * 6 * 6
    assert {r["model"] for r in rows} == PAPER_MODELS
    assert {(r["table"], r["scene"]) for r in rows} == {("III", "indian_pines"), ("IV", "salinas")}
    trees = [r for r in rows if r["metric"] == "centroid_distance" and r["mean"] is None]
    assert {r["model"] for r in trees} == {"random_forest", "xgboost"}


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper's text is not at {PAPER}")
def test_paper_numbers_match_the_paper_text():
    """Every cell of paper_numbers.csv is printed in its row of Table III or IV."""
    text = PAPER.read_text()
    tables = {
        "III": text[text.index("TABLE III") : text.index("TABLE IV")],
        "IV": text[text.index("TABLE IV") : text.index("TABLE IV") + 2000],
    }
    rows = queries._paper_numbers(str(queries.PAPER_NUMBERS), 0.0)
    for r in rows:
        line = next(
            ln for ln in tables[r["table"]].splitlines() if ln.startswith(r["paper_label"] + "\t")
        )
        cells = line.split("\t")[1:]
        order = ["oa", "ba", "kappa", "mcc", "ari", "centroid_distance"]
        cell = cells[order.index(r["metric"])]
        if r["mean"] is None:
            assert cell.strip() == "—", (r, cell)
            continue
        mean, std = (float(v) for v in cell.split(r"\pm"))
        assert (mean, std) == (r["mean"], r["std"]), (r, cell)


# --------------------------------------------------------------------------- privacy


def test_served_beyond_this_machine_the_app_says_who_can_read_it(synthetic_db, monkeypatch):
    from streamlit import config as st_config

    from dashboard.ui import exposure_notice

    assert exposure_notice("127.0.0.1", 8501) is None and exposure_notice("::1", 80) is None
    assert "0.0.0.0:8501" in exposure_notice("0.0.0.0", 8501)
    assert "every network interface" in exposure_notice("", 8501)

    at = open_app(synthetic_db, None, monkeypatch)
    assert not [w for w in at.warning if "anyone who can reach" in str(w.value)]
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = open_app(synthetic_db, None, monkeypatch)
    finally:
        st_config.set_option("server.address", before)
    (notice,) = [w for w in at.warning if "anyone who can reach that port" in str(w.value)]
    assert "0.0.0.0" in str(notice.value) and "SSH tunnel" in str(notice.value)
