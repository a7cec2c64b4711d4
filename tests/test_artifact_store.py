"""The artifact folder of saved models: content-addressed files, written all or nothing.

A trial's model files are staged, listed in the database in the trial's
transaction, and published after the commit. Writers killed at each step are real
processes that die (``os._exit``) at that point; the next store to open the
folder settles what they left.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from harness.saved_model import ModelFile
from harness.store import ArtifactWarning, ResultStore, StoreError
from harness.store.artifact_store import STAGING, ArtifactError, ArtifactStore, default_root
from harness.suites import SuiteOptions, get_suite
from harness.trial.flow import run_trial

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rf_spec(shared_data):
    """The smoke suite's Random Forest trial: seconds to run, real model files."""
    specs = get_suite("smoke").build(
        SuiteOptions(data_dir=str(shared_data), models=("random_forest_tiny",))
    )
    assert len(specs) == 1
    return specs[0]


@pytest.fixture(scope="module")
def rf_result(rf_spec, shared_data):
    result = run_trial(rf_spec, data_dir=str(shared_data))
    assert [f.kind for f in result.model_files] == ["model", "preprocessing", "manifest"]
    return result


def _published(folder: Path) -> set[str]:
    return set(ArtifactStore(folder).files())


def _named(db: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT path FROM model_files")}


def test_the_default_folder_is_beside_the_database(tmp_path):
    assert default_root(tmp_path / "results.db") == tmp_path / "results.artifacts"
    assert default_root(tmp_path / "bench") == tmp_path / "bench.artifacts"
    assert default_root(None) is None
    with ResultStore(tmp_path / "results.db") as store:
        assert store.artifacts is not None
        assert store.artifacts.root == tmp_path / "results.artifacts"
    with ResultStore(tmp_path / "x.db", artifacts=tmp_path / "elsewhere") as store:
        assert store.artifacts.root == tmp_path / "elsewhere"


def test_files_are_named_by_content_and_never_written_twice(tmp_path):
    folder = ArtifactStore(tmp_path / "a")
    files = [ModelFile("model", "json", b'{"a": 1}'), ModelFile("manifest", "json", b"{}")]
    staged = folder.stage(files)
    assert [s.sha256 for s in staged] == [hashlib.sha256(f.data).hexdigest() for f in files]
    assert all(s.staged is not None and s.staged.is_file() for s in staged)
    assert folder.files() == []  # nothing published before the commit
    folder.publish(staged)
    assert folder.files() == sorted(s.path for s in staged)
    assert not (tmp_path / "a" / STAGING).exists()
    again = folder.stage(files)  # the same bytes: already in place, nothing staged
    assert all(s.staged is None for s in again) and [s.path for s in again] == [
        s.path for s in staged
    ]
    for s in staged:
        assert folder.read(s.path, s.sha256) == next(f.data for f in files if f.kind == s.kind)


def test_a_changed_or_missing_file_is_refused(tmp_path):
    folder = ArtifactStore(tmp_path / "a")
    (s,) = folder.stage([ModelFile("model", "json", b"weights")])
    folder.publish([s])
    folder.path(s.path).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="sha256") as info:
        folder.read(s.path, s.sha256, "model file")
    assert "Fix:" in str(info.value)
    folder.path(s.path).unlink()
    with pytest.raises(ArtifactError, match="missing") as info:
        folder.read(s.path, s.sha256, "model file")
    assert "--artifacts" in str(info.value)


def test_a_result_is_stored_with_its_files_once(rf_result, tmp_path):
    db = tmp_path / "results.db"
    with ResultStore(db) as store:
        stored = store.write(rf_result)
        again = store.write(rf_result)  # already completed: nothing written
        assert again.trial_id == stored.trial_id
        rows = store.model_files(stored.trial_id)
    assert [r["kind"] for r in rows] == ["model", "preprocessing", "manifest"]
    assert [r["format"] for r in rows] == ["skops", "skops", "json"]
    for row, f in zip(rows, rf_result.model_files, strict=True):
        assert row["sha256"] == f.sha256 and row["size"] == f.size
        assert Path(row["file"]).read_bytes() == f.data
    assert _published(tmp_path / "results.artifacts") == _named(db) == {r["path"] for r in rows}
    assert not (tmp_path / "results.artifacts" / STAGING).exists()


def test_a_failed_transaction_leaves_no_file(rf_result, tmp_path, monkeypatch):
    db = tmp_path / "results.db"
    store = ResultStore(db)

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure after the trial row was flushed")

    monkeypatch.setattr(store._writer, "_add_details", broken)
    with pytest.raises(RuntimeError, match="injected"):
        store.write(rf_result)
    store.close()
    assert _published(tmp_path / "results.artifacts") == set()
    assert not (tmp_path / "results.artifacts" / STAGING).exists()
    with ResultStore(db, readonly=True) as store:
        assert store.trials() == []


def test_an_unwritable_folder_stores_the_trial_without_its_model(rf_result, tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the artifact folder should be")
        folder = blocker / "artifacts"
    else:  # pragma: no cover - a non-root user: a read-only folder
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
    db = tmp_path / "results.db"
    with ResultStore(db, artifacts=folder) as store:
        with pytest.warns(ArtifactWarning, match="Cannot write the model files"):
            stored = store.write(rf_result)
        assert stored.status == "completed"
        trial = store.trial(stored.trial_id)
        assert trial["model_files"] == []
        assert "Cannot write the model files" in trial["info"]["model_not_saved"]
        with pytest.raises(StoreError, match="has no saved model: its model files could not"):
            store.read_model_files(stored.trial_id)


WRITER = textwrap.dedent(
    """
    import os, sys
    from harness.store.artifact_store import ArtifactStore
    from harness.store import ResultStore
    from harness.suites import SuiteOptions, get_suite
    from harness.trial.flow import run_trial

    db, data_dir, where = sys.argv[1], sys.argv[2], sys.argv[3]
    spec = get_suite("smoke").build(
        SuiteOptions(data_dir=data_dir, models=("random_forest_tiny",))
    )[0]
    result = run_trial(spec, data_dir=data_dir)
    store = ResultStore(db)
    die = lambda *a, **k: os._exit(9)
    if where == "before-commit":  # staged, then killed before the transaction
        store._writer._write = die
    else:  # committed, then killed before the files were moved into place
        ArtifactStore.publish = die
    store.write(result)
    sys.exit("the writer should have died")
    """
)


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_a_killed_writer_leaves_nothing_orphaned_after_recovery(shared_data, tmp_path, where):
    db = tmp_path / "results.db"
    folder = tmp_path / "results.artifacts"
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(db), str(shared_data), where],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 9, proc.stderr
    staged = list((folder / STAGING).glob("*/*"))
    assert len(staged) == 3, staged  # what the dead writer left
    assert _published(folder) == set()

    live = folder / STAGING / f"{os.uname().nodename}-{os.getpid()}"
    live.mkdir()
    (live / "in-progress.json").write_text("{}")  # a live writer's staging: left alone

    with ResultStore(db) as store:
        published, deleted = store.recover_artifacts()
        trials = store.trials()
        if where == "before-commit":
            assert trials == [] and published == [] and len(deleted) == 3
            assert _published(folder) == set()
        else:
            (trial,) = trials
            assert trial["status"] == "completed"
            assert sorted(published) == sorted(_named(db)) and deleted == []
            assert _published(folder) == _named(db)
            files = store.read_model_files(trial["id"])  # checked against the rows
            assert set(files) == {"model", "preprocessing", "manifest"}
        assert store.recover_artifacts() == ([], [])  # nothing left to settle
    assert (live / "in-progress.json").is_file()
    assert [p.name for p in (folder / STAGING).iterdir()] == [live.name]


def test_a_trial_without_a_saved_model_is_named(rf_spec, shared_data, tmp_path):
    result = run_trial(rf_spec, data_dir=str(shared_data), save_model=False)
    assert result.model_files == [] and "save_seconds" not in result.info
    with ResultStore(tmp_path / "results.db") as store:
        stored = store.write(result)
        assert store.model_files(stored.trial_id) == []
        with pytest.raises(StoreError) as info:
            store.read_model_files(stored.trial_id)
    message = str(info.value)
    assert f"Trial {stored.trial_id} (random_forest_tiny" in message
    assert "--no-save-models" in message and "Fix:" in message


def test_a_server_database_keeps_no_files_without_a_folder(db_url, rf_result, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = ResultStore(db_url)
    try:
        if "://" in str(db_url):
            assert store.artifacts is None
            stored = store.write(rf_result)
            assert store.model_files(stored.trial_id) == []
        else:
            assert store.artifacts is not None
    finally:
        store.close()


def test_no_save_models_keeps_no_file(ray_session, rf_spec, shared_data, tmp_path):
    """``--no-save-models`` through the real runner: the trial is stored, no file kept."""
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.run_flags import config_from_args, parser

    cfg = config_from_args(
        parser().parse_args(["--suite", "smoke", "--no-save-models", "--artifacts", "x"])
    )
    assert cfg.run.save_models is False and cfg.run.artifacts == "x"
    db = tmp_path / "results.db"
    options = RunOptions(
        db=str(db), suite="smoke", data_dir=str(shared_data),
        storage_path=str(tmp_path / "tune"), save_models=False,
    )  # fmt: skip
    summary = run_specs([rf_spec], options, out=None)
    assert summary.ok and len(summary.completed) == 1
    with ResultStore(db, readonly=True) as store:
        (trial,) = store.trials(status="completed")
        assert store.model_files(trial["id"]) == []
        assert "save_seconds" not in (store.trial(trial["id"])["info"] or {})
    assert _published(tmp_path / "results.artifacts") == set()


def test_check_artifacts_names_every_problem(rf_result, tmp_path):
    from harness import db as harness_db

    db = tmp_path / "results.db"
    with ResultStore(db) as store:
        trial_id = store.write(rf_result).trial_id
        files = [Path(f["file"]) for f in store.model_files(trial_id)]
    assert harness_db.main(["check-artifacts", "--db", str(db)]) == 0
    folder = tmp_path / "results.artifacts"
    (folder / "ab").mkdir(exist_ok=True)
    (folder / "ab" / "stray.json").write_text("{}")
    files[0].unlink()
    files[1].write_bytes(b"changed")
    with ResultStore(db, readonly=True) as store:
        found = store.check_artifacts()
    assert found["ok"] == [str(files[2])]
    assert found["missing"] == [str(files[0])] and found["changed"] == [str(files[1])]
    assert found["orphans"] == [str(folder / "ab" / "stray.json")] and found["staged"] == []
    assert harness_db.main(["check-artifacts", "--db", str(db)]) == 1
