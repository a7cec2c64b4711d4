"""``bench/significance.py`` runs and reports the bootstrap on Salinas' real test set size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_writes_its_section(tmp_path):
    out = tmp_path / "BENCH.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "significance.py"), "--repeats", "1",
         "--write", str(out), "--max-other-load", "1.0"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "<!-- significance:start -->" in text and "<!-- significance:end -->" in text
    assert "Salinas' paper-protocol test set at seed 42 (10,826 pixels, 16 classes)" in text
    assert "`bootstrap_intervals`: OA, AA, kappa, 1,000 resamples, percentile" in text
