"""``bench/gpu_paper_check.py``, the prepared GPU run, checked on the CPU with the tiny
model on a real crop: every figure lands in its folder; without the cube it says what
it needs and how to bring it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_paper_check.py"


def _run(*args, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip


@pytest.mark.real_data
def test_the_steps_run_on_a_real_crop(real_ip_dir, tmp_path):
    out = tmp_path / "gpu_check"
    done = _run("--out", out, "--device", "cpu", "--model", "claresnet_tiny", "--epochs", "1",
                "--crop", "32", "--skip-benchmarks", "--data-dir", real_ip_dir)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("environment.json", "cost.json", "metrics.json", "curves.csv", "summary.md",
                 "results.db"):  # fmt: skip
        assert (out / name).is_file(), name
    cost = json.loads((out / "cost.json").read_text())
    assert cost["flops_per_training_step"] == 3 * cost["flops_per_inference_batch"] > 0
    assert cost["epochs"] == 1 and cost["expected_minutes"] > 0
    environment = json.loads((out / "environment.json").read_text())
    assert environment["device"] == "cpu" and environment["scene_files"][0]["role"] == "cube"
    summary = (out / "summary.md").read_text()
    assert "Table III: 99.71 ± 0.11 %" in summary and "not the paper's configuration" in summary
    assert "expected time of the trial" in done.stdout


def test_without_the_cube_it_says_what_it_needs(tmp_path):
    done = _run("--out", tmp_path / "o", "--device", "cpu", "--data-dir", tmp_path / "empty",
                env={"HSI_DATA_PATH": ""})  # fmt: skip
    assert done.returncode == 2
    assert "the real Indian Pines cube is needed" in done.stderr
    assert "--from pypi" in done.stderr and "--wheel FILE" in done.stderr
