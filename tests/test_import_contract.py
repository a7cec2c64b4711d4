"""The import contract of harness/ (pyproject.toml's ``[tool.importlinter]``): it holds on
the code as it is, and it breaks when a lower room imports a higher one or when two
modules import each other in a circle, even from inside a function."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "models", "datasets", "dashboard")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``root`` with the project's contracts.

    ``-S`` keeps the editable install's import hook out, so that the packages found are
    the ones under ``root``; the virtual environment's site-packages come after them.
    """
    paths = [str(root), *site.getsitepackages()]
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-S", "-c", code, "--config", str(root / "pyproject.toml")],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )  # fmt: skip


@pytest.fixture
def copy(tmp_path) -> Path:
    """The project's packages and pyproject.toml, copied (sources only)."""
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.csv", "*.npy", "*.mat"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_contract_holds(copy):
    done = _lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_a_lower_room_importing_a_higher_one_breaks_it(copy):
    # the store (a lower room) reaching up into the runner
    _append(copy / "harness" / "store" / "writer.py", "\nfrom ..execute import options  # noqa\n")
    done = _lint(copy)
    assert done.returncode == 1, done.stdout
    assert (
        "BROKEN" in done.stdout and "harness.store.writer -> harness.execute.options" in done.stdout
    )


def test_the_dashboard_importing_the_runner_breaks_it(copy):
    _append(copy / "dashboard" / "queries.py", "\n\ndef _runner():\n    from harness import run\n")
    done = _lint(copy)
    assert done.returncode == 1 and "never the runner BROKEN" in done.stdout, done.stdout


def test_a_circle_formed_inside_a_function_breaks_it(copy):
    # harness.result imports harness.spec; a function of spec importing result closes a circle
    _append(
        copy / "harness" / "spec.py", "\n\ndef _circle():\n    from .result import TrialResult\n"
    )
    done = _lint(copy)
    assert done.returncode == 1, done.stdout
    assert "no import circle among the modules of harness or of a room BROKEN" in done.stdout
