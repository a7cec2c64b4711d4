"""Fixed splits: train/test (and optionally validation) sets read from label-map files.

Many papers report on a split someone published (SpectralFormer's Indian Pines
``TR``/``TE`` maps, the official Houston 2013 training and test sets) rather than
on a random draw. A fixed split names such files; ``--protocol fixed:NAME`` uses it.

Where a split comes from:

- a scene file declares it (``[splits.NAME]``, see :mod:`datasets.registry`), or
- it is given ad hoc: ``--split-file`` on the command line, ``split_files=`` in
  Python (:func:`split_files_from_args` reads the command-line forms).

Each set is a label map of the scene's size: a pixel labelled ``k > 0`` in the
train map is a training pixel of class ``k``. The maps may be MATLAB variables
(one file may hold both, as SpectralFormer's ``TR`` and ``TE``), two ground-truth
files (train and test, as Houston 2013 is usually distributed), NumPy arrays,
single-band (or ``band``-selected) ENVI/GeoTIFF rasters: any format
:mod:`datasets.formats` reads.

A loaded split (:class:`FixedSplit`) holds, per pixel, the set it belongs to and
its label there. Its files' checksums (:meth:`FixedSplit.identity`) go into every
trial spec that uses it, so a result is tied to the exact files. The checks, each
with its own :class:`~datasets.errors.SplitFileError` naming the file and the fix:
a map whose shape is not the scene's, labels outside the scene's classes, a
train map that overlaps the test map (or the validation map), a missing key or
band, and a declared sha256 that does not match. Labels that differ from the
scene's own ground truth are counted and warned about (the split's labels are
the ones used): published splits are sometimes drawn on another edition of the
ground truth.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SplitFileError
from .registry import SPLIT_ROLES, SceneInfo, SplitFileSpec, SplitSpec

#: The protocol name's prefix: ``fixed:NAME``.
FIXED_PREFIX = "fixed:"
_ROLE_CODE = {"train": 1, "val": 2, "test": 3}
#: Variable names of a single MATLAB/NumPy file holding a whole split, by role, in the
#: order they are tried: SpectralFormer's ``TR``/``TE``, and the common spelled-out names.
_CONVENTIONAL_KEYS: dict[str, tuple[str, ...]] = {
    "train": ("TR", "train", "TRLabel", "train_gt", "Train"),
    "val": ("VA", "val", "VALabel", "val_gt", "Val"),
    "test": ("TE", "test", "TSLabel", "test_gt", "Test"),
}


class SplitFileWarning(UserWarning):
    """A fixed split whose labels differ from the scene's ground truth at some pixels."""


def is_fixed(protocol: str) -> bool:
    """Whether ``protocol`` names a fixed split (``fixed:NAME``)."""
    return isinstance(protocol, str) and (protocol == "fixed" or protocol.startswith(FIXED_PREFIX))


def fixed_name(protocol: str) -> str:
    """NAME of ``fixed:NAME``.

    Raises:
        SplitFileError: ``fixed`` without a name.
    """
    name = protocol[len(FIXED_PREFIX) :] if protocol.startswith(FIXED_PREFIX) else ""
    if not name:
        raise SplitFileError(
            f"--protocol {protocol!r} does not say which split. Fix: write fixed:NAME, NAME a "
            "split declared in the scene file ([splits.NAME]) or given with --split-file."
        )
    return name


@dataclass(frozen=True)
class SplitFileRecord:
    """A label-map file a split was read from, with what identifies its content."""

    role: str
    path: str
    sha256: str
    size: int
    key: str = ""
    band: int | None = None


@dataclass(frozen=True, eq=False)
class FixedSplit:
    """A split read from label-map files, at the size of the scene it belongs to.

    Attributes:
        name: the split's name (``fixed:NAME``).
        roles: (H, W) uint8, read-only: 0 in no set, 1 train, 2 validation, 3 test.
        labels: (H, W) int64, read-only: each pixel's label in the map of its set, 0
            elsewhere. Trials with this split use these labels.
        files: the label maps read, with their checksums.
        citation, description: from the split's declaration.
        disagreements: labelled pixels whose label here differs from the scene's
            ground truth (counted over the scene's extent when the split was read).
        crop: (row0, row1, col0, col1) of the scene crop this split was cut to, or None.
    """

    name: str
    roles: np.ndarray
    labels: np.ndarray
    files: tuple[SplitFileRecord, ...]
    citation: str = ""
    description: str = ""
    disagreements: int = 0
    crop: tuple[int, int, int, int] | None = None

    @property
    def protocol(self) -> str:
        return FIXED_PREFIX + self.name

    @property
    def has_val(self) -> bool:
        """Whether the split has its own validation map."""
        return any(f.role == "val" for f in self.files)

    def identity(self) -> dict[str, dict[str, Any]]:
        """What identifies the split's content, by role: each file's sha256 and the key
        or band read from it (no path). Recorded in every trial spec that uses it."""
        out: dict[str, dict[str, Any]] = {}
        for f in self.files:
            entry: dict[str, Any] = {"sha256": f.sha256, "key": f.key}
            if f.band is not None:
                entry["band"] = f.band
            out[f.role] = entry
        return out

    def indices(self, role: str) -> np.ndarray:
        """Sorted flat row-major indices of the pixels of one set."""
        return np.flatnonzero(self.roles.ravel() == _ROLE_CODE[role]).astype(np.int64)

    def crop_to(self, row0: int, row1: int, col0: int, col1: int) -> FixedSplit:
        """The split over a rectangular crop (rows row0:row1, cols col0:col1)."""
        base = self.crop or (0, self.roles.shape[0], 0, self.roles.shape[1])
        r, c = base[0], base[2]
        return FixedSplit(
            name=self.name,
            roles=_readonly(self.roles[row0:row1, col0:col1]),
            labels=_readonly(self.labels[row0:row1, col0:col1]),
            files=self.files,
            citation=self.citation,
            description=self.description,
            disagreements=self.disagreements,
            crop=(r + row0, r + row1, c + col0, c + col1),
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description (what ``python -m datasets split`` prints)."""
        return {
            "name": self.name,
            "protocol": self.protocol,
            "citation": self.citation,
            "description": self.description,
            "files": [
                {
                    "role": f.role,
                    "path": f.path,
                    "sha256": f.sha256,
                    "size": f.size,
                    "key": f.key,
                    **({"band": f.band} if f.band is not None else {}),
                }
                for f in self.files
            ],
            "disagreements_with_gt": self.disagreements,
        }


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def split_files_from_args(values: list[str]) -> dict[str, SplitFileSpec]:
    """The label maps given with ``--split-file``, by role.

    Forms (repeatable, one per set):

    - ``ROLE=PATH`` or ``ROLE=PATH:KEY``: ROLE is train, test or val; KEY is the
      variable of a ``.mat``/``.npz`` file, or the 1-based band of a multi-band raster;
    - ``PATH`` alone: one ``.mat``/``.npz`` file holding the whole split under
      conventional names (``TR``/``TE`` as in SpectralFormer's files, ``VA`` or
      ``val`` optional; also train/test, TRLabel/TSLabel, train_gt/test_gt).

    Raises:
        SplitFileError: a malformed value, an unknown role, a role given twice, a file
            that does not exist, or a lone file without conventional names.
    """
    out: dict[str, SplitFileSpec] = {}

    def add(role: str, spec: SplitFileSpec, given: str) -> None:
        if role in out:
            raise SplitFileError(
                f"--split-file {given!r}: the {role} map is given twice. Fix: give one "
                "--split-file per set (train, test, optionally val)."
            )
        out[role] = spec

    for value in values:
        role, sep, rest = value.partition("=")
        if sep and role in SPLIT_ROLES:
            path, key = _path_and_key(rest, value)
            band = None
            if key.isdigit() and Path(path).suffix.lower() not in (".mat", ".npz"):
                band, key = int(key), ""
            add(role, SplitFileSpec(file=str(path), key=key, band=band), value)
            continue
        if sep and "/" not in role and not Path(value).exists():
            raise SplitFileError(
                f"--split-file {value!r}: {role!r} is not a set. Fix: write ROLE=PATH[:KEY] "
                f"with ROLE one of {', '.join(SPLIT_ROLES)}, or give one .mat/.npz PATH "
                "holding TR and TE maps."
            )
        path, key = _path_and_key(value, value)
        if key:
            raise SplitFileError(
                f"--split-file {value!r}: a key needs a role, as in train={path}:{key}. Fix: "
                "give each set as ROLE=PATH:KEY."
            )
        for role, key in _conventional_keys(path).items():
            add(role, SplitFileSpec(file=str(path), key=key), value)
    for role in ("train", "test"):
        if out and role not in out:
            raise SplitFileError(
                f"--split-file gives no {role} map (given: {', '.join(out)}). Fix: add "
                f"--split-file {role}=PATH[:KEY]."
            )
    return out


def _path_and_key(text: str, given: str) -> tuple[Path, str]:
    """PATH or PATH:KEY, the path checked to exist."""
    path = Path(text).expanduser()
    key = ""
    if not path.is_file() and ":" in text:
        head, _, key = text.rpartition(":")
        path = Path(head).expanduser()
    if not path.is_file():
        raise SplitFileError(
            f"--split-file {given!r}: the file '{path}' does not exist. Fix: give the path of a "
            "label map (.mat, .npz, .npy, ENVI or GeoTIFF), as ROLE=PATH[:KEY]."
        )
    return path, key


def _array_names(path: Path) -> list[str]:
    """The variables of a MATLAB file or the arrays of an ``.npz`` archive."""
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return list(archive.files)
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
            raise SplitFileError(
                f"Split file '{path}' is not a readable NumPy .npz archive ({type(exc).__name__}: "
                f"{exc}). Fix: write it again with numpy.savez(path, TR=train_map, TE=test_map)."
            ) from exc
    from .errors import SceneFileError
    from .matio import mat_keys

    try:
        return mat_keys(path)
    except SceneFileError as exc:
        raise SplitFileError(f"Split file '{path}': {exc}") from exc


def _conventional_keys(path: Path) -> dict[str, str]:
    if path.suffix.lower() not in (".mat", ".npz"):
        raise SplitFileError(
            f"--split-file '{path}': a single file must be a .mat or .npz holding the train and "
            "test maps. Fix: give each set as ROLE=PATH, e.g. --split-file train=train.npy "
            "--split-file test=test.npy."
        )
    names = _array_names(path)
    found = {}
    for role, candidates in _CONVENTIONAL_KEYS.items():
        key = next((k for k in candidates if k in names), None)
        if key is not None:
            found[role] = key
    if "train" not in found or "test" not in found:
        present = ", ".join(repr(n) for n in names) or "(none)"
        raise SplitFileError(
            f"--split-file '{path}': no train and test maps under the usual names (TR and TE, "
            f"train and test, ...). Variables present: {present}. Fix: name them, as in "
            f"--split-file train={path}:NAME --split-file test={path}:NAME."
        )
    return found


def _find(info: SceneInfo, spec: SplitFileSpec, data_dir: str | os.PathLike | None) -> Path:
    from .errors import DatasetNotFoundError
    from .scene import find_file

    try:
        return find_file(info, spec.file, data_dir)
    except DatasetNotFoundError as exc:
        raise SplitFileError(
            f"Scene '{info.name}': split file '{spec.file}' was not found. Folders searched: "
            f"{', '.join(str(p) for p in exc.searched)}. Fix: put it in one of these folders, "
            "pass --data-dir DIR, or give its path in the scene file's [splits.NAME] table."
        ) from exc


def _read_map(
    info: SceneInfo, role: str, path: Path, spec: SplitFileSpec, shape: tuple[int, int]
) -> tuple[np.ndarray, SplitFileRecord]:
    """Read and check one label map: checksum, key or band, shape, labels."""
    from .errors import SceneFileError
    from .formats import file_format, read_array
    from .matio import sha256_file

    digest = sha256_file(path)
    if spec.sha256 and digest != spec.sha256.lower():
        raise SplitFileError(
            f"Split file '{path}' ({role} map) has sha256 {digest}; the scene file declares "
            f"{spec.sha256}. It is not the file the split was published with. Fix: fetch the "
            "published file, or correct the sha256 in the scene file if this copy is the right one."
        )
    fmt = None
    try:
        fmt = file_format(path)
        if fmt in ("mat", "npz"):
            names = _array_names(path)
            if spec.key not in names:
                listed = ", ".join(repr(n) for n in names) or "(none)"
                raise SplitFileError(
                    f"Split file '{path}' ({role} map) has no variable '{spec.key}'. Variables "
                    f'present: {listed}. Fix: give the right key (key = "..." in the scene '
                    f"file, or --split-file {role}=PATH:KEY)."
                )
        array = read_array(path, spec.key)
    except SceneFileError as exc:
        raise SplitFileError(f"Split file '{path}' ({role} map): {exc}") from exc
    data = np.asarray(array.data)
    if data.ndim == 3:
        if spec.band is not None:
            if not 1 <= spec.band <= data.shape[2]:
                raise SplitFileError(
                    f"Split file '{path}' ({role} map) has {data.shape[2]} bands; band "
                    f"{spec.band} was asked for. Fix: give a band from 1 to {data.shape[2]}."
                )
            data = data[:, :, spec.band - 1]
        elif data.shape[2] == 1:
            data = data[:, :, 0]
    elif spec.band not in (None, 1):
        raise SplitFileError(
            f"Split file '{path}' ({role} map) has one band; band {spec.band} was asked for. "
            "Fix: leave 'band' out."
        )
    if data.ndim != 2:
        raise SplitFileError(
            f"Split file '{path}' ({role} map) holds an array of shape {data.shape}; expected a "
            f"2-D label map of {shape[0]} x {shape[1]}. Fix: point the key (or band) at the label map."
        )
    if tuple(data.shape) != tuple(shape):
        raise SplitFileError(
            f"Split file '{path}' ({role} map) is {data.shape[0]} x {data.shape[1]}; scene "
            f"'{info.name}' is {shape[0]} x {shape[1]}. Fix: use the split published for this "
            "scene (the same image, not a crop or another edition)."
        )
    if data.dtype.kind not in "biuf" or not np.all(np.isfinite(data)):
        raise SplitFileError(
            f"Split file '{path}' ({role} map) holds {data.dtype} values that are not all "
            "finite numbers; expected integer labels 0..C. Fix: save the label map as integers."
        )
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise SplitFileError(
            f"Split file '{path}' ({role} map) holds non-integer values; expected integer labels "
            "0..C (0 = not in this set). Fix: save the label map as integers."
        )
    labels = data.astype(np.int64)
    present = np.unique(labels)
    bad = present[(present < 0) | (present > info.n_classes)]
    if bad.size:
        n_bad = int(np.isin(labels, bad).sum())
        raise SplitFileError(
            f"Split file '{path}' ({role} map) has labels {bad.tolist()} ({n_bad} "
            f"pixel{'s' if n_bad != 1 else ''}) outside "
            f"0..{info.n_classes}: scene '{info.name}' has {info.n_classes} classes. Fix: use the "
            "split of this scene, or a scene file whose class_names match the split's labels."
        )
    record = SplitFileRecord(
        role=role,
        path=str(path),
        sha256=digest,
        size=path.stat().st_size,
        key=spec.key if fmt in ("mat", "npz") else "",
        band=spec.band,
    )
    return labels, record


def read_split(
    info: SceneInfo,
    spec: SplitSpec,
    shape: tuple[int, int],
    *,
    gt: np.ndarray | None = None,
    data_dir: str | os.PathLike | None = None,
    ad_hoc: bool = False,
) -> FixedSplit:
    """Read a split's label maps at the full scene's size and check them.

    Args:
        info: the scene.
        spec: the split (declared, or made from ``--split-file``).
        shape: the full scene's (rows, cols).
        gt: the scene's label map over that extent, to count disagreements (optional).
        data_dir: a folder searched first for declared files.
        ad_hoc: the file names are paths as given (not searched for).

    Raises:
        SplitFileError: each problem the module docstring lists.
    """
    maps: dict[str, np.ndarray] = {}
    records = []
    for role, fspec in spec.files().items():
        path = Path(fspec.file).expanduser() if ad_hoc else _find(info, fspec, data_dir)
        if not path.is_file():
            raise SplitFileError(
                f"Split file '{path}' ({role} map) does not exist. Fix: give the path of the "
                "label map."
            )
        maps[role], record = _read_map(info, role, path.resolve(), fspec, shape)
        records.append(record)
    roles = np.zeros(shape, dtype=np.uint8)
    labels = np.zeros(shape, dtype=np.int64)
    for role, m in maps.items():
        mask = m > 0
        taken = mask & (roles > 0)
        if taken.any():
            other = next(r for r, c in _ROLE_CODE.items() if c == int(roles[taken][0]))
            row, col = (int(v) for v in np.argwhere(taken)[0])
            paths = {r.role: r.path for r in records}
            raise SplitFileError(
                f"Split '{spec.name}': the {role} map '{paths[role]}' and the {other} map "
                f"'{paths[other]}' both label {int(taken.sum())} pixels (the first at row {row}, "
                f"col {col}), so those pixels would be trained and evaluated on. Fix: use maps "
                "with disjoint pixels (check that the key of each set is the right one)."
            )
        roles[mask] = _ROLE_CODE[role]
        labels[mask] = m[mask]
    disagreements = 0
    if gt is not None:
        gt = np.asarray(gt)
        differ = (labels > 0) & (gt > 0) & (labels != gt)
        disagreements = int(differ.sum())
        if disagreements:
            row, col = (int(v) for v in np.argwhere(differ)[0])
            warnings.warn(
                f"Split '{spec.name}' of scene '{info.name}': {disagreements} of its "
                f"{int((labels > 0).sum())} pixels carry a label other than the scene's ground "
                f"truth (the first at row {row}, col {col}: {int(labels[row, col])} in the split, "
                f"{int(gt[row, col])} in the ground truth). The split's labels are used; check "
                "that it was published for this edition of the ground truth.",
                SplitFileWarning,
                stacklevel=2,
            )
    return FixedSplit(
        name=spec.name,
        roles=_readonly(roles),
        labels=_readonly(labels),
        files=tuple(records),
        citation=spec.citation,
        description=spec.description,
        disagreements=disagreements,
    )


def split_spec_for(
    info: SceneInfo, name: str, split_files: dict[str, Any] | None = None
) -> tuple[SplitSpec, bool]:
    """The split ``name`` of a scene: from ``split_files`` (ad hoc) when given, else the
    scene file's declaration. Returns the spec and whether it is ad hoc.

    Raises:
        SplitFileError: no such split declared and no files given.
    """
    if split_files:
        files: dict[str, SplitFileSpec] = {}
        for role, value in split_files.items():
            if role not in SPLIT_ROLES:
                raise SplitFileError(
                    f"split_files has a {role!r} map; the sets are {', '.join(SPLIT_ROLES)}."
                )
            files[role] = (
                value
                if isinstance(value, SplitFileSpec)
                else SplitFileSpec(file=str(Path(value).expanduser()))
            )
        for role in ("train", "test"):
            if role not in files:
                raise SplitFileError(
                    f"split_files gives no {role} map (given: {', '.join(files)}). Fix: give "
                    "train and test label maps (val is optional)."
                )
        return (
            SplitSpec(name=name, train=files["train"], test=files["test"], val=files.get("val")),
            True,
        )
    declared = info.split_spec(name)
    if declared is None:
        known = ", ".join(s.name for s in info.splits) or "none"
        raise SplitFileError(
            f"Scene '{info.name}' declares no split '{name}' (declared: {known}). Fix: declare "
            f"[splits.{name}] with its train and test label maps in the scene file, or give the "
            "files with --split-file (split_files= in Python)."
        )
    return declared, False


def load_split(
    scene: Any,
    name: str,
    split_files: dict[str, Any] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> FixedSplit:
    """Read the split ``name`` of ``scene`` (a :class:`datasets.Scene`, possibly a crop),
    attach it to the scene (``scene.splits[name]``) and return it, cut to the scene's crop.

    Args:
        scene: the scene.
        name: the split's name (``fixed:NAME``).
        split_files: ``{"train": path, "test": path, "val": path}`` (or
            :class:`~datasets.registry.SplitFileSpec` values, for a key or band) for an
            ad hoc split; None for a split the scene file declares.
        data_dir: a folder searched first for declared files.

    Raises:
        SplitFileError: an unknown split, or a bad file; or a different split of that
            name already attached.
    """
    spec, ad_hoc = split_spec_for(scene.info, name, split_files)
    full = scene.full_shape
    gt = scene.gt if scene.crop is None else None
    fixed = read_split(scene.info, spec, full, gt=gt, data_dir=data_dir, ad_hoc=ad_hoc)
    if scene.crop is not None:
        r0, r1, c0, c1 = scene.crop
        fixed = fixed.crop_to(r0, r1, c0, c1)
        differ = (fixed.labels > 0) & (scene.gt > 0) & (fixed.labels != scene.gt)
        if differ.any():
            warnings.warn(
                f"Split '{name}' of scene '{scene.info.name}': {int(differ.sum())} pixels of the "
                "crop carry a label other than the scene's ground truth; the split's labels are "
                "used.",
                SplitFileWarning,
                stacklevel=2,
            )
    attach_split(scene, fixed)
    return fixed


def attach_split(scene: Any, fixed: FixedSplit) -> None:
    """Keep ``fixed`` with ``scene`` (so it travels with the scene to the trials),
    replacing a split of that name read before. Specs made on the one it replaces
    record other files, and are refused before their trials start
    (:func:`harness.scenes.resolve`)."""
    scene.splits[fixed.name] = fixed
