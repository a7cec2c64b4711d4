"""Classification maps as files: a class map and its per-pixel entropy.

A model's prediction over a scene is a class map ``(H, W)`` of 1-based labels (0 = no
class / masked) and an entropy map ``(H, W)`` in nats. :func:`write_maps` writes both,
choosing the format by the suffix of the path it is given (``STEM`` is the file name
without its suffix):

``.tif`` / ``.tiff``
    GeoTIFF (deflate). ``path``: the class map, one band of uint8 (uint16 when a label
    exceeds 255), nodata 0, a colour table in the class colours, band description
    ``class`` and one tag ``CLASS_<label>=<name>`` per class (``gdalinfo`` shows both).
    ``STEM.entropy.tif``: the entropy, float32. Both carry the scene's georeference.
``.png``
    ``path``: the class map in the class colours, upscaled (nearest) to at least 300
    pixels on its long side, with a legend on the right. ``STEM.entropy.png``: the
    entropy on a viridis ramp from 0 to log(C) nats (C classes), with a captioned scale.
``.mat``
    One MATLAB file with the variables ``class_map`` (uint8/uint16), ``entropy``
    (float32) and ``class_names`` (a cell array of strings).
``.npy``
    ``path``: the class map (uint8/uint16); ``STEM.entropy.npy``: the entropy (float32).

Every file is written to a temporary file in the target folder and moved in place with
:func:`os.replace`; when anything fails no new file is left behind. The class colours
(:func:`class_colour`) are the ones the dashboard uses.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Colour of label 0 (unlabelled / masked pixels) in the maps.
BACKGROUND = "#000000"
#: Kelly's colours of maximum contrast without white, black and grey, then Plotly's
#: qualitative "Alphabet" palette (26 colours).
PALETTE: tuple[str, ...] = (
    "#F3C300", "#875692", "#F38400", "#A1CAF1", "#BE0032", "#C2B280", "#008856", "#E68FAC",
    "#0067A5", "#F99379", "#604E97", "#F6A600", "#B3446C", "#DCD300", "#882D17", "#8DB600",
    "#654522", "#E25822", "#2B3D26",
    "#AA0DFE", "#3283FE", "#85660D", "#782AB6", "#565656", "#1C8356", "#16FF32", "#F7E1A0",
    "#E2E2E2", "#1CBE4F", "#C4451C", "#DEA0FD", "#FE00FA", "#325A9B", "#FEAF16", "#F8A19F",
    "#90AD1C", "#F6222E", "#1CFFCE", "#2ED9FF", "#B10DA1", "#C075A6", "#FC1CBF", "#B00068",
    "#FBE426", "#FA0087",
)  # fmt: skip
#: The suffixes :func:`write_maps` understands.
SUFFIXES = (".tif", ".tiff", ".png", ".mat", ".npy")
#: The PNG class map is upscaled to at least this many pixels on its long side.
PNG_MIN_SIDE = 300
# viridis at 0, 1/8, ..., 1 (matplotlib's values, rounded)
_VIRIDIS = np.array(
    [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ],
    dtype=np.float64,
)  # fmt: skip


class MapExportError(ValueError):
    """A class map or entropy map that cannot be written as asked."""


def class_colour(label: int) -> str:
    """The colour of a class in every map, scatter and legend.

    Args:
        label: The 1-based class label; 0 or less is the background.

    Returns:
        ``"#RRGGBB"``; :data:`BACKGROUND` for label 0. The palette repeats after
        ``len(PALETTE)`` classes.
    """
    if label <= 0:
        return BACKGROUND
    return PALETTE[(label - 1) % len(PALETTE)]


def _rgb(label: int) -> tuple[int, int, int]:
    h = class_colour(label)
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def _class_name(names: Sequence[str], label: int) -> str:
    if label == 0:
        return "unclassified"
    return str(names[label - 1]) if label <= len(names) else f"class {label}"


# --------------------------------------------------------------------------- checks


def _labels(class_map: Any) -> np.ndarray:
    """The class map as a 2-D uint8 (or uint16 when a label exceeds 255) array."""
    arr = np.asarray(class_map)
    if arr.ndim != 2 or arr.size == 0:
        raise MapExportError(
            f"The class map has shape {arr.shape}; a non-empty (rows, cols) map is needed. "
            "Fix: pass one 2-D array of labels per scene."
        )
    integral = np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_
    if not integral and np.issubdtype(arr.dtype, np.floating):
        integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.rint(arr)))
    if not integral:
        raise MapExportError(
            f"The class map holds {arr.dtype} values that are not whole numbers. "
            "Fix: pass integer labels (1-based, 0 = no class)."
        )
    top = int(arr.max())
    if int(arr.min()) < 0 or top > 65535:
        raise MapExportError(
            f"The class map holds labels from {int(arr.min())} to {top}; labels must lie in "
            "0..65535. Fix: pass 1-based labels with 0 for no class."
        )
    return arr.astype(np.uint8 if top <= 255 else np.uint16)


def _entropy(entropy: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(entropy, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise MapExportError(
            f"The entropy map cannot be read as float32 numbers: {exc}. "
            "Fix: pass a (rows, cols) array of entropies in nats."
        ) from exc
    if arr.shape != shape:
        raise MapExportError(
            f"The class map has shape {shape} but the entropy map {arr.shape}. "
            "Fix: pass the two maps of the same prediction."
        )
    return arr


def _n_classes(labels: np.ndarray, class_names: Sequence[str]) -> int:
    return max(len(class_names), int(labels.max()))


# --------------------------------------------------------------------------- GeoTIFF


def _geotiff(
    data: np.ndarray, georef: Mapping[str, Any] | None, *, class_names: Sequence[str] | None
) -> bytes:
    """One band as GeoTIFF bytes; with ``class_names`` a class map (nodata 0, colours)."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError, NotGeoreferencedWarning
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "compress": "deflate",
    }
    if georef is not None:
        transform = list(georef.get("transform") or [])
        if len(transform) != 6:
            raise MapExportError(
                f"georef['transform'] is {georef.get('transform')!r}; six GDAL geotransform "
                "numbers are needed (x0, dx, rx, y0, ry, dy). Fix: pass Scene.georef as it is."
            )
        profile["transform"] = Affine.from_gdal(*(float(v) for v in transform))
        if georef.get("crs"):
            try:
                profile["crs"] = CRS.from_user_input(georef["crs"])
            except CRSError as exc:
                raise MapExportError(
                    f"georef['crs'] is not a coordinate reference system GDAL knows: {exc}. "
                    "Fix: pass a WKT string (Scene.georef['crs']) or None."
                ) from exc
    if class_names is not None:
        profile["nodata"] = 0
    with warnings.catch_warnings(), MemoryFile() as mem:
        # a map without georef is fine: no "no geotransform" warning for it
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(**profile) as dst:
            dst.write(data, 1)
            if class_names is None:
                dst.set_band_description(1, "entropy (nats)")
            else:
                top = _n_classes(data, class_names)
                dst.write_colormap(1, {k: (*_rgb(k), 255) for k in range(top + 1)})  # label 0 black
                dst.set_band_description(1, "class")
                dst.update_tags(
                    1, **{f"CLASS_{k}": _class_name(class_names, k) for k in range(1, top + 1)}
                )
        return bytes(mem.read())


def geotiff_bytes(
    class_map: Any, class_names: Sequence[str], georef: Mapping[str, Any] | None = None
) -> bytes:
    """The class map as a GeoTIFF file in memory (for a download button).

    Args:
        class_map: ``(H, W)`` 1-based integer labels, 0 = no class.
        class_names: The name of class 1, 2, ...
        georef: ``{"crs": WKT or None, "transform": [x0, dx, rx, y0, ry, dy]}``
            (``Scene.georef``) or None for a map without georeference.

    Returns:
        The bytes of the same GeoTIFF :func:`write_maps` writes for the class map.

    Raises:
        MapExportError: The class map or georef is not usable.
    """
    return _geotiff(_labels(class_map), georef, class_names=class_names)


# --------------------------------------------------------------------------- PNG


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _scale(shape: tuple[int, ...]) -> int:
    return max(1, math.ceil(PNG_MIN_SIDE / max(shape[0], shape[1], 1)))


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _class_png(labels: np.ndarray, class_names: Sequence[str]) -> bytes:
    from PIL import Image, ImageDraw

    top = _n_classes(labels, class_names)
    lut = np.array([_rgb(k) for k in range(top + 1)], dtype=np.uint8)
    k = _scale(labels.shape)
    rgb = np.repeat(np.repeat(lut[labels], k, axis=0), k, axis=1)
    present = set(np.unique(labels).tolist())
    entries = [lab for lab in range(top + 1) if lab in present or 1 <= lab <= len(class_names)]
    font = _font(14)
    text = [f"{lab}. {_class_name(class_names, lab)}" for lab in entries]
    line, chip, pad = 20, 14, 10
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max((int(probe.textlength(t, font=font)) for t in text), default=0)
    legend_w = pad + chip + 6 + text_w + pad
    height = max(rgb.shape[0], pad + line * len(entries) + pad)
    image = Image.new("RGB", (rgb.shape[1] + legend_w, height), "white")
    image.paste(Image.fromarray(rgb, "RGB"), (0, 0))
    draw = ImageDraw.Draw(image)
    x = rgb.shape[1] + pad
    for i, (lab, t) in enumerate(zip(entries, text, strict=True)):
        y = pad + i * line
        draw.rectangle([x, y, x + chip - 1, y + chip - 1], fill=_rgb(lab), outline="grey")
        draw.text((x + chip + 6, y), t, fill="black", font=font)
    return _png(image)


def _viridis(t: np.ndarray) -> np.ndarray:
    """Values in 0..1 to RGB uint8 on a viridis ramp (NaN: black)."""
    pos = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    frac = (pos - lo)[..., None]
    rgb = _VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac
    rgb[np.isnan(t)] = 0
    return np.rint(rgb).astype(np.uint8)


def _entropy_png(entropy: np.ndarray, n_classes: int) -> bytes:
    from PIL import Image, ImageDraw

    top = math.log(n_classes) if n_classes > 1 else 1.0
    k = _scale(entropy.shape)
    rgb = np.repeat(np.repeat(_viridis(entropy / top), k, axis=0), k, axis=1)
    width = max(rgb.shape[1], 240)
    bar_h, pad, line = 12, 6, 18
    image = Image.new("RGB", (width, rgb.shape[0] + pad + bar_h + pad + line + pad), "white")
    image.paste(Image.fromarray(rgb, "RGB"), (0, 0))
    y = rgb.shape[0] + pad
    ramp = _viridis(np.linspace(0.0, 1.0, width - 2 * pad))
    image.paste(Image.fromarray(np.repeat(ramp[None], bar_h, axis=0), "RGB"), (pad, y))
    caption = f"entropy: 0 to {top:.2f} nats" + (f" = log({n_classes})" if n_classes > 1 else "")
    ImageDraw.Draw(image).text((pad, y + bar_h + pad), caption, fill="black", font=_font(13))
    return _png(image)


def png_bytes(class_map: Any, class_names: Sequence[str]) -> bytes:
    """The class map as a PNG picture with a legend, in memory (for a download button).

    Args:
        class_map: ``(H, W)`` 1-based integer labels, 0 = no class.
        class_names: The name of class 1, 2, ...

    Returns:
        The bytes of the same PNG :func:`write_maps` writes for the class map.

    Raises:
        MapExportError: The class map is not usable.
    """
    return _class_png(_labels(class_map), class_names)


# --------------------------------------------------------------------------- MAT / NPY


def _mat(labels: np.ndarray, entropy: np.ndarray, class_names: Sequence[str]) -> bytes:
    from scipy.io import savemat

    names = np.empty((len(class_names),), dtype=object)  # an object array: a cell array
    names[:] = [str(n) for n in class_names]
    buf = io.BytesIO()
    savemat(
        buf,
        {"class_map": labels, "entropy": entropy, "class_names": names},
        do_compression=True,
    )
    return buf.getvalue()


def _npy(data: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, data, allow_pickle=False)
    return buf.getvalue()


# --------------------------------------------------------------------------- writing


def _write_all(files: dict[Path, Callable[[], bytes]]) -> list[Path]:
    """Write every file through a temporary file in its folder, all or none of them."""
    made: list[str] = []  # temporary files, then final files this call created
    moved: list[tuple[str, Path]] = []
    try:
        for path, render in files.items():
            data = render()
            tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
            # O_EXCL: a new file of our own; mode 0o666 less the umask, like any new file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            made.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            moved.append((tmp, path))
        for tmp, path in moved:
            existed = path.exists()
            os.replace(tmp, path)
            made.remove(tmp)
            if not existed:
                made.append(str(path))
    except BaseException:
        for name in made:
            with contextlib.suppress(OSError):
                os.unlink(name)
        raise
    return list(files)


def write_maps(
    path: str | os.PathLike[str],
    class_map: Any,
    entropy: Any,
    class_names: Sequence[str],
    georef: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write a class map and its entropy map in the format the suffix of ``path`` names.

    ``.tif``/``.tiff`` (GeoTIFF), ``.png`` and ``.npy`` write the class map to ``path``
    and the entropy to ``STEM.entropy.SUFFIX`` beside it; ``.mat`` writes one file with
    both. See the module docstring for what each file holds. Existing files are replaced.

    Args:
        path: The class map's file; its suffix chooses the format.
        class_map: ``(H, W)`` 1-based integer labels, 0 = no class / masked.
        entropy: ``(H, W)`` per-pixel entropy in nats.
        class_names: The name of class 1, 2, ...
        georef: ``{"crs": WKT or None, "transform": [x0, dx, rx, y0, ry, dy]}``
            (``Scene.georef``) for a GeoTIFF; other formats ignore it.

    Returns:
        The files written, the class map's first.

    Raises:
        MapExportError: An unknown suffix, a missing folder, maps of other shapes or
            unusable values. No new file is left behind on any error.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MapExportError(
            f"Cannot write maps to '{path}': unknown suffix '{path.suffix}'; the formats are "
            f"{', '.join(SUFFIXES)}. Fix: name the file e.g. '{path.stem}.tif'."
        )
    if not path.parent.is_dir():
        raise MapExportError(
            f"Cannot write maps to '{path}': the folder '{path.parent}' does not exist. "
            "Fix: create it first or choose an existing folder."
        )
    labels = _labels(class_map)
    ent = _entropy(entropy, labels.shape)
    second = path.with_name(f"{path.stem}.entropy{path.suffix}")
    files: dict[Path, Callable[[], bytes]]
    if suffix in (".tif", ".tiff"):
        files = {
            path: lambda: _geotiff(labels, georef, class_names=class_names),
            second: lambda: _geotiff(ent, georef, class_names=None),
        }
    elif suffix == ".png":
        files = {
            path: lambda: _class_png(labels, class_names),
            second: lambda: _entropy_png(ent, _n_classes(labels, class_names)),
        }
    elif suffix == ".mat":
        files = {path: lambda: _mat(labels, ent, class_names)}
    else:
        files = {path: lambda: _npy(labels), second: lambda: _npy(ent)}
    return _write_all(files)


# --------------------------------------------------------------------------- progress

#: Seconds between two progress lines of a prediction off a terminal.
PROGRESS_LINE_SECONDS = 10.0


class PixelProgress:
    """The progress of classifying a cube's pixels, for ``harness.predict``.

    On a terminal, a tqdm bar (pixels, pixels/s, time left); otherwise (a log file, a
    pipe, a batch job) one line of tqdm's text at most every ``interval`` seconds, so
    that a map that takes minutes still says where it stands. Pass an instance, or its
    :meth:`update`, as the ``progress`` of
    :meth:`harness.saved_model.SavedModel.predict`.

    Args:
        total: pixels to classify.
        desc: the text before the counts.
        file: where it shows (default ``sys.stderr``).
        interval: seconds between two lines off a terminal.
        clock: the time source of those lines (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        *,
        desc: str = "predict",
        file: Any = None,
        interval: float = PROGRESS_LINE_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import sys
        import time

        from tqdm import tqdm

        self.total = int(total)
        self.desc = desc
        self.file = file if file is not None else sys.stderr
        self.interval = interval
        self.clock = clock or time.monotonic
        self.format_meter = tqdm.format_meter
        isatty = getattr(self.file, "isatty", None)
        self.bar: Any = (
            tqdm(
                total=self.total, unit="px", unit_scale=True, desc=desc, leave=False, file=self.file
            )
            if callable(isatty) and isatty()
            else None
        )
        self.started = self.clock()
        self._last = self.started

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` pixels of ``total`` (default: the total given) are classified."""
        if self.bar is not None:
            self.bar.update(int(done) - self.bar.n)
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        line = self.format_meter(
            int(done),
            int(total or self.total),
            now - self.started,
            prefix=self.desc,
            unit="px",
            unit_scale=True,
            bar_format="{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} pixels "
            "[{elapsed} elapsed, {remaining} left, {rate_fmt}]",
        )
        print(line, file=self.file, flush=True)

    __call__ = update

    def close(self) -> None:
        """End the bar (off a terminal there is nothing to end)."""
        if self.bar is not None:
            self.bar.close()
