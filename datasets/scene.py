"""Loading scenes: the real cubes when their files are found, surrogates otherwise."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import DatasetNotFoundError, SceneFileError
from .formats import ArrayFile, display_bands, label_map, read_array
from .matio import read_mat, sha256_file
from .registry import FileSpec, PypiCopy, SceneInfo, get_scene_info
from .surrogate import (
    SurrogateParams,
    make_surrogate_cube,
    select_bands,
    signatures_from_image,
    smooth_class_spectra,
    to_sensor_units,
)

Source = Literal["real", "surrogate", "auto"]
_SOURCES = ("real", "surrogate", "auto")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The package's own copies of what surrogates need (the registry scenes' ground
#: truths, the Indian Pines class signatures): searched last, so a fresh install
#: builds every registry scene's surrogate with nothing beside it. Written by
#: scripts/make_package_data.py; the real cubes are never shipped.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


class SurrogateWarning(UserWarning):
    """Emitted when ``source="auto"`` falls back to a surrogate scene."""


@dataclass(frozen=True)
class SceneFile:
    """A file a scene was built from, with its checksum."""

    role: str  # "cube", "gt" or "signatures"
    path: str
    sha256: str
    size: int
    #: The wheel on PyPI this file is the member of (its sha256 is the member's), else None.
    pypi: PypiCopy | None = None

    @property
    def copy(self) -> str:
        """Which copy was used: "package" (the one shipped with the project), the PyPI
        copy it is ("PyPI tensorly 0.10.0, tensorly/datasets/data/...npy"), or "data folder"."""
        if Path(self.path).parent == PACKAGE_DATA:
            return "package"
        if self.pypi is not None:
            return self.pypi.describe()
        return "data folder"

    def provenance(self) -> dict[str, Any]:
        """What a trial records of the file it read: name, folder, sha256, size, and the
        PyPI copy it is (package, version, wheel, member) when it is one."""
        out: dict[str, Any] = {
            "role": self.role,
            "file": Path(self.path).name,
            "folder": str(Path(self.path).parent),
            "sha256": self.sha256,
            "size": self.size,
            "copy": self.copy,
        }
        if self.pypi is not None:
            out["pypi"] = self.pypi.as_dict()
        return out


@dataclass(eq=False)
class Scene:
    """A hyperspectral scene ready for splitting and preprocessing.

    Attributes:
        name: registry name.
        cube: (H, W, B) read-only: the file's integer dtype for digital numbers (the
            real corrected cubes, and surrogates written in their units), else float32.
        gt: (H, W) int64 labels, 0 = unlabelled (read-only).
        class_names: names of labels 1..C.
        source: "real" or "surrogate".
        files: the files used, with sha256.
        info: the registry facts.
        surrogate: generator settings and seed for a surrogate, else None.
        crop: (row0, row1, col0, col1) when this is a crop of the full scene.
        wavelengths_nm: band centres in nm, from the cube file (ENVI header, GeoTIFF
            band descriptions) or else the scene file's ``wavelengths_nm``; None if unknown.
        band_names: band names from the cube file, when it gives them.
        georef: ``{"crs": WKT, "transform": GDAL geotransform}`` of a GeoTIFF cube, else None.
        splits: the fixed splits read for this scene, by name (:func:`datasets.load_split`),
            cut to its crop; they travel with the scene to the trials. Not part of the
            fingerprint: a trial's spec records the split files' checksums itself.
        full_shape: (rows, cols) of the whole scene this one is a crop of (its own shape
            when it is not a crop).
        content: of a real scene, the digest of each array's values by role ("cube",
            "gt"; :func:`array_digest`), the whole scene's even for a crop; None for a
            surrogate. A real scene's fingerprint is made of these, not of its files.
    """

    name: str
    cube: np.ndarray
    gt: np.ndarray
    class_names: tuple[str, ...]
    source: str
    files: tuple[SceneFile, ...]
    info: SceneInfo
    surrogate: dict[str, Any] | None = None
    crop: tuple[int, int, int, int] | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    band_names: tuple[str, ...] | None = None
    georef: dict[str, Any] | None = None
    splits: dict[str, Any] = field(default_factory=dict, repr=False)
    _full_shape: tuple[int, int] | None = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, repr=False)
    content: dict[str, str] | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.gt.shape

    @property
    def full_shape(self) -> tuple[int, int]:
        """(rows, cols) of the whole scene (this one may be a crop of it)."""
        return self._full_shape or self.shape

    @property
    def n_bands(self) -> int:
        return int(self.cube.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def checksums(self) -> dict[str, str]:
        """sha256 of each file used, by role."""
        return {f.role: f.sha256 for f in self.files}

    def class_counts(self) -> np.ndarray:
        """Labelled pixels per class: entry k-1 for label k."""
        return np.bincount(self.gt.ravel(), minlength=self.n_classes + 1)[1:]

    def labelled_indices(self) -> np.ndarray:
        """Flat row-major indices of the labelled pixels."""
        return np.flatnonzero(self.gt.ravel() > 0)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description: what ``python -m datasets info`` prints."""
        counts = self.class_counts()
        return {
            "name": self.name,
            "title": self.info.title or self.name,
            "source": self.source,
            "shape": [*self.shape, self.n_bands],
            "n_bands": self.n_bands,
            "n_classes": self.n_classes,
            "n_labelled": int(counts.sum()),
            "classes": [
                {"label": k + 1, "name": n, "count": int(c)}
                for k, (n, c) in enumerate(zip(self.class_names, counts, strict=True))
            ],
            "files": [
                {
                    "role": f.role,
                    "path": f.path,
                    "sha256": f.sha256,
                    "size": f.size,
                    "copy": f.copy,
                }
                for f in self.files
            ],
            "surrogate": self.surrogate,
            "crop": list(self.crop) if self.crop else None,
            "content": self.content,
            "fingerprint": self.fingerprint,
            "splits": [
                {"name": sp.name, "protocol": f"fixed:{sp.name}", "citation": sp.citation}
                for sp in self.info.splits
            ],
        }

    @property
    def fingerprint(self) -> str:
        """sha256 identifying the data: name, source, crop, class names and what the
        arrays are.

        A real scene is identified by the content of its arrays (:attr:`content`), so
        the same cube read from the GIC ``.mat`` file or from the ``.npy`` that a wheel
        on PyPI ships is the same scene, for grouping and for resume; the files' own
        checksums stay in :attr:`files` (and every trial's provenance). A surrogate is
        identified by the checksums of the files it is generated from and its
        generator's settings and seed.
        """
        if self._fingerprint is None:
            payload: dict[str, Any] = {
                "name": self.name,
                "source": self.source,
                "surrogate": self.surrogate,
                "crop": self.crop,
                "class_names": list(self.class_names),
            }
            if self.content is not None:
                payload["content"] = self.content
            else:
                payload["files"] = sorted((f.role, f.sha256) for f in self.files)
            blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            self._fingerprint = hashlib.sha256(blob).hexdigest()
        return self._fingerprint

    @property
    def display_bands(self) -> tuple[int, int, int] | None:
        """The (red, green, blue) band indices: the scene file's ``rgb_bands``, else the
        bands nearest 640/550/460 nm when the wavelengths are known, else None."""
        if self.info.rgb_bands is not None:
            return self.info.rgb_bands
        return display_bands(self.wavelengths_nm)

    def rgb(self, percentile: float = 2.0) -> np.ndarray:
        """An (H, W, 3) float32 display composite in [0, 1] (percentile stretch per channel)."""
        bands = self.display_bands
        if bands is None or max(bands) >= self.n_bands:
            b = self.n_bands
            bands = (int(b * 0.6), int(b * 0.3), int(b * 0.1))
        img = self.cube[:, :, list(bands)].astype(np.float32)
        lo = np.percentile(img, percentile, axis=(0, 1))
        hi = np.percentile(img, 100 - percentile, axis=(0, 1))
        return np.clip((img - lo) / np.maximum(hi - lo, 1e-12), 0, 1)

    def crop_to(self, row0: int, row1: int, col0: int, col1: int) -> Scene:
        """A rectangular crop (rows row0:row1, cols col0:col1) as a new Scene.

        The crop keeps the scene's class names (a class may have no pixel in it)
        and is recorded in the fingerprint.
        """
        h, w = self.shape
        if not (0 <= row0 < row1 <= h and 0 <= col0 < col1 <= w):
            raise ValueError(
                f"crop rows {row0}:{row1}, cols {col0}:{col1} is outside the scene "
                f"'{self.name}' of {h} x {w} pixels; expected 0 <= start < stop <= size."
            )
        base = self.crop or (0, h, 0, w)
        r, c = base[0], base[2]
        return Scene(
            name=self.name,
            cube=_readonly(self.cube[row0:row1, col0:col1]),
            gt=_readonly(self.gt[row0:row1, col0:col1]),
            class_names=self.class_names,
            source=self.source,
            files=self.files,
            info=self.info,
            surrogate=self.surrogate,
            crop=(r + row0, r + row1, c + col0, c + col1),
            wavelengths_nm=self.wavelengths_nm,
            band_names=self.band_names,
            georef=_crop_georef(self.georef, row0, col0),
            splits={
                name: fixed.crop_to(row0, row1, col0, col1) for name, fixed in self.splits.items()
            },
            _full_shape=self.full_shape,
            content=self.content,
        )


def _crop_georef(georef: dict[str, Any] | None, row0: int, col0: int) -> dict[str, Any] | None:
    """The geotransform of a crop starting at (row0, col0)."""
    if georef is None:
        return None
    x0, dx, rx, y0, ry, dy = georef["transform"]
    shifted = [x0 + col0 * dx + row0 * rx, dx, rx, y0 + col0 * ry + row0 * dy, ry, dy]
    return {**georef, "transform": shifted}


def _readonly(a: np.ndarray) -> np.ndarray:
    if not a.dtype.isnative:  # a big-endian file: native byte order for the models
        a = a.astype(a.dtype.newbyteorder("="))
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def search_dirs(
    data_dir: str | os.PathLike | None = None, scene_origin: Path | None = None
) -> list[Path]:
    """The folders searched for scene files, in order.

    ``data_dir``, ``$HSI_DATA_DIR``, the scene file's own folder (user scenes), the
    default folders, then the package's own copies (:data:`PACKAGE_DATA`: ground truths
    and class signatures only, never a cube).

    The default folders are ``./data``, the project's ``data/`` (where
    ``scripts/setup.sh`` and ``python -m datasets download`` put files) and
    ``../shared/data`` (from the working directory and from the project). The
    environment variable ``HSI_DATA_PATH`` replaces them: folders separated by
    ``os.pathsep`` (``:``), or empty for none, so that a run (or a test session)
    reads exactly the folders it names.
    """
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get("HSI_DATA_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    if scene_origin is not None:
        dirs.append(scene_origin.parent)
    dirs += default_dirs()
    dirs.append(PACKAGE_DATA)
    out: list[Path] = []
    for d in dirs:
        d = d.resolve()
        if d not in out:
            out.append(d)
    return out


def default_dirs() -> list[Path]:
    """The default data folders (see :func:`search_dirs`); ``$HSI_DATA_PATH`` replaces them."""
    path = os.environ.get("HSI_DATA_PATH")
    if path is not None:
        return [Path(p).expanduser() for p in path.split(os.pathsep) if p.strip()]
    cwd = Path.cwd()
    return [
        cwd / "data",
        _PROJECT_ROOT / "data",
        cwd.parent / "shared" / "data",
        _PROJECT_ROOT.parent / "shared" / "data",
    ]


def find_file(
    info: SceneInfo, spec: FileSpec | str, data_dir: str | os.PathLike | None = None
) -> Path:
    """Find one of a scene's files in the search folders.

    Raises:
        DatasetNotFoundError: listing the folders searched and the download command.
    """
    names = spec.names() if isinstance(spec, FileSpec) else (spec,)
    name = names[0]
    if Path(name).expanduser().is_absolute():
        p = Path(name).expanduser()
        if p.is_file():
            return p
        raise DatasetNotFoundError(info.name, name, [p.parent], info.download_hint())
    dirs = search_dirs(data_dir, None if info.builtin else info.origin)
    for d in dirs:
        for candidate in names:
            p = d / candidate
            if p.is_file():
                return p
    raise DatasetNotFoundError(info.name, name, dirs, info.download_hint())


def _file_record(role: str, path: Path, spec: FileSpec | None = None) -> SceneFile:
    """A file's record; a file whose sha256 is that of the scene's PyPI copy is recorded
    as that copy (package, version, wheel, member)."""
    digest = sha256_file(path)
    pypi = spec.pypi if spec is not None and spec.pypi and spec.pypi.sha256 == digest else None
    return SceneFile(role=role, path=str(path), sha256=digest, size=path.stat().st_size, pypi=pypi)


#: Rows hashed at a time by :func:`array_digest` (bounded memory on big scenes).
_DIGEST_ROWS = 64


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's values, whatever its container: shape, a kind tag, then the
    values row block by row block in a canonical little-endian form.

    Integer arrays, and float arrays whose values are all whole numbers, are hashed as
    int64; other floats as float64. So a ``uint16`` cube read from a ``.mat`` file and
    the same values saved by ``numpy.save`` (any byte order or memory layout, or as
    whole-number doubles) give one digest, and any changed value gives another.
    """
    a = np.asarray(array)
    whole = a.dtype.kind in "biu" or (
        a.dtype.kind == "f" and bool(np.all(np.isfinite(a))) and bool(np.all(np.mod(a, 1) == 0))
    )
    canonical = np.dtype("<i8") if whole else np.dtype("<f8")
    h = hashlib.sha256(f"{'int' if whole else 'float'}:{list(a.shape)}|".encode())
    rows = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    for start in range(0, rows.shape[0], _DIGEST_ROWS):
        block = np.ascontiguousarray(rows[start : start + _DIGEST_ROWS], dtype=canonical)
        h.update(block.tobytes())
    return h.hexdigest()


def validate_gt(
    gt: np.ndarray, info: SceneInfo, path: Path | str, full_scene: bool = True
) -> np.ndarray:
    """Check a label map: 2-D, integer-valued, labels within 0..C, and C matching the class names.

    Returns:
        The labels as int64.
    """
    key = info.gt.key
    if gt.dtype.kind not in "biuf":
        raise SceneFileError(
            f"Ground truth '{path}'{_key(key)} has dtype {gt.dtype}; expected integer labels "
            "0..C (an integer or integer-valued float array). Fix: save the label map as integers."
        )
    if gt.ndim != 2:
        raise SceneFileError(
            f"Ground truth '{path}'{_key(key)} has shape {gt.shape}; expected a 2-D label map "
            "(rows x cols). Fix: point gt.key at the label variable."
        )
    if not np.all(np.isfinite(gt)) or not np.all(np.equal(np.mod(gt, 1), 0)):
        raise SceneFileError(
            f"Ground truth '{path}'{_key(key)} holds non-integer or non-finite values; "
            "expected integer labels 0..C. Fix: use the label map, not the spectral cube."
        )
    labels = gt.astype(np.int64)
    c = info.n_classes
    present = np.unique(labels)
    bad = present[(present < 0) | (present > c)]
    if bad.size:
        raise SceneFileError(
            f"Ground truth '{path}'{_key(key)} has labels {bad.tolist()} outside 0..{c} "
            f"({c} class names are defined for scene '{info.name}'). Fix: give one class name per "
            "label 1..C in the scene file, or use the matching ground-truth file."
        )
    if full_scene and present.max(initial=0) != c:
        raise SceneFileError(
            f"Class-name count mismatch for scene '{info.name}': {c} class names are defined but "
            f"ground truth '{path}' uses labels up to {int(present.max(initial=0))}. Fix: give exactly one "
            "class name per label 1..C in class_names."
        )
    if info.shape is not None and full_scene and tuple(labels.shape) != tuple(info.shape):
        raise SceneFileError(
            f"Ground truth '{path}'{_key(key)} is {labels.shape[0]} x {labels.shape[1]}; scene "
            f"'{info.name}' is {info.shape[0]} x {info.shape[1]}. Fix: use the ground truth of this scene."
        )
    if info.class_counts is not None and full_scene:
        counts = np.bincount(labels.ravel(), minlength=c + 1)[1:]
        if tuple(counts.tolist()) != tuple(info.class_counts):
            warnings.warn(
                f"Ground truth '{path}': per-class counts {counts.tolist()} differ from the published "
                f"counts {list(info.class_counts)} of scene '{info.name}'; results may not be comparable.",
                stacklevel=3,
            )
    return labels


def validate_cube(
    cube: np.ndarray, gt: np.ndarray, info: SceneInfo, cube_path: Path, gt_path: Path
) -> np.ndarray:
    """Check a cube: 3-D, matching the label map's size and the expected band count, finite."""
    key = info.cube.key
    if cube.dtype.kind not in "iuf":
        raise SceneFileError(
            f"Cube '{cube_path}'{_key(key)} has dtype {cube.dtype}; expected real numbers "
            "(an integer or floating-point array). Fix: save the cube as integers (digital "
            "numbers) or floats (radiance, reflectance)."
        )
    if cube.ndim != 3:
        raise SceneFileError(
            f"Cube '{cube_path}'{_key(key)} has shape {cube.shape}; expected rows x cols x bands. "
            "Fix: point cube.key at the spectral cube."
        )
    if cube.shape[:2] != gt.shape:
        raise SceneFileError(
            f"Size mismatch for scene '{info.name}': cube '{cube_path}' is {cube.shape[0]} x "
            f"{cube.shape[1]} pixels but ground truth '{gt_path}' is {gt.shape[0]} x {gt.shape[1]}. "
            "Fix: use the cube and ground truth of the same scene."
        )
    if info.n_bands is not None and cube.shape[2] != info.n_bands:
        raise SceneFileError(
            f"Cube '{cube_path}'{_key(key)} has {cube.shape[2]} bands; scene '{info.name}' expects "
            f"{info.n_bands} (the corrected cube, water-absorption bands removed). Fix: use "
            f"'{info.cube.file}', or describe this variant in its own scene file."
        )
    finite = np.isfinite(cube)
    if not finite.all():
        n_bad = int((~finite).sum())
        r, c, b = np.argwhere(~finite)[0].tolist()
        raise SceneFileError(
            f"Cube '{cube_path}'{_key(key)} has {n_bad} non-finite values (NaN or inf), the first at "
            f"row {r}, col {c}, band {b}. Fix: repair or re-download the file."
        )
    if cube.dtype.kind in "iu":
        return cube  # digital numbers stay in the file's integer dtype (half the memory)
    return cube.astype(np.float32, copy=False)


def _key(key: str) -> str:
    return f" (key '{key}')" if key else ""


def _companion(role: str, path: Path, array: ArrayFile) -> list[SceneFile]:
    """The record of an ENVI file's other half (its header, or its binary), so a change
    to either changes the scene's fingerprint; no record for the other formats."""
    if array.format != "envi":
        return []
    from .formats import envi_binary_for, envi_header_for

    header = envi_header_for(path)
    if header is None:
        return []
    if header == path:
        return [_file_record(f"{role} binary", envi_binary_for(header))]
    return [_file_record(f"{role} header", header)]


def _check_wavelengths(
    info: SceneInfo, array: ArrayFile, n_bands: int, path: Path
) -> tuple[float, ...] | None:
    """The cube's wavelengths (nm): the file's, else the scene file's; their count must match."""
    wl = array.wavelengths_nm or info.wavelengths_nm
    if wl is not None and len(wl) != n_bands:
        raise SceneFileError(
            f"Scene '{info.name}' gives {len(wl)} wavelengths (wavelengths_nm) but cube '{path}' has "
            f"{n_bands} bands. Fix: give one wavelength per band in the scene file."
        )
    return tuple(wl) if wl is not None else None


def _load_gt(info: SceneInfo, data_dir) -> tuple[np.ndarray, list[SceneFile]]:
    gt_path = find_file(info, info.gt, data_dir)
    record = _file_record("gt", gt_path, info.gt)
    if info.gt.sha256 and record.sha256 != info.gt.sha256:
        warnings.warn(
            f"Ground truth '{gt_path}' has sha256 {record.sha256}, not the known {info.gt.sha256} "
            f"of scene '{info.name}'.",
            stacklevel=3,
        )
    array = read_array(gt_path, info.gt.key)
    gt = validate_gt(label_map(array), info, gt_path)
    return gt, [record, *_companion("gt", gt_path, array)]


def _load_real(info: SceneInfo, data_dir) -> Scene:
    gt, gt_recs = _load_gt(info, data_dir)
    cube_path = find_file(info, info.cube, data_dir)
    array = read_array(cube_path, info.cube.key)
    cube = _readonly(validate_cube(array.data, gt, info, cube_path, Path(gt_recs[0].path)))
    gt = _readonly(gt)
    return Scene(
        name=info.name,
        cube=cube,
        gt=gt,
        class_names=info.class_names,
        source="real",
        files=(
            _file_record("cube", cube_path, info.cube),
            *_companion("cube", cube_path, array),
            *gt_recs,
        ),
        info=info,
        wavelengths_nm=_check_wavelengths(info, array, int(cube.shape[2]), cube_path),
        band_names=array.band_names,
        georef=array.georef,
        content={"cube": array_digest(cube), "gt": array_digest(gt)},
    )


#: One entry per registry scene: a process that uses them all (a test session, a
#: notebook going through the six) builds each surrogate once.
@functools.lru_cache(maxsize=8)
def _surrogate_arrays(info: SceneInfo, data_dir: str | None, seed: int, params: SurrogateParams):
    gt, files = _load_gt(info, data_dir)
    sur = info.surrogate
    if sur.signatures_file:
        sig_path = find_file(info, sur.signatures_file, data_dir)
        rec = _file_record("signatures", sig_path)
        if sur.signatures_sha256 and rec.sha256 != sur.signatures_sha256:
            raise SceneFileError(
                f"Signature file '{sig_path}' has sha256 {rec.sha256}, expected "
                f"{sur.signatures_sha256}. Fix: restore the original file."
            )
        spectra = select_bands(_class_signatures(sig_path, sur.signatures_key, gt), sur.drop_bands)
        files.append(rec)
    else:
        n_bands = info.n_bands
        if n_bands is None:
            raise SceneFileError(
                f"Scene '{info.name}' has no 'n_bands' and no signature file, so a surrogate cannot "
                "know how many bands to make. Fix: add n_bands = B to the scene file."
            )
        spectra = smooth_class_spectra(info.n_classes + 1, n_bands, seed)
    if info.n_bands is not None and spectra.shape[1] != info.n_bands:
        raise SceneFileError(
            f"Surrogate for '{info.name}': the signatures give {spectra.shape[1]} bands after dropping "
            f"{list(sur.drop_bands)}, but the scene has {info.n_bands}. Fix: correct drop_bands."
        )
    cube = make_surrogate_cube(gt, spectra, seed=seed, params=params)
    if sur.dtype is not None:
        cube = to_sensor_units(cube, sur.dtype, sur.value_range, sur.band_mean, sur.band_std)
    return _readonly(cube), _readonly(gt), tuple(files)


def _units_record(sur: Any) -> dict[str, Any] | None:
    """What the surrogate's sensor units were (part of the scene's fingerprint)."""
    if sur.dtype is None:
        return None
    stats = None
    if sur.band_mean is not None:
        blob = json.dumps([list(sur.band_mean), list(sur.band_std)]).encode()
        stats = hashlib.sha256(blob).hexdigest()[:16]
    return {
        "dtype": sur.dtype,
        "value_range": list(sur.value_range) if sur.value_range else None,
        "band_stats": stats,
    }


def _class_signatures(path: Path, key: str | None, gt: np.ndarray) -> np.ndarray:
    """Per-label spectra (row k for label k = 0..C) from a signature file: a ``.npy``
    array of C + 1 rows, or an image of the scene (MAT, key ``key``) whose per-label
    mean spectra are taken."""
    n_labels = int(gt.max()) + 1
    if path.suffix == ".npy":
        try:
            spectra = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SceneFileError(
                f"Signature file '{path}' is not a readable NumPy array ({exc}). Fix: restore the "
                "file (scripts/make_package_data.py writes the package's copy)."
            ) from exc
        if spectra.ndim != 2 or spectra.shape[0] != n_labels:
            raise SceneFileError(
                f"Signature file '{path}' holds an array of shape {spectra.shape}; expected "
                f"({n_labels}, bands): one spectrum per label 0..{n_labels - 1}. Fix: use the "
                "signatures of this scene."
            )
        return np.asarray(spectra, dtype=np.float64)
    image = np.asarray(read_mat(path, key or ""), dtype=np.float64)
    if image.shape[:2] != gt.shape:
        raise SceneFileError(
            f"Signature image '{path}' is {image.shape[0]} x {image.shape[1]}, ground truth is "
            f"{gt.shape[0]} x {gt.shape[1]}. Fix: use the signature image of this scene."
        )
    return signatures_from_image(image, gt)


def _load_surrogate(info: SceneInfo, data_dir, seed: int, params: SurrogateParams | None) -> Scene:
    params = params or SurrogateParams()
    cube, gt, files = _surrogate_arrays(
        info, None if data_dir is None else str(data_dir), seed, params
    )
    return Scene(
        name=info.name,
        cube=cube,
        gt=gt,
        class_names=info.class_names,
        source="surrogate",
        files=files,
        info=info,
        surrogate={"seed": seed, **params.as_dict(), "units": _units_record(info.surrogate)},
        wavelengths_nm=(
            info.wavelengths_nm
            if info.wavelengths_nm and len(info.wavelengths_nm) == cube.shape[2]
            else None
        ),
    )


def load_scene(
    name: str,
    source: Source = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    surrogate_seed: int = 0,
    surrogate_params: SurrogateParams | None = None,
) -> Scene:
    """Load a scene by name (or from a scene ``.toml`` path).

    Args:
        name: a registered scene (``datasets.list_scenes()``) or a path to a scene TOML file.
        source: "real" (the real cube; fails if its files are missing), "surrogate"
            (the real ground truth with synthetic spectra), or "auto" (real when
            both files are found, else a surrogate with a :class:`SurrogateWarning`).
        data_dir: a folder searched first for the files.
        surrogate_seed: seed of the surrogate generator.
        surrogate_params: surrogate generator settings.

    Raises:
        UnknownSceneError: no scene of that name is registered.
        DatasetNotFoundError: a file of the scene is in none of the folders searched.
        SceneFileError: a file is unreadable or fails the checks.
        ValueError: ``source`` is not real, surrogate or auto.
    """
    if source not in _SOURCES:
        raise ValueError(f"source={source!r} is not one of {', '.join(_SOURCES)}.")
    info = get_scene_info(name)
    if source == "real":
        return _load_real(info, data_dir)
    if source == "surrogate":
        return _load_surrogate(info, data_dir, surrogate_seed, surrogate_params)
    try:
        for spec in (info.cube, info.gt):
            find_file(info, spec, data_dir)
    except DatasetNotFoundError as exc:
        warnings.warn(
            f"Scene '{info.name}': the real file '{exc.filename}' was not found in "
            f"{', '.join(str(p) for p in exc.searched)}; using a SURROGATE (real ground truth, "
            "synthetic spectra). Its numbers are not comparable to published results. "
            f"To use the real scene: {info.download_hint() or 'supply the files with --data-dir DIR'}.",
            SurrogateWarning,
            stacklevel=2,
        )
        return _load_surrogate(info, data_dir, surrogate_seed, surrogate_params)
    return _load_real(info, data_dir)
