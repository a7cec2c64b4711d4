"""A fresh clone with nothing beside it: no ../shared, no ./data, no $HSI_DATA_DIR.

The project's files (what ``git ls-files`` lists, plus new files not ignored) are
copied into an empty temporary folder, and the README's main command is tried
there: ``python -m harness.run --suite quick --dry-run`` plans the suite and the
smoke suite runs to the end, on surrogates built from the package's own copies
of the ground truths and class signatures (``datasets/data``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from procs import finish, spawn, tail

ROOT = Path(__file__).resolve().parent.parent


def _project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The project copied alone into an empty folder (its parent holds nothing else)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the fresh-clone test copies the files git tracks: needs git and a checkout")
    dest = tmp_path_factory.mktemp("alone") / "proj"
    for rel in _project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    assert not (dest / "data").exists() and not (dest.parent / "shared").exists()
    return dest


def _env(clone: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    env.pop("HSI_DATA_DIR", None)
    env.pop("HSI_DATA_PATH", None)  # a user has neither
    env["PYTHONPATH"] = str(clone)  # the copy's packages, in the driver and in Ray's workers
    return env


def _run(clone: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=clone,
        env=_env(clone),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_scene_info_uses_the_package_copies(clone):
    out = _run(clone, "-m", "datasets", "info", "indian_pines", "--json")
    assert out.returncode == 0, out.stderr
    desc = json.loads(out.stdout)
    assert desc["source"] == "surrogate"
    files = {f["role"]: f for f in desc["files"]}
    assert set(files) == {"gt", "signatures"}
    for f in files.values():
        assert f["copy"] == "package"
        assert Path(f["path"]).parent == clone / "datasets" / "data"
    assert files["gt"]["sha256"] == (
        "65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c"
    )
    table = _run(clone, "-m", "datasets", "info", "salinas")
    assert table.returncode == 0, table.stderr
    assert "(the package's own copy)" in table.stdout
    assert str(clone / "datasets" / "data" / "Salinas_gt.mat") in table.stdout


def test_quick_suite_plans_with_nothing_beside_the_clone(clone, tmp_path):
    out = _run(
        clone, "-m", "harness.run", "--suite", "quick", "--dry-run", "--db", str(tmp_path / "r.db")
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "12 trials, 0 done, 12 to run" in out.stdout
    rows = [line for line in out.stdout.splitlines() if " surrogate " in line]
    assert len(rows) == 12
    assert "SURROGATE" in out.stderr  # said once per scene, with the download command
    assert "python -m datasets download" in out.stderr


@pytest.mark.slow
def test_smoke_suite_runs_with_nothing_beside_the_clone(clone, ray_env, tmp_path):
    db, log = tmp_path / "smoke.db", tmp_path / "smoke.log"
    proc = spawn(
        [sys.executable, "-m", "harness.run", "--suite", "smoke", "--db", str(db)],
        _env(clone, ray_env),
        log,
        cwd=clone,
    )
    rc = finish(proc, timeout=400, log=log)
    assert rc == 0, tail(log)
    with sqlite3.connect(db) as con:
        statuses = [row[0] for row in con.execute("SELECT status FROM trials")]
    assert statuses == ["completed"] * 6, tail(log)
    # Ray's own log lines stay out of the run's output unless --verbose
    assert " INFO worker.py" not in log.read_text(), tail(log)
    # each trial's "done" line says whether it is a result, as the store does
    from harness.metrics import trial_note
    from harness.store import ResultStore

    lines = log.read_text().splitlines()
    with ResultStore(db, readonly=True) as store:
        for row in store.trials():
            note = trial_note(store.trial(row["id"]))
            (done,) = [x for x in lines if f"] done     {row['model']} " in x]
            assert done.endswith(f" (NOT A RESULT: {note})") == bool(note), done
            assert ("NOT A RESULT" in done) == bool(note), done
