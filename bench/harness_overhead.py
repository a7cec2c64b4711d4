"""The harness's own overhead: Ray start-up, per-trial scheduling and writing, DB writes.

Three measurements on this machine:

1. **Ray start-up**: a fresh Python process times ``import ray; ray.init()`` (local,
   no dashboard) to ready, median of ``--repeats`` processes.
2. **The smoke suite through the runner** (``run_specs``, one trial at a time so
   that the trials' own times add up to the wall time they occupy): the suite's
   wall time against the sum of its trials' times, split into what the trial
   does (fit, inference, everything between its start and its stored result) and
   what the harness adds around it (Ray and the writer actor coming up, Tune
   scheduling each trial's actor, the result's trip to the writer, the run rows).
   Then the same suite with the default concurrency, for its wall time.
3. **Database writes**: ``ResultStore.write`` of real smoke results (every metric,
   per-class row, curve, embedding and map) into a fresh SQLite file, one
   transaction per trial, median milliseconds per trial and bytes per trial.

    python bench/harness_overhead.py [--repeats 3] [--writes 20] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

from _common import (
    BusyGuard,
    MachineBusy,
    add_common_options,
    code_version,
    context_lines,
    machine_info,
    report,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "harness-overhead"

_RAY_START = """
import time
t0 = time.perf_counter()
import ray
ray.init(include_dashboard=False, log_to_driver=False)
print(time.perf_counter() - t0)
ray.shutdown()
"""


def ray_startup(repeats: int, guard: BusyGuard) -> list[float]:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="rb", dir="/tmp") as tmp:
            env = {**os.environ, "RAY_TMPDIR": tmp}
            env.pop("RAY_ADDRESS", None)
            out = subprocess.run(
                [sys.executable, "-c", _RAY_START],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=True,
            )
        times.append(float(out.stdout.strip().splitlines()[-1]))
        guard.check()
    return times


def smoke_specs(data_dir: str | None):
    import datasets
    from harness.suites import SuiteOptions, get_suite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        return get_suite("smoke").build(SuiteOptions(data_dir=data_dir))


def suite_run(specs, max_concurrent: int | None, folder: Path, data_dir: str | None):
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.store import ResultStore

    db = folder / f"smoke-{max_concurrent}.db"
    options = RunOptions(
        db=str(db),
        suite="smoke",
        max_concurrent=max_concurrent,
        data_dir=data_dir,
        storage_path=str(folder / "tune"),
    )
    summary = run_specs(specs, options, out=None)
    if not summary.ok:
        raise SystemExit(f"the smoke suite failed: {summary.failed}")
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
    inside = sum((r["finished_at"] - r["started_at"]).total_seconds() for r in rows)
    fit = sum((r["fit_seconds"] or 0) + (r["inference_seconds"] or 0) for r in rows)
    return summary, inside, fit, len(rows)


def db_writes(specs, n: int, folder: Path, data_dir: str | None, guard: BusyGuard):
    import torch

    from harness.store import ResultStore
    from harness.trial.flow import run_trial

    torch.set_num_threads(1)
    results = [run_trial(s, data_dir=data_dir, device="cpu") for s in specs]
    guard.check()
    db = folder / "writes.db"
    store = ResultStore(db)
    per_model: dict[str, list[float]] = {}
    for i in range(n):
        for r in results:
            copy = replace(r, spec=r.spec.with_(seed=1000 + i))
            t0 = time.perf_counter()
            store.write(copy)
            per_model.setdefault(r.spec.model, []).append(time.perf_counter() - t0)
        guard.check()
    store.close()
    total = sum(len(v) for v in per_model.values())
    size = sum(p.stat().st_size for p in folder.glob("writes.db*"))
    return per_model, size / total, total


def render(m: dict, command: str, other_load: float | None) -> str:
    info = machine_info()
    s1, inside1, fit1, n1 = m["serial"]
    s2, _, _, n2 = m["parallel"]
    harness1 = s1.wall_seconds - inside1
    per_trial = (s1.wall_seconds - s1.ray_start_seconds - inside1) / n1
    lines = [
        "## Harness overhead: Ray, scheduling, writing (CPU)",
        "",
        "What the harness adds around the trials (`bench/harness_overhead.py`). Ray start-up: "
        "`import ray; ray.init()` in a fresh process, median of "
        f"{len(m['ray'])} ({', '.join(f'{t:.1f}' for t in m['ray'])} s). Smoke suite: "
        f"{n1} trials through `run_specs` into a new SQLite file, one at a time "
        "(`max_concurrent=1`) so that the trials' own times add up, then with the default "
        "concurrency. A trial's own time runs from `mark_running` to its stored result "
        "(data preparation, fit, inference, metrics, t-SNE, maps, the write); the rest of the "
        "wall time is the harness: Ray and the writer actor coming up, Tune starting each "
        "trial's actor, the result's trip to the writer, the run rows. Trial workers are "
        "reused between trials (`reuse_actors=True`; before, every trial paid a new worker "
        "process: 3.4 s per trial on a loaded machine). The share of 'other processes' "
        "below includes the Ray daemons and workers this benchmark starts.",
        "",
        "| measurement | value |",
        "| --- | ---: |",
        f"| Ray start-up, fresh process (median) | {statistics.median(m['ray']):.1f} s |",
        f"| smoke suite wall time, 1 trial at a time | {s1.wall_seconds:.1f} s |",
        f"| of which Ray + writer start (in the run) | {s1.ray_start_seconds:.1f} s |",
        f"| sum of the trials' own times | {inside1:.1f} s |",
        f"| of which fit + inference | {fit1:.1f} s |",
        f"| harness time (wall - trials' own) | {harness1:.1f} s "
        f"({100 * harness1 / s1.wall_seconds:.0f} % of the wall time) |",
        f"| scheduling + hand-over per trial (excluding Ray start) | {per_trial:.2f} s |",
        f"| smoke suite wall time, default concurrency ({n2} trials) | {s2.wall_seconds:.1f} s |",
        "",
        f"Database writes: `ResultStore.write` of real smoke results (all metrics, per-class "
        f"rows, curves, embeddings, class and entropy maps of a 32 x 32 crop), "
        f"{m['writes_n']} writes into a fresh SQLite file (WAL), one transaction each; "
        f"{m['bytes_per_trial'] / 1024:.0f} KiB per trial on disk.",
        "",
        "| model | writes | median ms / trial | max ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for model, times in sorted(m["writes"].items()):
        lines.append(
            f"| {model} | {len(times)} | {1000 * statistics.median(times):.1f} "
            f"| {1000 * max(times):.1f} |"
        )
    lines.append("")
    lines += context_lines(info, code_version(["bench", "harness"]), other_load, command)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3, help="Ray start-ups timed (default 3)")
    ap.add_argument("--writes", type=int, default=20, help="writes per smoke result (default 20)")
    ap.add_argument("--data-dir", help="folder with the ground-truth files (default: search)")
    # Ray's daemons (GCS, raylet, workers) started by the benchmark itself count as
    # "other processes" for the load meter, hence the higher default limit.
    add_common_options(ap, default_max_other_load=0.5)
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.writes < 1:
        ap.error("--repeats and --writes must be positive")
    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench/harness_overhead.py", *argv])]
    )
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    guard = BusyGuard(args.max_other_load if args.write else None)
    m: dict = {}
    try:
        m["ray"] = ray_startup(args.repeats, guard)
        print(f"ray start-up: {m['ray']}", file=sys.stderr, flush=True)
        specs = smoke_specs(args.data_dir)
        with tempfile.TemporaryDirectory(prefix="hsi-overhead-") as tmp:
            folder = Path(tmp)
            m["serial"] = suite_run(specs, 1, folder, args.data_dir)
            guard.check()
            print(f"smoke, 1 at a time: {m['serial'][0].wall_seconds:.1f} s", file=sys.stderr)
            m["parallel"] = suite_run(specs, None, folder, args.data_dir)
            guard.check()
            print(f"smoke, default: {m['parallel'][0].wall_seconds:.1f} s", file=sys.stderr)
            import ray

            ray.shutdown()
            m["writes"], m["bytes_per_trial"], m["writes_n"] = db_writes(
                specs, args.writes, folder, args.data_dir, guard
            )
    except MachineBusy as exc:
        sys.exit(f"{exc}")
    share = guard.load.share()
    report(render(m, command, share), NAME, share, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
