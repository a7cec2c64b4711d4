"""The results store on SQLite and on PostgreSQL: concurrent writers and the leaderboard.

For each backend (a SQLite file in a temp folder; a new database on the PostgreSQL
server at ``$HSI_TEST_POSTGRES``, which ``bash scripts/postgres.sh start`` starts):

(a) ``--writers`` (default 8) processes, each with a store of its own, write
    ``--per-writer`` trials each through ``ResultStore.write`` at the same time (a
    barrier starts them together): completed trials with metrics, 16 per-class rows
    and every artifact, as ``tests/data/make_results_db.py`` makes them (the results
    are made before the barrier, so only writing is timed). Reported: trials written
    per second (all writers together, from the barrier to the last commit), and rows
    lost: trials, metrics, class metrics and artifacts expected minus found (must be 0).
(b) the leaderboard query on ``--trials`` (default 5,000) synthetic trials written by
    ``make_results_db.write_results_db``: ``seeds.leaderboard(ResultStore(db, readonly=True))``
    over every group, median of ``--repeats`` runs on an open store.

    eval "$(bash scripts/postgres.sh start)"
    python bench/store_backends.py [--writers 8] [--per-writer 25] [--trials 5000]
                                   [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, OtherLoad, add_common_options, code_version, context_lines, machine_info
from _common import report as report_section

from harness.analysis import seeds

sys.path.insert(0, str(ROOT / "tests" / "data"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

POSTGRES_ENV = "HSI_TEST_POSTGRES"


def _results(worker: int, n: int) -> list:
    import numpy as np
    from make_results_db import MODELS, make_result, make_spec

    rng = np.random.default_rng(worker)
    return [
        make_result(
            make_spec(MODELS[i % len(MODELS)], "indian_pines", worker * 10_000 + i), 0.9, rng
        )  # fmt: skip
        for i in range(n)
    ]


def _writer(db: str, worker: int, n: int, barrier, out) -> None:
    from harness.store import ResultStore

    results = _results(worker, n)
    with ResultStore(db) as store:
        barrier.wait()
        for result in results:
            store.write(result)
    out.put((worker, time.perf_counter()))


def _expected(writers: int, per_writer: int) -> dict[str, int]:
    """The rows the writers' results make when one writer stores them all (in memory)."""
    memory = "sqlite://"
    from harness.store import ResultStore

    with ResultStore(memory) as store:
        for worker in range(writers):
            for result in _results(worker, per_writer):
                store.write(result)
        return _counts(store)


def _counts(store) -> dict[str, int]:
    from sqlalchemy import func, select

    from harness.store.schema import ArtifactRow, ClassMetricRow, MetricRow, TrialRow

    with store.session() as s:
        return {
            "trials": s.scalar(
                select(func.count()).select_from(TrialRow).where(TrialRow.status == "completed")
            ),
            "metrics": s.scalar(select(func.count()).select_from(MetricRow)),
            "class_metrics": s.scalar(select(func.count()).select_from(ClassMetricRow)),
            "artifacts": s.scalar(select(func.count()).select_from(ArtifactRow)),
        }


def _found(db: str) -> dict[str, int]:
    from harness.store import ResultStore

    with ResultStore(db, readonly=True) as store:
        return _counts(store)


def concurrent_writes(db: str, writers: int, per_writer: int) -> dict[str, float | int]:
    from harness.store import ResultStore

    ResultStore(db).close()  # the schema exists before the writers start
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers + 1)
    out = context.Queue()
    procs = [
        context.Process(target=_writer, args=(db, w, per_writer, barrier, out))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=600)
    start = time.perf_counter()
    ends = [out.get(timeout=1800)[1] for _ in procs]
    for p in procs:
        p.join(timeout=60)
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit(f"a writer failed: exit codes {[p.exitcode for p in procs]}")
    seconds = max(ends) - start
    expected, found = _expected(writers, per_writer), _found(db)
    lost = sum(expected[k] - found[k] for k in expected)
    return {"seconds": seconds, "rate": writers * per_writer / seconds, "lost": lost,
            "rows": sum(found.values())}  # fmt: skip


def leaderboard(db: str, n_trials: int, repeats: int) -> dict[str, float | int | list]:
    from make_results_db import write_results_db

    from harness.store import ResultStore

    t0 = time.perf_counter()
    write_results_db(db, n_trials, seed=0)
    build = time.perf_counter() - t0
    times = []
    with ResultStore(db, readonly=True) as store:
        rows = seeds.leaderboard(store)  # the first query warms the connection pool
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = seeds.leaderboard(store)
            times.append(time.perf_counter() - t0)
    return {"build": build, "median": statistics.median(times), "runs": times, "rows": len(rows)}


def _new_postgres(admin: str):
    from conftest import new_postgres_database

    return new_postgres_database(admin)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--per-writer", type=int, default=25)
    ap.add_argument("--trials", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    add_common_options(ap, default_max_other_load=0.15)
    args = ap.parse_args()
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        raise SystemExit(
            f"${POSTGRES_ENV} is unset: start a server first with "
            'eval "$(bash scripts/postgres.sh start)"'
        )
    rows = []
    load = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="storebench") as tmp:
        for backend in ("sqlite", "postgresql"):
            drops = []
            if backend == "sqlite":
                w_db, l_db = str(Path(tmp) / "writers.db"), str(Path(tmp) / "board.db")
            else:
                (w_db, d1), (l_db, d2) = _new_postgres(admin), _new_postgres(admin)
                drops = [d1, d2]
            try:
                print(f"{backend}: {args.writers} writers x {args.per_writer} trials ...",
                      file=sys.stderr)  # fmt: skip
                writes = concurrent_writes(w_db, args.writers, args.per_writer)
                print(f"{backend}: leaderboard on {args.trials:,} trials ...", file=sys.stderr)
                board = leaderboard(l_db, args.trials, args.repeats)
            finally:
                for drop in drops:
                    drop()
            rows.append((backend, writes, board))
    share = load.share()
    server = "PostgreSQL 15 (Debian's package; `scripts/postgres.sh`: fsync off, on 127.0.0.1)"
    lines = [
        "## Results store: SQLite and PostgreSQL",
        "",
        f"(a) {args.writers} writer processes, each with its own `ResultStore`, write "
        f"{args.per_writer} completed trials each at once (metrics, 16 per-class rows, every "
        "artifact; `tests/data/make_results_db.py`'s content). (b) `leaderboard()` over every "
        f"group of {args.trials:,} synthetic trials (`write_results_db`), median of "
        f"{args.repeats} runs on an open read-only store. SQLite: a file in WAL mode on the "
        f"local disk. PostgreSQL: {server}.",
        "",
        "| backend | (a) trials written / s | (a) rows lost | (a) wall (s) | "
        "(b) leaderboard (ms) | (b) rows | (b) runs (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for backend, w, b in rows:
        lines.append(
            f"| {backend} | {w['rate']:.1f} | {w['lost']} | {w['seconds']:.1f} | "
            f"{b['median'] * 1000:.0f} | {b['rows']} | "
            + ", ".join(f"{v:.3f}" for v in b["runs"])
            + " |"
        )
    (_, w_sqlite, b_sqlite), (_, w_pg, b_pg) = rows
    lines += [
        "",
        f"PostgreSQL / SQLite in this run: writes {w_pg['rate'] / w_sqlite['rate']:.2f} x, "
        f"leaderboard time {b_pg['median'] / b_sqlite['median']:.2f} x. SQLite takes one "
        "writer at a time (`BEGIN IMMEDIATE`, a 30 s busy timeout); PostgreSQL commits "
        "writers side by side. "
        + (
            "Neither lost a row."
            if not any(w["lost"] for _, w, _ in rows)
            else "ROWS WERE LOST: see the table."
        ),
        "",
        *context_lines(
            machine_info(),
            code_version(["harness/store", "harness/db.py"]),
            share,
            "python bench/store_backends.py " + " ".join(sys.argv[1:]),
        ),
        "",
    ]
    report_section("\n".join(lines), "store_backends", share, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
