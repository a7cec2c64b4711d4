"""What the trial detail page offers for download: a trial's saved model as one zip,
and its class map as GeoTIFF or PNG; their file names and the predict command.

Pure functions of the store's answers (no Streamlit, no database): the page gets the
bytes through the cached queries of :mod:`dashboard.queries`.
"""

from __future__ import annotations

import io
import re
import shlex
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from datasets.cli_options import python_command
from harness.saved_model import SUFFIXES

#: The zip's member of each kind of model file, by format where the kind has several.
_NAMES = {"preprocessing": "preprocessing", "manifest": "manifest"}
README = "README.txt"
#: A member's time stamp when the trial has no finish time (the zip format starts in 1980).
_EPOCH = (1980, 1, 1, 0, 0, 0)


def member_name(kind: str, fmt: str) -> str:
    """The readable name of a model file in the zip: ``model.safetensors`` /
    ``model.ubj`` / ``model.skops``, ``preprocessing.skops``, ``manifest.json``."""
    return _NAMES.get(kind, kind) + SUFFIXES.get(fmt, f".{fmt}")


def file_stem(trial: Mapping[str, Any]) -> str:
    """``trial-12-claresnet-indian_pines``: the start of every downloaded file's name."""
    parts = (str(trial["model"]), str(trial["scene"]))
    safe = (re.sub(r"[^A-Za-z0-9_.]+", "_", p) for p in parts)
    return "-".join((f"trial-{int(trial['id'])}", *safe))


def model_zip_name(trial: Mapping[str, Any]) -> str:
    return f"{file_stem(trial)}-model.zip"


def map_file_name(trial: Mapping[str, Any], suffix: str, what: str = "class_map") -> str:
    """``trial-12-claresnet-indian_pines-class_map.tif`` (``suffix`` with its dot)."""
    return f"{file_stem(trial)}-{what}{suffix}"


def predict_command(trial_id: int, db: str, cube: str = "FILE", out: str = "map.tif") -> str:
    """The command line that applies trial ``trial_id``'s saved model to a cube."""
    return (
        python_command(f"harness.predict --db {shlex.quote(db)} --trial {int(trial_id)} ")
        + f"--cube {cube} --out {out}"
    )


def readme_text(trial: Mapping[str, Any], files: Sequence[Mapping[str, Any]], db: str) -> str:
    """The zip's README.txt: what each file is and how to apply the model."""
    names = {f["kind"]: member_name(f["kind"], f["format"]) for f in files}
    model_what = {
        "safetensors": "the network's weights (safetensors, float32 tensors by name)",
        "xgboost-ubj": "the XGBoost booster in XGBoost's own UBJSON model format",
        "skops": "the scikit-learn estimator (skops)",
    }
    fmt = next((f["format"] for f in files if f["kind"] == "model"), "")
    tid = int(trial["id"])
    lines = [
        f"Saved model of trial {tid}: {trial['model']} ({trial.get('family')}) trained on "
        f"{trial['scene']} ({trial.get('source')} data), protocol {trial.get('protocol')}, "
        f"recipe {trial.get('recipe')}, seed {trial.get('seed')}.",
        f"Database: {db}",
        "",
        "Files",
        "-----",
    ]
    what = {
        "model": model_what.get(fmt, f"the fitted model ({fmt})"),
        "preprocessing": "the fitted preprocessing (band scaling, PCA, ...; skops): a new "
        "cube goes through it before the model",
        "manifest": "what the model needs and was trained on (JSON): model and "
        "hyperparameters, band count, class names, patch size, the sha256 of the other two "
        "files, the trial's scene, crop, protocol and seed",
    }
    by_kind = {f["kind"]: f for f in files}
    for kind, name in names.items():
        f = by_kind[kind]
        lines.append(f"{name}  ({f['size']:,} bytes, sha256 {f['sha256']})")
        lines.append(f"    {what.get(kind, kind)}")
    lines += [
        "",
        "Apply it to a cube (H x W x bands, the band count the manifest names)",
        "-------------------------------------------------------------------",
        "With the results database and its artifact folder (the harness finds the files):",
        "",
        f"    {predict_command(tid, db)}",
        "",
        "    FILE: a MATLAB, NumPy, ENVI or GeoTIFF cube; the output by suffix: .tif",
        "    (GeoTIFF with a colour table), .png (with a legend), .mat or .npy.",
        "",
        "In Python:",
        "",
        "    import harness.predict",
        f"    model = harness.predict.load({tid}, {db!r})",
        "    labels, entropy = model.predict(cube)  # (H, W) 1-based labels, entropy in nats",
        "",
        "From the files of this zip alone (no database):",
        "",
        "    from pathlib import Path",
        "    from harness.saved_model import load_model",
        "    model = load_model({",
        *(f'        "{kind}": Path("{name}").read_bytes(),' for kind, name in names.items()),
        "    })",
        "    labels, entropy = model.predict(cube)",
        "",
        "Loading checks each file against the sha256 the manifest records, and a skops file",
        "is only loaded when every type in it is one the harness writes.",
    ]
    return "\n".join(lines) + "\n"


def _date_time(trial: Mapping[str, Any]) -> tuple[int, int, int, int, int, int]:
    when = trial.get("finished_at")
    if isinstance(when, datetime) and when.year >= 1980:
        return (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return _EPOCH


def model_zip(
    trial: Mapping[str, Any],
    files: Sequence[Mapping[str, Any]],
    contents: Mapping[str, bytes],
    db: str,
) -> bytes:
    """The saved model as one zip, in memory.

    Args:
        trial: the trial (``ResultStore.trial``: id, model, scene, ...).
        files: its ``model_files`` rows (kind, format, size, sha256).
        contents: {kind: bytes} (``ResultStore.read_model_files``, checked).
        db: the database named in the README's commands.

    Returns:
        A zip holding ``model.*``, ``preprocessing.skops``, ``manifest.json`` and
        ``README.txt``; the same bytes for the same trial and files.
    """
    stamp = _date_time(trial)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        members = [(member_name(f["kind"], f["format"]), contents[f["kind"]]) for f in files]
        members.append((README, readme_text(trial, files, db).encode()))
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # weights barely compress: the fastest level keeps a large model quick to pack
            level = 1 if len(data) > 1 << 20 else 6
            archive.writestr(info, data, compresslevel=level)
    return buf.getvalue()


def human_size(n: int | None) -> str:
    """``577,752`` bytes as ``564.2 KiB``."""
    if n is None:
        return "–"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # not reached


def files_table(files: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per model file: its name in the zip, kind, format, size, short sha256."""
    return [
        {
            "File": member_name(f["kind"], f["format"]),
            "Kind": f["kind"],
            "Format": f["format"],
            "Size": human_size(f["size"]),
            "sha256": f["sha256"][:12],
        }
        for f in files
    ]
