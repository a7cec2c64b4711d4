"""The shared-data gate: tests needing ../shared/data skip without it, or fail under HSI_REQUIRE_SHARED=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGET = "tests/test_scenes.py::test_surrogate_is_deterministic_and_seeded"


def run_pytest(tmp_path: Path, require: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HSI_SHARED_DATA": str(tmp_path / "absent"), "HSI_REQUIRE_SHARED": require}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("require", "code", "word"), [("0", 0, "skipped"), ("1", 1, "error")])
def test_missing_shared_data_skips_or_fails(tmp_path, require, code, word):
    out = run_pytest(tmp_path, require)
    assert out.returncode == code, out.stdout + out.stderr
    assert word in out.stdout and "absent" in out.stdout
