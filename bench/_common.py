"""Helpers shared by the benchmarks in ``bench/``.

Every benchmark records the machine, the software versions, the git commit, the
date, the command and the share of CPU time that other processes took while it
ran, and writes its Markdown section between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers of ``docs/BENCHMARKS.md``. Writing is refused when
the machine was busy (see :func:`report`).

The benchmarks are scripts (``python bench/NAME.py``), so ``bench/`` is first on
``sys.path`` and they import this module as ``_common``.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.provenance import cpu_model, git  # noqa: E402

DOC_HEADER = (
    "# Benchmarks\n\n"
    "Every figure below comes with the machine it was measured on and the exact command "
    "that produced it.\n"
)


class OtherLoad:
    """Share of the machine's CPU time used by other processes between start and stop.

    Benchmarks on a shared machine are disturbed by whatever else runs; this
    records how much did (from ``/proc/stat`` minus this process's own CPU time,
    which includes that of its finished and waited-for child processes).
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        ticks = [int(v) for v in fields]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf(
            "SC_CLK_TCK"
        )  # minus idle, iowait
        own = sum(os.times()[:4])
        return time.perf_counter(), busy, own

    def share(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall = end[0] - self._start[0]
        other = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(other, 0.0) / (wall * (os.cpu_count() or 1))


def code_version(paths: Sequence[str]) -> str:
    """The git commit of the project, and which of ``paths`` (relative to the root) differ from it."""
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", *paths)
    if head is None or dirty is None:
        return "unknown (not a git checkout)"
    changed = sorted(line[3:] for line in dirty.split("\n") if line.strip())
    return f"git {head}" + (
        f", with uncommitted changes to {', '.join(changed)}" if changed else ""
    )


def machine_info() -> dict[str, str]:
    """CPU (with cores and torch threads), software versions, UTC date and load average."""
    cpu = cpu_model() or "unknown CPU"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": f"{cpu}, {cores} cores available (os.cpu_count() = {os.cpu_count()}), "
        f"torch threads = {torch.get_num_threads()}",
        "versions": f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def context_lines(
    info: dict[str, str], code: str, other_load: float | None, command: str
) -> list[str]:
    """The bullet list closing every section: machine, software, code, date, load, command."""
    return [
        f"- Machine: {info['cpu']}",
        f"- Software: {info['versions']}",
        f"- Code: {code}",
        f"- Date: {info['date']}",
        "- Other processes during the run: "
        + (
            "unknown"
            if other_load is None
            else f"{100 * other_load:.0f} % of the machine's CPU time"
        )
        + f"; load average (1 / 5 / 15 min) at the end: {info['load']}",
        f"- Command: `{command}`",
    ]


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: Path, section: str, name: str) -> None:
    """Replace the marked section ``name`` of ``path``, or append it (creating the file)."""
    start_marker, end_marker = markers(name)
    block = f"{start_marker}\n{section}{end_marker}\n"
    text = path.read_text() if path.exists() else DOC_HEADER
    start, end = text.find(start_marker), text.find(end_marker)
    if start != -1 and end > start:
        tail = text[end + len(end_marker) :]
        text = text[:start] + block + tail.removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def report(
    section: str,
    name: str,
    other_load: float | None,
    write: Path | None,
    max_other_load: float,
) -> None:
    """Print ``section``; with ``write``, write it there unless the machine was busy (exit 3)."""
    print(section)
    busy = other_load is not None and other_load > max_other_load
    if busy:
        print(
            f"warning: other processes used {100 * other_load:.0f} % of the machine's CPU time "
            "during the run; the figures are disturbed.",
            file=sys.stderr,
        )
    if write:
        if busy:
            print(f"not writing {write}: rerun on a quiet machine.", file=sys.stderr)
            sys.exit(3)
        write_section(write, section, name)
        print(f"wrote {write}", file=sys.stderr)


def add_common_options(ap, default_max_other_load: float = 0.1) -> None:
    """``--write`` and ``--max-other-load``, as every benchmark has them."""
    ap.add_argument(
        "--write", type=Path, metavar="MD", help="replace or append the section in this file"
    )
    ap.add_argument(
        "--max-other-load",
        type=float,
        default=default_max_other_load,
        metavar="SHARE",
        help="with --write, do not write (exit 3) when other processes used more than this "
        f"share of the machine's CPU time during the run (default {default_max_other_load})",
    )


class MachineBusy(RuntimeError):
    """Other processes took more of the CPU than a benchmark that writes its figures allows."""


class BusyGuard:
    """Stops a writing benchmark early once the machine turned out busy.

    Args:
        limit: the largest share of CPU time other processes may use since the
            guard was made; ``None`` never stops (a run that does not write).
    """

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.load = OtherLoad()

    def check(self) -> None:
        """Raise :class:`MachineBusy` when other processes used more than ``limit`` so far."""
        share = self.load.share()
        if self.limit is not None and share is not None and share > self.limit:
            raise MachineBusy(
                f"other processes used {100 * share:.0f} % of the machine's CPU time so far "
                f"(limit {100 * self.limit:.0f} %); stopped early, nothing written: rerun on a "
                "quiet machine."
            )
