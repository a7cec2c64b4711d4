"""Scene files in every supported format: ENVI, GeoTIFF, NumPy; and every bad variant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from make_fixtures import GEO_ORIGIN, WAVELENGTHS, make_arrays, write_format_fixtures

from datasets import SceneFileError, SceneSpecError, load_scene
from datasets.formats import display_bands, file_format
from datasets.registry import load_scene_file

ROOT = Path(__file__).resolve().parent.parent
GOOD = ("tiny_envi_bsq", "tiny_envi_bil", "tiny_envi_bip", "tiny_geotiff", "tiny_npy", "tiny_npz")


@pytest.fixture(scope="module")
def fmt(tmp_path_factory) -> dict[str, Path]:
    return write_format_fixtures(tmp_path_factory.mktemp("formats"))


@pytest.fixture(scope="module")
def mat_scene(fmt):
    """The MATLAB version of the fixture scene; its registration is undone after the
    module (conftest's per-test isolation snapshots the registry with it inside)."""
    from datasets import registry

    before = set(registry.list_scenes())
    yield load_scene(str(fmt["cube"].with_name("tiny_mat.toml")), source="real")
    for name in set(registry.list_scenes()) - before:
        registry._REGISTRY.pop(name, None)


@pytest.fixture(scope="module", autouse=True)
def _mat_toml(fmt):
    from make_fixtures import format_toml

    fmt["cube"].with_name("tiny_mat.toml").write_text(format_toml("tiny_mat", "tiny_cube.mat"))


@pytest.mark.parametrize("name", GOOD)
def test_each_format_loads_the_same_cube_as_the_mat_file(fmt, mat_scene, name):
    scene = load_scene(str(fmt[name]), source="real")
    cube, gt = make_arrays()
    assert scene.source == "real" and scene.cube.dtype == mat_scene.cube.dtype == np.float32
    assert np.array_equal(scene.cube, mat_scene.cube)  # bitwise: same float32 values
    assert np.array_equal(scene.cube, cube.astype(np.float32))
    assert np.array_equal(scene.gt, mat_scene.gt) and scene.gt.dtype == np.int64
    assert not scene.cube.flags.writeable and not scene.gt.flags.writeable
    assert scene.fingerprint != mat_scene.fingerprint  # other files, other checksums


def test_envi_wavelengths_band_names_and_header_record(fmt):
    bsq = load_scene(str(fmt["tiny_envi_bsq"]), source="real")
    assert bsq.wavelengths_nm == pytest.approx(WAVELENGTHS)
    assert bsq.band_names == tuple(f"band {i + 1}" for i in range(12))
    roles = sorted(f.role for f in bsq.files)
    assert roles == ["cube", "cube binary", "gt", "gt binary"]
    bil = load_scene(str(fmt["tiny_envi_bil"]), source="real")  # TOML names the binary
    assert sorted(f.role for f in bil.files) == ["cube", "cube header", "gt"]
    assert bil.cube.dtype.isnative  # big-endian file, native array
    bip = load_scene(str(fmt["tiny_envi_bip"]), source="real")  # wavelengths from the TOML
    assert bip.wavelengths_nm == pytest.approx(WAVELENGTHS) and bip.band_names is None


def test_display_bands_from_wavelengths(fmt):
    scene = load_scene(str(fmt["tiny_envi_bsq"]), source="real")
    # 420..970 nm in 50 nm steps: nearest 640 -> 620 (4), 550 -> 570 (3), 460 -> 470 (1)
    assert scene.info.rgb_bands is None
    assert scene.display_bands == display_bands(WAVELENGTHS) == (4, 3, 1)
    assert scene.rgb().shape == (24, 20, 3)
    npy = load_scene(str(fmt["tiny_npy"]), source="real")
    assert npy.wavelengths_nm is None and npy.display_bands is None
    assert display_bands((1500.0, 1600.0, 1700.0)) is None  # no visible band


def test_geotiff_keeps_crs_and_transform(fmt):
    scene = load_scene(str(fmt["tiny_geotiff"]), source="real")
    x0, y0, size = GEO_ORIGIN
    assert scene.georef is not None and "32633" in scene.georef["crs"]
    assert scene.georef["transform"] == [x0, size, 0.0, y0, 0.0, -size]
    assert scene.wavelengths_nm == pytest.approx(WAVELENGTHS)
    crop = scene.crop_to(2, 10, 3, 9)
    assert crop.georef["transform"] == [x0 + 3 * size, size, 0.0, y0 - 2 * size, 0.0, -size]


def test_npy_is_memory_mapped(fmt):
    from datasets.formats import read_array

    arr = read_array(fmt["tiny_npy"].with_name("cube.npy"))
    assert isinstance(arr.data, np.memmap) and not arr.data.flags.writeable
    envi = read_array(fmt["tiny_envi_bip"].with_name("cube_bip.hdr"))
    assert isinstance(envi.data, np.memmap) and not envi.data.flags.writeable


def _error(fmt, name: str) -> str:
    with pytest.raises(SceneFileError) as err:
        load_scene(str(fmt[name]), source="real")
    return str(err.value)


def test_truncated_npy(fmt):
    msg = _error(fmt, "bad_npy_truncated")
    assert "truncated.npy" in msg and "not a readable NumPy .npy array" in msg
    assert "Fix:" in msg


def test_truncated_envi_binary(fmt):
    msg = _error(fmt, "bad_envi_truncated")
    assert "short.img" in msg and "short.hdr" in msg and "Fix:" in msg
    assert "holds 45980 bytes" in msg and "= 46080 bytes" in msg and "truncated" in msg


def test_envi_header_that_does_not_match_its_binary(fmt):
    msg = _error(fmt, "bad_envi_header")
    assert "wronghdr.img" in msg and "13 bands" in msg and "49920 bytes" in msg
    assert "correct the header" in msg


def test_npz_without_the_key(fmt):
    msg = _error(fmt, "bad_npz_key")
    assert "nokey.npz" in msg and "no array 'cube'" in msg and "'data'" in msg


def test_npz_needs_a_key_in_the_scene_file(fmt, tmp_path):
    text = fmt["tiny_npz"].read_text().replace('key = "cube"\n', "")
    path = tmp_path / "nokey.toml"
    path.write_text(text)
    with pytest.raises(SceneSpecError, match=r"\[cube\] needs a non-empty string 'key'"):
        load_scene_file(path)


def test_wrong_dtype(fmt):
    msg = _error(fmt, "bad_dtype")
    assert "complex.npy" in msg and "dtype complex64" in msg and "expected real numbers" in msg


def test_band_count_mismatch(fmt):
    msg = _error(fmt, "bad_bands")
    assert "cube.npy" in msg and "has 12 bands" in msg and "expects 10" in msg


def test_non_finite_values(fmt):
    msg = _error(fmt, "bad_nan")
    assert "nan.npy" in msg and "1 non-finite" in msg and "row 3, col 4, band 5" in msg


def test_wrong_shape(fmt):
    msg = _error(fmt, "bad_shape")
    assert "flat.npy" in msg and "(24, 20)" in msg and "rows x cols x bands" in msg


def test_truncated_geotiff(fmt):
    msg = _error(fmt, "bad_tif_truncated")
    assert "truncated.tif" in msg and "not a readable GeoTIFF" in msg and "Fix:" in msg


def test_unsupported_extension(fmt):
    msg = _error(fmt, "bad_extension")
    assert "cube.xyz" in msg and ".npy" in msg and "ENVI" in msg
    assert file_format("x.TIFF") == "geotiff" and file_format("a.npz") == "npz"


def test_toml_wavelength_count_must_match_the_cube(fmt, tmp_path):
    text = fmt["tiny_npy"].read_text().replace("n_bands = 12", "wavelengths_nm = [500.0, 600.0]")
    path = fmt["tiny_npy"].with_name("wl.toml")
    path.write_text(text.replace('name = "tiny_npy"', 'name = "tiny_wl"'))
    with pytest.raises(SceneFileError, match="gives 2 wavelengths .* has 12 bands"):
        load_scene(str(path), source="real")


def test_import_datasets_does_not_import_spectral_or_rasterio():
    code = "import sys, datasets; print('spectral' in sys.modules, 'rasterio' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_field_scene_in_envi_matches_its_mat_version(tmp_path):
    from make_fixtures import write_field_envi, write_field_scene

    mat = load_scene(str(write_field_scene(tmp_path / "mat")["toml"]), source="real")
    envi = load_scene(str(write_field_envi(tmp_path / "envi")["toml"]), source="real")
    assert envi.cube.dtype == mat.cube.dtype == np.uint16 and envi.cube.dtype.isnative
    assert np.array_equal(envi.cube, mat.cube) and np.array_equal(envi.gt, mat.gt)


@pytest.mark.slow
def test_envi_user_scene_runs_through_ray(tmp_path):
    """A user scene with an ENVI cube and a .npy label map, through the quick suite
    (the real cube) on Ray, by the command line."""
    from make_fixtures import write_field_envi

    paths = write_field_envi(tmp_path / "mine")
    db = tmp_path / "r.db"
    cmd = [
        sys.executable,
        "-m",
        "harness.run",
        "--suite",
        "quick",
        "--scene-file",
        str(paths["toml"]),
        "--scenes",
        "field_envi",
        "--models",
        "random_forest_tiny",
        "--seeds",
        "1",
        "--db",
        str(db),
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    from harness.store import ResultStore

    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
    assert len(rows) == 1 and rows[0]["scene"] == "field_envi"
    assert rows[0]["status"] == "completed"
