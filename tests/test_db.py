"""Schema revisions: the revisions build the models' schema, a new database is stamped,
an older one is refused and upgraded (``python -m harness.db upgrade``), on SQLite and
on PostgreSQL, and a failed upgrade changes nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from harness.store import ResultStore, StoreError, migrate
from harness.store.engine import resolve_target
from harness.store.schema import Base

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data"))

from make_store_v1 import FAILED, SEEDS, STUDY_TRIALS, write_store_v1  # noqa: E402

from harness.analysis import seeds  # noqa: E402

HEAD = migrate.head_revision()


def run_db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.db", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def engine_of(db: str):
    url, _path = resolve_target(db)
    return create_engine(url)


@contextmanager
def connected(db: str):
    engine = engine_of(db)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def schema_diff(db: str) -> list:
    """Alembic's own comparison of the database with ``Base.metadata``."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with connected(db) as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)  # fmt: skip


def query(db: str, sql: str) -> list[tuple]:
    with connected(db) as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def tables(db: str) -> set[str]:
    with connected(db) as conn:
        return set(inspect(conn).get_table_names())


def columns(db: str, table: str) -> set[str]:
    with connected(db) as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


# --------------------------------------------------------------------------- revisions


def test_the_revisions_build_exactly_the_models_schema(db_url):
    from alembic import command

    engine = engine_of(db_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "head")
    engine.dispose()
    assert schema_diff(db_url) == []
    assert query(db_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert query(db_url, "SELECT schema_version FROM schema_info") == [(1,)]
    ResultStore(db_url).close()  # and the store opens it as its own


def test_a_new_database_is_created_at_head(db_url):
    with ResultStore(db_url) as store:
        assert store.trials() == []
    assert schema_diff(db_url) == []
    assert query(db_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert run_db("current", "--db", db_url).stdout.count("Up to date") == 1


def test_history_lists_every_revision_oldest_first():
    out = run_db("history")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["0001", "0002", "0003"]
    assert "Baseline" in lines[0] and "pca_fit" in lines[1]


# --------------------------------------------------------------------------- version 1


def test_a_version_1_database_upgrades_and_is_read_by_report_and_dashboard(db_url, monkeypatch):
    counts = write_store_v1(db_url)
    assert "alembic_version" not in tables(db_url) and "pca_fit" not in columns(db_url, "trials")
    n_trials = query(db_url, "SELECT COUNT(*) FROM trials")[0][0]
    n_metrics = query(db_url, "SELECT COUNT(*) FROM metrics")[0][0]
    n_artifacts = query(db_url, "SELECT COUNT(*) FROM artifacts")[0][0]

    # refused, naming the command, by writers and readers alike
    for readonly in (False, True):
        with pytest.raises(StoreError) as info:
            ResultStore(db_url, readonly=readonly)
        message = str(info.value)
        assert "older schema" in message and "schema version 1 (before migrations)" in message
        assert "python -m harness.db upgrade --db" in message
    report = subprocess.run(
        [sys.executable, "-m", "harness.report", "--db", db_url],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert report.returncode == 2 and "python -m harness.db upgrade" in report.stderr

    current = run_db("current", "--db", db_url)
    assert current.returncode == 0 and f"Needs an upgrade to revision {HEAD}" in current.stdout

    out = run_db("upgrade", "--db", db_url)
    assert out.returncode == 0, out.stderr
    assert f"from schema version 1 (before migrations) to revision {HEAD}" in out.stdout

    # the schema is the models' schema, and no row was lost
    assert schema_diff(db_url) == []
    assert query(db_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert query(db_url, "SELECT COUNT(*) FROM trials")[0][0] == n_trials
    assert query(db_url, "SELECT COUNT(*) FROM metrics")[0][0] == n_metrics
    assert query(db_url, "SELECT COUNT(*) FROM artifacts")[0][0] == n_artifacts
    by_scope = dict(query(db_url, "SELECT pca_fit, COUNT(*) FROM trials GROUP BY pca_fit"))
    assert by_scope == {"train": 6 * SEEDS, "scene": 6 * SEEDS + FAILED + STUDY_TRIALS}
    assert sum(counts.values()) == n_trials

    if "://" not in db_url:  # SQLite: the file as it was is kept beside it
        backup = Path(db_url + ".bak-v1")
        assert str(backup) in out.stdout
        with sqlite3.connect(backup) as raw:
            names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
            assert "alembic_version" not in names
            assert raw.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == n_trials

    again = run_db("upgrade", "--db", db_url)
    assert again.returncode == 0 and "already at the newest revision" in again.stdout

    # the report reads it
    report = subprocess.run(
        [sys.executable, "-m", "harness.report", "--db", db_url],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    for model in ("random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet"):
        assert f"| {model}" in report.stdout
    for fit in ("scene", "train"):  # the column revision 0002 filled: one table each
        assert f"source real · PCA fit on {fit}\n" in report.stdout

    # and the dashboard does: the leaderboard, the paper's tables (leakage), a trial
    from test_dashboard import assert_clean, open_app, texts

    with ResultStore(db_url, readonly=True) as store:
        board = seeds.leaderboard(store)
        trial_id = store.trials(status="completed")[0]["id"]
    assert {row["model"] for row in board} >= {"claresnet", "random_forest"}
    for page in ("leaderboard", "paper_tables", "search"):
        at = open_app(db_url, page, monkeypatch)
        assert_clean(at)
    at = open_app(db_url, "trial_detail", monkeypatch, trial=str(trial_id))
    assert_clean(at)
    assert "indian_pines" in texts(at)


def test_revision_0003_adds_the_model_files_table(db_url, shared_data, tmp_path):
    """A database at revision 0002 (a version-1 file upgraded that far) gains
    ``model_files``: no row lost, old trials without a saved model, new trials
    stored with theirs."""
    from harness.suites import SuiteOptions, get_suite
    from harness.trial.flow import run_trial

    write_store_v1(db_url)
    migrate.upgrade(str(db_url), "0002")
    assert query(db_url, "SELECT version_num FROM alembic_version") == [("0002",)]
    assert "model_files" not in tables(db_url)
    n_trials = query(db_url, "SELECT COUNT(*) FROM trials")[0][0]

    current = run_db("current", "--db", str(db_url))
    assert "Needs an upgrade to revision 0003" in current.stdout, current.stdout
    out = run_db("upgrade", "--db", str(db_url))
    assert out.returncode == 0 and "to revision 0003" in out.stdout, out.stdout + out.stderr
    assert schema_diff(db_url) == []
    assert query(db_url, "SELECT COUNT(*) FROM trials")[0][0] == n_trials
    assert query(db_url, "SELECT COUNT(*) FROM model_files") == [(0,)]

    spec = get_suite("smoke").build(
        SuiteOptions(data_dir=str(shared_data), models=("random_forest_tiny",))
    )[0]
    result = run_trial(spec, data_dir=str(shared_data))
    with ResultStore(db_url, artifacts=tmp_path / "artifacts") as store:
        old = store.trials(status="completed")[0]["id"]
        with pytest.raises(StoreError, match="has no saved model"):
            store.read_model_files(old)
        new = store.write(result).trial_id
        assert set(store.read_model_files(new)) == {"model", "preprocessing", "manifest"}
    kinds = query(db_url, f"SELECT kind FROM model_files WHERE trial_id = {new} ORDER BY kind")
    assert kinds == [("manifest",), ("model",), ("preprocessing",)]


def test_a_failed_upgrade_changes_nothing(db_url, monkeypatch):
    write_store_v1(db_url)

    def refuse(connection, location):
        raise RuntimeError("injected failure after the last revision")

    monkeypatch.setattr(migrate, "_check_keys", refuse)
    with pytest.raises(migrate.UpgradeError) as info:
        migrate.upgrade(db_url)
    assert "rolled back" in str(info.value) and "injected failure" in str(info.value)
    assert "alembic_version" not in tables(db_url)
    assert not any(name.startswith("_alembic") for name in tables(db_url))
    assert "pca_fit" not in columns(db_url, "trials")
    if "://" not in db_url:
        assert not Path(db_url + ".bak-v1").exists()  # no copy of an unchanged database
    monkeypatch.undo()
    assert migrate.upgrade(db_url).after == HEAD


def test_an_existing_backup_is_never_overwritten(tmp_path):
    db = str(tmp_path / "results.db")
    write_store_v1(db)
    backup = Path(db + ".bak-v1")
    backup.write_text("an earlier copy\n")
    out = run_db("upgrade", "--db", db)
    assert out.returncode == 2
    assert str(backup) in out.stderr and "Move it" in out.stderr
    assert backup.read_text() == "an earlier copy\n"
    assert "alembic_version" not in tables(db)


def test_a_database_from_a_newer_harness_is_refused(db_url):
    ResultStore(db_url).close()
    engine = engine_of(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer harness.*f00dcafe.*git pull"):
        ResultStore(db_url, readonly=True)
    out = run_db("upgrade", "--db", db_url)
    assert out.returncode == 2 and "newer harness" in out.stderr and "git pull" in out.stderr


def test_upgrade_errors_name_the_database(tmp_path):
    missing = tmp_path / "nowhere.db"
    out = run_db("upgrade", "--db", str(missing))
    assert out.returncode == 2 and f"No results database at {missing}" in out.stderr
    assert not missing.exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    out = run_db("upgrade", "--db", str(other))
    assert out.returncode == 2 and "not a harness results database" in out.stderr
