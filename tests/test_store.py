"""The results store: round trips, idempotence, atomic writes, concurrency, clear errors."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import statistics
import warnings

import numpy as np
import pytest
from sqlalchemy import event, func, select

from harness.analysis import seeds
from harness.provenance import collect_provenance
from harness.result import TrialResult
from harness.spec import TrainingConfig, TrialSpec, config_hash, group_fields, group_of, make_spec
from harness.store import ResultStore, StoreError, artifact_codec
from harness.store import writer as writer_module
from harness.store.schema import SCHEMA_VERSION, ArtifactRow, ClassMetricRow, MetricRow, TrialRow

# --------------------------------------------------------------------------- fixtures


def make_test_spec(
    model: str = "claresnet",
    seed: int = 0,
    *,
    scene: str = "indian_pines",
    protocol: str = "paper",
    recipe: str = "unified",
    source: str = "surrogate",
    epochs: int = 1,
    study: str = "",
    pca_fit: str = "scene",
) -> TrialSpec:
    """A resolved spec built by hand (no scene files needed)."""
    return TrialSpec(
        model=model,
        recipe=recipe,
        hparams={"depth": 2},
        scene=scene,
        source=source,
        scene_fingerprint=f"{scene}-{source}-fingerprint",
        protocol=protocol,
        protocol_params={"train": 0.1},
        seed=seed,
        n_components=30,
        pca_fit=pca_fit,
        scale="standard",
        whiten=False,
        patch_size=11,
        pad_mode="reflect",
        training=TrainingConfig(epochs=epochs),
        crop=(0, 40, 0, 40),
        study=study,
    )


def full_result(spec: TrialSpec, oa: float = 0.9, rng_seed: int = 0) -> TrialResult:
    """A completed result with every field filled with small synthetic arrays."""
    rng = np.random.default_rng(rng_seed)
    n_classes = 3
    return TrialResult(
        spec=spec,
        metrics={
            "test": {
                "oa": oa,
                "ba": oa - 0.01,
                "kappa": oa - 0.1,
                "mcc": oa - 0.09,
                "ari": 0.7,
                "macro_f1": 0.8,
                "aa": 0.85,
                "centroid_distance": 3.5,
            },
            "val": {"oa": oa - 0.02, "ba": 0.8},
        },
        per_class=[
            {
                "label": k + 1,
                "name": f"class {k + 1}",
                "precision": 0.5 + 0.1 * k,
                "recall": 0.6,
                "f1": 0.55,
                "ap": None if k == 2 else 0.7,
                "support": 10 * (k + 1),
            }
            for k in range(n_classes)
        ],
        confusion=rng.integers(0, 50, size=(n_classes, n_classes)).astype(np.int64),
        pr_curves={
            k + 1: (
                rng.random(7).astype(np.float32),
                np.linspace(1, 0, 7, dtype=np.float32),
            )
            for k in range(n_classes)
        },
        embedding_2d=rng.normal(size=(20, 2)).astype(np.float32),
        embedding_labels=rng.integers(1, n_classes + 1, size=20),
        class_map=rng.integers(0, n_classes + 1, size=(8, 9)).astype(np.int16),
        entropy_map=rng.random((8, 9)).astype(np.float16),
        curves={
            "train_loss": [1.0, 0.5, 0.25],
            "val_acc": [0.5, 0.7, 0.8],
            "lr": [1e-4, 1e-4, 5e-5],
        },
        info={
            "fit_seconds": 1.25,
            "inference_seconds": 0.5,
            "n_parameters": np.int64(12345),
            "device": "cpu",
            "peak_memory_bytes": None,
            "best_epoch": 2,
            "nan_value": float("nan"),
        },
        split_counts=rng.integers(0, 30, size=(n_classes, 4)).astype(np.int64),
        test_predictions={
            "index": np.arange(0, 60, 2, dtype=np.int64),
            "truth": rng.integers(1, n_classes + 1, size=30).astype(np.int16),
            "pred": rng.integers(1, n_classes + 1, size=30).astype(np.int16),
        },
    )


def metric_result(spec: TrialSpec, **test: float | None) -> TrialResult:
    return TrialResult(spec=spec, metrics={"test": dict(test)})


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "results.db"


@pytest.fixture
def store(db_url):
    """A new store on each backend (SQLite file, PostgreSQL database: conftest.db_url)."""
    with ResultStore(db_url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(db_path):
    with ResultStore(db_path) as opened:
        yield opened


def count(store: ResultStore, row_type) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(row_type))


# --------------------------------------------------------------------------- round trip


def test_round_trip_of_a_completed_result(store):
    spec = make_test_spec()
    result = full_result(spec)
    run_id = store.start_run("pytest", "quick", collect_provenance(gpu=False))
    trial_id = store.write(result, run_id).trial_id

    detail = store.trial(trial_id)
    assert detail["status"] == "completed"
    assert detail["spec_hash"] == spec.spec_hash
    assert detail["config_hash"] == config_hash(spec)
    assert detail["run_id"] == run_id
    assert (detail["model"], detail["scene"], detail["seed"]) == ("claresnet", "indian_pines", 0)
    assert TrialSpec.from_json(json.dumps(detail["spec"])) == spec
    assert detail["metrics"]["test"] == pytest.approx(result.metrics["test"])
    assert detail["metrics"]["val"] == pytest.approx(result.metrics["val"])
    assert detail["per_class"] == result.per_class
    assert detail["fit_seconds"] == 1.25 and detail["inference_seconds"] == 0.5
    assert detail["n_parameters"] == 12345 and detail["device"] == "cpu"
    assert detail["info"]["nan_value"] is None  # non-finite stored as null
    assert detail["finished_at"].tzinfo is not None
    assert sorted(detail["artifacts"]) == sorted(artifact_codec.ARTIFACT_NAMES)

    confusion = store.artifact(trial_id, "confusion")
    np.testing.assert_array_equal(confusion, result.confusion)
    assert confusion.dtype == np.int32
    pr = store.artifact(trial_id, "pr_curves")
    assert sorted(pr) == [1, 2, 3]
    for label, (precision, recall) in result.pr_curves.items():
        np.testing.assert_array_equal(pr[label][0], precision)
        np.testing.assert_array_equal(pr[label][1], recall)
        assert pr[label][0].dtype == np.float32
    emb = store.artifact(trial_id, "embedding_2d")
    np.testing.assert_array_equal(emb["embedding_2d"], result.embedding_2d)
    np.testing.assert_array_equal(emb["embedding_labels"], result.embedding_labels)
    assert emb["embedding_2d"].dtype == np.float32 and emb["embedding_labels"].dtype == np.int16
    class_map = store.artifact(trial_id, "class_map")
    np.testing.assert_array_equal(class_map, result.class_map)
    assert class_map.dtype == np.int16
    entropy = store.artifact(trial_id, "entropy_map")
    np.testing.assert_array_equal(entropy, result.entropy_map)
    assert entropy.dtype == np.float16
    curves = store.artifact(trial_id, "curves")
    assert sorted(curves) == sorted(result.curves)
    for key, values in result.curves.items():
        np.testing.assert_array_equal(curves[key], values)
    counts = store.artifact(trial_id, "split_counts")
    np.testing.assert_array_equal(counts, result.split_counts)
    assert counts.dtype == np.int32

    with pytest.raises(StoreError, match="no artifact 'nope'.*class_map"):
        store.artifact(trial_id, "nope")
    with pytest.raises(StoreError, match="No trial with id 999"):
        store.trial(999)

    (run,) = store.runs()
    assert run["id"] == run_id and run["suite"] == "quick" and run["status"] == "running"
    assert run["packages"]["numpy"] == np.__version__
    assert run["python_version"] and run["host"]
    assert "platform" in run["extra"]


def test_runs_of_dead_drivers_are_closed(store):
    """A killed driver leaves its run "running"; the next run on the host closes it."""
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead = store.start_run("killed", "smoke", {"host": host, "pid": gone.pid})
    alive = store.start_run("alive", "smoke", {"host": host, "pid": os.getpid()})
    elsewhere = store.start_run("remote", "smoke", {"host": "other-node", "pid": gone.pid})
    unknown = store.start_run("old", "smoke", {"host": host})
    assert store.close_dead_runs() == [dead]
    status = {r["id"]: r["status"] for r in store.runs()}
    assert status == {
        dead: "interrupted",
        alive: "running",
        elsewhere: "running",
        unknown: "running",
    }


def test_a_spec_from_make_spec_round_trips(store, shared_data):
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    spec = make_spec("claresnet_tiny", scene.crop_to(0, 40, 0, 40), seed=3, training={"epochs": 1})
    trial_id = store.write(metric_result(spec, oa=0.5)).trial_id
    detail = store.trial(trial_id)
    back = TrialSpec.from_json(json.dumps(detail["spec"]))
    assert back == spec and back.spec_hash == spec.spec_hash
    assert detail["family"] == "claresnet"  # the registry's family (models is imported)
    assert store.completed_hashes() == {spec.spec_hash}


# --------------------------------------------------------------------------- identity


def test_writing_a_completed_spec_twice_keeps_one_completed_row(store):
    spec = make_test_spec()
    first = store.write(full_result(spec, oa=0.9))
    second = store.write(full_result(spec, oa=0.1))
    assert first == second  # the same row comes back: Stored(id, hash, 1, "completed")
    assert (second.spec_hash, second.attempt, second.status) == (spec.spec_hash, 1, "completed")
    assert len(store.trials()) == 1
    assert store.trial(first.trial_id)["metrics"]["test"]["oa"] == 0.9  # the first result stays
    assert count(store, MetricRow) == 10
    assert store.completed_hashes() == {spec.spec_hash}


def test_a_failed_result_stores_error_and_traceback_only(store):
    spec = make_test_spec()
    try:
        raise ValueError("boom")
    except ValueError as exc:
        failed = TrialResult.failed(spec, exc, "Traceback (most recent call last): ...")
    failed.metrics = {"test": {"oa": 0.5}}  # ignored: nothing but the error is stored
    stored = store.write(failed)
    # what was stored comes back with the write: no read needed to learn the error
    assert (stored.status, stored.error, stored.attempt) == ("failed", "ValueError: boom", 1)
    trial_id = stored.trial_id
    detail = store.trial(trial_id)
    assert detail["status"] == "failed"
    assert detail["error"] == "ValueError: boom"
    assert detail["traceback"].startswith("Traceback")
    assert detail["metrics"] == {} and detail["per_class"] == [] and detail["artifacts"] == []
    assert detail["info"] is None
    assert count(store, MetricRow) == count(store, ArtifactRow) == 0
    assert store.completed_hashes() == set()
    assert seeds.leaderboard(store) == []
    # A later successful run of the spec is a new attempt, and it counts.
    ok = store.write(metric_result(spec, oa=0.8))
    assert (ok.status, ok.error, ok.attempt) == ("completed", None, 2)
    ok = ok.trial_id
    assert ok != trial_id and store.trial(ok)["attempt"] == 2
    assert [t["status"] for t in store.trials()] == ["failed", "completed"]
    assert store.trials(status="failed")[0]["id"] == trial_id
    assert seeds.leaderboard(store)[0]["metrics"]["oa"]["mean"] == 0.8


def test_a_write_that_fails_half_way_leaves_nothing(store, monkeypatch):
    spec = make_test_spec()
    real_encode = writer_module.encode_npz
    calls = []

    def encode_then_crash(arrays):
        calls.append(sorted(arrays))
        if len(calls) == 2:  # the trial row, metrics, per-class rows and one artifact exist
            raise RuntimeError("disk full")
        return real_encode(arrays)

    monkeypatch.setattr(writer_module, "encode_npz", encode_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        store.write(full_result(spec))
    assert len(calls) == 2
    for row_type in (TrialRow, MetricRow, ClassMetricRow, ArtifactRow):
        assert count(store, row_type) == 0, row_type.__tablename__
    monkeypatch.setattr(writer_module, "encode_npz", real_encode)
    trial_id = store.write(full_result(spec)).trial_id  # the store is still usable
    assert store.trial(trial_id)["attempt"] == 1


def test_status_transitions_and_attempts(store):
    spec = make_test_spec()
    run_id = store.start_run("pytest", "quick")
    pending = store.mark_pending(spec, run_id)
    assert store.trial(pending)["status"] == "pending"
    running = store.mark_running(spec, run_id)
    assert running == pending and store.trial(running)["status"] == "running"
    assert store.trial(running)["started_at"] is not None

    # The run ends without a result: the trial is interrupted, a resume reuses the row.
    assert store.finish_run(run_id, "failed") == 1
    assert store.trial(running)["status"] == "interrupted"
    assert store.runs()[0]["status"] == "failed" and store.runs()[0]["finished_at"]
    run2 = store.start_run("pytest", "quick")
    resumed = store.mark_running(spec, run2)
    assert resumed == running and store.trial(resumed)["run_id"] == run2
    assert store.write(metric_result(spec, oa=0.7), run2).trial_id == resumed
    assert store.trial(resumed)["status"] == "completed"

    with pytest.raises(StoreError, match="already completed.*fresh=True"):
        store.mark_running(spec, run2)
    fresh = store.mark_running(spec, run2, fresh=True)
    assert fresh != resumed and store.trial(fresh)["attempt"] == 2
    assert store.write(metric_result(spec, oa=0.9), run2).trial_id == fresh
    # The latest completed attempt counts, once.
    (row,) = seeds.leaderboard(store)
    assert row["metrics"]["oa"] == {"mean": 0.9, "std": None, "n": 1}
    assert row["trial_ids"] == [fresh]

    # A fresh attempt that is left open is superseded by the next fresh one.
    left_open = store.mark_running(spec, run2, fresh=True)
    newest = store.mark_running(spec, run2, fresh=True)
    assert store.trial(left_open)["status"] == "interrupted"
    assert store.trial(newest)["attempt"] == 4
    assert store.mark_interrupted(run2) == 1
    with pytest.raises(StoreError, match="status must be one of"):
        store.finish_run(run2, "bogus")


# --------------------------------------------------------------------------- concurrency


def _writer_process(path: str, worker: int, n: int) -> None:
    with ResultStore(path) as own:
        for i in range(n):
            spec = make_test_spec("hybridsn", seed=worker * 100 + i)
            own.write(full_result(spec, oa=0.5 + 0.01 * i, rng_seed=worker * 100 + i))


def test_concurrent_writers_lose_no_rows(db_url):
    db_path = db_url
    ResultStore(db_path).close()  # the tables exist before the writers start
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_writer_process, args=(str(db_path), w, 5)) for w in range(4)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    with ResultStore(db_path) as store:
        assert len(store.trials(status="completed")) == 20
        assert len(store.completed_hashes()) == 20
        assert count(store, MetricRow) == 20 * 10
        assert count(store, ClassMetricRow) == 20 * 3
        assert count(store, ArtifactRow) == 20 * len(artifact_codec.ARTIFACT_NAMES)
        (row,) = seeds.leaderboard(store)
        assert row["n_trials"] == 20 and len(row["seeds"]) == 20


def test_sqlite_runs_in_wal_mode_with_per_connection_pragmas(sqlite_store, db_path):
    store = sqlite_store
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file
    with store.engine.connect() as first, store.engine.connect() as second:
        for conn in (first, second):  # two pooled connections, each configured
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"

    statements: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(statement),
    )
    store.write(metric_result(make_test_spec(), oa=0.5))
    assert statements[0] == "BEGIN IMMEDIATE"  # writers take the write lock up front
    statements.clear()
    seeds.leaderboard(store)
    assert statements[0] == "BEGIN DEFERRED"  # readers do not


def test_database_errors_inside_a_session_become_store_errors(store):
    trial_id = store.write(metric_result(make_test_spec(), oa=0.5)).trial_id
    unique = "UNIQUE constraint failed" if store.is_sqlite else "violates unique constraint"
    with (
        pytest.raises(StoreError, match=unique),
        store.session(write=True) as s,
    ):
        s.add(MetricRow(trial_id=trial_id, split="test", name="oa", value=0.1))
    assert store.trial(trial_id)["metrics"]["test"] == {"oa": 0.5}


def test_the_schema_compiles_for_postgresql():
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    from harness.store.schema import Base

    dialect = postgresql.dialect()
    for table in Base.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert "CREATE TABLE" in ddl
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
    trials = str(CreateTable(Base.metadata.tables["trials"]).compile(dialect=dialect))
    assert "JSON" in trials and "status IN ('pending'" in trials
    assert "BYTEA" in str(CreateTable(Base.metadata.tables["artifacts"]).compile(dialect=dialect))


def test_other_urls_go_through_the_same_code(tmp_path):
    with ResultStore(f"sqlite:///{tmp_path / 'by_url.db'}") as by_url:
        by_url.write(metric_result(make_test_spec(), oa=0.5))
        assert by_url.path == tmp_path / "by_url.db"
    with ResultStore("sqlite://") as memory:
        memory.write(metric_result(make_test_spec(), oa=0.5))
        assert len(memory.trials()) == 1
    with pytest.raises(StoreError, match="Cannot parse the database URL"):
        ResultStore("nope://host:port/db")
    with pytest.raises(StoreError, match="install its driver"):
        ResultStore("nosuchdialect://host/db")


# --------------------------------------------------------------------------- clear errors


def test_error_for_a_database_in_a_missing_folder(tmp_path):
    path = tmp_path / "no" / "such" / "results.db"
    with pytest.raises(StoreError) as info:
        ResultStore(path)
    message = str(info.value)
    assert str(path.parent) in message and "does not exist" in message and "mkdir -p" in message
    assert not path.parent.exists()


def test_error_for_a_read_only_file(db_path):
    ResultStore(db_path).close()
    db_path.chmod(0o444)
    try:
        with pytest.raises(StoreError) as info:
            ResultStore(db_path)
        assert str(db_path) in str(info.value) and "read-only" in str(info.value)
        assert "chmod u+w" in str(info.value)
        with ResultStore(db_path, readonly=True) as reader:  # reading it is fine
            assert seeds.leaderboard(reader) == []
            with pytest.raises(StoreError, match="opened read-only"):
                reader.write(metric_result(make_test_spec(), oa=0.5))
    finally:
        db_path.chmod(0o644)


def test_error_for_a_read_only_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(
            StoreError,
            match="locked of the results database results.db is read-only.*writable folder",
        ):
            ResultStore(folder / "results.db")
    finally:
        folder.chmod(0o755)


def test_error_for_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the results you are looking for\n" * 10)
    with pytest.raises(StoreError) as info:
        ResultStore(path)
    assert str(path) in str(info.value) and "not a SQLite database" in str(info.value)
    assert path.read_text().startswith("these are not")  # untouched


def test_error_for_a_newer_schema_version(db_path):
    ResultStore(db_path).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE schema_info SET schema_version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError) as info:
        ResultStore(db_path)
    message = str(info.value)
    assert str(db_path) in message and "newer harness" in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message and "git pull" in message


def test_error_for_a_database_of_another_application(db_path):
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="not a harness results database"):
        ResultStore(db_path)


def test_readonly_open_of_a_missing_database_creates_nothing(db_path):
    with pytest.raises(StoreError, match="No results database at .*harness.run"):
        ResultStore(db_path, readonly=True)
    assert not db_path.exists()


# --------------------------------------------------------------------------- read API


def test_leaderboard_mean_std_n_over_seeds(store):
    oas = [0.90, 0.92, 0.97]
    for seed, oa in enumerate(oas):
        store.write(metric_result(make_test_spec("claresnet", seed), oa=oa, centroid_distance=2.0))
    store.write(metric_result(make_test_spec("random_forest", 0), oa=0.8, centroid_distance=None))
    store.write(metric_result(make_test_spec("ssrn", 0, scene="salinas"), oa=0.99))
    store.write(metric_result(make_test_spec("ssrn", 1, study="search-1"), oa=0.1))  # a search
    store.write(TrialResult.failed(make_test_spec("ssrn", 2), RuntimeError("x"), "tb"))

    board = seeds.leaderboard(store, scene="indian_pines")
    assert [(r["model"], r["label"]) for r in board] == [
        ("claresnet", "claresnet"),
        ("random_forest", "random_forest"),
    ]
    clares, forest = board
    assert clares["metrics"]["oa"]["mean"] == pytest.approx(statistics.fmean(oas))
    assert clares["metrics"]["oa"]["std"] == pytest.approx(np.std(oas, ddof=1))
    assert clares["metrics"]["oa"]["n"] == 3
    assert clares["metrics"]["centroid_distance"] == {"mean": 2.0, "std": 0.0, "n": 3}
    assert clares["metrics"]["ba"] == {"mean": None, "std": None, "n": 0}
    assert clares["seeds"] == [0, 1, 2] and clares["n_trials"] == 3
    assert clares["family"] == "claresnet"
    assert {r["pca_fit"] for r in board} == {"scene"}
    assert forest["metrics"]["oa"] == {"mean": 0.8, "std": None, "n": 1}
    assert forest["metrics"]["centroid_distance"] == {"mean": None, "std": None, "n": 0}

    assert [r["scene"] for r in seeds.leaderboard(store)] == ["indian_pines"] * 2 + ["salinas"]
    assert seeds.leaderboard(store, protocol="other") == []
    assert seeds.leaderboard(store, source="real") == []
    assert seeds.leaderboard(store, pca_fit="train") == []
    assert len(seeds.leaderboard(store, pca_fit="scene")) == 3
    searched = seeds.leaderboard(store, study="search-1")
    assert [r["model"] for r in searched] == ["ssrn"]
    assert len(seeds.leaderboard(store, study=None)) == 4
    assert len(store.trials(study="search-1")) == 1


def test_leaderboard_never_averages_two_configurations(store):
    for seed in range(2):
        store.write(metric_result(make_test_spec("hybridsn", seed, epochs=1), oa=0.5))
        store.write(metric_result(make_test_spec("hybridsn", seed, epochs=40), oa=0.9))
    board = seeds.leaderboard(store)
    assert len(board) == 2
    by_mean = {r["metrics"]["oa"]["mean"]: r for r in board}
    assert set(by_mean) == {0.5, 0.9}
    assert all(r["label"].startswith("hybridsn [") and r["n_trials"] == 2 for r in board)
    per_seed = seeds.per_seed(store, "indian_pines", "paper", "unified", "surrogate", "oa")
    assert sorted(per_seed) == sorted(r["label"] for r in board)


def test_two_pca_fits_of_a_model_are_two_groups(store):
    """PCA fitted on the scene or on the training pixels: one comparison each, so each
    row carries the bare model name, and per_seed keeps to one of them."""
    for seed in range(2):
        for fit, oa in (("scene", 0.9), ("train", 0.8)):
            store.write(metric_result(make_test_spec("hybridsn", seed, pca_fit=fit), oa=oa))
            store.write(metric_result(make_test_spec("ssrn", seed, pca_fit=fit), oa=oa - 0.1))
    board = seeds.leaderboard(store)
    assert [(group_of(r), r["label"]) for r in board] == [
        (("indian_pines", "paper", "unified", "surrogate", fit), model)
        for fit in ("scene", "train")
        for model in ("hybridsn", "ssrn")
    ]
    assert all(r["n_trials"] == 2 for r in board)
    train = seeds.leaderboard(store, pca_fit="train")
    assert [(r["label"], r["pca_fit"]) for r in train] == [("hybridsn", "train"), ("ssrn", "train")]
    assert train[0]["metrics"]["oa"]["mean"] == pytest.approx(0.8)

    group = ("indian_pines", "paper", "unified", "surrogate")
    assert seeds.per_seed(store, *group, "oa", pca_fit="scene") == {
        "hybridsn": {0: 0.9, 1: 0.9},
        "ssrn": {0: pytest.approx(0.8), 1: pytest.approx(0.8)},
    }
    key = (*group, "train")
    assert seeds.per_seed(store, **group_fields(key), metric="oa")["hybridsn"] == {0: 0.8, 1: 0.8}
    with pytest.raises(StoreError, match="fit PCA on scene and on train"):
        seeds.per_seed(store, *group, "oa")  # both fits: name one
    trials = store.trials()
    assert {t["pca_fit"] for t in trials} == {"scene", "train"}
    assert store.trial(train[0]["trial_ids"][0])["pca_fit"] == "train"


def test_per_seed_values_for_paired_tests(store):
    for seed, oa in [(0, 0.9), (1, 0.91), (2, 0.93)]:
        store.write(metric_result(make_test_spec("claresnet", seed), oa=oa, kappa=oa - 0.1))
    for seed, oa in [(1, 0.8), (2, 0.85), (5, 0.82)]:
        store.write(metric_result(make_test_spec("hybridsn", seed), oa=oa))
    store.write(metric_result(make_test_spec("hybridsn", 9, recipe="published"), oa=0.1))
    group = ("indian_pines", "paper", "unified", "surrogate")
    assert seeds.per_seed(store, *group, "oa") == {
        "claresnet": {0: 0.9, 1: 0.91, 2: 0.93},
        "hybridsn": {1: 0.8, 2: 0.85, 5: 0.82},
    }
    kappa = seeds.per_seed(store, *group, "kappa")
    assert kappa["claresnet"] == pytest.approx({0: 0.8, 1: 0.81, 2: 0.83})
    assert kappa["hybridsn"] == {}  # completed, but without the metric
    assert seeds.per_seed(store, "salinas", "paper", "unified", "surrogate") == {}


def test_collect_provenance_names_the_code_and_the_machine():
    prov = collect_provenance(gpu=False)
    assert set(prov) >= {
        "git_commit",
        "git_dirty",
        "packages",
        "host",
        "cpu",
        "gpu",
        "cuda_version",
        "python_version",
    }
    assert prov["packages"]["sqlalchemy"] and "torch" in prov["packages"]
    if prov["git_commit"] is not None:
        assert len(prov["git_commit"]) == 40 and isinstance(prov["git_dirty"], bool)


def test_best_trial_picks_the_best_validation_oa_among_several(tmp_path):
    """Several completed trials of one model: the best validation OA wins, whatever its
    test OA or order; ties go to the newest; filters and saved models narrow the choice."""
    from make_results_db import make_result
    from make_results_db import make_spec as fixture_spec

    rng = np.random.default_rng(0)
    val = {0: 0.70, 1: 0.93, 2: 0.81, 3: 0.93}  # seeds 1 and 3 tie: 3 is written last
    ids = {}
    with ResultStore(tmp_path / "best.db") as store:
        for seed, oa in val.items():
            result = make_result(fixture_spec("hybridsn", "indian_pines", seed), 0.9 - oa / 10, rng)
            result.metrics["val"]["oa"] = oa
            ids[seed] = store.write(result).trial_id
        other = make_result(
            fixture_spec("hybridsn", "indian_pines", 9, recipe="published"), 0.5, rng
        )
        other.metrics["val"]["oa"] = 0.99
        ids["published"] = store.write(other).trial_id
        best = store.best_trial("hybridsn", "indian_pines", with_model=False)
        assert best["id"] == ids["published"] and best["val_oa"] == pytest.approx(0.99)
        best = store.best_trial("hybridsn", "indian_pines", recipe="unified", with_model=False)
        assert best["id"] == ids[3] and best["val_oa"] == pytest.approx(0.93)
        assert store.best_trial("hybridsn", "indian_pines", with_model=True) is None  # no files
        assert store.best_trial("ssrn", "indian_pines", with_model=False) is None
