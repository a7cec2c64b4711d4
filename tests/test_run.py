"""Running suites with real Ray Tune on CPU: ``run_specs`` and ``python -m harness.run``.

Three kinds of Ray appear here, kept apart so that they never meet:

* the session Ray (``ray_session`` in conftest.py: 2 CPUs, its own short temp dir,
  ``address="local"``) for the in-process runs of the smoke suite and the failing
  trial;
* the CLI's own local Ray in the kill-and-resume test: ``python -m harness.run``
  in a subprocess (a new session, so the whole process tree can be found and
  killed), with ``RAY_TMPDIR`` pointing at a short temp dir of its own (Ray honours
  it for its temp dir and for the ``ray_current_cluster`` file ``ray.init()``
  reads), ``RAY_ADDRESS`` removed and the environment as it was before the
  session Ray started (see ``ENV_BEFORE_RAY``);
* a two-node ``ray.cluster_utils.Cluster`` in a subprocess script, for the same
  reasons: one process can hold one Ray connection, and ``Cluster`` writes its
  address to ``$RAY_TMPDIR/ray/ray_current_cluster``, which in the default
  /tmp/ray would make every later plain ``ray.init()`` on this machine try to join
  it.

Every subprocess gets ``HOME`` in the test's tmp dir (the CLI has no flag for
Tune's ``storage_path``, so Tune writes to ``~/ray_results``) and is checked
for leaked processes after it ended: every process of its session must be gone
within 30 s (stragglers are killed and the test fails).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from make_fixtures import write_field_scene, write_field_splits
from procs import finish, reap_session, spawn, tail

from harness import run as run_cli
from harness.store import ResultStore, StoreError
from harness.suites import SuiteOptions, get_suite

ROOT = Path(__file__).resolve().parent.parent
SMOKE_MODELS = {
    "claresnet_tiny",
    "hybridsn_tiny",
    "random_forest_tiny",
    "spectralformer_tiny",
    "ssrn_tiny",
    "xgboost_tiny",
}
TREE_MODELS = {"random_forest_tiny", "xgboost_tiny"}


def _trials(db: Path, status: str | None = None) -> list[dict]:
    """The trial rows, read from a database another process may be writing ([] if absent)."""
    import sqlalchemy.exc

    try:
        store = ResultStore(db, readonly=True)
    except (StoreError, sqlalchemy.exc.OperationalError):
        return []
    try:
        return store.trials(status=status)
    except sqlalchemy.exc.OperationalError:
        return []
    finally:
        store.close()


def assert_artifacts_settled(db: Path) -> None:
    """The artifact folder beside ``db`` holds exactly the files its rows name: no
    orphan, no duplicate, nothing staged; every completed trial has its three files."""
    import sqlite3

    from harness.store.artifact_store import STAGING, ArtifactStore

    folder = db.with_name(db.stem + ".artifacts")
    with sqlite3.connect(db) as con:
        named = {r[0] for r in con.execute("SELECT path FROM model_files")}
        kinds = collections.Counter(
            r[0] for r in con.execute(
                "SELECT t.id FROM trials t JOIN model_files f ON f.trial_id = t.id "
                "WHERE t.status = 'completed'"
            )
        )  # fmt: skip
        completed = {r[0] for r in con.execute("SELECT id FROM trials WHERE status='completed'")}
    on_disk = ArtifactStore(folder).files()
    assert len(on_disk) == len(set(on_disk)) and set(on_disk) == named, (on_disk, named)
    assert not (folder / STAGING).exists(), list((folder / STAGING).rglob("*"))
    assert set(kinds) == completed and set(kinds.values()) == {3}, kinds


def _smoke_cli(db: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.run",
        "--suite",
        "smoke",
        "--db",
        str(db),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def smoke_specs(shared_data):
    specs = get_suite("smoke").build(SuiteOptions(data_dir=str(shared_data)))
    assert {s.model for s in specs} == SMOKE_MODELS and len(specs) == 6
    return specs


@pytest.fixture(scope="module")
def smoke_db(ray_session, shared_data, smoke_specs, tmp_path_factory):
    """The smoke suite run once in-process through ``run_specs`` into a fresh SQLite file."""
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions

    folder = tmp_path_factory.mktemp("smoke")
    db = folder / "results.db"
    options = RunOptions(
        db=str(db),
        command="pytest smoke",
        suite="smoke",
        data_dir=str(shared_data),
        storage_path=str(folder / "tune"),
    )
    summary = run_specs(smoke_specs, options, out=None)
    return db, summary


# --------------------------------------------------------------------------- 1. smoke end to end


@pytest.mark.slow
def test_smoke_suite_end_to_end(smoke_db, smoke_specs, shared_data):
    import models

    db, summary = smoke_db
    hashes = {s.spec_hash for s in smoke_specs}
    assert summary.ok and summary.failed == {}
    assert summary.planned == 6 and summary.skipped == 0
    assert sorted(summary.completed) == sorted(hashes)

    # Tune's folder of the run is named after the database too (another database's
    # run 1 writes elsewhere)
    from harness.execute.keys import experiment_folder

    folder = experiment_folder(str(db), summary.run_id, 1)
    assert [p.name for p in (db.parent / "tune").iterdir()] == [folder]
    assert folder != experiment_folder(str(db.with_name("other.db")), summary.run_id, 1)
    assert folder.startswith("hsi-") and folder.endswith(f"-run-{summary.run_id}-1")

    store = ResultStore(db, readonly=True)
    rows = store.trials()
    assert len(rows) == 6
    assert {r["spec_hash"] for r in rows} == hashes
    assert {r["model"] for r in rows} == SMOKE_MODELS
    for row in rows:
        assert row["status"] == "completed" and row["attempt"] == 1, row
        assert row["run_id"] == summary.run_id and row["error"] is None
        trial = store.trial(row["id"])
        deep = models.get_model_entry(row["model"]).kind == "torch"
        for split in ("test", "val"):
            assert 0.0 <= trial["metrics"][split]["oa"] <= 1.0, (row["model"], split)
        assert trial["info"]["epochs_run"] == 1 and trial["traceback"] is None
        expected = {"class_map", "confusion", "entropy_map", "split_counts"}
        if deep:
            expected |= {"curves", "embedding_2d"}
        assert expected <= set(trial["artifacts"]), (row["model"], trial["artifacts"])
        class_map = store.artifact(row["id"], "class_map")
        assert class_map.shape == (32, 32)
        confusion = store.artifact(row["id"], "confusion")
        assert confusion.shape[0] == confusion.shape[1] == len(trial["per_class"])
        assert confusion.sum() == trial["info"]["n_test"]
        if deep:
            curves = store.artifact(row["id"], "curves")
            assert curves and all(len(v) == 1 for v in curves.values()), curves
        # the trained model, kept by the writer in the artifact folder beside the database
        files = store.read_model_files(row["id"])  # each checked against its row's sha256
        assert set(files) == {"model", "preprocessing", "manifest"}
        formats = [f["format"] for f in trial["model_files"]]
        assert formats[0] == ("safetensors" if deep else "skops" if "forest" in row["model"]
                              else "xgboost-ubj"), formats  # fmt: skip
    assert_artifacts_settled(db)
    (run,) = store.runs()
    assert run["id"] == summary.run_id and run["suite"] == "smoke"
    assert run["status"] == "completed" and run["command"] == "pytest smoke"
    store.close()

    report = subprocess.run(
        [sys.executable, "-m", "harness.report", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    assert "indian_pines" in report.stdout and "OA" in report.stdout, report.stdout
    # what the Ray workers stored makes the detail tables: every class of the crop, the
    # six models' shared test pixels paired for McNemar, each trial's intervals
    out = report.stdout
    assert "### Per-class accuracy (recall, %)" in out
    assert "### McNemar's test vs claresnet_tiny" in out
    tested = re.findall(r"^\| (\w+_tiny) \| 1 \| 0: [^|]+\| [01] of 1 \|", out, re.MULTILINE)
    assert sorted(tested) == sorted(SMOKE_MODELS - {"claresnet_tiny"}), out  # seed 0 each
    assert "### Bootstrap 95 % intervals per trial" in out
    assert out.count("| 0 | ") >= 6  # one interval row per trial (seed 0)


@pytest.mark.slow
def test_smoke_suite_again_skips_everything(smoke_db, smoke_specs, shared_data, tmp_path):
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions

    db, first = smoke_db
    before = _trials(db)
    options = RunOptions(
        db=str(db), suite="smoke", data_dir=str(shared_data), storage_path=str(tmp_path / "tune")
    )
    summary = run_specs(smoke_specs, options, out=None)
    assert summary.planned == 6 and summary.skipped == 6
    assert summary.completed == [] and summary.failed == {} and summary.ok
    assert summary.run_id != first.run_id
    assert _trials(db) == before  # no new trial rows, none touched
    with ResultStore(db, readonly=True) as store:
        assert store.runs()[-1]["status"] == "completed"


# --------------------------------------------------------------------------- 2. a failing trial


@pytest.mark.slow
def test_failing_trial_is_stored_and_the_rest_completes(
    ray_session, smoke_specs, shared_data, tmp_path
):
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions

    by_model = {s.model: s for s in smoke_specs}
    good = [by_model["random_forest_tiny"], by_model["xgboost_tiny"]]
    bad = by_model["claresnet_tiny"].with_(hparams={"emb_dim": 30})
    assert bad.spec_hash != by_model["claresnet_tiny"].spec_hash
    db = tmp_path / "fail.db"
    options = RunOptions(
        db=str(db),
        suite="smoke",
        data_dir=str(shared_data),
        storage_path=str(tmp_path / "tune"),
        max_failures=0,
    )
    summary = run_specs([*good, bad], options, out=None)
    assert not summary.ok
    assert set(summary.failed) == {bad.spec_hash}
    assert "emb_dim=30" in summary.failed[bad.spec_hash], summary.failed
    assert sorted(summary.completed) == sorted(s.spec_hash for s in good)

    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
        assert len(rows) == 3  # max_failures=0: one attempt of the failing trial
        (failed,) = (r for r in rows if r["spec_hash"] == bad.spec_hash)
        assert failed["status"] == "failed" and failed["attempt"] == 1
        assert "emb_dim=30" in failed["error"]
        detail = store.trial(failed["id"])
        assert "Traceback" in detail["traceback"] and "HyperparameterError" in detail["traceback"]
        assert detail["metrics"] == {} and detail["per_class"] == []
        assert detail["artifacts"] == [] and detail["info"] is None
        assert {r["spec_hash"] for r in rows if r["status"] == "completed"} == {
            s.spec_hash for s in good
        }
        assert store.runs()[-1]["status"] == "failed"


@pytest.mark.slow
def test_the_writer_takes_a_result_as_it_is_and_returns_what_it_stored(ray_session, tmp_path):
    """The writer actor gets the ``TrialResult`` itself (Ray serialises it: a result this
    big goes through the object store, its arrays read without a copy) and answers with
    the ``Stored`` row, the error of a failed result included; the driver finds that
    error again with ``stored_failure``, reading nothing from the database."""
    import numpy as np
    import ray
    from test_store import full_result, make_test_spec

    from harness.execute.context import open_run
    from harness.execute.options import RunOptions
    from harness.result import TrialResult

    big = full_result(make_test_spec())
    big.class_map = (np.arange(512 * 512) % 7 + 1).astype(np.int16).reshape(512, 512)
    bad = make_test_spec(seed=1)
    failed = TrialResult.failed(bad, ValueError("boom"), "Traceback (most recent call last): ...")
    db = tmp_path / "writer.db"
    with open_run(RunOptions(db=str(db), suite="smoke"), None) as ctx:
        ctx.ensure_ray()
        stored = ray.get(ctx.writer.write.remote(big))
        lost = ray.get(ctx.writer.write.remote(failed))
        assert ctx.stored_failure(bad) == lost and ctx.stored_failure(big.spec) is None
    assert (stored.spec_hash, stored.attempt, stored.status, stored.error) == (
        big.spec_hash,
        1,
        "completed",
        None,
    )
    assert (lost.spec_hash, lost.status, lost.error) == (
        bad.spec_hash,
        "failed",
        "ValueError: boom",
    )
    with ResultStore(db, readonly=True) as store:
        np.testing.assert_array_equal(store.artifact(stored.trial_id, "class_map"), big.class_map)
        assert store.trial(lost.trial_id)["error"] == "ValueError: boom"


PACKING_SCRIPT = """
import json, sys, warnings
from dataclasses import replace
import ray
from harness.execute.context import run_specs
from harness.execute.options import RunOptions
from harness.suites import SuiteOptions, get_suite

db, data_dir, storage = sys.argv[1:4]
# one GPU declared as a resource (no CUDA here: a deep trial that gets a fraction of
# it trains on the CPU), so that deep and tree trials ask for different resources
ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False,
         log_to_driver=False)
specs = {s.model: s for s in get_suite("smoke").build(SuiteOptions(data_dir=data_dir))}
deep = specs["hybridsn_tiny"]
deep = deep.with_(training=replace(deep.training, epochs=4))
options = RunOptions(db=db, suite="smoke", data_dir=data_dir, storage_path=storage)
summary = run_specs([specs["random_forest_tiny"], deep], options, out=None)
ray.shutdown()
sys.exit(0 if summary.ok else 1)
"""


@pytest.mark.slow
def test_deep_and_tree_trials_run_side_by_side_in_one_tuner(shared_data, ray_env, tmp_path):
    """Packing: on a cluster with a GPU, a grid of deep (CPU + GPU fraction) and tree
    (CPU only) trials runs in one Tuner, each trial asking for its own resources, and
    the tree trial runs beside the deep one on the other CPU. (They used to run as one
    Tuner per resource shape, one after the other.)"""
    script = tmp_path / "packing_run.py"
    script.write_text(PACKING_SCRIPT)
    db, log, storage = tmp_path / "packed.db", tmp_path / "packed.log", tmp_path / "tune"
    proc = spawn(
        [sys.executable, str(script), str(db), str(shared_data), str(storage)], ray_env, log
    )
    assert finish(proc, timeout=300, log=log) == 0, tail(log)
    experiments = [p.name for p in storage.iterdir() if p.is_dir()]
    assert len(experiments) == 1, experiments  # one Tuner.fit for both resource shapes
    with ResultStore(db, readonly=True) as store:
        rows = {r["model"]: r for r in store.trials()}
        deep_info = store.trial(rows["hybridsn_tiny"]["id"])["info"]
    t, d = rows["random_forest_tiny"], rows["hybridsn_tiny"]
    assert t["status"] == d["status"] == "completed"
    # the two ran at the same time (their [start, end] intervals overlap)
    assert t["started_at"] < d["finished_at"] and d["started_at"] < t["finished_at"], (d, t)
    assert deep_info["device"].startswith("cpu")  # the declared GPU has no CUDA behind it


# --------------------------------------------------------------------------- 3. kill and resume


@pytest.mark.slow
def test_killed_driver_resumes(shared_data, smoke_specs, ray_env, tmp_path):
    """SIGKILL the driver (its process group: the driver, GCS and raylet) mid-suite, re-run.

    The trees first, so that the trial in flight at the kill is a deep one with
    seconds of work left: the driver's Ray processes die with it (fate sharing),
    but its workers (the trial and the writer actor) notice the dead raylet only
    after a few seconds (~3 s here) and a trial about to finish can still store
    its result after the kill. Either way the re-run must leave exactly one
    completed row per spec.
    """
    db = tmp_path / "kill.db"
    log = tmp_path / "run.log"
    order = ["random_forest_tiny", "xgboost_tiny", "claresnet_tiny", "hybridsn_tiny"]
    order += sorted(SMOKE_MODELS - set(order))
    cmd = _smoke_cli(db, shared_data, "--max-concurrent", "1", "--models", *order)
    proc = spawn(cmd, ray_env, log)
    deadline = time.monotonic() + 300
    try:
        while True:
            polled_at = datetime.now(UTC)
            rows = _trials(db)
            done = [r for r in rows if r["status"] == "completed"]
            in_flight = [r for r in rows if r["status"] == "running"]
            if len(done) >= 2 and any(r["model"] not in TREE_MODELS for r in in_flight):
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before the kill:\n{tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no 2 completed + 1 deep running within 300 s:\n{tail(log)}")
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    leaked = reap_session(proc.pid)
    assert not leaked, f"Ray processes outlived the killed driver by 30 s (killed): {leaked}"

    before = {r["id"]: r for r in _trials(db)}
    done_before = {i: r for i, r in before.items() if r["status"] == "completed"}
    left_running = {i: r for i, r in before.items() if r["status"] == "running"}
    assert 2 <= len(done_before) < 6, before
    for row in in_flight:  # in flight at the kill: still running, or stored after it
        now = before[row["id"]]
        assert now["status"] == "running" or (
            now["status"] == "completed" and now["finished_at"] > polled_at
        ), now

    rerun = spawn(cmd, ray_env, log)
    rc = finish(rerun, timeout=300, log=log)
    assert rc == 0, tail(log)
    assert f"6 trials planned, {len(done_before)} already done" in tail(log), tail(log)

    after = _trials(db)
    completed = [r for r in after if r["status"] == "completed"]
    counts = collections.Counter(r["spec_hash"] for r in completed)
    assert set(counts) == {s.spec_hash for s in smoke_specs} and set(counts.values()) == {1}
    assert len(after) == 6, after  # no duplicates, no extra attempts
    by_id = {r["id"]: r for r in after}
    for trial_id, row in done_before.items():  # kept, not re-run
        assert by_id[trial_id] == row and row["attempt"] == 1
    for trial_id, row in left_running.items():  # re-run in the open row it left
        final = by_id[trial_id]
        assert final["status"] == "completed" and final["spec_hash"] == row["spec_hash"]
        assert final["attempt"] == 1 and final["run_id"] != row["run_id"]
    with ResultStore(db, readonly=True) as store:
        runs = store.runs()
    assert len(runs) == 2 and runs[-1]["status"] == "completed"
    assert runs[0]["status"] == "interrupted"  # the killed driver's run, closed by the next
    assert_artifacts_settled(db)  # the killed writer's model files: published or deleted


@pytest.mark.slow
def test_ctrl_c_marks_running_trials_interrupted(shared_data, ray_env, tmp_path):
    """SIGINT (Ctrl-C) to the driver mid-suite: exit 130, the run and its running trial
    "interrupted", nothing left "running"; the same command then completes them all."""
    db = tmp_path / "int.db"
    log = tmp_path / "run.log"
    models = ["random_forest_tiny", "claresnet_tiny", "hybridsn_tiny"]
    cmd = _smoke_cli(db, shared_data, "--max-concurrent", "1", "--models", *models)
    proc = spawn(cmd, ray_env, log)
    deadline = time.monotonic() + 300
    while True:
        rows = _trials(db)
        in_flight = [r for r in rows if r["status"] == "running"]
        if any(r["model"] == "claresnet_tiny" for r in in_flight):
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before Ctrl-C:\n{tail(log)}")
        if time.monotonic() > deadline:
            finish(proc, timeout=1, log=log)
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    rc = finish(proc, timeout=120, log=log)
    assert rc == run_cli.EXIT_INTERRUPTED, tail(log)
    assert "run the same command again to resume" in tail(log)

    rows = {r["id"]: r for r in _trials(db)}
    assert not [r for r in rows.values() if r["status"] in ("running", "pending")], rows
    (stopped,) = in_flight
    assert rows[stopped["id"]]["status"] in ("interrupted", "completed"), rows
    assert "interrupted" in {r["status"] for r in rows.values()}, rows
    with ResultStore(db, readonly=True) as store:
        assert store.runs()[-1]["status"] == "interrupted"

    rc = finish(spawn(cmd, ray_env, log), timeout=300, log=log)
    assert rc == 0, tail(log)
    after = _trials(db)
    assert sorted(r["model"] for r in after) == sorted(models)  # the open rows were reused
    assert {r["status"] for r in after} == {"completed"} and {r["attempt"] for r in after} == {1}


# --------------------------------------------------------------------------- 4. the CLI


def _dry_run_marks(out: str) -> dict[str, str]:
    marks = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and len(parts[0]) == 12 and all(c in "0123456789abcdef" for c in parts[0]):
            marks[parts[0]] = parts[1]
    return marks


def test_dry_run_on_a_new_database(shared_data, smoke_specs, tmp_path, capsys):
    db = tmp_path / "new.db"
    code = run_cli.main(
        ["--suite", "smoke", "--db", str(db), "--dry-run", "--data-dir", str(shared_data)]
    )
    out = capsys.readouterr().out
    assert code == 0
    marks = _dry_run_marks(out)
    assert marks == {s.spec_hash[:12]: "no" for s in smoke_specs}, out
    assert "6 trials, 0 done, 6 to run" in out
    assert _trials(db) == []  # nothing ran


def test_dry_run_lists_the_folds(shared_data, tmp_path, capsys):
    argv = ["--suite", "smoke", "--db", str(tmp_path / "cv.db"), "--dry-run"]
    argv += ["--data-dir", str(shared_data), "--protocol", "block_cv", "--seeds", "2"]
    code = run_cli.main([*argv, "--models", "random_forest_tiny"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.split()[:1] != []]
    assert rows[0][-2:] == ["seed", "fold"]
    listed = [(r[-2], r[-1]) for r in rows if r[0] in _dry_run_marks(out)]
    assert listed == [(str(seed), f"{fold}/5") for seed in range(2) for fold in range(5)]
    assert "10 trials, 0 done, 10 to run" in out and "block_cv: 5 folds per seed" in out


@pytest.mark.slow
def test_dry_run_after_the_smoke_run(smoke_db, smoke_specs, shared_data, capsys):
    db, _ = smoke_db
    code = run_cli.main(
        ["--suite", "smoke", "--db", str(db), "--dry-run", "--data-dir", str(shared_data)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert _dry_run_marks(out) == {s.spec_hash[:12]: "yes" for s in smoke_specs}, out
    assert "6 trials, 6 done, 0 to run" in out


def test_list_suites():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.run", "--list-suites"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert names == {"smoke", "quick", "paper", "published", "leakage", "search"}


USAGE_ERRORS = {
    "seeds": (["--seeds", "0"], "--seeds 0 must be >= 1"),
    "protocol": (["--protocol", "random"], "--protocol 'random'"),
    "db": (["--db", "/nonexistent/x.db"], "/nonexistent"),
    "models": (["--models", "claresnett"], "Did you mean 'claresnet'"),
    # checked by harness.execute.RunOptions, still named by their flags
    "max-concurrent": (["--max-concurrent", "0"], "--max-concurrent 0 must be >= 1"),
    "gpus-per-trial": (["--gpus-per-trial", "9"], "--gpus-per-trial 9.0 must be between 0 and 8"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2(case, tmp_path, capsys):
    args, message = USAGE_ERRORS[case]
    argv = ["--suite", "smoke", "--db", str(tmp_path / "u.db"), *args]
    code = run_cli.main(argv)
    err = capsys.readouterr().err
    assert code == run_cli.EXIT_USAGE == 2
    assert err.startswith("error: ") and message in err, err
    assert not (tmp_path / "u.db").exists()  # nothing created before the flags are good


@pytest.mark.parametrize(
    "case",
    ["seeds", "protocol", "db", "models", "max-concurrent", "gpus-per-trial"],
)
def test_usage_errors_name_the_flag(case, tmp_path, capsys):
    args, _ = USAGE_ERRORS[case]
    assert run_cli.main(["--suite", "smoke", "--db", str(tmp_path / "u.db"), *args]) == 2
    assert args[0] in capsys.readouterr().err


def test_usage_error_exit_status_of_the_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness.run", "--suite", "smoke", "--seeds", "0"],
        cwd=tmp_path,  # a default results.db would land here (it must not be created)
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--seeds" in proc.stderr, proc.stderr
    assert not (tmp_path / "results.db").exists()


# --------------------------------------------------------------------------- 5. two nodes

CLUSTER_SCRIPT = textwrap.dedent(
    """
    import json
    import shutil
    import sys

    import ray
    from ray.cluster_utils import Cluster

    import datasets
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.suites import SuiteOptions, get_suite

    db, data_dir, storage, out, field_dir, splits_dir = sys.argv[1:7]
    chosen = {"random_forest_tiny", "xgboost_tiny", "hybridsn_tiny", "ssrn_tiny"}
    specs = [
        s for s in get_suite("smoke").build(SuiteOptions(data_dir=data_dir)) if s.model in chosen
    ]
    # a user scene (real files, its own TOML) that only the driver ever reads: its
    # folder is gone before the first trial starts
    datasets.register_scene_file(field_dir + "/field.toml")
    user = SuiteOptions(scenes=("field",), models=tuple(sorted(chosen)), seeds=1, epochs=1)
    user_specs = get_suite("paper").build(user)
    assert {s.source for s in user_specs} == {"real"}
    specs += user_specs
    # fixed splits, declared in a scene file and given ad hoc: their label maps too are
    # read on the driver only and travel with the scene
    datasets.register_scene_file(splits_dir + "/field_npy_split.toml")
    datasets.register_scene_file(splits_dir + "/field_tif_split.toml")
    two = ("random_forest_tiny", "hybridsn_tiny")
    fixed_specs = get_suite("paper").build(
        SuiteOptions(scenes=("field_npy_split",), models=two, seeds=1, epochs=1,
                     protocol="fixed:stripes")
    ) + get_suite("paper").build(
        SuiteOptions(scenes=("field_tif_split",), models=two, seeds=1, epochs=1,
                     protocol="fixed:adhoc",
                     split_files=(("train", splits_dir + "/split_train.tif"),
                                  ("test", splits_dir + "/split_test.npy")))
    )
    specs += fixed_specs
    shutil.rmtree(field_dir)
    shutil.rmtree(splits_dir)
    cluster = Cluster(
        initialize_head=True,
        connect=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        options = RunOptions(
            db=db,
            suite="smoke",
            cpus_per_trial=1,
            data_dir=data_dir,
            storage_path=storage,
            max_failures=0,
        )
        summary = run_specs(specs, options, out=None)
        # the GCS actor table keeps dead actors, with the node each one ran on
        actors = [
            {k: a[k] for k in ("ActorClassName", "Name", "Pid", "State")}
            | {"NodeID": a["Address"]["NodeID"]}
            for a in ray._private.state.actors().values()
        ]
        result = {
            "head": cluster.head_node.node_id,
            "worker": worker.node_id,
            "driver_node": ray.get_runtime_context().get_node_id(),
            "alive_nodes": nodes,
            "resources": ray.cluster_resources(),
            "run_id": summary.run_id,
            "completed": summary.completed,
            "failed": summary.failed,
            "specs": [s.spec_hash for s in specs],
            "user_specs": [s.spec_hash for s in user_specs],
            "fixed_specs": [s.spec_hash for s in fixed_specs],
            "actors": actors,
        }
        with open(out, "w") as handle:
            json.dump(result, handle)
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


@pytest.mark.slow
def test_two_node_cluster(shared_data, ray_env, tmp_path):
    script = tmp_path / "cluster_run.py"
    script.write_text(CLUSTER_SCRIPT)
    db, out, log = tmp_path / "cluster.db", tmp_path / "cluster.json", tmp_path / "cluster.log"
    field = write_field_scene(tmp_path / "field")["toml"].parent
    splits = write_field_splits(tmp_path / "splits")["mat"].parent
    args = [str(db), str(shared_data), str(tmp_path / "tune"), str(out), str(field), str(splits)]
    proc = spawn([sys.executable, str(script), *args], ray_env, log)
    rc = finish(proc, timeout=300, log=log)
    assert rc == 0 and out.exists(), tail(log)
    res = json.loads(out.read_text())

    head, worker = res["head"], res["worker"]
    assert head != worker and sorted(res["alive_nodes"]) == sorted([head, worker])
    assert res["resources"]["CPU"] == 2.0
    assert res["failed"] == {} and sorted(res["completed"]) == sorted(res["specs"])
    assert len(res["user_specs"]) == 4 and not field.exists()
    assert len(res["fixed_specs"]) == 4 and not splits.exists()

    # every result reached the database, through the one writer on the driver's node
    rows = _trials(db)
    assert sorted(r["spec_hash"] for r in rows) == sorted(res["specs"])
    assert all(r["status"] == "completed" and r["run_id"] == res["run_id"] for r in rows)
    # (the class is made in harness.execute.writer.writer_class: "writer_class.<locals>.ResultWriter")
    writers = [a for a in res["actors"] if a["ActorClassName"].endswith("ResultWriter")]
    assert [w["Name"] for w in writers] == [f"hsi-result-writer-{res['run_id']}"]
    assert writers[0]["NodeID"] == res["driver_node"] == head

    # the trials ran on both nodes: each Tune trial runs in an ImplicitFunc actor (reused
    # from trial to trial), and the runner records the node in the trial's info
    trials = [a for a in res["actors"] if a["ActorClassName"].endswith("ImplicitFunc")]
    assert {a["NodeID"] for a in trials} == {head, worker}, trials
    with ResultStore(db, readonly=True) as store:
        recorded = [(store.trial(r["id"])["info"] or {}).get("node_id") for r in rows]
    assert set(recorded) == {head, worker}, recorded
    # the user scene's trials too: on both nodes, with the scene the driver resolved
    user_nodes = {
        recorded[i] for i, r in enumerate(rows) if r["spec_hash"] in set(res["user_specs"])
    }
    assert user_nodes == {head, worker}, user_nodes
    # the fixed splits' trials: completed from label maps only the driver ever read
    fixed = [r for r in rows if r["spec_hash"] in set(res["fixed_specs"])]
    assert sorted(r["protocol"] for r in fixed) == ["fixed:adhoc"] * 2 + ["fixed:stripes"] * 2
    assert {r["status"] for r in fixed} == {"completed"}
    # the trained models: their bytes came back with the results from both nodes and
    # were written by the one writer; a model trained on the worker node reproduces its
    # stored map here
    assert_artifacts_settled(db)
    from harness import predict

    # (the user scene's files were removed before the run: the same seeded files again)
    again = write_field_scene(tmp_path / "field_again")["toml"]
    scene_args = {"indian_pines": ["--scene", "indian_pines"],
                  "field": ["--scene-file", str(again), "--scene", "field"]}  # fmt: skip
    on_worker = [
        r for i, r in enumerate(rows) if recorded[i] == worker and r["scene"] in scene_args
    ]
    assert any(r["scene"] == "field" for r in on_worker), on_worker  # user_nodes says so
    with ResultStore(db, readonly=True) as store:
        for row in on_worker:
            out = tmp_path / f"map{row['id']}.npy"
            assert predict.main(["--db", str(db), "--trial", str(row["id"]),
                                 *scene_args[row["scene"]], "--out", str(out)]) == 0  # fmt: skip
            assert np.array_equal(np.load(out), store.artifact(row["id"], "class_map"))
