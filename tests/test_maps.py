"""Classification maps as files: GeoTIFF, PNG, MATLAB and NumPy, and every refusal."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from scipy.io import loadmat

from harness import maps
from harness.maps import MapExportError, class_colour, geotiff_bytes, png_bytes, write_maps

NAMES = ["water", "forest", "urban", "soil"]
TRANSFORM = [500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0]


@pytest.fixture(scope="module")
def georef() -> dict:
    return {"crs": CRS.from_epsg(32616).to_wkt(), "transform": TRANSFORM}


def _maps(rows: int = 20, cols: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    class_map = rng.integers(0, len(NAMES) + 1, size=(rows, cols)).astype(np.int64)
    class_map[0, 0], class_map[0, 1] = 0, 3
    entropy = rng.uniform(0.0, math.log(len(NAMES)), size=(rows, cols))
    return class_map, entropy


def _rgb(label: int) -> tuple[int, int, int]:
    h = class_colour(label)
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def test_geotiff_class_map_colours_names_and_georef(tmp_path, georef):
    class_map, entropy = _maps()
    files = write_maps(tmp_path / "pred.tif", class_map, entropy, NAMES, georef)
    assert files == [tmp_path / "pred.tif", tmp_path / "pred.entropy.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.entropy.tif", "pred.tif"]
    with rasterio.open(files[0]) as ds:
        assert ds.count == 1 and ds.dtypes == ("uint8",) and ds.nodata == 0
        assert np.array_equal(ds.read(1), class_map)
        colours = ds.colormap(1)
        assert all(colours[k] == (*_rgb(k), 255) for k in range(1, len(NAMES) + 1))
        assert colours[0][:3] == (0, 0, 0)  # black; GDAL reads the nodata entry transparent
        assert ds.descriptions == ("class",)
        assert ds.tags(1)["CLASS_1"] == "water" and ds.tags(1)["CLASS_4"] == "soil"
        assert ds.crs == CRS.from_epsg(32616)
        assert list(ds.transform.to_gdal()) == TRANSFORM
        assert ds.compression is not None and ds.compression.value == "DEFLATE"
    with rasterio.open(files[1]) as ds:
        assert ds.dtypes == ("float32",)
        assert np.array_equal(ds.read(1), entropy.astype(np.float32))
        assert ds.crs == CRS.from_epsg(32616)
        assert list(ds.transform.to_gdal()) == TRANSFORM


def test_geotiff_without_georef_has_no_crs_and_warns_nothing(tmp_path):
    class_map, entropy = _maps()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = write_maps(tmp_path / "pred.tiff", class_map, entropy, NAMES)
    assert [p.name for p in files] == ["pred.tiff", "pred.entropy.tiff"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # reading one warns
        for path in files:
            with rasterio.open(path) as ds:
                assert ds.crs is None and ds.transform.is_identity


def test_labels_over_255_are_uint16(tmp_path):
    class_map, entropy = _maps()
    class_map[3, 4] = 300
    (tif, _) = write_maps(tmp_path / "big.tif", class_map, entropy, NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tif) as ds:
            assert ds.dtypes == ("uint16",) and np.array_equal(ds.read(1), class_map)
            assert ds.colormap(1)[300] == (*_rgb(300), 255)
    (npy, _) = write_maps(tmp_path / "big.npy", class_map, entropy, NAMES)
    assert np.load(npy).dtype == np.uint16


def test_png_has_class_colours_a_legend_and_an_entropy_picture(tmp_path):
    class_map, entropy = _maps(20, 20)
    files = write_maps(tmp_path / "pred.png", class_map, entropy, NAMES)
    assert [p.name for p in files] == ["pred.png", "pred.entropy.png"]
    with Image.open(files[0]) as im:
        rgb = im.convert("RGB")
    scale = 15  # 20 px upscaled to 300
    assert rgb.width > 20 * scale and rgb.height >= 20 * scale  # the legend beside the map
    for r, c in [(0, 0), (0, 1), (7, 5), (19, 19)]:
        y, x = r * scale + scale // 2, c * scale + scale // 2
        assert rgb.getpixel((x, y)) == _rgb(int(class_map[r, c]))
    legend = np.asarray(rgb)[:, 20 * scale :]
    for label in range(1, len(NAMES) + 1):  # every chip drawn in the legend
        assert np.all(legend == _rgb(label), axis=-1).any()
    with Image.open(files[1]) as im:
        assert im.width >= 20 * scale and im.height > 20 * scale  # the captioned scale


def test_mat_holds_both_maps_and_the_class_names(tmp_path):
    class_map, entropy = _maps()
    assert write_maps(tmp_path / "pred.mat", class_map, entropy, NAMES) == [tmp_path / "pred.mat"]
    mat = loadmat(tmp_path / "pred.mat")
    assert mat["class_map"].dtype == np.uint8 and np.array_equal(mat["class_map"], class_map)
    assert mat["entropy"].dtype == np.float32
    assert np.array_equal(mat["entropy"], entropy.astype(np.float32))
    assert [str(n[0]) for n in mat["class_names"].ravel()] == NAMES


def test_npy_writes_two_files(tmp_path):
    class_map, entropy = _maps()
    files = write_maps(str(tmp_path / "pred.npy"), class_map, entropy, NAMES)
    assert [p.name for p in files] == ["pred.npy", "pred.entropy.npy"]
    labels, ent = np.load(files[0]), np.load(files[1])
    assert labels.dtype == np.uint8 and np.array_equal(labels, class_map)
    assert ent.dtype == np.float32 and np.array_equal(ent, entropy.astype(np.float32))
    plain = tmp_path / "plain"
    plain.write_bytes(b"")  # the files get the permissions of any new file
    assert files[0].stat().st_mode == files[1].stat().st_mode == plain.stat().st_mode


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("pred.jpg", None, ["'.jpg'", ".tif", ".npy", "Fix:"]),
        ("pred.tif", "shape", ["(20, 24)", "(20, 23)", "Fix:"]),
        ("pred.png", "3d", ["(2, 20, 24)", "Fix:"]),
        ("missing/pred.npy", None, ["missing'", "does not exist", "Fix:"]),
        ("pred.mat", "negative", ["-1", "Fix:"]),
        ("pred.npy", "text", ["float32", "Fix:"]),
    ],
)
def test_refusals_name_the_value_and_leave_no_file(tmp_path, name, change, expected):
    class_map, entropy = _maps()
    if change == "shape":
        entropy = entropy[:, :-1]
    elif change == "3d":
        class_map = np.stack([class_map, class_map])
    elif change == "negative":
        class_map[2, 2] = -1
    elif change == "text":
        entropy = np.full(class_map.shape, "high", dtype=object)
    with pytest.raises(MapExportError) as err:
        write_maps(tmp_path / name, class_map, entropy, NAMES)
    assert isinstance(err.value, ValueError)
    for part in expected:
        assert part in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".tif", ".png", ".npy"])
def test_a_failure_while_moving_in_place_leaves_no_file(tmp_path, monkeypatch, suffix):
    calls = []
    real_replace = maps.os.replace

    def replace_once_then_fail(src, dst):
        calls.append(dst)
        if len(calls) > 1:  # the class map is already in place
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(maps.os, "replace", replace_once_then_fail)
    class_map, entropy = _maps()
    with pytest.raises(OSError, match="disk full"):
        write_maps(tmp_path / f"pred{suffix}", class_map, entropy, NAMES)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_a_failure_while_rendering_leaves_no_file(tmp_path, georef):
    class_map, entropy = _maps()
    bad = dict(georef, crs="not a coordinate system")
    with pytest.raises(MapExportError, match="crs"):
        write_maps(tmp_path / "pred.tif", class_map, entropy, NAMES, bad)
    assert list(tmp_path.iterdir()) == []


def test_in_memory_files_open(georef):
    class_map, _ = _maps()
    with MemoryFile(geotiff_bytes(class_map, NAMES, georef)) as mem, mem.open() as ds:
        assert np.array_equal(ds.read(1), class_map) and ds.crs == CRS.from_epsg(32616)
        assert ds.colormap(1)[2] == (*_rgb(2), 255)
    with Image.open(io.BytesIO(png_bytes(class_map, NAMES))) as im:
        assert im.format == "PNG" and im.width > class_map.shape[1]


def test_dashboard_uses_the_same_colours():
    from dashboard import charts

    assert charts.class_colour is class_colour and charts.BACKGROUND == "#000000"
    assert class_colour(0) == "#000000" and class_colour(1) == "#F3C300"
    assert class_colour(20) == "#AA0DFE" and class_colour(45) == "#FA0087"
    assert class_colour(46) == class_colour(1) and len(maps.PALETTE) == 45
