"""Apply a trial's saved model to a cube: ``python -m harness.predict``.

    python -m harness.predict --db results.db --trial 12 --cube new_scene.tif --out map.tif
    python -m harness.predict --db results.db --best claresnet --scene salinas --out map.png
    python -m harness.predict --db results.db --trial 12 --scene indian_pines --out map.mat

Which model: ``--trial ID``, or ``--best MODEL --scene S [--protocol P] [--recipe R]``
(the completed trial of MODEL on S with a saved model and the best validation OA).
Which data: ``--cube FILE [--key K]`` (MATLAB, NumPy, ENVI or GeoTIFF, as the scene
readers take them), or ``--scene NAME [--scene-file F]`` (a registry scene or one of
your own; the trial's own scene is loaded as the trial saw it: same source,
surrogate seed and crop). Output: ``--out`` by suffix (:mod:`harness.maps`): a
GeoTIFF keeping the input's CRS and geotransform with a colour table, a PNG in the
class colours with a legend, a MATLAB file, or NumPy files; the entropy map beside
the class map (``STEM.entropy.SUFFIX``; in the same file for ``.mat``).

Before any work it refuses a trial without a saved model, a model file whose sha256
is not the recorded one, and a cube whose band count (or wavelength range, when
both sides know it) is not the model's. The cube goes through the trial's fitted
preprocessing and model in chunks (:meth:`harness.saved_model.SavedModel.predict`):
on the trial's own scene, the class map is the trial's stored one, pixel for pixel
(on the same kind of device).

Python:

    model = harness.predict.load(12, "results.db")
    labels, entropy = model.predict(cube)           # (H, W) int16 1-based, float32 nats
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .saved_model import SavedModel, SavedModelError, load_model

EXIT_USAGE = 2

__all__ = ["PredictError", "load", "main"]


class PredictError(ValueError):
    """A request ``harness.predict`` refuses (the message names the value and the fix)."""


def load(
    trial_id: int,
    db: str | os.PathLike[str],
    *,
    artifacts: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> SavedModel:
    """The saved model of a trial, ready to ``.predict(cube)``.

    Args:
        trial_id: the trial's id in the database.
        db: the results database (a SQLite path or a SQLAlchemy URL).
        artifacts: the artifact folder (default: the one beside a SQLite database,
            else the one the trial's run recorded).
        device: where a torch model runs (default: CUDA when available, else the CPU).

    Raises:
        harness.store.StoreError: no such trial, or one without a saved model.
        harness.store.artifact_store.ArtifactError: a model file missing or changed.
        harness.saved_model.SavedModelError: files that do not make a model.
    """
    from .store import ResultStore

    with ResultStore(db, readonly=True, artifacts=artifacts) as store:
        files = store.read_model_files(int(trial_id))
    saved = load_model(files, device=device)
    saved.trial_id = int(trial_id)
    return saved


@dataclass
class Cube:
    """The data a model classifies, and what is known about it."""

    data: np.ndarray
    georef: dict[str, Any] | None
    wavelengths_nm: tuple[float, ...] | None
    label: str


def read_cube(path: str, key: str = "") -> Cube:
    """A cube from a file in any format the scene readers take; in a MATLAB or NumPy
    archive, the variable ``key``, or without one the archive's only 3-D array."""
    from datasets.formats import file_format, read_array

    if not Path(path).exists():
        raise PredictError(f"--cube {path}: no such file. Fix: check the path.")
    if not key and file_format(path) in ("mat", "npz"):
        key = _only_cube(path)
    array = read_array(path, key)
    if array.data.ndim != 3:
        raise PredictError(
            f"--cube {path}{':' + key if key else ''} holds an array of shape "
            f"{array.data.shape}, not an H x W x B cube. Fix: give the cube's file (and its "
            "variable with --key for .mat/.npz)."
        )
    return Cube(array.data, array.georef, array.wavelengths_nm, f"cube {path}")


def _only_cube(path: str) -> str:
    """The one 3-D variable of a MATLAB or NumPy archive (for ``--cube`` without ``--key``)."""
    shapes = _archive_shapes(path)
    keys = list(shapes)
    cubes = [k for k, shape in shapes.items() if len(shape) == 3]
    if len(cubes) != 1:
        raise PredictError(
            f"--cube {path} holds {len(cubes)} 3-D arrays ({', '.join(cubes) or 'none'}; "
            f"variables: {', '.join(keys) or 'none'}). Fix: name the cube with --key NAME."
        )
    return cubes[0]


def _archive_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """{variable: shape} of a MATLAB (v5 or v7.3) or NumPy archive, without reading the data."""
    import zipfile

    if path.lower().endswith(".npz"):
        shapes = {}
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as member:
                    major, _ = np.lib.format.read_magic(member)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape = read_header(member)[0]
                shapes[name.removesuffix(".npy")] = tuple(shape)
        return shapes
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # v7.3: h5py gives the axes reversed
        with h5py.File(path, "r") as f:
            return {k: tuple(reversed(f[k].shape)) for k in f if not k.startswith("#")}
    return {name: tuple(shape) for name, shape, _cls in scipy.io.whosmat(path)}


def scene_cube(
    name: str, saved: SavedModel, data_dir: str | None = None, source: str | None = None
) -> Cube:
    """A registry scene's cube; the trial's own scene as the trial saw it (its source,
    surrogate seed and crop)."""
    import datasets

    trained = saved.manifest["trained_on"]
    spec = (saved.trial or {}).get("spec") or {}
    own = name == trained["scene"]
    src = source or (trained["source"] if own else "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene(
            name,
            source=src,  # type: ignore[arg-type]
            data_dir=data_dir,
            surrogate_seed=int(spec.get("surrogate_seed", 0)) if own else 0,
        )
    label = f"scene {name} ({scene.source})"
    if own and trained.get("crop"):
        scene = scene.crop_to(*trained["crop"])
        label += f", crop {tuple(trained['crop'])} as the trial"
    return Cube(np.asarray(scene.cube), scene.georef, scene.wavelengths_nm, label)


def _parser() -> argparse.ArgumentParser:
    from datasets.cli_options import add_option

    ap = argparse.ArgumentParser(
        prog="python -m harness.predict",
        description="Classify a cube with a trial's saved model; write the class and entropy maps.",
    )
    add_option(ap, "--db")
    add_option(ap, "--artifacts")
    which = ap.add_argument_group(
        "which model",
        "--trial ID, or --best MODEL --scene SCENE: the completed trial of MODEL trained on "
        "SCENE with a saved model and the best validation OA (--protocol and --recipe narrow "
        "the choice).",
    )
    which.add_argument("--trial", type=int, metavar="ID", help="the trial's id")
    which.add_argument(
        "--best",
        metavar="MODEL",
        help="the completed trial of MODEL on --scene with the best validation OA",
    )
    add_option(which, "--protocol")
    add_option(which, "--recipe")
    data = ap.add_argument_group(
        "which data",
        "--cube FILE, or --scene SCENE (the trial's own scene is loaded as the trial saw it).",
    )
    data.add_argument("--cube", metavar="FILE", help="a cube file (.mat, .npy, .npz, ENVI, .tif)")
    data.add_argument("--key", default="", help="the cube's variable in a .mat/.npz file")
    add_option(data, "--scene")
    add_option(data, "--scene-file")
    add_option(data, "--source")
    add_option(data, "--data-dir")
    ap.add_argument(
        "--out", required=True, metavar="PATH", help="output: PATH.tif, .png, .mat or .npy"
    )
    ap.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    ap.add_argument(
        "--chunk", type=int, metavar="N", help="pixels per chunk (default: the trial's)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads of a torch model (default: torch's, one per core; measured in "
        "docs/BENCHMARKS.md)",
    )
    return ap


def _check_args(args: argparse.Namespace) -> None:
    from .maps import SUFFIXES

    if (args.trial is None) == (args.best is None):
        raise PredictError(
            "Give the model with --trial ID or with --best MODEL --scene SCENE (one of them)."
        )
    if args.best is not None and not args.scene:
        raise PredictError("--best MODEL needs --scene SCENE: the scene the model was trained on.")
    if (args.protocol or args.recipe) and args.best is None:
        raise PredictError("--protocol and --recipe choose among trials with --best only.")
    if not args.cube and not args.scene:
        raise PredictError("Give the data with --cube FILE or --scene SCENE.")
    for flag, value in (("--chunk", args.chunk), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise PredictError(f"{flag} {value} must be >= 1.")
    out = Path(args.out)
    if out.suffix.lower() not in SUFFIXES:
        raise PredictError(
            f"--out {args.out}: the suffix '{out.suffix}' is not an output format; expected one "
            f"of {', '.join(SUFFIXES)}."
        )
    if not out.absolute().parent.is_dir():
        raise PredictError(
            f"--out {args.out}: the folder '{out.absolute().parent}' does not exist. Fix: "
            "create it first."
        )


def _choose_trial(args: argparse.Namespace, store: Any) -> int:
    if args.trial is not None:
        return int(args.trial)
    best = store.best_trial(args.best, args.scene, protocol=args.protocol, recipe=args.recipe)
    if best is None:
        any_trial = store.best_trial(
            args.best, args.scene, protocol=args.protocol, recipe=args.recipe, with_model=False
        )
        why = (
            f"its completed trials (e.g. trial {any_trial['id']}) have no saved model"
            if any_trial
            else "there is no completed trial of it"
        )
        from datasets.cli_options import python_command

        run = python_command(f"harness.run --models {args.best} --scene {args.scene}")
        report = python_command(f"harness.report --db {shlex.quote(str(args.db))}")
        raise PredictError(
            f"--best {args.best} --scene {args.scene}: {why} in {store.location}. Fix: run it "
            f"({run} ...), or check the names with {report}."
        )
    oa = best["val_oa"]
    print(
        f"model: trial {best['id']} ({best['model']}, {best['scene']}, {best['protocol']}, "
        f"seed {best['seed']}), the best validation OA "
        f"{'-' if oa is None else f'{oa:.4f}'} of {args.best} on {args.scene}",
        file=sys.stderr,
    )
    return int(best["id"])


def _progress(total: int) -> Any:
    from .maps import PixelProgress

    bar = PixelProgress(total, desc="predict")  # a bar on a terminal, else a line every 10 s
    return bar, bar.update


def main(argv: Sequence[str] | None = None) -> int:
    import datasets

    from .maps import MapExportError, write_maps
    from .metrics import trial_note
    from .store import ResultStore, StoreError
    from .store.artifact_store import ArtifactError

    args = _parser().parse_args(argv)
    try:
        _check_args(args)
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        for f in args.scene_file:
            datasets.register_scene_file(f)
        with ResultStore(args.db, readonly=True, artifacts=args.artifacts) as store:
            trial_id = _choose_trial(args, store)
            trial = store.trial(trial_id)
            files = store.read_model_files(trial_id)
        saved = load_model(files, device=args.device)
        saved.trial_id, saved.trial = trial_id, trial
        cube = read_cube(args.cube, args.key) if args.cube else scene_cube(
            args.scene, saved, args.data_dir, args.source
        )  # fmt: skip
        saved.check_cube(cube.data.shape, cube.wavelengths_nm)
    except (
        PredictError,
        StoreError,
        ArtifactError,
        SavedModelError,
        datasets.DatasetError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    h, w, b = cube.data.shape
    m = saved.manifest
    print(
        f"predict: trial {trial_id} ({m['model']}, trained on {m['trained_on']['scene']} "
        f"{m['trained_on']['source']}, {m['n_classes']} classes) on {cube.label}: "
        f"{h} x {w} x {b}",
        file=sys.stderr,
    )
    if note := trial_note(trial):  # said before the time is spent, not after
        test = trial["metrics"]["test"]
        shown = ", ".join(
            f"{what} {test[key]:.3f}"
            for what, key in (("test OA", "oa"), ("majority class", "majority_rate"))
            if test.get(key) is not None
        )
        print(
            f"warning: trial {trial_id} is NOT A RESULT ({note}: {shown}); its map shows "
            "that, not a classification. Fix: pick a trial that learned (harness.report "
            "marks the ones that did not), or train it longer.",
            file=sys.stderr,
        )
    bar, update = _progress(h * w)
    t0 = time.perf_counter()
    try:
        labels, entropy = saved.predict(
            cube.data, wavelengths_nm=cube.wavelengths_nm, chunk=args.chunk, progress=update
        )
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    try:
        written = write_maps(args.out, labels, entropy, saved.class_names, georef=cube.georef)
    except MapExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(
        f"{h * w:,} pixels in {seconds:.1f} s ({h * w / max(seconds, 1e-9):,.0f} pixels/s, "
        f"device {saved.device or 'cpu'}, peak memory {peak:.2f} GiB)"
    )
    georef = "with the input's georeference" if cube.georef else "not georeferenced"
    for path in written:
        print(
            f"wrote {path}" + (f" ({georef})" if path.suffix.lower() in (".tif", ".tiff") else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
