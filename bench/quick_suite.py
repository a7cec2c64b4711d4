"""The README's main command on a fresh clone: wall time and each model's test OA.

The project's files (``git ls-files``, plus new files not ignored) are copied into
an empty temporary folder (no ``../shared``, no ``./data``, ``$HSI_DATA_DIR``
unset), and ``python -m harness.run --suite quick`` runs there on local Ray, as a
newcomer runs it. The section lists the wall time, and per scene and model the
test OA, the majority-class share of the test pixels, whether the model is
flagged ("predicts one class"), its epochs and its fit time.

    python bench/quick_suite.py [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import OtherLoad, add_common_options, code_version, context_lines, machine_info, report

from harness.analysis import seeds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "quick-suite"


def _copy_project(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, files.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # the suite's own Ray workers are not this process's waited-for children, so the
    # load meter counts them as other processes: the guard only catches a machine that
    # was busy on top of them
    add_common_options(ap, default_max_other_load=1.0)
    args = ap.parse_args()

    from harness.metric_table import LEADERBOARD_METRICS
    from harness.metrics import COLLAPSE_METRICS, one_class_note
    from harness.store import ResultStore

    with tempfile.TemporaryDirectory(prefix="quick") as tmp:
        proj = Path(tmp) / "alone" / "proj"
        _copy_project(proj)
        env = {k: v for k, v in os.environ.items() if k not in ("HSI_DATA_DIR", "HSI_DATA_PATH")}
        env["PYTHONPATH"] = str(proj)
        db = Path(tmp) / "results.db"
        command = [sys.executable, "-m", "harness.run", "--suite", "quick", "--db", str(db)]
        load = OtherLoad()
        t0 = time.perf_counter()
        proc = subprocess.run(command, cwd=proj, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        other = load.share()
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
        if proc.returncode != 0:
            sys.exit(f"the quick suite exited {proc.returncode}")
        with ResultStore(db, readonly=True) as store:
            board = seeds.leaderboard(store, metrics=(*LEADERBOARD_METRICS, *COLLAPSE_METRICS))
            trials = {t["id"]: store.trial(t["id"]) for t in store.trials(status="completed")}
    rows = []
    for b in board:
        mean = {k: v["mean"] for k, v in b["metrics"].items()}
        (trial,) = [trials[i] for i in b["trial_ids"]]
        info = trial["info"] or {}
        note = one_class_note(mean["oa"], mean["majority_rate"], mean["top_prediction_share"])
        rows.append(
            f"| {b['scene']} | {b['label']} | {100 * mean['oa']:.1f} % | "
            f"{100 * mean['majority_rate']:.1f} % | {note or ''} | "
            f"{info.get('epochs_run', '')} | {info.get('fit_seconds', 0):.0f} s |"
        )
    lines = [
        "## The quick suite on a fresh clone (CPU)",
        "",
        "`python -m harness.run --suite quick` in a copy of the project with nothing beside "
        f"it (surrogates from the package's own data): **{wall / 60:.0f} min {wall % 60:02.0f} s** "
        "wall time, 12 trials on local Ray (the 'other processes' share below includes the "
        "suite's own Ray workers).",
        "",
        "| scene (64 x 64 crop) | model | test OA | majority class | flag | epochs | fit |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
        *rows,
        "",
        *context_lines(
            machine_info(),
            code_version(["harness", "datasets", "models"]),
            other,
            "python bench/quick_suite.py " + shlex.join(sys.argv[1:]),
        ),
        "",
    ]
    report("\n".join(lines), NAME, other, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
