"""Table III and the leakage table re-measured on the real Indian Pines cube.

A resumable benchmark: each stage is a ``python -m harness.run`` suite on one results
database, so running this again skips every completed trial and continues where a
stop left off. The stages, in the order they run (each a few ``harness.run`` calls):

- ``paper``: Table III's protocol (72/8/20 random split, PCA 30 on the scene,
  11 x 11 windows, 40 epochs), the five baselines, the ``unified`` recipe, seed by
  seed (every model's seed 0 first);
- ``published``: the same protocol, each baseline with its authors' recipe (the
  tree models, then the deep ones: HybridSN's 25 x 25 windows for 100 epochs,
  SSRN's 200 epochs and SpectralFormer's 300 take hours each on 2 CPU cores);
- ``leakage``: the leakage suite (random split, disjoint split with a buffer,
  block cross-validation; PCA on the scene and on the training pixels), the tree
  models at ``--seeds`` seeds, the deep ones at ``--deep-seeds``.

Nothing here is specific to this machine: on a GPU cluster pass ``--address auto``
(and the stages' deep trials take minutes, not hours)::

    python bench/real_indian_pines.py --db real_indian_pines.db --data-dir data
    python bench/real_indian_pines.py --db real_indian_pines.db --stages paper --seeds 5

Then ``python bench/reference_numbers.py --db real_indian_pines.db`` regenerates the
checked-in reference table (``dashboard/reference_numbers.csv``) and
``docs/RESULTS.md``'s tables from what has completed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TREES = ("random_forest", "xgboost")
DEEP = ("hybridsn", "ssrn", "spectralformer")
STAGES = ("paper", "published", "leakage")


def stage_commands(stage: str, args: argparse.Namespace) -> list[list[str]]:
    """The ``harness.run`` argument lists of one stage (without the common options), for
    the models of ``--models``."""
    chosen = set(args.models)
    return [
        [*head, *kept, *tail]
        for head, group, tail in _stage(stage, args)
        if (kept := [m for m in group if m in chosen])
    ]


def _stage(
    stage: str, args: argparse.Namespace
) -> list[tuple[list[str], tuple[str, ...], list[str]]]:
    """A stage's suite runs: (arguments before the models, the models, arguments after)."""
    seeds, deep_seeds = ["--seeds", str(args.seeds)], ["--seeds", str(args.deep_seeds)]
    if stage == "paper":
        # seed by seed: every model gets seed 0 before any gets seed 1, so a stop
        # leaves each model with as many seeds as the time allowed
        return [
            (["--suite", "paper", "--models"], (*TREES, *DEEP), ["--seeds", str(k)])
            for k in range(1, args.seeds + 1)
        ]
    if stage in ("published", "leakage"):
        return [
            (["--suite", stage, "--models"], TREES, seeds),
            (["--suite", stage, "--models"], DEEP, deep_seeds),
        ]
    raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", default="real_indian_pines.db", help="results database")
    ap.add_argument("--data-dir", default=None, metavar="DIR", help="folder with the real cube")
    ap.add_argument(
        "--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run"
    )
    ap.add_argument("--seeds", type=int, default=3, help="seeds of every model (default 3)")
    ap.add_argument(
        "--deep-seeds",
        type=int,
        default=1,
        help="seeds of the deep models in the published and leakage stages (default 1)",
    )
    ap.add_argument(
        "--models",
        nargs="+",
        choices=(*TREES, *DEEP),
        default=[*TREES, *DEEP],
        help="run these models only (default: the five baselines)",
    )
    ap.add_argument("--address", default=None, help="a Ray cluster (auto or HOST:PORT)")
    ap.add_argument(
        "--storage-path", default=None, metavar="DIR", help="Ray Tune's experiment folder"
    )
    ap.add_argument("--dry-run", action="store_true", help="plan only: show what is left")
    args = ap.parse_args(argv)

    common = ["--scene", "indian_pines", "--source", "real", "--db", args.db]
    if args.data_dir:
        common += ["--data-dir", args.data_dir]
    if args.address:
        common += ["--address", args.address]
    if args.storage_path:
        common += ["--storage-path", args.storage_path]
    if args.dry_run:
        common.append("--dry-run")
    for stage in args.stages:
        for extra in stage_commands(stage, args):
            command = [sys.executable, "-m", "harness.run", *extra, *common]
            print(f"[{time.strftime('%H:%M:%S')}] {stage}: {shlex.join(command)}", flush=True)
            t0 = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, check=False)
            print(
                f"[{time.strftime('%H:%M:%S')}] {stage}: exit {done.returncode} after "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            if done.returncode != 0:
                return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
