"""Subprocesses that start a Ray of their own, and checks that they leave nothing behind.

Imported by the tests that run ``python -m harness.run`` or a cluster script in a
child process (see tests/test_run.py's docstring for why each gets its own Ray).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The environment before the session Ray started: ray.init() exports RAY_AUTH_MODE=token
# into os.environ, and a child Ray with another HOME (so no ~/.ray/auth_token) then
# crashes its GCS ("Token authentication is enabled but Ray couldn't find an
# authentication token"; ray.cluster_utils.Cluster does not create one).
ENV_BEFORE_RAY = dict(os.environ)


# --------------------------------------------------------------------------- helpers


def proc_sessions() -> dict[int, int]:
    """pid -> session id of every live process (from /proc)."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # zombies are dead, only not yet reaped
            out[int(entry.name)] = int(fields[3])
    return out


def reap_session(sid: int, timeout: float = 30.0) -> set[int]:
    """Wait until no process of session ``sid`` is left; kill and return the stragglers."""
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid, s in proc_sessions().items() if s == sid}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left


def make_ray_env(tmp_path: Path):
    """Environment of a subprocess that starts a Ray of its own (a generator: the Ray
    temp dir is removed after the test; see tests/test_run.py's docstring)."""
    ray_tmp = tempfile.mkdtemp(prefix="rk", dir="/tmp")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(ENV_BEFORE_RAY)
    env.pop("RAY_ADDRESS", None)
    token = Path.home() / ".ray" / "auth_token"
    if "RAY_AUTH_MODE" in env and token.is_file():  # set by the user: keep their token
        env.setdefault("RAY_AUTH_TOKEN_PATH", str(token))
    env.update(
        RAY_TMPDIR=ray_tmp,
        HOME=str(home),
        TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1",
        PYTHONUNBUFFERED="1",
    )
    yield env
    shutil.rmtree(ray_tmp, ignore_errors=True)


def spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """A subprocess in a new session (its session id is its pid), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def finish(proc: subprocess.Popen, timeout: float, log: Path) -> int:
    """Wait for ``proc``; on a timeout kill its session. Fails on leaked processes."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reap_session(proc.pid, timeout=5)
        pytest.fail(f"{proc.args} ran over {timeout} s; output:\n{tail(log)}")
    leaked = reap_session(proc.pid)
    assert not leaked, f"processes of {proc.args} outlived it by 30 s (killed): {leaked}"
    return rc


def tail(log: Path, n: int = 6000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else "(no output)"
