"""The flags of ``python -m harness.run`` and what they ask for (:class:`RunConfig`),
validated before anything runs: a bad flag gets one message naming it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets.scene import Source

    from .execute.options import RunOptions


@dataclass(frozen=True)
class RunConfig:
    """What a run was asked to do (validated): the suite to plan, and how to run it.

    Attributes:
        run: how to run the trials (the database, the cluster, resources, retries,
            ``--fresh``, ``--data-dir``, the suite's name...), handed to
            :mod:`harness.execute` as it is.

    The other attributes are the flags of the same names that plan the suite
    (:class:`harness.suites.SuiteOptions`), ``--dry-run`` and ``--download``.
    """

    run: RunOptions
    scenes: tuple[str, ...] | None
    models: tuple[str, ...] | None
    seeds: int | None
    protocol: str | None
    recipe: str | None
    source: Source
    source_given: bool
    dry_run: bool
    epochs: int | None = None
    training: tuple[tuple[str, object], ...] = ()
    trials: int | None = None
    study: str | None = None
    sampler_seed: int = 0
    #: ``--pca-fit``: where PCA is fitted (None: the recipe's; the leakage suite: both).
    pca_fit: str | None = None
    #: Fetch the missing real files of the suite's scenes before planning (``--download``).
    download: bool = False
    #: With ``download``: fetch FILE from ``mirror/FILE`` instead of each scene's own address.
    mirror: str | None = None
    #: ``--split-file``: an ad hoc fixed split's label maps, by role.
    split_files: tuple[tuple[str, object], ...] = ()
    #: ``--seed``: exactly these seeds, in the order given (None: ``seeds``, or the suite's).
    seed: tuple[int, ...] | None = None


class FlagError(ValueError):
    """A command-line value that cannot be used (names the flag)."""


def parser() -> argparse.ArgumentParser:
    from datasets.cli_options import add_option

    from .suites import SUITES

    ap = argparse.ArgumentParser(
        prog="python -m harness.run",
        description="Run a suite of trials (Ray Tune) and store every result in the database.",
    )
    ap.add_argument(
        "--suite", choices=sorted(SUITES), help="which suite to run (see --list-suites)"
    )
    ap.add_argument("--list-suites", action="store_true", help="list the suites and exit")
    add_option(ap, "--db")
    what = ap.add_argument_group(
        "what to run",
        "Each defaults to the suite's (the recipe's for --pca-fit). With --suite leakage, "
        "--protocol and --pca-fit pick one half of its comparison.",
    )
    add_option(what, "--scene", nargs="+", old_spellings=True)
    what.add_argument("--models", nargs="+", metavar="MODEL", help="models (default: the suite's)")
    seeds = what.add_mutually_exclusive_group()
    add_option(seeds, "--seeds")
    add_option(seeds, "--seed", nargs="+")
    add_option(what, "--protocol")
    add_option(what, "--pca-fit")
    add_option(what, "--split-file")
    add_option(what, "--recipe")
    add_option(what, "--source")
    add_option(ap, "--data-dir")
    ap.add_argument(
        "--download",
        action="store_true",
        help="first fetch the missing real files (cube and ground truth) of the suite's scenes "
        "into --data-dir (created if missing) or ./data, atomically and validated",
    )
    add_option(ap, "--mirror")
    add_option(ap, "--scene-file")
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
        "default ~/ray_results; each run writes hsi-DIGEST-run-ID-N there, DIGEST naming "
        "the database)",
    )
    ap.add_argument(
        "--verbose",
        action="store_true",
        help="also print Ray's and Tune's own log lines (by default only their errors)",
    )
    add_option(ap, "--artifacts")
    ap.add_argument(
        "--no-save-models",
        action="store_true",
        help="do not keep each trial's trained model and preprocessing (they are kept by "
        "default, for python -m harness.predict)",
    )
    ap.add_argument(
        "--maps",
        choices=("scene", "labelled", "none"),
        default="scene",
        help="what each trial maps after training: the whole scene (default; the paper's "
        "figures), only the labelled pixels, or none (skips the map phase, which on a CPU "
        "can outlast the training on a big scene); recorded as the trial's info.maps",
    )
    track = ap.add_argument_group("experiment tracking (a mirror: the database stays the truth)")
    track.add_argument(
        "--track",
        choices=("mlflow",),
        help="mirror each trial to MLflow: its spec as parameters, per-epoch metrics, the "
        "stored test/val metrics and the saved model files (needs pip install -e '.[mlflow]')",
    )
    track.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="with --track: the MLflow tracking store, e.g. http://HOST:5000, "
        "sqlite:///mlflow.db or file:///abs/path/mlruns (default: MLflow's own, "
        "MLFLOW_TRACKING_URI or else sqlite:///mlflow.db here)",
    )
    track.add_argument(
        "--experiment",
        metavar="NAME",
        help="with --track: the MLflow experiment (default: hsi-SUITE)",
    )
    ap.add_argument(
        "--epochs", type=int, metavar="N", help="epochs of the deep models (default: the suite's)"
    )
    ap.add_argument(
        "--fast-path",
        nargs="+",
        default=[],
        metavar="SWITCH",
        help="fast-path switches for the deep models, recorded in each spec: "
        "channels_last, compile (any device); fused_optimizer, cuda_graphs, tf32, "
        "cudnn_benchmark (CUDA only; each trial's info.fast_path says what ran)",
    )
    ap.add_argument(
        "--amp",
        choices=("bf16", "fp16"),
        help="mixed precision for the deep models: bf16 autocast (CUDA or CPU) or fp16 "
        "(CUDA only); default float32/TF32, as the paper",
    )
    search = ap.add_argument_group("search suite")
    search.add_argument(
        "--trials", type=int, metavar="N", help="trials per study (default 30; stored ones count)"
    )
    search.add_argument(
        "--study",
        metavar="NAME",
        help="study name (default: model, scene and a digest of the settings, so that "
        "repeating a command continues its study)",
    )
    search.add_argument(
        "--sampler-seed", type=int, default=0, metavar="S", help="TPE sampler seed (default 0)"
    )
    ap.add_argument(
        "--dry-run", action="store_true", help="print the trials and which are done; run nothing"
    )
    ap.add_argument(
        "--fresh", action="store_true", help="re-run completed trials (kept as new attempts)"
    )
    return ap


def config_from_args(args: argparse.Namespace, command: str = "") -> RunConfig:
    """Validate the flags; every error names its flag.

    Args:
        args: the parsed command line (:func:`parser`).
        command: the command line, recorded with the run.

    Raises:
        FlagError: a flag whose value cannot be used.
    """
    from .execute.options import OptionError, RunOptions

    if args.suite is None:
        raise FlagError("--suite is required (or --list-suites). Fix: e.g. --suite quick.")
    try:
        run = RunOptions(
            db=args.db,
            command=command,
            suite=args.suite,
            address=args.address,
            gpus_per_trial=args.gpus_per_trial,
            cpus_per_trial=args.cpus_per_trial,
            max_concurrent=args.max_concurrent,
            max_failures=args.max_failures,
            fresh=args.fresh,
            data_dir=args.data_dir,
            storage_path=args.storage_path,
            artifacts=args.artifacts,
            save_models=not args.no_save_models,
            track=args.track,
            tracking_uri=args.tracking_uri,
            experiment=args.experiment,
            verbose=args.verbose,
            maps=args.maps,
        )
        if run.track is not None:  # before any planning or training
            from .execute.tracking import require_mlflow

            require_mlflow()
    except OptionError as exc:
        raise FlagError(str(exc)) from None
    for flag, value, low in (
        ("--seeds", args.seeds, 1),
        ("--epochs", args.epochs, 1),
        ("--trials", args.trials, 1),
        ("--sampler-seed", args.sampler_seed, 0),
    ):
        if value is not None and value < low:
            raise FlagError(f"{flag} {value} must be >= {low}.")
    for value in args.seed or ():
        if value < 0:
            raise FlagError(f"--seed {value} must be >= 0. Fix: e.g. --seed 0 2.")
    if args.suite != "search":
        for flag, value in (("--trials", args.trials), ("--study", args.study)):
            if value is not None:
                raise FlagError(
                    f"{flag} applies to the search suite only (got --suite {args.suite}). "
                    "Fix: drop it, or use --suite search."
                )
    from .spec import FAST_PATH_DEFAULTS

    for switch in args.fast_path:
        if switch not in FAST_PATH_DEFAULTS:
            raise FlagError(
                f"--fast-path {switch!r} is not a switch; choose from "
                f"{', '.join(FAST_PATH_DEFAULTS)}."
            )
    if args.study is not None and not args.study.strip():
        raise FlagError("--study '' is empty. Fix: give the study a name, or leave --study out.")
    if args.mirror is not None and not args.download:
        raise FlagError(
            f"--mirror {args.mirror!r} applies with --download only. Fix: add --download, or "
            "drop --mirror."
        )
    if args.mirror is not None and not args.mirror.strip():
        raise FlagError(
            "--mirror '' is empty. Fix: give the URL of a folder serving the scene files, "
            "or leave --mirror out."
        )
    data_dir = None if args.data_dir is None else Path(args.data_dir).expanduser()
    if data_dir is not None and not data_dir.is_dir():
        if not args.download:
            raise FlagError(
                f"--data-dir {args.data_dir!r} is not a folder. Fix: pass the folder holding the "
                ".mat files, or add --download to fetch them into it (created if missing)."
            )
        if data_dir.exists():
            raise FlagError(
                f"--data-dir {args.data_dir!r} exists and is not a folder, so --download cannot "
                "save files in it. Fix: pass a folder (it is created if missing)."
            )
    split_files: dict[str, object] = {}
    protocol = args.protocol
    if args.suite == "leakage" and args.split_file:
        raise FlagError(
            "--split-file: the leakage suite runs its own protocols (paper, disjoint and "
            "block_cv, each with PCA fitted on the scene and on the training pixels). Fix: "
            "leave it out, or run the split with another suite (smoke, quick, paper, "
            "published, search)."
        )
    if args.suite == "leakage" and protocol is not None:
        from .suites import LEAKAGE_PROTOCOLS

        names = [name for name, _ in LEAKAGE_PROTOCOLS]
        if protocol not in names:
            raise FlagError(
                f"--protocol {protocol!r}: the leakage suite compares {', '.join(names)}, "
                "so --protocol can only pick one of them. Fix: pass one of those, or run "
                f"{protocol!r} with another suite (smoke, quick, paper, published, search)."
            )
    if protocol is not None:
        import datasets

        if datasets.is_fixed(protocol):
            try:
                datasets.fixed_name(protocol)
            except datasets.SplitFileError as exc:
                raise FlagError(str(exc)) from None
        elif protocol not in datasets.PROTOCOLS:
            raise FlagError(
                f"--protocol {protocol!r} is not one of {', '.join(datasets.PROTOCOLS)}, or "
                "fixed:NAME (a split read from label-map files)."
            )
    if args.split_file:
        import datasets

        if protocol is not None and not datasets.is_fixed(protocol):
            raise FlagError(
                f"--split-file gives a fixed split, but --protocol is {protocol!r}. Fix: pass "
                "--protocol fixed:NAME, or leave --split-file out."
            )
        try:
            split_files = dict(datasets.split_files_from_args(args.split_file))
        except datasets.SplitFileError as exc:
            raise FlagError(str(exc)) from None
        if protocol is None:
            first = split_files["train"]
            protocol = "fixed:" + Path(getattr(first, "file", str(first))).stem
        from .suites import PAPER_SCENES

        one = ("indian_pines",)
        suite_scenes = args.scene or {"smoke": one, "search": one}.get(args.suite, PAPER_SCENES)
        if not suite_scenes or len(suite_scenes) != 1:
            raise FlagError(
                f"--split-file gives the split of one scene, but the {args.suite} suite would run "
                f"on {', '.join(suite_scenes or ())}. Fix: pass --scene with the one scene whose "
                "split the files are."
            )
    if args.scene_file:
        import datasets

        for f in args.scene_file:
            datasets.register_scene_file(f)
    if args.scene:
        import datasets

        for s in args.scene:
            try:
                datasets.get_scene_info(s)
            except datasets.UnknownSceneError as exc:
                raise FlagError(f"--scene: {exc}") from exc
    if args.models:
        import models

        for m in args.models:
            try:
                models.get_model_entry(m)
            except models.UnknownModelError as exc:
                raise FlagError(f"--models: {exc}") from exc
    return RunConfig(
        run=run,
        scenes=tuple(args.scene) if args.scene else None,
        models=tuple(args.models) if args.models else None,
        seeds=args.seeds,
        protocol=protocol,
        recipe=args.recipe,
        source=args.source or "auto",
        source_given=args.source is not None,
        dry_run=args.dry_run,
        epochs=args.epochs,
        training=tuple(
            [(switch, True) for switch in dict.fromkeys(args.fast_path)]
            + ([("amp", args.amp)] if args.amp else [])
        ),
        trials=args.trials,
        study=args.study,
        sampler_seed=args.sampler_seed,
        pca_fit=args.pca_fit,
        download=args.download,
        mirror=args.mirror,
        split_files=tuple(split_files.items()),
        seed=tuple(dict.fromkeys(args.seed)) if args.seed else None,
    )
