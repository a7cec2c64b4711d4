"""The main job: ``python -m harness.run --suite NAME``.

    python -m harness.run --suite quick                      # laptop, local Ray, results.db
    python -m harness.run --suite paper --address auto --gpus-per-trial 0.25
    python -m harness.run --suite smoke --dry-run            # list the trials, run nothing
    python -m harness.run --list-suites

CLI -> :class:`RunConfig` -> runner. Bad flags get one message naming the flag
and exit 2; a suite with failed trials finishes the rest and exits 1.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

EXIT_FAILED_TRIALS = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class RunConfig:
    """What a run was asked to do (validated)."""

    suite: str
    db: str
    scenes: tuple[str, ...] | None
    models: tuple[str, ...] | None
    seeds: int | None
    protocol: str | None
    recipe: str | None
    source: str
    source_given: bool
    data_dir: str | None
    address: str | None
    gpus_per_trial: float | None
    cpus_per_trial: int | None
    max_concurrent: int | None
    dry_run: bool
    fresh: bool
    max_failures: int
    storage_path: str | None = None


class FlagError(ValueError):
    """A command-line value that cannot be used (names the flag)."""


def _parser() -> argparse.ArgumentParser:
    from .suites import SUITES

    ap = argparse.ArgumentParser(
        prog="python -m harness.run",
        description="Run a suite of trials (Ray Tune) and store every result in the database.",
    )
    ap.add_argument(
        "--suite", choices=sorted(SUITES), help="which suite to run (see --list-suites)"
    )
    ap.add_argument("--list-suites", action="store_true", help="list the suites and exit")
    ap.add_argument(
        "--db",
        default="results.db",
        metavar="URL_OR_PATH",
        help="results database: a SQLite path or a SQLAlchemy URL (default results.db)",
    )
    ap.add_argument("--scenes", nargs="+", metavar="SCENE", help="scenes (default: the suite's)")
    ap.add_argument("--models", nargs="+", metavar="MODEL", help="models (default: the suite's)")
    ap.add_argument(
        "--seeds", type=int, metavar="N", help="number of seeds, 0..N-1 (default: the suite's)"
    )
    ap.add_argument("--protocol", help="split protocol: paper, fraction, per_class or disjoint")
    ap.add_argument(
        "--recipe", choices=("unified", "published"), help="training recipe (default: the suite's)"
    )
    ap.add_argument(
        "--source", choices=("real", "surrogate", "auto"), help="real files, surrogates, or auto"
    )
    ap.add_argument("--data-dir", metavar="DIR", help="folder searched first for the scene files")
    ap.add_argument(
        "--scene-file",
        action="append",
        default=[],
        metavar="F",
        help="TOML description of a scene of your own (repeatable)",
    )
    ap.add_argument(
        "--address", metavar="auto|HOST:PORT", help="an existing Ray cluster (default: local)"
    )
    ap.add_argument("--gpus-per-trial", type=float, metavar="F", help="GPU fraction per deep trial")
    ap.add_argument("--cpus-per-trial", type=int, metavar="N", help="CPUs per trial (default 1)")
    ap.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once")
    ap.add_argument(
        "--max-failures",
        type=int,
        default=1,
        metavar="N",
        help="retries of a failed trial (default 1)",
    )
    ap.add_argument(
        "--storage-path",
        metavar="DIR",
        help="Ray Tune's experiment folder (shared storage on a multi-node cluster; "
        "default ~/ray_results)",
    )
    ap.add_argument(
        "--dry-run", action="store_true", help="print the trials and which are done; run nothing"
    )
    ap.add_argument(
        "--fresh", action="store_true", help="re-run completed trials (kept as new attempts)"
    )
    return ap


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Validate the flags; every error names its flag."""
    if args.suite is None:
        raise FlagError("--suite is required (or --list-suites). Fix: e.g. --suite quick.")
    for flag, value, low in (
        ("--seeds", args.seeds, 1),
        ("--cpus-per-trial", args.cpus_per_trial, 1),
        ("--max-concurrent", args.max_concurrent, 1),
        ("--max-failures", args.max_failures, 0),
    ):
        if value is not None and value < low:
            raise FlagError(f"{flag} {value} must be >= {low}.")
    if args.gpus_per_trial is not None and not 0 <= args.gpus_per_trial <= 8:
        raise FlagError(
            f"--gpus-per-trial {args.gpus_per_trial} must be between 0 and 8 (fractions share a GPU)."
        )
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise FlagError(
            f"--data-dir {args.data_dir!r} is not a folder. Fix: pass the folder holding the .mat files."
        )
    if args.protocol is not None:
        import datasets

        if args.protocol not in datasets.PROTOCOLS:
            raise FlagError(
                f"--protocol {args.protocol!r} is not one of {', '.join(datasets.PROTOCOLS)}."
            )
    if args.scene_file:
        import datasets

        for f in args.scene_file:
            datasets.register_scene_file(f)
    if args.scenes:
        import datasets

        for s in args.scenes:
            try:
                datasets.get_scene_info(s)
            except datasets.UnknownSceneError as exc:
                raise FlagError(f"--scenes: {exc}") from exc
    if args.models:
        import models

        for m in args.models:
            try:
                models.get_model_entry(m)
            except models.UnknownModelError as exc:
                raise FlagError(f"--models: {exc}") from exc
    return RunConfig(
        suite=args.suite,
        db=args.db,
        scenes=tuple(args.scenes) if args.scenes else None,
        models=tuple(args.models) if args.models else None,
        seeds=args.seeds,
        protocol=args.protocol,
        recipe=args.recipe,
        source=args.source or "auto",
        source_given=args.source is not None,
        data_dir=args.data_dir,
        address=args.address,
        gpus_per_trial=args.gpus_per_trial,
        cpus_per_trial=args.cpus_per_trial,
        max_concurrent=args.max_concurrent,
        dry_run=args.dry_run,
        fresh=args.fresh,
        max_failures=args.max_failures,
        storage_path=args.storage_path,
    )


def main(argv: list[str] | None = None) -> int:
    import datasets
    import models

    from .store import ResultStore, StoreError
    from .suites import SUITES, SuiteError, SuiteOptions, get_suite

    ap = _parser()
    args = ap.parse_args(argv)
    if args.list_suites:
        for name, suite in SUITES.items():
            print(f"{name:<10} {suite.description}")
        return 0
    command = shlex.join(["python", "-m", "harness.run", *(sys.argv[1:] if argv is None else argv)])
    try:
        cfg = config_from_args(args)
        try:
            store = ResultStore(cfg.db)  # a bad database fails here, before anything runs
        except StoreError as exc:
            raise FlagError(f"--db {cfg.db}: {exc}") from exc
        opts = SuiteOptions(
            scenes=cfg.scenes,
            models=cfg.models,
            seeds=cfg.seeds,
            protocol=cfg.protocol,
            recipe=cfg.recipe,
            source=cfg.source,
            source_given=cfg.source_given,
            data_dir=cfg.data_dir,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", datasets.SurrogateWarning)
            specs = get_suite(cfg.suite).build(opts)
        for w in {str(w.message) for w in caught}:
            print(f"warning: {w}", file=sys.stderr)
    except (
        FlagError,
        SuiteError,
        StoreError,
        datasets.DatasetError,
        models.HyperparameterError,
        models.UnknownModelError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    done = store.completed_hashes()
    if cfg.dry_run:
        print(
            f"{'spec_hash':<14} {'done':<5} {'model':<22} {'scene':<14} {'source':<10} {'protocol':<9} seed"
        )
        for s in specs:
            mark = "yes" if s.spec_hash in done else "no"
            print(
                f"{s.spec_hash[:12]:<14} {mark:<5} {s.model:<22} {s.scene:<14} {s.source:<10} {s.protocol:<9} {s.seed}"
            )
        todo = sum(s.spec_hash not in done or cfg.fresh for s in specs)
        print(
            f"{len(specs)} trials, {len(specs) - todo} done, {todo} to run (suite '{cfg.suite}', database {store.location})"
        )
        return 0
    from .runner import run_specs

    summary = run_specs(
        specs,
        cfg.db,
        command=command,
        suite=cfg.suite,
        address=cfg.address,
        gpus_per_trial=cfg.gpus_per_trial,
        cpus_per_trial=cfg.cpus_per_trial,
        max_concurrent=cfg.max_concurrent,
        fresh=cfg.fresh,
        data_dir=cfg.data_dir,
        max_failures=cfg.max_failures,
        storage_path=cfg.storage_path,
        verbose=1 if sys.stdout.isatty() else 0,
    )
    print(
        f"\nrun {summary.run_id}: {summary.planned} trials planned, {summary.skipped} already done, "
        f"{len(summary.completed)} completed, {len(summary.failed)} failed in {summary.wall_seconds:.0f} s"
    )
    for spec_hash, error in summary.failed.items():
        print(f"  failed {spec_hash[:12]}: {error}")
    print(f"results: {store.location}  (python -m harness.report --db {cfg.db})")
    return 0 if summary.ok else EXIT_FAILED_TRIALS


if __name__ == "__main__":
    sys.exit(main())
