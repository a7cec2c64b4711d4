"""Every database query of the dashboard, cached, read-only.

The app reads the results database through :class:`harness.store.ResultStore`'s read
API only, opened with ``readonly=True`` (SQLite opens the file in ``mode=ro``), so
the dashboard can never write to it.

Caching: one store (engine) per database file (``st.cache_resource``), and every
query result in ``st.cache_data`` keyed on the database's location *and* its
version: the modification time and size of the SQLite file and of its ``-wal``
file (a writer appends to the WAL first, so the main file's mtime alone would miss
new trials). New results therefore show up on the next rerun without a restart. A
server URL (PostgreSQL) has no file to look at: its cached results live 30 s.

Which database: :func:`configure` (called by ``app.py`` on every run) from
``--db`` after ``--`` on the ``streamlit run`` command line, else ``$HARNESS_DB``,
else ``results.db`` in the working directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from datasets.cli_options import python_command
from harness.analysis import seeds
from harness.spec import group_fields, group_of
from harness.store import ResultStore, StoreError
from harness.store.artifact_store import ArtifactError

from . import downloads

ENV_DB = "HARNESS_DB"
DEFAULT_DB = "results.db"
PAPER_NUMBERS = Path(__file__).resolve().parent / "paper_numbers.csv"
#: How long cached results of a server database (no file to watch) are kept.
SERVER_TTL_S = 30


@dataclass(frozen=True)
class Settings:
    """Where the dashboard reads from.

    Attributes:
        db: the database as given (a path or a SQLAlchemy URL).
        data_dir: a folder searched first for scene files (for the RGB composites).
        origin: where ``db`` came from ("--db", "$HARNESS_DB" or "default").
    """

    db: str
    data_dir: str | None = None
    origin: str = "default"

    @property
    def is_url(self) -> bool:
        return "://" in self.db

    @property
    def location(self) -> str:
        """The absolute file path of a SQLite file, else the URL as given."""
        if self.is_url:
            return self.db
        return str(Path(self.db).expanduser().absolute())


_settings = Settings(DEFAULT_DB)


def parse_args(argv: Sequence[str], environ: dict[str, str] | os._Environ = os.environ) -> Settings:
    """Settings from the script's arguments (those after ``--``) and the environment.

    Unknown arguments are ignored, so that a wrapper's own flags do no harm.
    """
    parser = argparse.ArgumentParser(prog="streamlit run dashboard/app.py --", add_help=False)
    parser.add_argument("--db")
    parser.add_argument("--data-dir")
    args, _ = parser.parse_known_args(list(argv))
    data_dir = args.data_dir or environ.get("HSI_DATA_DIR") or None
    if args.db:
        return Settings(args.db, data_dir, "--db")
    if environ.get(ENV_DB):
        return Settings(environ[ENV_DB], data_dir, f"${ENV_DB}")
    return Settings(DEFAULT_DB, data_dir, "default")


def configure(settings: Settings) -> None:
    """Make ``settings`` the database every query reads."""
    global _settings
    _settings = settings


def settings() -> Settings:
    return _settings


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def db_version(location: str | None = None) -> tuple[Any, ...]:
    """What changes when the database gets new results (part of every cache key)."""
    location = location or _settings.location
    if "://" in location:
        return ("server", int(time.time() // SERVER_TTL_S))
    path = Path(location)
    return (
        _file_state(path),
        _file_state(path.with_name(path.name + "-wal")),
        _inode(path),
    )


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


# --------------------------------------------------------------------------- the store


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_store(location: str, inode: int | None) -> ResultStore:
    """One read-only store per database file (a replaced file gets a new one)."""
    return ResultStore(location, readonly=True)


def store() -> ResultStore:
    """The configured database, opened read-only.

    Raises:
        StoreError: the database is missing, not a database, empty or too new (the
            message says how to fix it).
    """
    location = _settings.location
    if not _settings.is_url:
        path = Path(location)
        if path.is_file() and path.stat().st_size == 0:
            raise StoreError(
                f"{location} is an empty file with no results tables. Run a suite first "
                f"({python_command('harness.run --suite quick --db ' + location)})."
            )
    return _open_store(location, None if _settings.is_url else _inode(Path(location)))


def _key() -> tuple[str, tuple[Any, ...]]:
    location = _settings.location
    return location, db_version(location)


# --------------------------------------------------------------------------- overview


@st.cache_data(show_spinner=False, max_entries=16)
def _overview(location: str, version: tuple[Any, ...]) -> dict[str, Any]:
    s = store()
    trials = s.trials()
    counts: dict[str, int] = {}
    sources: set[str] = set()
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
        if t["status"] == "completed":
            sources.add(t["source"])
    return {
        "n_trials": len(trials),
        "n_runs": len(s.runs()),
        "status_counts": counts,
        "sources": sorted(sources),
    }


def overview() -> dict[str, Any]:
    """n_trials, n_runs, status_counts {status: n}, sources (of completed trials)."""
    return _overview(*_key())


# --------------------------------------------------------------------------- results


@st.cache_data(show_spinner=False, max_entries=32)
def _leaderboard(
    location: str, version: tuple[Any, ...], run_id: int | None, study: str | None, split: str
) -> list[dict[str, Any]]:
    from harness import metric_table

    kwargs: dict[str, Any] = {"study": study, "split": split}
    if run_id is not None:
        kwargs["run_id"] = run_id
    # the metric table's leaderboard rows, and the collapse diagnostics too: a row that
    # predicts one class is flagged, not ranked
    kwargs["metrics"] = (
        *metric_table.leaderboard_metrics(),
        *metric_table.metric_names(computed_by=metric_table.COLLAPSE),
        *(("aa",) if "aa" not in metric_table.leaderboard_metrics() else ()),
    )
    return seeds.leaderboard(store(), **kwargs)


def leaderboard(
    run_id: int | None = None, study: str | None = "", split: str = "test"
) -> list[dict[str, Any]]:
    """Every leaderboard row (all groups) of the database, or of one run."""
    return _leaderboard(*_key(), run_id, study, split)


@st.cache_data(show_spinner=False, max_entries=64)
def _per_seed(
    location: str,
    version: tuple[Any, ...],
    group: tuple[str, ...],
    metric: str,
    run_id: int | None,
) -> dict[str, dict[int, float]]:
    kwargs: dict[str, Any] = {"metric": metric}
    if run_id is not None:
        kwargs["run_id"] = run_id
    return seeds.per_seed(store(), **group_fields(group), **kwargs)


def per_seed(
    group: Sequence[str], metric: str = "oa", run_id: int | None = None
) -> dict[str, dict[int, float]]:
    """{label: {seed: value}} of one group (its :data:`~harness.spec.GROUP_KEY` values):
    from the cached leaderboard rows when they hold the metric, else a query."""
    rows = [r for r in leaderboard(run_id=run_id) if group_of(r) == tuple(group)]
    if rows and all(metric in r.get("per_seed", {}) for r in rows):
        return {r["label"]: r["per_seed"][metric] for r in sorted(rows, key=lambda r: r["label"])}
    return _per_seed(*_key(), tuple(group), metric, run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _group_details(
    location: str,
    version: tuple[Any, ...],
    group: tuple[str, ...],
    labels: tuple[str, ...],
    run_id: int | None,
    class_metric: str,
) -> Any:
    from harness.analysis import tables

    rows = [
        r
        for r in leaderboard(run_id=run_id)
        if group_of(r) == tuple(group) and r["label"] in labels
    ]
    details = tables.make_group(group, rows, lambda: per_seed(group, "oa", run_id))
    return tables.add_details(details, store(), class_metric=class_metric)


def group_details(
    group: Sequence[str],
    labels: Sequence[str],
    run_id: int | None = None,
    class_metric: str = "recall",
) -> Any:
    """One group's :class:`harness.analysis.tables.Group` with its per-class table, McNemar tests
    and bootstrap intervals (:func:`harness.report.add_details`), for the rows ``labels``."""
    return _group_details(*_key(), tuple(group), tuple(labels), run_id, class_metric)


@st.cache_data(show_spinner=False, max_entries=16)
def _leakage(
    location: str, version: tuple[Any, ...], run_id: int | None, recipe: str | None,
    source: str | None,
) -> list[Any]:  # fmt: skip
    from harness.analysis import leakage

    return leakage.collect(
        store(),
        recipe=recipe,
        source=source,
        run_id=run_id,
        board=leaderboard(run_id=run_id),  # the page's own rows and per-seed values, cached
        seeds_of=lambda key: per_seed(key, "oa", run_id),
    )


def leakage(
    run_id: int | None = None, recipe: str | None = None, source: str | None = None
) -> list[Any]:
    """The leakage tables (:func:`harness.analysis.leakage.collect`) of the database, or of one run,
    of one recipe and source (None: all)."""
    return _leakage(*_key(), run_id, recipe, source)


@st.cache_data(show_spinner=False, max_entries=256)
def _trial(location: str, version: tuple[Any, ...], trial_id: int) -> dict[str, Any]:
    return store().trial(trial_id)


def trial(trial_id: int) -> dict[str, Any]:
    """:meth:`ResultStore.trial`."""
    return _trial(*_key(), int(trial_id))


@st.cache_data(show_spinner=False, max_entries=256)
def _artifact(location: str, version: tuple[Any, ...], trial_id: int, name: str) -> Any:
    return store().artifact(trial_id, name)


def artifact(trial_id: int, name: str) -> Any:
    """:meth:`ResultStore.artifact`, or None when the trial has no such artifact."""
    if name not in trial(trial_id)["artifacts"]:
        return None
    return _artifact(*_key(), int(trial_id), name)


@st.cache_data(show_spinner=False, max_entries=16)
def _runs(location: str, version: tuple[Any, ...]) -> list[dict[str, Any]]:
    return store().runs()


def runs() -> list[dict[str, Any]]:
    """Every run with its provenance, oldest first."""
    return _runs(*_key())


@st.cache_data(show_spinner=False, max_entries=16)
def _trials(location: str, version: tuple[Any, ...], status: str | None) -> list[dict[str, Any]]:
    return store().trials(status=status)


def trials(status: str | None = None) -> list[dict[str, Any]]:
    """Every trial attempt (of one status), oldest first."""
    return _trials(*_key(), status)


#: The test metrics that tell whether a trial is a result
#: (:func:`harness.metrics.one_class_note`).
COLLAPSE_METRICS = ("oa", "majority_rate", "top_prediction_share")


@st.cache_data(show_spinner=False, max_entries=16)
def _trial_notes(location: str, version: tuple[Any, ...]) -> dict[int, str]:
    from harness.metrics import one_class_note

    ids = [t["id"] for t in store().trials(status="completed")]
    notes = {}
    for trial_id, test in store().trial_metrics(ids, COLLAPSE_METRICS).items():
        note = one_class_note(*(test.get(name) for name in COLLAPSE_METRICS))
        if note:
            notes[trial_id] = note
    return notes


def trial_notes() -> dict[int, str]:
    """{trial id: why it is not a result} of the completed trials that are not results
    (:func:`harness.metrics.one_class_note` on their test metrics; one query)."""
    return _trial_notes(*_key())


def _missing_table(exc: StoreError) -> bool:
    return "no such table" in str(exc).lower() or "does not exist" in str(exc).lower()


@st.cache_data(show_spinner=False, max_entries=16)
def _studies(location: str, version: tuple[Any, ...]) -> list[dict[str, Any]]:
    try:
        return store().studies()
    except StoreError as exc:
        if _missing_table(exc):  # a database written before searches were recorded
            return []
        raise


def studies() -> list[dict[str, Any]]:
    """Every hyperparameter search of the database ([] when none)."""
    return _studies(*_key())


@st.cache_data(show_spinner=False, max_entries=32)
def _study_trials(location: str, version: tuple[Any, ...], name: str) -> list[dict[str, Any]]:
    return store().study_trials(name)


def study_trials(name: str) -> list[dict[str, Any]]:
    """The trials of one study, in trial order."""
    return _study_trials(*_key(), name)


# --------------------------------------------------------------------------- downloads


def _files_state(files: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
    """What changes when a saved model's files change on disk (part of their cache keys)."""
    return tuple(
        (f["path"], f["sha256"], f["file"])
        + (
            (None, None)
            if f["file"] is None
            else (_file_state(Path(f["file"])), _inode(Path(f["file"])))
        )
        for f in files
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _model_files_problem(
    location: str, version: tuple[Any, ...], trial_id: int, files: tuple[Any, ...]
) -> str | None:
    try:
        store().read_model_files(trial_id)  # reads every file and checks its sha256
    except (StoreError, ArtifactError) as exc:
        return str(exc)
    return None


def model_files_problem(trial_id: int) -> str | None:
    """Why a trial's listed model files cannot be read (missing, changed, no artifact
    folder), or None when each one is there with its recorded sha256.

    The files are read and hashed once per state of them on disk (modification time,
    size, inode), not on every rerun. None too for a trial without a saved model.
    """
    files = trial(trial_id)["model_files"]
    if not files:
        return None
    return _model_files_problem(*_key(), int(trial_id), _files_state(files))


@st.cache_data(show_spinner=False, max_entries=2)
def _model_zip(
    location: str, version: tuple[Any, ...], trial_id: int, files: tuple[Any, ...]
) -> bytes:
    s = store()
    detail = s.trial(trial_id)
    contents = s.read_model_files(trial_id)
    return downloads.model_zip(detail, detail["model_files"], contents, s.location)


def model_zip(trial_id: int) -> bytes:
    """A trial's saved model as one zip (:func:`dashboard.downloads.model_zip`), built
    when asked for (the download button calls it on a click), the last two kept.

    Raises:
        StoreError: the trial has no saved model, or no artifact folder is found.
        ArtifactError: a file is missing or changed.
    """
    return _model_zip(*_key(), int(trial_id), _files_state(trial(trial_id)["model_files"]))


@st.cache_data(show_spinner=False, max_entries=32)
def _class_map_file(
    location: str, version: tuple[Any, ...], trial_id: int, fmt: str, names: tuple[str, ...]
) -> bytes:
    from harness import maps

    class_map = store().artifact(trial_id, "class_map")
    if fmt == "tif":
        return maps.geotiff_bytes(class_map, names, georef=_training_georef(trial_id))
    if fmt == "png":
        return maps.png_bytes(class_map, names)
    raise ValueError(f"Unknown map format {fmt!r}; 'tif' or 'png'.")


def _training_georef(trial_id: int) -> dict[str, Any] | None:
    """The georeference of the scene a trial was trained on, from its saved model's
    manifest (None without a saved model, or for a scene without one)."""
    import json

    manifest = next((f for f in store().model_files(trial_id) if f["kind"] == "manifest"), None)
    if manifest is None or not manifest.get("file"):
        return None
    try:
        return json.loads(Path(manifest["file"]).read_text())["trained_on"].get("georef")
    except (OSError, ValueError, KeyError):
        return None


def class_map_file(trial_id: int, fmt: str, class_names: Sequence[str]) -> bytes:
    """A trial's stored class map as a GeoTIFF with a colour table (``fmt="tif"``; with
    the training scene's georeference when its saved model's manifest has one) or a PNG
    with a legend (``"png"``), in memory."""
    return _class_map_file(*_key(), int(trial_id), fmt, tuple(class_names))


def rerun_command(trial_id: int) -> str:
    """The command line of the run that made a trial, with ``--fresh`` and without
    ``--no-save-models`` (it runs the trial again with its model saved)."""
    detail = trial(trial_id)
    command = next((r["command"] for r in runs() if r["id"] == detail["run_id"]), None)
    if not command or "harness.run" not in command:
        return (
            python_command(f"harness.run --db {store().location} --scene {detail['scene']} ")
            + f"--models {detail['model']} --protocol {detail['protocol']} "
            f"--recipe {detail['recipe']} --source {detail['source']} "
            f"--seed {detail['seed']} --fresh"
        )
    words = [w for w in command.split(" ") if w and w != "--no-save-models"]
    if not any(w == "--db" or w.startswith("--db=") for w in words):
        words += ["--db", store().location]
    if "--fresh" not in words:
        words.append("--fresh")
    return " ".join(words)


# --------------------------------------------------------------------------- scenes


@dataclass
class SceneImages:
    """What the maps of a trial are drawn on; None where it could not be made (``note``)."""

    rgb: np.ndarray | None
    gt: np.ndarray | None
    class_names: tuple[str, ...]
    note: str = ""
    #: The error behind ``note`` (shown on request).
    detail: str = ""


@st.cache_data(show_spinner=False, max_entries=8)
def _scene_images(
    scene: str,
    source: str,
    surrogate_seed: int,
    crop: tuple[int, int, int, int] | None,
    fingerprint: str,
    data_dir: str | None,
) -> SceneImages:
    import datasets

    try:
        names = tuple(datasets.get_scene_info(scene).class_names)
    except Exception:  # a scene registered by a TOML this process never saw
        names = ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", datasets.SurrogateWarning)
            loaded = datasets.load_scene(
                scene, source=source, data_dir=data_dir, surrogate_seed=surrogate_seed
            )
        if crop is not None:
            loaded = loaded.crop_to(*crop)
    except Exception as exc:  # missing files above all; any failure only hides the images
        gt = _ground_truth_only(scene, data_dir, crop) if source == "real" else None
        what = "RGB composite is" if gt is not None else "RGB composite and ground truth are"
        return SceneImages(
            None,
            gt,
            names,
            f"The {source} scene {scene} cannot be loaded here, so its {what} not shown. "
            "Point the dashboard at the scene files: "
            "`streamlit run dashboard/app.py -- --data-dir DIR`.",
            f"{type(exc).__name__}: {exc}",
        )
    note = ""
    if loaded.fingerprint != fingerprint:
        note = (
            "The scene files found here differ from those of the trial (fingerprint "
            f"{loaded.fingerprint[:12]} instead of {fingerprint[:12]}): the RGB composite "
            "and the ground truth may not be the data the trial saw."
        )
    return SceneImages(loaded.rgb(), np.asarray(loaded.gt), tuple(loaded.class_names), note)


def _ground_truth_only(
    scene: str, data_dir: str | None, crop: tuple[int, int, int, int] | None
) -> np.ndarray | None:
    """The ground truth of a real scene whose cube is missing (a surrogate shares its map)."""
    import datasets

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", datasets.SurrogateWarning)
            loaded = datasets.load_scene(scene, source="surrogate", data_dir=data_dir)
        if crop is not None:
            loaded = loaded.crop_to(*crop)
    except Exception:
        return None
    return np.asarray(loaded.gt)


def scene_images(spec: dict[str, Any]) -> SceneImages:
    """The RGB composite and ground truth of a trial's scene, with its crop."""
    crop = spec.get("crop")
    return _scene_images(
        spec["scene"],
        spec["source"],
        int(spec.get("surrogate_seed") or 0),
        None if crop is None else tuple(int(v) for v in crop),
        spec.get("scene_fingerprint", ""),
        _settings.data_dir,
    )


# --------------------------------------------------------------------------- paper


@st.cache_data(show_spinner=False)
def _paper_numbers(path: str, mtime: float) -> list[dict[str, Any]]:
    with open(path, newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    out = []
    for row in csv.DictReader(lines):
        out.append(
            {
                **row,
                "mean": float(row["mean"]) if row["mean"] else None,
                "std": float(row["std"]) if row["std"] else None,
            }
        )
    return out


@st.cache_data(show_spinner=False)
def _reference_numbers(path: str, mtime: float) -> list[Any]:
    from harness.analysis import reference_numbers

    return reference_numbers.load(path)


def reference_numbers() -> list[Any]:
    """This project's real-data reference results (``reference_numbers.csv``), for the
    configurations it ran; [] without the file."""
    from harness.analysis import reference_numbers as ref

    path = ref.REFERENCE_NUMBERS
    return _reference_numbers(str(path), path.stat().st_mtime) if path.is_file() else []


def paper_numbers() -> list[dict[str, Any]]:
    """The published cells of Tables III and IV (``paper_numbers.csv``), units as printed."""
    return _paper_numbers(str(PAPER_NUMBERS), PAPER_NUMBERS.stat().st_mtime)


def dumps(value: Any) -> str:
    """JSON for display (datetimes and other objects as text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


# --------------------------------------------------------------------------- importance


@dataclass
class Importances:
    """Parameter importances of a study (empty when they cannot be computed: ``note`` says why)."""

    importances: dict[str, float]
    note: str


def _choice(value: Any) -> Any:
    """A categorical value as Optuna stores it (a tuple becomes "1-2-4", as the search offers it)."""
    if isinstance(value, list | tuple):
        return "-".join(str(v) for v in value)
    return value


def _inside(dist: Any, value: Any) -> bool:
    if hasattr(dist, "choices"):
        return value in dist.choices
    return isinstance(value, int | float) and dist.low <= value <= dist.high


def importances_from(
    space: dict[str, dict[str, Any]], mode: str, trials: Sequence[dict[str, Any]]
) -> Importances:
    """fANOVA importances (seeded) from a study rebuilt in memory out of its stored trials.

    Needs at least two completed trials with a value whose parameters lie in the
    search space, and a parameter that varies among them.
    """
    import optuna

    from harness.search import to_optuna

    try:
        distributions = to_optuna(space)
    except (KeyError, TypeError, ValueError) as exc:
        return Importances({}, f"The stored search space cannot be read ({exc}).")
    frozen = []
    for t in trials:
        if t["status"] != "completed" or t["value"] is None:
            continue
        params = {k: _choice(t["params"].get(k)) for k in distributions}
        if not all(_inside(dist, params[k]) for k, dist in distributions.items()):
            continue  # a value outside the space (an edited study): left out
        frozen.append(
            optuna.trial.create_trial(
                value=float(t["value"]), params=params, distributions=distributions
            )
        )
    varying = [k for k in distributions if len({repr(f.params[k]) for f in frozen}) > 1]
    if len(frozen) < 2 or not varying:
        return Importances(
            {},
            f"Parameter importance needs at least two completed trials whose parameters "
            f"vary; this study has {len(frozen)} completed trial(s) with a value"
            + ("" if len(frozen) < 2 else " and no parameter that varies among them")
            + ".",
        )
    if len({f.value for f in frozen}) < 2:
        return Importances(
            {},
            f"All {len(frozen)} completed trials reached the same {frozen[0].value:.4f}: "
            "no parameter explains a difference, so there is no importance to estimate.",
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    study.add_trials(frozen)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = optuna.importance.get_param_importances(study, evaluator=evaluator, params=varying)
    return Importances(
        {k: float(v) for k, v in values.items()},
        f"fANOVA (Optuna, seed 0) over {len(frozen)} completed trials; parameters that never "
        "varied are left out. Few trials make these estimates rough.",
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _param_importances(location: str, version: tuple[Any, ...], name: str) -> Importances:
    study = next((s for s in studies() if s["name"] == name), None)
    if study is None:
        return Importances({}, f"No study {name!r}.")
    return importances_from(study.get("search_space") or {}, study["mode"], study_trials(name))


def param_importances(name: str) -> Importances:
    """:func:`importances_from` of one study (cached)."""
    return _param_importances(*_key(), name)
