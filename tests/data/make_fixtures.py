"""Write the small, seeded scene fixtures the tests use.

    python tests/data/make_fixtures.py OUT_DIR

Writes a 24 x 20 pixel, 12-band, 3-class scene ``tiny``:

- ``tiny_cube.mat`` (MAT v5, key ``cube``) and ``tiny_gt.mat`` (key ``gt``);
- ``tiny_cube_v73.mat`` (MAT v7.3 = HDF5, key ``cube``), the same cube, written
  column-major as MATLAB does (axes reversed on disk);
- ``tiny.toml``, the scene file describing them (cube = the v5 file).

and, with :func:`write_field_splits`, the ``field`` scene with a declared fixed
split in three cube formats plus broken split files; and, with
:func:`write_field_scene`, a user scene ``field`` large enough for every
suite's recipes (48 x 40 pixels, 40 bands in sensor units: uint16 digital numbers
in the thousands, 4 classes in rectangular fields; PCA to 30 components and 11 x
11 windows fit): ``field_cube.mat``, ``field_gt.mat`` and ``field.toml``.

The label map has three rectangular fields and an unlabelled border; spectra are
class means plus seeded noise, so the arrays are the same on every machine (the
files' bytes are not: MAT headers carry a creation time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

H, W, B = 24, 20, 12
CLASS_NAMES = ("Meadow", "Forest", "Water")


def make_arrays(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The fixture's (cube float64 H x W x B, gt uint8 H x W)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((H, W), dtype=np.uint8)
    gt[2:12, 2:9] = 1
    gt[2:12, 11:18] = 2
    gt[14:22, 3:17] = 3
    means = rng.uniform(0.1, 0.9, size=(4, B))
    cube = means[gt] + 0.02 * rng.standard_normal((H, W, B))
    return cube, gt


TOML = """\
name = "tiny"
title = "Tiny test scene"
description = "24 x 20 pixels, 12 bands, 3 classes; written by tests/data/make_fixtures.py"
shape = [24, 20]
n_bands = 12
rgb_bands = [8, 4, 1]
class_names = ["Meadow", "Forest", "Water"]
class_counts = [70, 70, 112]

[cube]
file = "tiny_cube.mat"
key = "cube"
url = "{base}tiny_cube.mat"

[gt]
file = "tiny_gt.mat"
key = "gt"
url = "{base}tiny_gt.mat"
"""


def write_fixtures(out: Path, base_url: str = "http://127.0.0.1:1/") -> dict[str, Path]:
    """Write all fixture files into ``out``; returns their paths by short name."""
    import h5py
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = make_arrays()
    paths = {
        "cube": out / "tiny_cube.mat",
        "gt": out / "tiny_gt.mat",
        "cube_v73": out / "tiny_cube_v73.mat",
        "toml": out / "tiny.toml",
    }
    scipy.io.savemat(paths["cube"], {"cube": cube}, do_compression=True)
    scipy.io.savemat(paths["gt"], {"gt": gt})
    with h5py.File(paths["cube_v73"], "w", userblock_size=512) as f:
        f.create_dataset("cube", data=cube.T)  # MATLAB writes column-major: axes reversed
    with open(paths["cube_v73"], "r+b") as f:  # the MAT 7.3 text header in the user block
        f.write(
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fixture HDF5 schema 1.00 .".ljust(
                116
            )
        )
    paths["toml"].write_text(TOML.format(base=base_url), encoding="utf-8")
    return paths


FIELD_TOML = """\
name = "field"
title = "Field test scene"
description = "48 x 40 pixels, 40 bands (uint16 DN), 4 classes; written by tests/data/make_fixtures.py"
shape = [48, 40]
n_bands = 40
class_names = ["Wheat", "Maize", "Fallow", "Orchard"]

[cube]
file = "field_cube.mat"
key = "radiance"

[gt]
file = "field_gt.mat"
key = "labels"
"""


def field_arrays(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """The ``field`` scene's (cube uint16 48 x 40 x 40, gt uint8 48 x 40)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((48, 40), dtype=np.uint8)
    gt[1:23, 1:19] = 1
    gt[1:23, 21:39] = 2
    gt[25:47, 1:19] = 3
    gt[25:47, 21:39] = 4
    bands = np.linspace(0.0, 1.0, 40)
    means = 2500 + 1500 * np.sin(np.outer(rng.uniform(1, 4, size=5), bands) * np.pi)
    cube = means[gt] * (1 + 0.08 * rng.standard_normal((48, 40, 1)))
    cube += 120 * rng.standard_normal((48, 40, 40))
    return np.clip(np.rint(cube), 0, 65535).astype(np.uint16), gt


def write_field_scene(out: Path) -> dict[str, Path]:
    """Write the ``field`` user scene (two MAT files and its TOML) into ``out``."""
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = field_arrays()
    paths = {"cube": out / "field_cube.mat", "gt": out / "field_gt.mat", "toml": out / "field.toml"}
    scipy.io.savemat(paths["cube"], {"radiance": cube}, do_compression=True)
    scipy.io.savemat(paths["gt"], {"labels": gt})
    paths["toml"].write_text(FIELD_TOML, encoding="utf-8")
    return paths


#: Band centres of the ``tiny`` cube written in the non-MATLAB formats (nm).
WAVELENGTHS = tuple(float(w) for w in np.linspace(420.0, 970.0, B))
#: The GeoTIFF fixture's georeferencing: UTM 33N, 30 m pixels.
GEO_CRS = "EPSG:32633"
GEO_ORIGIN = (500000.0, 4200000.0, 30.0)

FORMAT_TOML = """\
name = "{name}"
title = "Tiny test scene ({name})"
shape = [24, 20]
n_bands = {n_bands}
class_names = ["Meadow", "Forest", "Water"]
class_counts = [70, 70, 112]
{extra}
[cube]
file = "{cube}"
{cube_key}
[gt]
file = "{gt}"
{gt_key}"""


def format_toml(
    name: str, cube: str, gt: str = "tiny_gt.mat", n_bands: int = B, extra: str = ""
) -> str:
    """A scene file for the ``tiny`` arrays stored as ``cube`` / ``gt`` (any format)."""

    def key(file: str, value: str) -> str:
        return f'key = "{value}"\n' if file.endswith((".mat", ".npz")) else ""

    return FORMAT_TOML.format(
        name=name,
        n_bands=n_bands,
        extra=extra,
        cube=cube,
        cube_key=key(cube, "cube"),
        gt=gt,
        gt_key=key(gt, "gt"),
    )


def _envi(path: Path, array: np.ndarray, interleave: str, byteorder: int, bands: bool) -> None:
    import spectral.io.envi as envi

    meta = {"description": "tiny fixture"}
    if bands:
        meta |= {
            "wavelength": [f"{w:.1f}" for w in WAVELENGTHS],
            "wavelength units": "Nanometers",
            "band names": [f"band {i + 1}" for i in range(B)],
        }
    envi.save_image(
        str(path),
        array,
        interleave=interleave,
        byteorder=byteorder,
        ext=".img",
        force=True,
        metadata=meta,
    )


def _geotiff(path: Path, array: np.ndarray, wavelengths: bool = True) -> None:
    import rasterio
    from affine import Affine

    x0, y0, size = GEO_ORIGIN
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=array.shape[0],
        width=array.shape[1],
        count=array.shape[2],
        dtype=array.dtype.name,
        crs=GEO_CRS,
        transform=Affine(size, 0.0, x0, 0.0, -size, y0),
    ) as ds:
        ds.write(np.moveaxis(array, -1, 0))
        if wavelengths:
            for i, w in enumerate(WAVELENGTHS[: array.shape[2]]):
                ds.set_band_description(i + 1, f"{w:.1f} nm")


def write_format_fixtures(out: Path) -> dict[str, Path]:
    """Write the ``tiny`` scene in every non-MATLAB format, and broken variants, into ``out``.

    Good scenes (TOML ``tiny_<fmt>.toml``, scene ``tiny_<fmt>``): ``envi_bsq`` (the cube as
    ``.hdr`` + ``.img``, little-endian, with wavelengths and band names; the label map in
    ENVI too), ``envi_bil`` (big-endian; the TOML names the binary ``.img``), ``envi_bip``,
    ``geotiff`` (float64, EPSG:32633, 30 m pixels, wavelengths as band descriptions; label
    map a one-band GeoTIFF), ``npy`` (cube and label map) and ``npz`` (key ``cube``). The
    other scenes use ``tiny_gt.mat``, written here too.

    Broken scenes (``bad_<what>.toml``): ``npy_truncated``, ``envi_truncated`` (binary shorter
    than its header says), ``envi_header`` (header names 13 bands), ``npz_key`` (no such
    array), ``dtype`` (complex cube), ``bands`` (TOML expects 10 bands), ``nan`` (a NaN
    value), ``shape`` (a 2-D cube), ``tif_truncated``, ``extension`` (``.xyz``).
    """
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = make_arrays()
    scipy.io.savemat(out / "tiny_gt.mat", {"gt": gt})
    scipy.io.savemat(out / "tiny_cube.mat", {"cube": cube}, do_compression=True)
    paths: dict[str, Path] = {"gt": out / "tiny_gt.mat", "cube": out / "tiny_cube.mat"}

    def scene(name: str, cube_file: str, gt_file: str = "tiny_gt.mat", **kw) -> None:
        path = out / f"{name}.toml"
        path.write_text(format_toml(name, cube_file, gt_file, **kw), encoding="utf-8")
        paths[name] = path

    _envi(out / "cube_bsq.hdr", cube, "bsq", 0, bands=True)
    _envi(out / "gt_bsq.hdr", gt[:, :, None], "bsq", 0, bands=False)
    _envi(out / "cube_bil.hdr", cube, "bil", 1, bands=True)
    _envi(out / "cube_bip.hdr", cube, "bip", 0, bands=False)
    scene("tiny_envi_bsq", "cube_bsq.hdr", "gt_bsq.hdr")
    scene("tiny_envi_bil", "cube_bil.img")
    scene("tiny_envi_bip", "cube_bip.hdr", extra=f"wavelengths_nm = {list(WAVELENGTHS)}\n")
    _geotiff(out / "cube.tif", cube)
    _geotiff(out / "gt.tif", gt[:, :, None], wavelengths=False)
    scene("tiny_geotiff", "cube.tif", "gt.tif")
    np.save(out / "cube.npy", cube)
    np.save(out / "gt.npy", gt)
    scene("tiny_npy", "cube.npy", "gt.npy")
    np.savez(out / "cube.npz", cube=cube, other=gt)
    scene("tiny_npz", "cube.npz")

    # broken variants
    blob = (out / "cube.npy").read_bytes()
    (out / "truncated.npy").write_bytes(blob[: len(blob) // 2])
    scene("bad_npy_truncated", "truncated.npy")
    _envi(out / "short.hdr", cube, "bsq", 0, bands=False)
    with open(out / "short.img", "r+b") as f:
        f.truncate((out / "short.img").stat().st_size - 100)
    scene("bad_envi_truncated", "short.hdr")
    _envi(out / "wronghdr.hdr", cube, "bip", 0, bands=False)
    text = (out / "wronghdr.hdr").read_text()
    (out / "wronghdr.hdr").write_text(text.replace("bands = 12", "bands = 13"))
    scene("bad_envi_header", "wronghdr.hdr")
    np.savez(out / "nokey.npz", data=cube)
    scene("bad_npz_key", "nokey.npz")
    np.save(out / "complex.npy", cube.astype(np.complex64))
    scene("bad_dtype", "complex.npy")
    scene("bad_bands", "cube.npy", n_bands=10)
    nan = cube.copy()
    nan[3, 4, 5] = np.nan
    np.save(out / "nan.npy", nan)
    scene("bad_nan", "nan.npy")
    np.save(out / "flat.npy", cube[:, :, 0])
    scene("bad_shape", "flat.npy")
    blob = (out / "cube.tif").read_bytes()
    (out / "truncated.tif").write_bytes(blob[:300])
    scene("bad_tif_truncated", "truncated.tif")
    (out / "cube.xyz").write_bytes(b"\0" * 64)
    scene("bad_extension", "cube.xyz")
    return paths


def write_field_envi(out: Path) -> dict[str, Path]:
    """Write the ``field`` scene as scene ``field_envi``: the cube as big-endian BIL ENVI
    (``field_cube.hdr`` + ``.img``, uint16), the label map as ``field_gt.npy``."""
    out.mkdir(parents=True, exist_ok=True)
    cube, gt = field_arrays()
    _envi_plain(out / "field_cube.hdr", cube, "bil", 1)
    np.save(out / "field_gt.npy", gt)
    text = FIELD_TOML.replace('name = "field"', 'name = "field_envi"')
    text = text.replace('file = "field_cube.mat"\nkey = "radiance"', 'file = "field_cube.hdr"')
    text = text.replace('file = "field_gt.mat"\nkey = "labels"', 'file = "field_gt.npy"')
    paths = {
        "cube": out / "field_cube.hdr",
        "gt": out / "field_gt.npy",
        "toml": out / "field_envi.toml",
    }
    paths["toml"].write_text(text, encoding="utf-8")
    return paths


def _envi_plain(path: Path, array: np.ndarray, interleave: str, byteorder: int) -> None:
    import spectral.io.envi as envi

    envi.save_image(
        str(path), array, interleave=interleave, byteorder=byteorder, ext=".img", force=True
    )


def field_split_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed split of the ``field`` scene: (train, val, test) uint8 label maps of 48 x 40.

    Columns in stripes of 8: the first two of each stripe train, the third validates,
    the fourth is a gap, the other four test; so every class has pixels in every set.
    """
    _, gt = field_arrays()
    stripe = np.arange(gt.shape[1]) % 8
    train = np.where(stripe[None, :] < 2, gt, 0).astype(np.uint8)
    val = np.where(stripe[None, :] == 2, gt, 0).astype(np.uint8)
    test = np.where(stripe[None, :] >= 4, gt, 0).astype(np.uint8)
    return train, val, test


SPLIT_TABLE = """
[splits.stripes]
citation = "Stripes of 8 columns: 2 train, 1 validation, 1 gap, 4 test (tests/data/make_fixtures.py)."
train = {{ {train} }}
test = {{ {test} }}
{val}"""


def write_field_splits(out: Path) -> dict[str, Path]:
    """Write the ``field`` scene with a declared fixed split ``stripes`` in three cube
    formats, the split's label maps in several formats, and broken label maps.

    Scenes (each a TOML in ``out``):

    - ``field_envi_split``: the cube as ENVI (BIL, big-endian), the split as one MATLAB
      file holding ``TR`` and ``TE`` (SpectralFormer's layout); validation drawn from
      the training pixels;
    - ``field_tif_split``: the cube as a GeoTIFF, the split as single-band GeoTIFFs;
    - ``field_npy_split``: the cube as ``.npy``, the split as ``.npy`` maps with a
      validation map.

    Split files also written: ``split_TR_TE.npz`` (TR and TE), and broken ones:
    ``overlap_test.npy`` (test pixels that are also training pixels),
    ``bad_labels_train.npy`` (label 7 of a 4-class scene), ``small_train.npy``
    (40 x 40), ``split_other_keys.mat`` (no ``TR`` variable). The TOML
    ``field_bad_sha_split.toml`` declares a sha256 its test map does not have.
    """
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = field_arrays()
    train, val, test = field_split_maps()
    paths: dict[str, Path] = {}
    # label maps in every format
    scipy.io.savemat(out / "split_TR_TE.mat", {"TR": train, "TE": test})
    np.savez(out / "split_TR_TE.npz", TR=train, TE=test)
    for name, arr in (("train", train), ("val", val), ("test", test)):
        np.save(out / f"split_{name}.npy", arr)
        _geotiff(out / f"split_{name}.tif", arr[:, :, None], wavelengths=False)
        paths[f"{name}_npy"] = out / f"split_{name}.npy"
        paths[f"{name}_tif"] = out / f"split_{name}.tif"
    paths["mat"] = out / "split_TR_TE.mat"
    paths["npz"] = out / "split_TR_TE.npz"
    # cubes
    _envi_plain(out / "field_cube.hdr", cube, "bil", 1)
    _geotiff(out / "field_cube.tif", cube, wavelengths=False)
    np.save(out / "field_cube.npy", cube)
    np.save(out / "field_gt.npy", gt)
    base = FIELD_TOML.replace('file = "field_gt.mat"\nkey = "labels"', 'file = "field_gt.npy"')

    def scene(name: str, cube_file: str, split: str) -> None:
        text = base.replace('name = "field"', f'name = "{name}"')
        text = text.replace('file = "field_cube.mat"\nkey = "radiance"', f'file = "{cube_file}"')
        paths[name] = out / f"{name}.toml"
        paths[name].write_text(text + split, encoding="utf-8")

    scene(
        "field_envi_split",
        "field_cube.hdr",
        SPLIT_TABLE.format(
            train='file = "split_TR_TE.mat", key = "TR"',
            test='file = "split_TR_TE.mat", key = "TE"',
            val="",
        ),
    )
    scene(
        "field_tif_split",
        "field_cube.tif",
        SPLIT_TABLE.format(
            train='file = "split_train.tif"', test='file = "split_test.tif"', val=""
        ),
    )
    scene(
        "field_npy_split",
        "field_cube.npy",
        SPLIT_TABLE.format(
            train='file = "split_train.npy"',
            test='file = "split_test.npy"',
            val='val = { file = "split_val.npy" }\n',
        ),
    )
    scene(
        "field_bad_sha_split",
        "field_cube.npy",
        SPLIT_TABLE.format(
            train='file = "split_train.npy"',
            test=f'file = "split_test.npy", sha256 = "{"0" * 64}"',
            val="",
        ),
    )
    # broken label maps
    overlap = test.copy()
    overlap[:, 1] = gt[:, 1]  # column 1 is a training column
    np.save(out / "overlap_test.npy", overlap)
    bad = train.copy()
    bad[5, 0] = 7
    np.save(out / "bad_labels_train.npy", bad)
    np.save(out / "small_train.npy", train[:40])
    scipy.io.savemat(out / "split_other_keys.mat", {"train_labels": train, "TE": test})
    for name in ("overlap_test", "bad_labels_train", "small_train"):
        paths[name] = out / f"{name}.npy"
    paths["other_keys"] = out / "split_other_keys.mat"
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/make_fixtures.py OUT_DIR")
    for name, path in write_fixtures(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
    for name, path in write_format_fixtures(Path(sys.argv[1]) / "formats").items():
        print(f"{name}: {path}")
    for name, path in write_field_splits(Path(sys.argv[1]) / "splits").items():
        print(f"{name}: {path}")
