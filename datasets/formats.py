"""Reading scene arrays from any supported file format, chosen by the file's extension.

- ``.mat``: MATLAB v5/v7/v7.3 (:mod:`datasets.matio`), the variable ``key``;
- ``.npy``: a NumPy array, memory-mapped; ``.npz``: the array ``key`` of a NumPy archive;
- ENVI: a ``.hdr`` header naming its binary file (the binary beside it with the same
  stem), or the binary file itself with a ``.hdr`` beside it; BSQ, BIL and BIP
  interleaves, both byte orders, memory-mapped through ``spectral`` (SPy);
- ``.tif`` / ``.tiff``: a GeoTIFF, one band per spectral band, read with ``rasterio``;
  its CRS and geotransform are kept.

``spectral`` and ``rasterio`` are imported only when such a file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SceneFileError
from .matio import read_mat

#: Extensions of the binary part of an ENVI file (besides none at all).
ENVI_BINARY_SUFFIXES = (".img", ".dat", ".raw", ".bin", ".bsq", ".bil", ".bip", ".sli", ".hyspex")
FORMATS = ("mat", "npy", "npz", "envi", "geotiff")


@dataclass(frozen=True)
class ArrayFile:
    """An array read from a scene file, with what the file says about its bands.

    Attributes:
        data: the array in the file's dtype (possibly a read-only memory map); a
            multi-band file is (rows, cols, bands).
        format: one of :data:`FORMATS`.
        wavelengths_nm: band centres in nanometres, when the file gives them.
        band_names: band names, when the file gives them.
        georef: ``{"crs": WKT or None, "transform": [a, b, c, d, e, f]}`` (GDAL
            order: x0, dx, rx, y0, ry, dy) for a georeferenced file, else None.
        extra_files: further files the array depends on (an ENVI header), by role suffix.
    """

    data: np.ndarray
    format: str
    wavelengths_nm: tuple[float, ...] | None = None
    band_names: tuple[str, ...] | None = None
    georef: dict[str, Any] | None = None
    extra_files: tuple[tuple[str, Path], ...] = ()


def envi_header_for(path: Path) -> Path | None:
    """The ENVI header of ``path``: itself if a ``.hdr``, else ``STEM.hdr`` or ``NAME.hdr`` beside it."""
    if path.suffix.lower() == ".hdr":
        return path
    for cand in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if cand.is_file():
            return cand
    return None


def file_format(path: str | Path) -> str:
    """The format of a scene file, from its extension (and an ENVI header beside it).

    Raises:
        SceneFileError: an extension that is none of the supported formats.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".mat":
        return "mat"
    if suffix in (".npy", ".npz"):
        return suffix[1:]
    if suffix in (".tif", ".tiff"):
        return "geotiff"
    if suffix == ".hdr" or envi_header_for(p) is not None:
        return "envi"
    raise SceneFileError(
        f"File '{p}' has the extension '{p.suffix}', which is not a supported scene format; "
        "expected .mat, .npy, .npz, .tif/.tiff, or ENVI (a .hdr header, or a binary file with "
        "its .hdr beside it). Fix: convert the file, or put its ENVI header beside it."
    )


def envi_binary_for(header: Path) -> Path:
    """The binary file of an ENVI header: the header's stem with no or a usual extension.

    Raises:
        SceneFileError: when no binary file is beside the header.
    """
    candidates = [header.with_suffix("")] + [header.with_suffix(s) for s in ENVI_BINARY_SUFFIXES]
    candidates += [c.with_suffix(c.suffix.upper()) for c in candidates[1:]]
    for cand in candidates:
        if cand.is_file():
            return cand
    raise SceneFileError(
        f"ENVI header '{header}' has no binary file beside it; expected one of "
        f"{', '.join(repr(c.name) for c in candidates[: 1 + len(ENVI_BINARY_SUFFIXES)])}. "
        "Fix: put the image data next to its header with the same name."
    )


def read_array(path: str | Path, key: str = "") -> ArrayFile:
    """Read a scene array (cube or label map) from a file in any supported format.

    Args:
        path: the file (for ENVI: the header or the binary file).
        key: the variable for ``.mat`` and ``.npz`` files; ignored otherwise.

    Returns:
        The array and its band metadata.

    Raises:
        SceneFileError: unsupported extension, unreadable or truncated file, missing key,
            or an ENVI header that does not match its binary file.
    """
    p = Path(path)
    fmt = file_format(p)
    if fmt == "mat":
        return ArrayFile(read_mat(p, key), "mat")
    if fmt == "npy":
        return ArrayFile(_read_npy(p), "npy")
    if fmt == "npz":
        return ArrayFile(_read_npz(p, key), "npz")
    if fmt == "envi":
        return _read_envi(p)
    return _read_geotiff(p)


def _size(p: Path) -> int:
    return p.stat().st_size if p.exists() else 0


def _read_npy(p: Path) -> np.ndarray:
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # ValueError (truncated, object arrays), OSError, EOFError...
        raise SceneFileError(
            f"File '{p}' ({_size(p)} bytes) is not a readable NumPy .npy array: "
            f"{type(exc).__name__}: {exc}. Expected an array written by numpy.save (no pickled "
            "objects); it may be truncated. Fix: write it again with numpy.save(path, array)."
        ) from exc


def _read_npz(p: Path, key: str) -> np.ndarray:
    if not key:
        raise SceneFileError(
            f"File '{p}' is a NumPy archive (.npz) but the scene file gives no 'key'. "
            'Fix: add key = "NAME" (the array\'s name in the archive) to its [cube] or [gt] table.'
        )
    try:
        with np.load(p, allow_pickle=False) as archive:
            names = list(archive.files)
            if key not in names:
                present = ", ".join(repr(n) for n in names) or "(no arrays)"
                raise SceneFileError(
                    f"File '{p}' has no array '{key}'. Arrays present: {present}. "
                    "Fix: pass the right key in the scene file (cube.key / gt.key)."
                )
            return np.asarray(archive[key])
    except SceneFileError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError...
        raise SceneFileError(
            f"File '{p}' ({_size(p)} bytes) is not a readable NumPy .npz archive: "
            f"{type(exc).__name__}: {exc}. It may be truncated. Fix: write it again with "
            "numpy.savez(path, NAME=array)."
        ) from exc


def _floats(values: Any) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return out if out and all(np.isfinite(out)) else None


def _to_nm(values: tuple[float, ...] | None, units: str) -> tuple[float, ...] | None:
    """Wavelengths in nanometres: micrometre values (or units) are scaled by 1000."""
    if values is None:
        return None
    u = units.strip().lower()
    if u in ("micrometers", "micrometer", "microns", "micron", "um", "µm") or (
        not u.startswith("nan") and max(values) < 30
    ):
        return tuple(v * 1000.0 for v in values)
    return values


def _read_envi(p: Path) -> ArrayFile:
    header = envi_header_for(p)
    if header is None:  # file_format() only says "envi" when a header exists
        raise SceneFileError(f"File '{p}' has no ENVI header beside it. Fix: add its .hdr.")
    binary = p if p != header else envi_binary_for(header)
    import spectral.io.envi as envi

    try:
        meta = envi.read_envi_header(str(header))
    except Exception as exc:
        raise SceneFileError(
            f"ENVI header '{header}' is not readable: {type(exc).__name__}: {exc}. Expected a text "
            "file starting with 'ENVI' and giving samples, lines, bands, data type and interleave. "
            "Fix: repair the header or write it again."
        ) from exc
    try:
        samples, lines, bands = (int(meta[k]) for k in ("samples", "lines", "bands"))
        dtype = np.dtype(envi.envi_to_dtype[str(meta["data type"])])
        offset = int(meta.get("header offset", 0))
        interleave = str(meta.get("interleave", "bsq")).lower()
    except (KeyError, ValueError) as exc:
        raise SceneFileError(
            f"ENVI header '{header}' lacks or garbles a required field ({exc}); expected samples, "
            "lines, bands, 'data type' (1, 2, 3, 4, 5, 12, 13, 14 or 15) and interleave. "
            "Fix: repair the header."
        ) from exc
    if interleave not in ("bsq", "bil", "bip"):
        raise SceneFileError(
            f"ENVI header '{header}' gives interleave '{interleave}'; expected bsq, bil or bip. "
            "Fix: repair the header."
        )
    expected = offset + lines * samples * bands * dtype.itemsize
    actual = binary.stat().st_size
    if actual != expected:
        raise SceneFileError(
            f"ENVI file '{binary}' holds {actual} bytes but its header '{header}' describes "
            f"{lines} lines x {samples} samples x {bands} bands of {dtype.name} "
            f"({dtype.itemsize} bytes) after a {offset}-byte offset = {expected} bytes. The binary "
            "may be truncated, or the header may belong to another file. Fix: restore the binary "
            "file or correct the header's samples/lines/bands/'data type'."
        )
    try:
        img = envi.open(str(header), str(binary))
        data = img.open_memmap(interleave="bip", writable=False)
    except Exception as exc:
        raise SceneFileError(
            f"ENVI file '{binary}' (header '{header}') is not readable: {type(exc).__name__}: "
            f"{exc}. Fix: restore the files or write them again."
        ) from exc
    wavelengths = _to_nm(_floats(meta.get("wavelength")), str(meta.get("wavelength units", "")))
    names = meta.get("band names")
    band_names = tuple(str(n) for n in names) if isinstance(names, list) else None
    return ArrayFile(
        data,
        "envi",
        wavelengths_nm=wavelengths if wavelengths and len(wavelengths) == bands else None,
        band_names=band_names if band_names and len(band_names) == bands else None,
        extra_files=(("header", header),) if binary != header else (),
    )


_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(nm|um|µm)?\s*$")


def _band_wavelength(desc: str | None, tags: dict[str, str]) -> tuple[float, str] | None:
    for text in (tags.get("wavelength"), tags.get("WAVELENGTH"), desc):
        if text:
            m = _NUMBER.match(str(text))
            if m:
                unit = (
                    m.group(2) or tags.get("wavelength_units") or tags.get("WAVELENGTH_UNITS") or ""
                )
                return float(m.group(1)), unit
    return None


def _read_geotiff(p: Path) -> ArrayFile:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(p) as ds:
            data = ds.read()  # (bands, rows, cols)
            crs = ds.crs.to_wkt() if ds.crs else None
            transform = list(ds.transform.to_gdal())
            waves = [_band_wavelength(ds.descriptions[i], ds.tags(i + 1)) for i in range(ds.count)]
            descriptions = ds.descriptions
    except (RasterioError, OSError) as exc:
        raise SceneFileError(
            f"File '{p}' ({_size(p)} bytes) is not a readable GeoTIFF: {type(exc).__name__}: "
            f"{exc}. It may be truncated or not a TIFF at all. Fix: write it again (one band per "
            "spectral band)."
        ) from exc
    wavelengths = None
    if all(w is not None for w in waves):
        values = tuple(w[0] for w in waves if w is not None)
        wavelengths = _to_nm(values, waves[0][1] if waves[0] else "")
    names = tuple(d for d in descriptions if d)
    georef = None
    if crs is not None or transform != [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]:
        georef = {"crs": crs, "transform": transform}
    return ArrayFile(
        np.moveaxis(data, 0, -1),
        "geotiff",
        wavelengths_nm=wavelengths,
        band_names=names if len(names) == len(descriptions) else None,
        georef=georef,
    )


def label_map(array: ArrayFile) -> np.ndarray:
    """A label map's 2-D array: a single-band ENVI or GeoTIFF file is squeezed to rows x cols."""
    data = array.data
    if array.format in ("envi", "geotiff") and data.ndim == 3 and data.shape[2] == 1:
        return data[:, :, 0]
    return data


def display_bands(
    wavelengths_nm: tuple[float, ...] | None,
    targets: tuple[float, float, float] = (640.0, 550.0, 460.0),
) -> tuple[int, int, int] | None:
    """The bands nearest to red, green and blue (``targets``, nm), or None without wavelengths
    or when the bands do not reach into the visible range (nearest band over 100 nm away)."""
    if not wavelengths_nm:
        return None
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    picks = []
    for t in targets:
        i = int(np.argmin(np.abs(wl - t)))
        if abs(wl[i] - t) > 100:
            return None
        picks.append(i)
    return (picks[0], picks[1], picks[2])
