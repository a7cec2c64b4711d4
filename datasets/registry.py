"""The scene registry: facts about each scene as data (TOML), not code.

Built-in scenes live in ``datasets/scenes/*.toml``. A user adds a scene with a
TOML file of the same form passed as ``--scene-file PATH`` (or
:func:`register_scene_file`). Minimal user file::

    name = "pavia_university"
    class_names = ["Asphalt", "Meadows", ...]

    [cube]
    file = "PaviaU.mat"      # relative to the TOML file's folder, or searched
    key = "paviaU"           # in the data folders like the built-in scenes

    [gt]
    file = "PaviaU_gt.mat"
    key = "paviaU_gt"

Optional top-level keys: ``title``, ``sensor``, ``description``, ``shape``
([rows, cols]), ``n_bands``, ``rgb_bands`` (three 0-based band indices),
``wavelengths_nm`` (one per band) or ``wavelength_range_nm``, ``class_counts``;
per file: ``url``, ``sha256``, ``known_sha256``, ``git_blob`` and a ``pypi`` table
(below); a ``[surrogate]`` table; and named fixed splits, each a table of label maps (``--protocol fixed:NAME``)::

    [splits.official]
    citation = "Who published the split, and where."
    train = { file = "IndianPine.mat", key = "TR" }
    test = { file = "IndianPine.mat", key = "TE", sha256 = "..." }  # sha256: enforced
    # val = { file = "val.npy" }   # optional; else drawn from the training pixels

``sha256`` is the file's checksum as distributed: a file that differs is refused by
``python -m datasets download`` and warned about on load. ``known_sha256`` and
``git_blob`` (the id ``git hash-object`` gives) are those of a public copy that was
never checked against the original: a download is reported as matching it or not,
and never refused for differing; loading does not warn.

The file's extension chooses its reader (:mod:`datasets.formats`): ``.mat`` and
``.npz`` need ``key``; ``.npy``, ENVI (``.hdr`` or a binary with its ``.hdr``
beside it) and GeoTIFF (``.tif``/``.tiff``) hold one array and need none.

A file may also be published inside a wheel on PyPI, as a different container of the
same array (``[cube.pypi]``)::

    [cube.pypi]
    package = "tensorly"                # the distribution and its exact version
    version = "0.10.0"
    wheel = "tensorly-0.10.0-py3-none-any.whl"
    wheel_sha256 = "..."                # enforced: the wheel pip hands over
    member = "tensorly/datasets/data/Indian_pines_corrected.npy"   # inside the wheel
    file = "Indian_pines_corrected.npy" # what it is saved as in a data folder
    sha256 = "..."                      # enforced: the member's bytes
    gt_member = "tensorly/datasets/data/Indian_pines_gt.npy"       # optional: checked
    licence = "CC BY 3.0"               # equal to the scene's ground truth, pixel for pixel

``python -m datasets download SCENE --from pypi`` fetches it (:mod:`datasets.pypi`);
the folders are searched for ``file`` and then for ``pypi.file``, and a file whose
sha256 is the member's is recorded as that package's copy. A scene is identified by
the content of its arrays, not by their container (:attr:`datasets.Scene.fingerprint`),
so both copies are the same scene.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .cli_options import python_command
from .errors import SceneSpecError, UnknownSceneError

_TOP_KEYS = {
    "name",
    "title",
    "sensor",
    "description",
    "shape",
    "n_bands",
    "rgb_bands",
    "wavelengths_nm",
    "wavelength_range_nm",
    "class_names",
    "class_counts",
    "cube",
    "gt",
    "surrogate",
    "splits",
}
_FILE_KEYS = {"file", "key", "url", "sha256", "known_sha256", "git_blob", "pypi"}
_PYPI_KEYS = {
    "package",
    "version",
    "wheel",
    "wheel_sha256",
    "member",
    "file",
    "sha256",
    "gt_member",
    "licence",
}
_SURROGATE_KEYS = {
    "signatures_file",
    "signatures_key",
    "signatures_sha256",
    "drop_bands",
    "dtype",
    "value_range",
    "band_mean",
    "band_std",
}
_SPLIT_KEYS = {"citation", "description", "train", "val", "test"}
_SPLIT_FILE_KEYS = {"file", "key", "band", "sha256"}
#: The sets a fixed split's label maps define; "val" is optional.
SPLIT_ROLES = ("train", "val", "test")
_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Cube dtypes a surrogate can be written in (the real files' sensor units).
SURROGATE_DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")


@dataclass(frozen=True)
class PypiCopy:
    """The same array as a file inside a wheel on PyPI (``[cube.pypi]``): which
    distribution, which exact version and wheel, which member, and their checksums."""

    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    file: str
    sha256: str
    gt_member: str = ""
    licence: str = ""

    @property
    def requirement(self) -> str:
        """The pinned requirement pip is asked for (``tensorly==0.10.0``)."""
        return f"{self.package}=={self.version}"

    def describe(self) -> str:
        """One line naming the copy: ``PyPI tensorly 0.10.0, tensorly/.../X.npy``."""
        return f"PyPI {self.package} {self.version}, {self.member}"

    def as_dict(self) -> dict[str, str]:
        """The provenance a trial records of the copy it read."""
        return {
            "package": self.package,
            "version": self.version,
            "wheel": self.wheel,
            "wheel_sha256": self.wheel_sha256,
            "member": self.member,
            "sha256": self.sha256,
            "licence": self.licence,
        }


@dataclass(frozen=True)
class FileSpec:
    """One file of a scene: its name, the variable (``.mat``/``.npz``; "" for single-array
    formats), and what is known of it."""

    file: str
    key: str
    url: str | None = None
    sha256: str | None = None
    #: sha256 of an unchecked public copy: reported, never enforced (see the module doc).
    known_sha256: str | None = None
    git_blob: str | None = None
    #: The same array inside a wheel on PyPI, when one ships it.
    pypi: PypiCopy | None = None

    def names(self) -> tuple[str, ...]:
        """The file names searched for, in order: ``file``, then the PyPI copy's."""
        if self.pypi is None or self.pypi.file == self.file:
            return (self.file,)
        return (self.file, self.pypi.file)


@dataclass(frozen=True)
class SplitFileSpec:
    """One label map of a fixed split: its file, the variable (``.mat``/``.npz``) or the
    1-based band (multi-band ENVI/GeoTIFF), and its sha256 when declared (then enforced)."""

    file: str
    key: str = ""
    band: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SplitSpec:
    """A named train/test (and optionally validation) split read from label-map files.

    Each set is a label map of the scene's size: a pixel labelled k > 0 in the train
    map is a training pixel of class k. Without a ``val`` map, validation pixels are
    drawn from the training pixels (a seeded, stratified fraction).
    """

    name: str
    train: SplitFileSpec
    test: SplitFileSpec
    val: SplitFileSpec | None = None
    citation: str = ""
    description: str = ""

    def files(self) -> dict[str, SplitFileSpec]:
        """The label maps by role ("train", "val", "test"), the absent ``val`` left out."""
        out = {"train": self.train, "val": self.val, "test": self.test}
        return {role: spec for role, spec in out.items() if spec is not None}


@dataclass(frozen=True)
class SurrogateSpec:
    """How a surrogate of the scene gets its class spectra."""

    signatures_file: str | None = None
    signatures_key: str | None = None
    signatures_sha256: str | None = None
    #: 1-based inclusive band ranges removed from the signature file's bands.
    drop_bands: tuple[tuple[int, int], ...] = ()
    #: The real cube's units, which the surrogate is written in: its dtype, the range
    #: of its values, and (when known) each band's mean and standard deviation.
    #: Without them the surrogate stays a float32 cube of reflectance-like values.
    dtype: str | None = None
    value_range: tuple[float, float] | None = None
    band_mean: tuple[float, ...] | None = None
    band_std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class SceneInfo:
    """Everything known about a scene before any file is opened."""

    name: str
    cube: FileSpec
    gt: FileSpec
    class_names: tuple[str, ...]
    title: str = ""
    sensor: str = ""
    description: str = ""
    shape: tuple[int, int] | None = None
    n_bands: int | None = None
    rgb_bands: tuple[int, int, int] | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    wavelength_range_nm: tuple[float, float] | None = None
    class_counts: tuple[int, ...] | None = None
    surrogate: SurrogateSpec = field(default_factory=SurrogateSpec)
    #: Named fixed splits (``[splits.NAME]`` tables), used by ``--protocol fixed:NAME``.
    splits: tuple[SplitSpec, ...] = ()
    #: The TOML file the scene came from; relative file names resolve against its folder.
    origin: Path | None = None
    builtin: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split_spec(self, name: str) -> SplitSpec | None:
        """The declared split ``name``, or None."""
        return next((s for s in self.splits if s.name == name), None)

    def download_hint(self) -> str | None:
        """The command that fetches this scene's real files: from PyPI when a wheel ships
        the cube (wherever pip works), else from their URLs; None when neither is known."""
        scene = (
            self.name
            if self.builtin or self.origin is None
            else f"{self.name} --scene-file {self.origin}"
        )
        if self.cube.pypi is not None:
            return python_command(f"datasets download {scene} --from pypi")
        if not (self.cube.url or self.gt.url):
            return None
        return python_command(f"datasets download {scene} --data-dir DIR")


def _err(origin: str, msg: str) -> SceneSpecError:
    return SceneSpecError(f"Scene file '{origin}': {msg}")


def _check_keys(origin: str, table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hints.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise _err(
            origin,
            f"unknown key(s) in {where}: {', '.join(hints)}. Allowed: {', '.join(sorted(allowed))}.",
        )


def _int_tuple(origin: str, value: Any, key: str, length: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise _err(origin, f"'{key}' must be a list of integers, got {value!r}.")
    if length is not None and len(value) != length:
        raise _err(origin, f"'{key}' must have {length} entries, got {len(value)}: {value!r}.")
    return tuple(value)


def _file_spec(origin: str, table: Any, which: str) -> FileSpec:
    if not isinstance(table, dict):
        raise _err(origin, f"missing table [{which}] with at least 'file' and 'key'.")
    _check_keys(origin, table, _FILE_KEYS, f"[{which}]")
    if not isinstance(table.get("file"), str) or not table["file"]:
        raise _err(origin, f"[{which}] needs a non-empty string 'file', got {table.get('file')!r}.")
    # MATLAB files and NumPy archives hold named variables: they need a key; the other
    # formats (.npy, ENVI, GeoTIFF) hold one array and take none.
    needs_key = Path(table["file"]).suffix.lower() in (".mat", ".npz")
    has_key = isinstance(table.get("key"), str) and bool(table["key"])
    if (needs_key or "key" in table) and not has_key:
        raise _err(origin, f"[{which}] needs a non-empty string 'key', got {table.get('key')!r}.")
    fields: dict[str, Any] = {k: table.get(k) for k in _FILE_KEYS}
    fields["key"] = fields["key"] or ""
    if fields["pypi"] is not None:
        fields["pypi"] = _pypi_copy(origin, fields["pypi"], f"[{which}.pypi]")
    return FileSpec(**fields)


def _pypi_copy(origin: str, table: Any, where: str) -> PypiCopy:
    """A ``[cube.pypi]`` table: every key a string, the checksums 64 hex digits."""
    if not isinstance(table, dict):
        raise _err(origin, f"{where} must be a table (package, version, wheel, member, ...).")
    _check_keys(origin, table, _PYPI_KEYS, where)
    required = ("package", "version", "wheel", "wheel_sha256", "member", "file", "sha256")
    for key in (*required, "gt_member", "licence"):
        value = table.get(key, "")
        if not isinstance(value, str) or (key in required and not value):
            raise _err(origin, f"{where} needs a non-empty string '{key}', got {value!r}.")
    for key in ("wheel_sha256", "sha256"):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", table[key]):
            raise _err(origin, f"{where}: '{key}' must be 64 hex digits, got {table[key]!r}.")
    name = Path(table["file"])
    if name.is_absolute() or len(name.parts) != 1:
        raise _err(origin, f"{where}: 'file' must be a plain file name, got {table['file']!r}.")
    values = {k: table.get(k, "") for k in _PYPI_KEYS}
    values["wheel_sha256"] = values["wheel_sha256"].lower()
    values["sha256"] = values["sha256"].lower()
    return PypiCopy(**values)


def _split_file_spec(origin: str, table: Any, where: str) -> SplitFileSpec:
    if isinstance(table, str):
        table = {"file": table}
    if not isinstance(table, dict):
        raise _err(origin, f'{where} must be a table such as {{ file = "train.mat", key = "TR" }}.')
    _check_keys(origin, table, _SPLIT_FILE_KEYS, where)
    name = table.get("file")
    if not isinstance(name, str) or not name:
        raise _err(origin, f"{where} needs a non-empty string 'file', got {name!r}.")
    key = table.get("key", "")
    if not isinstance(key, str):
        raise _err(origin, f"{where}: 'key' must be a string, got {key!r}.")
    if Path(name).suffix.lower() in (".mat", ".npz") and not key:
        raise _err(
            origin,
            f"{where}: '{name}' holds named variables, so 'key' is needed (e.g. key = \"TR\").",
        )
    band = table.get("band")
    if band is not None and (isinstance(band, bool) or not isinstance(band, int) or band < 1):
        raise _err(origin, f"{where}: 'band' must be a 1-based band number, got {band!r}.")
    digest = table.get("sha256")
    if digest is not None and (
        not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest)
    ):
        raise _err(origin, f"{where}: 'sha256' must be 64 hex digits, got {digest!r}.")
    return SplitFileSpec(file=name, key=key, band=band, sha256=digest.lower() if digest else None)


def _splits(origin: str, value: Any) -> tuple[SplitSpec, ...]:
    """The ``[splits.NAME]`` tables of a scene file."""
    if not isinstance(value, dict):
        raise _err(origin, f"[splits] must hold tables [splits.NAME], got {value!r}.")
    out = []
    for name, table in value.items():
        where = f"[splits.{name}]"
        if not _SPLIT_NAME.fullmatch(name):
            raise _err(
                origin,
                f"split name {name!r} must start with a letter or digit and hold only letters, "
                "digits, '_', '.' and '-' (it is written --protocol fixed:NAME).",
            )
        if not isinstance(table, dict):
            raise _err(origin, f"{where} must be a table with 'train' and 'test' label maps.")
        _check_keys(origin, table, _SPLIT_KEYS, where)
        for role in ("train", "test"):
            if role not in table:
                raise _err(
                    origin,
                    f"{where} has no '{role}' label map. Fix: add "
                    f'{role} = {{ file = "...", key = "..." }} (val is optional).',
                )
        texts = {}
        for k in ("citation", "description"):
            if not isinstance(table.get(k, ""), str):
                raise _err(origin, f"{where}: '{k}' must be a string, got {table[k]!r}.")
            texts[k] = table.get(k, "")
        out.append(
            SplitSpec(
                name=name,
                train=_split_file_spec(origin, table["train"], f"{where} train"),
                test=_split_file_spec(origin, table["test"], f"{where} test"),
                val=(
                    _split_file_spec(origin, table["val"], f"{where} val")
                    if "val" in table
                    else None
                ),
                **texts,
            )
        )
    return tuple(out)


def _numbers(origin: str, value: Any, key: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise _err(origin, f"'{key}' must be a list of numbers, got {value!r}.")
    return tuple(float(v) for v in value)


def _surrogate_units(origin: str, sur: dict[str, Any], n_bands: int | None) -> dict[str, Any]:
    """The [surrogate] table's sensor units: dtype, value_range, band_mean, band_std."""
    import numpy as np

    out: dict[str, Any] = {}
    dtype = sur.get("dtype")
    if dtype is not None:
        if dtype not in SURROGATE_DTYPES:
            raise _err(
                origin,
                f"surrogate.dtype {dtype!r} is not one of {', '.join(SURROGATE_DTYPES)}. Fix: "
                "give the dtype of the real cube file (e.g. 'uint16' for digital numbers).",
            )
        out["dtype"] = dtype
    if "value_range" in sur:
        bounds = _numbers(origin, sur["value_range"], "surrogate.value_range")
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise _err(
                origin,
                f"surrogate.value_range must be [min, max] with min < max, got {list(bounds)}.",
            )
        lo, hi = bounds
        if dtype is not None and np.dtype(dtype).kind in "iu":
            info = np.iinfo(np.dtype(dtype))
            if lo < info.min or hi > info.max:
                raise _err(
                    origin,
                    f"surrogate.value_range {[lo, hi]} does not fit in {dtype} "
                    f"({info.min}..{info.max}). Fix: correct the range or the dtype.",
                )
        out["value_range"] = (lo, hi)
    for key in ("band_mean", "band_std"):
        if key in sur:
            values = _numbers(origin, sur[key], f"surrogate.{key}")
            if n_bands is not None and len(values) != n_bands:
                raise _err(
                    origin,
                    f"surrogate.{key} has {len(values)} values for n_bands={n_bands}: one per band.",
                )
            out[key] = values
    if ("band_mean" in out) != ("band_std" in out):
        raise _err(origin, "surrogate.band_mean and surrogate.band_std go together: give both.")
    if "band_std" in out and min(out["band_std"]) <= 0:
        raise _err(origin, "surrogate.band_std must be positive for every band.")
    if out and "dtype" not in out:
        raise _err(
            origin,
            "surrogate units (value_range, band_mean, band_std) need surrogate.dtype, the real "
            'cube\'s dtype. Fix: add e.g. dtype = "uint16".',
        )
    return out


def scene_info_from_dict(
    data: dict[str, Any], origin: Path | None = None, builtin: bool = False
) -> SceneInfo:
    """Validate a parsed scene description and build its :class:`SceneInfo`.

    Raises:
        SceneSpecError: a missing or mistyped field, or an unknown key.
    """
    where = str(origin) if origin else "<dict>"
    _check_keys(where, data, _TOP_KEYS, "the top level")
    name = data.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise _err(where, f"'name' must be an identifier such as 'pavia_university', got {name!r}.")
    names = data.get("class_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _err(where, f"'class_names' must be a non-empty list of strings, got {names!r}.")
    if len(set(names)) != len(names):
        raise _err(where, f"'class_names' has duplicates: {names!r}.")
    kw: dict[str, Any] = {}
    for k in ("title", "sensor", "description"):
        if k in data:
            if not isinstance(data[k], str):
                raise _err(where, f"'{k}' must be a string, got {data[k]!r}.")
            kw[k] = data[k]
    if "shape" in data:
        kw["shape"] = _int_tuple(where, data["shape"], "shape", 2)
    if "n_bands" in data:
        if not isinstance(data["n_bands"], int) or data["n_bands"] < 1:
            raise _err(where, f"'n_bands' must be a positive integer, got {data['n_bands']!r}.")
        kw["n_bands"] = data["n_bands"]
    if "rgb_bands" in data:
        rgb = _int_tuple(where, data["rgb_bands"], "rgb_bands", 3)
        limit = kw.get("n_bands")
        if any(b < 0 or (limit is not None and b >= limit) for b in rgb):
            raise _err(
                where,
                f"'rgb_bands' {list(rgb)} must be 0-based band indices below n_bands={limit}.",
            )
        kw["rgb_bands"] = rgb
    if "wavelengths_nm" in data:
        wl = data["wavelengths_nm"]
        if not isinstance(wl, list) or not all(isinstance(v, int | float) for v in wl):
            raise _err(where, f"'wavelengths_nm' must be a list of numbers, got {wl!r}.")
        if kw.get("n_bands") is not None and len(wl) != kw["n_bands"]:
            raise _err(where, f"'wavelengths_nm' has {len(wl)} values for n_bands={kw['n_bands']}.")
        kw["wavelengths_nm"] = tuple(float(v) for v in wl)
    if "wavelength_range_nm" in data:
        wr = data["wavelength_range_nm"]
        if not (
            isinstance(wr, list) and len(wr) == 2 and all(isinstance(v, int | float) for v in wr)
        ):
            raise _err(where, f"'wavelength_range_nm' must be [min, max], got {wr!r}.")
        kw["wavelength_range_nm"] = (float(wr[0]), float(wr[1]))
    if "class_counts" in data:
        counts = _int_tuple(where, data["class_counts"], "class_counts", len(names))
        kw["class_counts"] = counts
    sur = data.get("surrogate", {})
    if not isinstance(sur, dict):
        raise _err(where, f"[surrogate] must be a table, got {sur!r}.")
    _check_keys(where, sur, _SURROGATE_KEYS, "[surrogate]")
    drops: list[tuple[int, int]] = []
    for r in sur.get("drop_bands", []):
        pair = _int_tuple(where, r, "surrogate.drop_bands entry", 2)
        if pair[0] < 1 or pair[1] < pair[0]:
            raise _err(
                where, f"surrogate.drop_bands entry {list(pair)} must be [first, last], 1-based."
            )
        drops.append((pair[0], pair[1]))
    kw["surrogate"] = SurrogateSpec(
        signatures_file=sur.get("signatures_file"),
        signatures_key=sur.get("signatures_key"),
        signatures_sha256=sur.get("signatures_sha256"),
        drop_bands=tuple(drops),
        **_surrogate_units(where, sur, kw.get("n_bands")),
    )
    if "splits" in data:
        kw["splits"] = _splits(where, data["splits"])
    return SceneInfo(
        name=name,
        cube=_file_spec(where, data.get("cube"), "cube"),
        gt=_file_spec(where, data.get("gt"), "gt"),
        class_names=tuple(names),
        origin=origin,
        builtin=builtin,
        **kw,
    )


def load_scene_file(path: str | Path) -> SceneInfo:
    """Parse and validate a scene TOML file (does not register it)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SceneSpecError(
            f"Scene file '{p}' does not exist. Fix: pass the path of a TOML scene description "
            "to --scene-file (see datasets/scenes/indian_pines.toml for the format)."
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SceneSpecError(f"Scene file '{p}' is not valid TOML: {exc}.") from exc
    return scene_info_from_dict(data, origin=p.resolve())


_REGISTRY: dict[str, SceneInfo] = {}


def _ensure_builtins() -> None:
    if _REGISTRY:
        return
    for entry in sorted(resources.files("datasets.scenes").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                info = scene_info_from_dict(
                    tomllib.loads(Path(path).read_text(encoding="utf-8")),
                    origin=Path(path),
                    builtin=True,
                )
            _REGISTRY[info.name] = info


def register_scene_file(path: str | Path) -> SceneInfo:
    """Load a scene TOML file and add it to the registry.

    Re-registering the same file is a no-op; a different file with the name of an
    already-registered scene is refused.
    """
    _ensure_builtins()
    info = load_scene_file(path)
    known = _REGISTRY.get(info.name)
    if known is not None and known.origin != info.origin:
        raise SceneSpecError(
            f"Scene file '{info.origin}' names its scene '{info.name}', which is already "
            f"defined by '{known.origin}'. Fix: give the scene another 'name'."
        )
    _REGISTRY[info.name] = info
    return info


def list_scenes() -> list[str]:
    """Names of the registered scenes."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def get_scene_info(name: str) -> SceneInfo:
    """Look a scene up by name, or load it from a ``.toml`` path.

    Raises:
        UnknownSceneError: with close matches and the list of available scenes.
    """
    _ensure_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.endswith(".toml"):
        return register_scene_file(name)
    available = sorted(_REGISTRY)
    close = difflib.get_close_matches(name, available, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownSceneError(
        f"Unknown scene {name!r}.{hint} Available: {', '.join(available)}. "
        "Fix: use one of these, or describe your scene in a TOML file and pass --scene-file PATH."
    )
