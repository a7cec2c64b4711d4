"""Command line of the data layer.

    python -m datasets list
    python -m datasets info SCENE [--source real|surrogate|auto] [--scene-file F] [--data-dir DIR] [--json]
    python -m datasets download SCENE [--data-dir DIR] [--scene-file F] [--mirror URL] [--force]
    python -m datasets download SCENE --from pypi [--data-dir DIR] [--wheel FILE] [--force]
    python -m datasets split SCENE [--protocol P] [--seed S] [--param NAME=VALUE ...] [--json]
    python -m datasets split SCENE --protocol fixed:NAME [--split-file [ROLE=]PATH[:KEY] ...]

Errors print one message naming the value and the fix, and exit with status 2. The
options these commands share with the harness's are defined once, in
:mod:`datasets.cli_options` (``download --to DIR`` is still accepted for ``--data-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .cli_options import add_option
from .errors import DatasetError
from .registry import get_scene_info, list_scenes, register_scene_file

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m datasets",
        description="Hyperspectral scenes: list them, describe them, download the real files.",
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scene_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "scene",
            nargs="?",
            metavar="SCENE",
            help="scene name (see 'list'); optional with one --scene-file",
        )
        add_option(p, "--scene-file")

    sub.add_parser("list", help="list the registered scenes")
    info = sub.add_parser("info", help="shape, bands, per-class counts, source and checksums")
    scene_args(info)
    add_option(info, "--source", default="auto")
    add_option(info, "--data-dir")
    info.add_argument(
        "--surrogate-seed", type=int, default=0, metavar="N", help="seed of a surrogate (default 0)"
    )
    add_option(info, "--json")

    dl = sub.add_parser("download", help="fetch the real scene files (atomic, validated)")
    scene_args(dl)
    add_option(dl, "--data-dir", old_spellings=True)
    dl.add_argument(
        "--from",
        dest="origin",
        choices=("url", "pypi"),
        default="url",
        help="url: the scene's own addresses (or --mirror); pypi: the wheel on PyPI that "
        "ships the cube (indian_pines: tensorly 0.10.0), through pip (default: url)",
    )
    dl.add_argument(
        "--wheel",
        type=Path,
        metavar="FILE",
        help="with --from pypi: a copy of the wheel already on disk, instead of asking pip",
    )
    add_option(dl, "--mirror")
    dl.add_argument(
        "--force", action="store_true", help="download even if a valid file is already there"
    )
    dl.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="network timeout in seconds (default 60)",
    )
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    sp = sub.add_parser("split", help="per-class train/val/test/dropped counts of a split protocol")
    scene_args(sp)
    add_option(sp, "--data-dir")
    add_option(sp, "--protocol")  # default paper, or fixed:NAME with --split-file
    add_option(sp, "--split-file")
    add_option(sp, "--seed", default=0)
    sp.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="protocol parameter, e.g. --param patch_size=11 (repeatable)",
    )
    add_option(sp, "--json")
    return ap


def _download(args: argparse.Namespace, name: str) -> list:
    """``download``: from the scene's addresses, or from the wheel on PyPI."""
    info = get_scene_info(name)
    if args.origin == "pypi":
        if args.mirror is not None:
            raise DatasetError(
                f"--mirror {args.mirror!r} applies to --from url only: --from pypi asks pip, "
                "whose own index settings apply (PIP_INDEX_URL, pip.conf). Fix: drop --mirror, "
                "or pass --wheel FILE with a copy of the wheel."
            )
        from .pypi import download_from_pypi

        return download_from_pypi(
            info,
            _download_dir(args),
            wheel=args.wheel,
            force=args.force,
            progress=not args.quiet,
            timeout=args.timeout,
        )
    if args.wheel is not None:
        raise DatasetError(
            f"--wheel {str(args.wheel)!r} applies to --from pypi only. Fix: add --from pypi."
        )
    from .download import download_scene

    return download_scene(
        info,
        _download_dir(args),
        mirror=args.mirror,
        force=args.force,
        timeout=args.timeout,
        progress=not args.quiet,
    )


def _download_dir(args: argparse.Namespace) -> Path:
    """``download``'s destination: ``--data-dir``, else ``./data`` (which every command
    run from here searches)."""
    return Path(args.data_dir).expanduser() if args.data_dir is not None else Path("data")


def _protocol_params(pairs: list[str]) -> dict[str, int | float]:
    params: dict[str, int | float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DatasetError(
                f"--param {pair!r} is not NAME=VALUE. Fix: e.g. --param patch_size=11."
            )
        try:
            params[name] = int(value)
        except ValueError:
            try:
                params[name] = float(value)
            except ValueError:
                raise DatasetError(
                    f"--param {pair!r}: value {value!r} is not a number. Fix: e.g. --param train=0.5."
                ) from None
    return params


def _split(args: argparse.Namespace, name: str) -> int:
    from .formats import label_map, read_array
    from .protocols import split
    from .scene import find_file, validate_gt
    from .splits import fixed_name, is_fixed, read_split, split_files_from_args, split_spec_for

    info = get_scene_info(name)
    gt_path = find_file(info, info.gt, args.data_dir)
    gt = validate_gt(label_map(read_array(gt_path, info.gt.key)), info, gt_path)
    protocol = args.protocol or "paper"
    split_files = split_files_from_args(args.split_file) if args.split_file else None
    if split_files:
        if args.protocol is not None and not is_fixed(args.protocol):
            raise DatasetError(
                f"--split-file gives a fixed split, but --protocol is {args.protocol!r}. Fix: "
                "pass --protocol fixed:NAME, or leave --split-file out."
            )
        protocol = args.protocol or "fixed:" + Path(split_files["train"].file).stem
    fixed = None
    if is_fixed(protocol):
        spec, ad_hoc = split_spec_for(info, fixed_name(protocol), split_files)
        fixed = read_split(info, spec, gt.shape, gt=gt, data_dir=args.data_dir, ad_hoc=ad_hoc)
    result = split(gt, protocol, seed=args.seed, fixed=fixed, **_protocol_params(args.param))
    rows = result.summary(info.class_names)
    if args.json:
        print(
            json.dumps(
                {
                    "scene": name,
                    "protocol": result.protocol,
                    "seed": result.seed,
                    "params": result.params,
                    "classes": rows,
                    "missing": result.missing,
                    "gt": {"path": str(gt_path)},
                    "split": fixed.describe() if fixed is not None else None,
                },
                indent=2,
            )
        )
        return 0
    shown = {k: v for k, v in result.params.items() if k != "files"}
    print(f"{info.title or name}: protocol '{result.protocol}', seed {result.seed}, params {shown}")
    if fixed is not None:
        if fixed.citation:
            print(f"  split      {fixed.citation}")
        for f in fixed.files:
            where = f" (key '{f.key}')" if f.key else (f" (band {f.band})" if f.band else "")
            print(f"  {f.role:<10} {f.path}{where}  sha256 {f.sha256[:16]}...")
        if not fixed.has_val:
            print(
                f"  val        {shown['val_fraction']:g} of each class's training pixels "
                f"(seed {result.seed})"
            )
        if fixed.disagreements:
            print(f"  note       {fixed.disagreements} pixels labelled otherwise in the scene's gt")
    width = max(len(r["name"]) for r in rows)
    print(f"  {'label':>5}  {'class':<{width}}  {'train':>7} {'val':>7} {'test':>7} {'dropped':>7}")
    for r in rows:
        print(
            f"  {r['label']:>5}  {r['name']:<{width}}  {r['train']:>7} {r['val']:>7} {r['test']:>7} {r['dropped']:>7}"
        )
    total = result.counts.sum(axis=0).tolist()
    print(f"  {'':>5}  {'total':<{width}}  {total[0]:>7} {total[1]:>7} {total[2]:>7} {total[3]:>7}")
    for which, labels in result.missing.items():
        names = ", ".join(f"{k} {info.class_names[k - 1]}" for k in labels)
        print(f"  no {which} pixel: {names}")
    return 0


def _scene_name(args: argparse.Namespace, ap: argparse.ArgumentParser) -> str:
    if args.scene_file:
        infos = [register_scene_file(Path(f)) for f in args.scene_file]
        names = [info.name for info in infos]
        files = ", ".join(f"'{f}'" for f in args.scene_file)
        if args.scene and args.scene not in names:
            raise DatasetError(
                f"Scene '{args.scene}' does not match the scene file {files}, which describes "
                f"{', '.join(repr(n) for n in names)}. Fix: omit SCENE or pass one of those."
            )
        if not args.scene and len(set(names)) > 1:
            raise DatasetError(
                f"The scene files {files} describe several scenes ({', '.join(names)}). Fix: "
                "name the scene to use as SCENE."
            )
        return args.scene or names[0]
    if not args.scene:
        ap.error(
            "the SCENE argument is required (or --scene-file F); available: "
            + ", ".join(list_scenes())
        )
    return args.scene


def _print_info(desc: dict) -> None:
    print(f"{desc['title']} ({desc['name']})")
    src = desc["source"]
    print(
        f"  source     {src}"
        + (
            "  (REAL ground truth, SYNTHETIC spectra: not comparable to published numbers)"
            if src == "surrogate"
            else ""
        )
    )
    h, w, b = desc["shape"]
    print(f"  shape      {h} x {w} pixels x {b} bands")
    print(f"  labelled   {desc['n_labelled']} pixels in {desc['n_classes']} classes")
    width = max(len(c["name"]) for c in desc["classes"])
    print(f"  {'label':>5}  {'class':<{width}}  {'pixels':>7}")
    for c in desc["classes"]:
        print(f"  {c['label']:>5}  {c['name']:<{width}}  {c['count']:>7}")
    print("  files")
    for f in desc["files"]:
        copy = {"package": "  (the package's own copy)", "data folder": ""}.get(
            f["copy"], f"  ({f['copy']})"
        )
        print(f"    {f['role']:<10} {f['path']}  sha256 {f['sha256']}{copy}")
    if desc.get("content"):
        values = ", ".join(f"{role} {digest[:16]}..." for role, digest in desc["content"].items())
        print(f"  content    {values}  (the arrays' values: what identifies a real scene)")
    if desc["surrogate"]:
        print(
            f"  surrogate  seed {desc['surrogate']['seed']}, generator v{desc['surrogate']['version']}"
        )
    for sp in desc.get("splits", []):
        print(
            f"  split      {sp['protocol']}" + (f"  ({sp['citation']})" if sp["citation"] else "")
        )
    print(f"  fingerprint {desc['fingerprint']}")


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = _run(args, ap)
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    try:
        if args.command == "list":
            for name in list_scenes():
                info = get_scene_info(name)
                print(f"{name:<16} {info.title or name} ({info.n_classes} classes)")
            return 0
        name = _scene_name(args, ap)
        if args.command == "info":
            from .scene import load_scene

            scene = load_scene(
                name, source=args.source, data_dir=args.data_dir, surrogate_seed=args.surrogate_seed
            )
            desc = scene.describe()
            if args.json:
                print(json.dumps(desc, indent=2))
            else:
                _print_info(desc)
            return 0
        if args.command == "split":
            return _split(args, name)
        if args.command == "download":
            results = _download(args, name)
            for r in results:
                print(
                    f"{r.status:<10} {r.path}  sha256 {r.sha256}"
                    + (f"  ({r.note})" if r.note else "")
                )
            return 0
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
