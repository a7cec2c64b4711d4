"""Provenance: the code version, packages and machine a run (or a benchmark) ran with.

Recorded with every run (:meth:`harness.store.ResultStore.start_run` stores
:func:`collect_provenance`'s dict), named on every trial's device line
(:func:`cpu_model`), and printed under every benchmark (``bench/_common.py``), so
a number always comes with where it was obtained.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "PROVENANCE_PACKAGES",
    "PROJECT_ROOT",
    "collect_provenance",
    "cpu_model",
    "git",
    "gpu_info",
    "process_alive",
]

#: The project's checkout (where ``git`` is asked for the commit).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Packages whose versions are recorded with every run (distribution names).
PROVENANCE_PACKAGES = (
    "torch",
    "numpy",
    "scipy",
    "scikit-learn",
    "xgboost",
    "ray",
    "optuna",
    "sqlalchemy",
)


def git(*args: str) -> str | None:
    """``git ARGS`` in the project's checkout: its output (trailing newlines removed),
    or None outside a checkout or without git."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.rstrip() if done.returncode == 0 else None


def process_alive(pid: int) -> bool:
    """Whether a process of this host is alive (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def gpu_info() -> tuple[str | None, str | None]:
    """(GPU name or None, torch's CUDA version or None); imports torch."""
    try:
        import torch
    except ImportError:
        return None, None
    cuda = getattr(torch.version, "cuda", None)
    try:
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0), cuda
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "Apple MPS", cuda
    except Exception:  # a broken driver must not stop a run from being recorded
        return None, cuda
    return None, cuda


def collect_provenance(gpu: bool = True) -> dict[str, Any]:
    """Where and with what a run happens, for :meth:`ResultStore.start_run`.

    Args:
        gpu: ask torch for the GPU name and CUDA version (imports torch).

    Returns:
        git_commit and git_dirty (tracked files changed; None outside a git checkout),
        packages {distribution: version or None}, host, cpu, gpu, cuda_version,
        python_version, platform, pid (the driver's process id, so that a later run
        on the same host can tell a dead run from a live one).
    """
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    packages: dict[str, str | None] = {}
    for name in PROVENANCE_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    gpu_name, cuda = gpu_info() if gpu else (None, None)
    return {
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "packages": packages,
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "gpu": gpu_name,
        "cuda_version": cuda,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "pid": os.getpid(),
    }
