"""Scene registry, file reading and loading, with every kind of bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from make_fixtures import CLASS_NAMES, TOML, make_arrays

import datasets
from datasets import (
    DatasetNotFoundError,
    SceneFileError,
    SceneSpecError,
    UnknownSceneError,
    load_scene,
)
from datasets.matio import git_blob_id, read_mat, sha256_file

ROOT = Path(__file__).resolve().parent.parent


def write_scene(folder: Path, cube=None, gt=None, toml_extra: str = "", **replace) -> Path:
    """A variant of the tiny scene in ``folder``; returns its TOML path."""
    folder.mkdir(parents=True, exist_ok=True)
    c, g = make_arrays()
    scipy.io.savemat(folder / "tiny_cube.mat", {"cube": c if cube is None else cube})
    scipy.io.savemat(folder / "tiny_gt.mat", {"gt": g if gt is None else gt})
    text = TOML.format(base="http://127.0.0.1:1/")
    for old, new in replace.items():
        text = text.replace(old, new)
    path = folder / "tiny.toml"
    path.write_text(toml_extra + text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- registry


#: The built-in scenes: (rows, cols, bands), the class counts of their label maps,
#: and the sensor units their surrogates are written in.
BUILTIN_SCENES = {
    "indian_pines": (
        (145, 145, 200),
        [46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93],
        "uint16",
    ),
    "salinas": (
        (512, 217, 204),
        [2009, 3726, 1976, 1394, 2678, 3959, 3579, 11271, 6203, 3278, 1068, 1927, 916, 1070]
        + [7268, 1807],
        "int16",
    ),
    "pavia_university": (
        (610, 340, 103),
        [6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947],
        "uint16",
    ),
    "pavia_centre": (
        (1096, 715, 102),
        [65971, 7598, 3090, 2685, 6584, 9248, 7287, 42826, 2863],
        "uint16",
    ),
    "ksc": (
        (512, 614, 176),
        [761, 243, 256, 252, 161, 229, 105, 431, 520, 404, 419, 503, 927],
        "uint16",
    ),
    "botswana": (
        (1476, 256, 145),
        [270, 101, 251, 215, 269, 269, 259, 203, 314, 248, 305, 181, 268, 95],
        "uint16",
    ),
}


def test_builtin_scenes_hold_the_published_facts():
    assert datasets.list_scenes() == sorted(BUILTIN_SCENES)
    for name, (shape, counts, dtype) in BUILTIN_SCENES.items():
        info = datasets.get_scene_info(name)
        assert (*info.shape, info.n_bands) == shape, name
        assert list(info.class_counts) == counts and info.n_classes == len(counts), name
        assert info.surrogate.dtype == dtype, name
        # one checksum for the ground truth: enforced (sha256) or a public copy's (known_sha256)
        assert bool(info.gt.sha256) != bool(info.gt.known_sha256), name
        assert info.rgb_bands is not None and max(info.rgb_bands) < info.n_bands, name
    ip = datasets.get_scene_info("indian_pines")
    assert ip.n_classes == 16 and ip.shape == (145, 145) and ip.n_bands == 200
    assert sum(ip.class_counts) == 10249 and ip.class_names[8] == "Oats"
    sa = datasets.get_scene_info("salinas")
    assert sa.shape == (512, 217) and sa.n_bands == 204 and sum(sa.class_counts) == 54129
    assert ip.cube.key == "indian_pines_corrected" and sa.gt.key == "salinas_gt"
    pu = datasets.get_scene_info("pavia_university")
    assert pu.sensor == "ROSIS" and pu.cube.key == "paviaU" and pu.gt.key == "paviaU_gt"
    assert pu.class_names[4] == "Painted metal sheets" and sum(pu.class_counts) == 42776
    pc = datasets.get_scene_info("pavia_centre")
    assert (pc.cube.file, pc.cube.key, pc.gt.key) == ("Pavia.mat", "pavia", "pavia_gt")
    assert pc.class_names[0] == "Water" and sum(pc.class_counts) == 148152
    ksc = datasets.get_scene_info("ksc")
    assert ksc.sensor == "AVIRIS" and (ksc.cube.key, ksc.gt.key) == ("KSC", "KSC_gt")
    assert ksc.class_names[2] == "CP hammock" and sum(ksc.class_counts) == 5211
    bw = datasets.get_scene_info("botswana")
    assert (bw.cube.key, bw.gt.key) == ("Botswana", "Botswana_gt")
    assert bw.class_names[6] == "Firescar2" and sum(bw.class_counts) == 3248


def test_unknown_scene_suggests_close_names():
    with pytest.raises(UnknownSceneError) as err:
        datasets.get_scene_info("indian_pine")
    msg = str(err.value)
    assert "'indian_pines'" in msg
    assert f"Available: {', '.join(sorted(BUILTIN_SCENES))}." in msg


def test_scene_file_registers_a_new_scene(tiny_files):
    info = datasets.register_scene_file(tiny_files["toml"])
    assert info.name == "tiny" and "tiny" in datasets.list_scenes()
    assert info.class_names == CLASS_NAMES and info.rgb_bands == (8, 4, 1)
    assert datasets.register_scene_file(tiny_files["toml"]) == info  # idempotent


@pytest.mark.parametrize(
    ("replace", "extra", "needle"),
    [
        ({'name = "tiny"': 'name = "my scene"'}, "", "'name' must be an identifier"),
        (
            {'class_names = ["Meadow", "Forest", "Water"]': "class_names = []"},
            "",
            "'class_names' must be a non-empty",
        ),
        ({'key = "cube"': 'kee = "cube"'}, "", "did you mean 'key'"),
        ({}, "colour = 3\n", "unknown key(s) in the top level: 'colour'"),
        ({"rgb_bands = [8, 4, 1]": "rgb_bands = [8, 4, 40]"}, "", "'rgb_bands' [8, 4, 40]"),
        (
            {"class_counts = [70, 70, 112]": "class_counts = [70, 70]"},
            "",
            "'class_counts' must have 3 entries",
        ),
        ({"shape = [24, 20]": 'shape = "24x20"'}, "", "'shape' must be a list of integers"),
    ],
)
def test_invalid_scene_files_name_the_problem(tmp_path, replace, extra, needle):
    path = write_scene(tmp_path, toml_extra=extra, **replace)
    with pytest.raises(SceneSpecError) as err:
        datasets.register_scene_file(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_scene_file_that_is_not_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = [unclosed", encoding="utf-8")
    with pytest.raises(SceneSpecError, match="not valid TOML"):
        datasets.register_scene_file(path)
    with pytest.raises(SceneSpecError, match="does not exist"):
        datasets.register_scene_file(tmp_path / "missing.toml")


def test_two_files_cannot_claim_one_scene_name(tiny_files, tmp_path):
    datasets.register_scene_file(tiny_files["toml"])
    other = write_scene(tmp_path)
    with pytest.raises(SceneSpecError, match="already defined"):
        datasets.register_scene_file(other)


# ---------------------------------------------------------------- MAT files


def test_v73_and_v5_files_read_the_same(tiny_files):
    v5 = read_mat(tiny_files["cube"], "cube")
    v73 = read_mat(tiny_files["cube_v73"], "cube")
    assert v5.shape == (24, 20, 12)
    np.testing.assert_array_equal(v5, v73)


def test_a_real_scene_is_its_arrays_not_its_files(tiny_files, tmp_path):
    """The same cube in a MAT v5 file and in a v7.3 (HDF5) file: two containers with two
    checksums, one scene (fingerprint, hence spec identity); a changed value is another
    scene. (The PyPI .npy against a .mat: tests/test_pypi_download.py.)"""
    cube, _gt = make_arrays()
    folders = {}
    for form, source in (("v5", tiny_files["cube"]), ("v73", tiny_files["cube_v73"])):
        folders[form] = tmp_path / form
        folders[form].mkdir()
        shutil.copy(tiny_files["gt"], folders[form] / "tiny_gt.mat")
        shutil.copy(source, folders[form] / "tiny_cube.mat")
    datasets.register_scene_file(tiny_files["toml"])
    v5, v73 = (load_scene("tiny", source="real", data_dir=folders[f]) for f in ("v5", "v73"))
    assert v5.files[0].sha256 != v73.files[0].sha256
    assert v5.fingerprint == v73.fingerprint
    assert v5.content == {
        "cube": datasets.array_digest(v5.cube),
        "gt": datasets.array_digest(v5.gt),
    }
    changed = cube.copy()
    changed[0, 0, 0] += 0.5
    scipy.io.savemat(folders["v5"] / "tiny_cube.mat", {"cube": changed})
    assert load_scene("tiny", source="real", data_dir=folders["v5"]).fingerprint != v5.fingerprint


def test_surrogate_identity_is_unchanged(ip_surrogate):
    """A literal: surrogates keep the fingerprint they had before real scenes were
    identified by content (their results keep their identity); bump the generator's
    version, not this, when the surrogate changes."""
    assert ip_surrogate.content is None
    assert ip_surrogate.fingerprint == (
        "68d76636116eab2d44ee4a9e5783cfd0109e481da2b49409ac9477fd26ef0a8a"
    )


def test_checksums_match_git_and_sha256(tiny_files, tmp_path):
    p = tmp_path / "hello.txt"
    p.write_bytes(b"hello\n")
    assert git_blob_id(p) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object
    assert sha256_file(p) == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"


def test_wrong_key_lists_the_keys_present(tiny_files):
    with pytest.raises(SceneFileError) as err:
        read_mat(tiny_files["cube"], "indian_pines_corrected")
    assert "'cube'" in str(err.value) and "indian_pines_corrected" in str(err.value)
    with pytest.raises(SceneFileError, match="Variables present: 'cube'"):
        read_mat(tiny_files["cube_v73"], "data")


@pytest.mark.parametrize("damage", ["truncate", "html", "empty"])
def test_damaged_files_get_a_clear_error(tiny_files, tmp_path, damage):
    src = tiny_files["cube"].read_bytes()
    p = tmp_path / "damaged.mat"
    p.write_bytes(
        {"truncate": src[: len(src) // 2], "html": b"<html>404 Not Found</html>", "empty": b""}[
            damage
        ]
    )
    with pytest.raises(SceneFileError) as err:
        read_mat(p, "cube")
    assert str(p) in str(err.value) and "python -m datasets download" in str(err.value)


# ---------------------------------------------------------------- loading


def test_real_scene_from_scene_file(tiny_files):
    scene = load_scene(str(tiny_files["toml"]), source="real")
    assert (
        scene.source == "real"
        and scene.cube.shape == (24, 20, 12)
        and scene.cube.dtype == np.float32
    )
    assert scene.class_counts().tolist() == [70, 70, 112]
    assert scene.checksums["cube"] == sha256_file(tiny_files["cube"])
    assert not scene.cube.flags.writeable
    assert scene.rgb().shape == (24, 20, 3)


def test_auto_prefers_real_files(tiny_files):
    datasets.register_scene_file(tiny_files["toml"])
    assert load_scene("tiny", source="auto").source == "real"


def test_data_dir_is_searched_first(tiny_files, tmp_path):
    datasets.register_scene_file(tiny_files["toml"])
    other = tmp_path / "elsewhere"
    other.mkdir()
    cube, gt = make_arrays()
    scipy.io.savemat(other / "tiny_cube.mat", {"cube": cube * 2})
    shutil.copy(tiny_files["gt"], other / "tiny_gt.mat")
    scene = load_scene("tiny", source="real", data_dir=other)
    assert scene.files[0].path == str((other / "tiny_cube.mat").resolve())
    np.testing.assert_allclose(scene.cube, (cube * 2).astype(np.float32))


def test_missing_file_lists_folders_and_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as err:
        load_scene("salinas", source="real", data_dir=tmp_path / "given")
    msg = str(err.value)
    assert "Salinas_corrected.mat" in msg or "Salinas_gt.mat" in msg
    assert str(tmp_path / "given") in msg and str(tmp_path / "env") in msg
    assert "python -m datasets download salinas --data-dir DIR" in msg


def test_bad_source_is_refused():
    with pytest.raises(ValueError, match="source='fake' is not one of real, surrogate, auto"):
        load_scene("indian_pines", source="fake")


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda c, g: (c[:10], g), "Size mismatch"),
        (
            lambda c, g: (np.where(np.arange(c.size).reshape(c.shape) == 5, np.nan, c), g),
            "non-finite values",
        ),
        (lambda c, g: (c, np.where(g == 3, 7, g)), "labels [7] outside 0..3"),
        (lambda c, g: (c, np.where(g == 3, 2, g)), "Class-name count mismatch"),
        (lambda c, g: (c[:, :, :5], g), "has 5 bands; scene 'tiny_bad' expects 12"),
        (lambda c, g: (c[:, :, 0], g), "expected rows x cols x bands"),
        (lambda c, g: (c, g + 0.5), "non-integer"),
    ],
    ids=["size", "nan", "labels", "class-count", "bands", "2d-cube", "float-gt"],
)
def test_invalid_scene_content(tmp_path, make, needle):
    cube, gt = make(*make_arrays())
    path = write_scene(tmp_path, cube=cube, gt=gt, **{'name = "tiny"': 'name = "tiny_bad"'})
    with pytest.raises(SceneFileError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_scene(str(path), source="real")
    assert needle in str(err.value)


def test_crop_is_recorded_in_the_fingerprint(tiny_files):
    scene = load_scene(str(tiny_files["toml"]), source="real")
    crop = scene.crop_to(2, 12, 0, 10)
    assert crop.gt.shape == (10, 10) and crop.crop == (2, 12, 0, 10)
    assert crop.fingerprint != scene.fingerprint
    assert crop.crop_to(1, 5, 1, 5).crop == (3, 7, 1, 5)
    with pytest.raises(ValueError, match="outside the scene"):
        scene.crop_to(0, 30, 0, 5)


# ---------------------------------------------------------------- surrogates


def test_auto_falls_back_to_a_surrogate_with_a_warning(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.warns(datasets.SurrogateWarning, match="SURROGATE"):
        scene = load_scene("indian_pines", source="auto", data_dir=shared_data)
    assert scene.source == "surrogate"


@pytest.mark.parametrize("name", sorted(BUILTIN_SCENES))
def test_surrogates_have_the_real_geometry(shared_data, name):
    shape, counts, dtype = BUILTIN_SCENES[name]
    scene = load_scene(name, source="surrogate", data_dir=shared_data)
    info = datasets.get_scene_info(name)
    assert scene.cube.shape == shape and scene.cube.dtype == np.dtype(dtype)
    assert scene.n_bands == info.n_bands and scene.class_counts().tolist() == counts
    assert np.isfinite(scene.cube).all()
    assert scene.checksums["gt"] == (info.gt.sha256 or info.gt.known_sha256)
    assert scene.surrogate["seed"] == 0 and scene.surrogate["version"] >= 1
    assert scene.surrogate["units"]["dtype"] == dtype


def test_surrogate_is_deterministic_and_seeded(shared_data, ip_surrogate):
    from datasets.surrogate import SurrogateParams

    again = load_scene(
        "indian_pines",
        source="surrogate",
        data_dir=shared_data,
        surrogate_params=SurrogateParams(noise_std=0.15000000001),
    )
    assert (
        again.fingerprint != ip_surrogate.fingerprint
    )  # any generator change changes the identity
    other = load_scene("indian_pines", source="surrogate", data_dir=shared_data, surrogate_seed=1)
    assert not np.allclose(other.cube, ip_surrogate.cube)
    from datasets.scene import _surrogate_arrays

    _surrogate_arrays.cache_clear()
    rebuilt = load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    np.testing.assert_array_equal(rebuilt.cube, ip_surrogate.cube)
    assert rebuilt.fingerprint == ip_surrogate.fingerprint


def test_surrogate_values_do_not_depend_on_the_row_blocks(shared_data, monkeypatch):
    """The generator and the conversion to sensor units work a block of rows at a time
    (bounded memory on Pavia Centre's 784k pixels); the whole scene as one block, as
    the cube was made before, and blocks of 6 rows (the last one shorter) give the
    same values, bit for bit."""
    from datasets import surrogate

    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt")  # 145 x 145
    spectra = surrogate.smooth_class_spectra(17, 40, seed=0)
    mean, std = np.linspace(1000, 5000, 40), np.linspace(50, 900, 40)

    def build():
        cube = surrogate.make_surrogate_cube(gt, spectra, seed=3)
        return (
            cube,
            surrogate.to_sensor_units(cube, "int16", (0, 9200)),
            surrogate.to_sensor_units(cube, "uint16", (955, 9604), mean, std),
            surrogate.to_sensor_units(cube, "float32", (0.0, 0.5)),
        )

    monkeypatch.setattr(surrogate, "_BLOCK_PIXELS", 10**9)
    assert surrogate._row_blocks(145, 145) == [(0, 145)]
    whole = build()
    monkeypatch.setattr(surrogate, "_BLOCK_PIXELS", 1000)
    blocks = surrogate._row_blocks(145, 145)
    assert len(blocks) == 25 and blocks[-1] == (144, 145)
    for one, many in zip(whole, build(), strict=True):
        assert one.dtype == many.dtype
        np.testing.assert_array_equal(one, many)


def test_surrogate_uses_the_real_signatures(ip_surrogate, shared_data):
    from datasets.surrogate import select_bands, signatures_from_image

    image = read_mat(shared_data / "Indian_pines_class_spectra_224.mat", "Ori_H")
    sig = select_bands(
        signatures_from_image(image, ip_surrogate.gt), ((104, 108), (150, 163), (220, 224))
    )
    assert sig.shape == (17, 200)
    # the synthetic scene (before it is written in sensor units): each class's mean
    # spectrum is closest (by correlation) to its own signature
    from datasets.surrogate import SurrogateParams, make_surrogate_cube

    y = ip_surrogate.gt.ravel()
    synthetic = make_surrogate_cube(ip_surrogate.gt, sig, seed=0, params=SurrogateParams())
    flat = synthetic.reshape(-1, 200).astype(np.float64)
    means = np.stack([flat[y == k].mean(axis=0) for k in range(1, 17)])
    corr = np.corrcoef(means - means.mean(axis=0), sig[1:] - sig[1:].mean(axis=0))[:16, 16:]
    assert (corr.argmax(axis=1) == np.arange(16)).sum() >= 14
    # and the scene is that synthetic cube written in digital numbers, band by band
    dn = ip_surrogate.cube.reshape(-1, 200).astype(np.float64)
    per_band = [np.corrcoef(flat[:, b], dn[:, b])[0, 1] for b in range(200)]
    assert min(per_band) > 0.99


def test_package_signatures_are_the_image_spectra_without_water_bands(shared_data, tmp_path):
    """The (17, 200) signatures shipped in datasets/data are exactly what the surrogate
    took from the 0.76 MB image before, and scripts/make_package_data.py re-derives the
    same bytes (listed in SHA256SUMS, declared in the scene TOMLs)."""
    import hashlib
    import shutil
    import subprocess
    import sys

    from datasets.scene import PACKAGE_DATA
    from datasets.surrogate import select_bands, signatures_from_image

    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt")
    image = read_mat(shared_data / "Indian_pines_class_spectra_224.mat", "Ori_H")
    expected = select_bands(
        signatures_from_image(np.asarray(image, dtype=np.float64), gt),
        ((104, 108), (150, 163), (220, 224)),
    )
    shipped = np.load(PACKAGE_DATA / "Indian_pines_class_signatures_200.npy")
    np.testing.assert_array_equal(shipped, expected)

    sums = dict(
        reversed(line.split("  "))
        for line in (PACKAGE_DATA / "SHA256SUMS").read_text().splitlines()
    )
    assert sorted(sums) == sorted(p.name for p in PACKAGE_DATA.iterdir() if p.name != "SHA256SUMS")
    for name, digest in sums.items():
        assert hashlib.sha256((PACKAGE_DATA / name).read_bytes()).hexdigest() == digest
    for scene in BUILTIN_SCENES:  # every built-in scene's ground truth is shipped
        info = datasets.get_scene_info(scene)
        assert sums[info.gt.file] == (info.gt.sha256 or info.gt.known_sha256)
    ip = datasets.get_scene_info("indian_pines").surrogate
    assert sums[ip.signatures_file] == ip.signatures_sha256

    # the generator script rewrites the same bytes (run on a copy of the project's layout)
    proj = tmp_path / "proj"
    for rel in ("scripts/make_package_data.py", "datasets"):
        src = Path(datasets.__file__).resolve().parent.parent / rel
        if src.is_dir():
            shutil.copytree(src, proj / rel, ignore=shutil.ignore_patterns("__pycache__", "data"))
        else:
            (proj / rel).parent.mkdir(parents=True, exist_ok=True)
            (proj / rel).write_bytes(src.read_bytes())
    out = subprocess.run(
        [sys.executable, str(proj / "scripts/make_package_data.py"), "--from", str(shared_data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (proj / "datasets/data/SHA256SUMS").read_text() == (
        PACKAGE_DATA / "SHA256SUMS"
    ).read_text()

    # the copies are shipped: one that differs from its TOML's checksum stops the script
    src = tmp_path / "src"
    src.mkdir()
    for f in shared_data.iterdir():
        (src / f.name).symlink_to(f)
    (src / "KSC_gt.mat").unlink()
    (src / "KSC_gt.mat").write_bytes((shared_data / "KSC_gt.mat").read_bytes() + b"\0")
    out = subprocess.run(
        [sys.executable, str(proj / "scripts/make_package_data.py"), "--from", str(src)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert str(src / "KSC_gt.mat") in out.stderr and "ksc.toml's gt.known_sha256" in out.stderr
    assert "not copied" in out.stderr and "Fix:" in out.stderr


def test_package_copy_is_searched_last(tmp_path, monkeypatch, shared_data):
    """With no other copy anywhere, the package's ground truth is used and said to be;
    a copy in a data folder comes first."""
    from datasets.scene import PACKAGE_DATA, find_file, search_dirs

    monkeypatch.delenv("HSI_DATA_DIR", raising=False)
    monkeypatch.delenv("HSI_DATA_PATH", raising=False)  # the default folders, as a user has
    assert search_dirs()[-1] == PACKAGE_DATA
    info = datasets.get_scene_info("salinas")
    assert find_file(info, info.gt, data_dir=shared_data).parent == shared_data.resolve()
    monkeypatch.setattr("datasets.scene._PROJECT_ROOT", tmp_path / "nowhere" / "proj")
    monkeypatch.chdir(tmp_path)
    assert find_file(info, info.gt).parent == PACKAGE_DATA
    scene = load_scene("salinas", source="surrogate")
    assert [(f.role, f.copy) for f in scene.files] == [("gt", "package")]
    assert scene.describe()["files"][0]["copy"] == "package"


def test_surrogate_is_calibrated(ip_surrogate):
    """A Random Forest on centre pixels lands in the 60-90 % band (paper protocol);
    neighbourhoods carry information (the 5 x 5 mean spectrum scores clearly higher)."""
    from scipy.ndimage import uniform_filter
    from sklearn.ensemble import RandomForestClassifier

    y = ip_surrogate.gt.ravel()
    train, _val, test = datasets.split(ip_surrogate.gt, "paper", seed=0)

    def rf_oa(x):
        rf = RandomForestClassifier(n_estimators=40, n_jobs=2, random_state=0).fit(
            x[train], y[train]
        )
        return float((rf.predict(x[test]) == y[test]).mean())

    oa_centre = rf_oa(ip_surrogate.cube.reshape(-1, 200))
    oa_smooth = rf_oa(uniform_filter(ip_surrogate.cube, size=(5, 5, 1)).reshape(-1, 200))
    assert 0.60 < oa_centre < 0.90
    assert oa_smooth > oa_centre + 0.1


# ---------------------------------------------------------------- CLI


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "datasets", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "shape", "counts"),
    [
        (
            "indian_pines",
            [145, 145, 200],
            [46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93],
        ),
        (
            "salinas",
            [512, 217, 204],
            [
                2009,
                3726,
                1976,
                1394,
                2678,
                3959,
                3579,
                11271,
                6203,
                3278,
                1068,
                1927,
                916,
                1070,
                7268,
                1807,
            ],
        ),
    ],
)
def test_cli_info_json_reports_real_shapes(shared_data, name, shape, counts):
    out = run_cli("info", name, "--source", "surrogate", "--json")
    assert out.returncode == 0, out.stderr
    desc = json.loads(out.stdout)
    assert desc["shape"] == shape and desc["source"] == "surrogate"
    assert [c["count"] for c in desc["classes"]] == counts
    assert {f["role"] for f in desc["files"]} >= {"gt"} and all(
        len(f["sha256"]) == 64 for f in desc["files"]
    )


def test_cli_info_table_with_scene_file(tiny_files):
    out = run_cli("info", "--scene-file", str(tiny_files["toml"]))
    assert out.returncode == 0, out.stderr
    assert "Water" in out.stdout and "112" in out.stdout and "source     real" in out.stdout


def test_cli_auto_warns_on_stderr(shared_data, tmp_path):
    out = run_cli("info", "indian_pines", cwd=ROOT)
    assert out.returncode == 0
    assert "warning:" in out.stderr and "SURROGATE" in out.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("info", "indian_pine"), "Did you mean 'indian_pines'"),
        (
            ("info", "indian_pines", "--source", "real", "--data-dir", "/nonexistent"),
            "was not found",
        ),
        (("info", "--scene-file", "/nonexistent/scene.toml"), "does not exist"),
        (
            ("download", "salinas", "--scene-file", "__TINY__", "--to", "/tmp/x"),
            "does not match the scene file",
        ),
    ],
)
def test_cli_errors_are_one_message_and_exit_2(tiny_files, args, needle):
    args = tuple(str(tiny_files["toml"]) if a == "__TINY__" else a for a in args)
    out = run_cli(*args)
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr


def test_cli_list():
    out = run_cli("list")
    assert out.returncode == 0
    assert [line.split()[0] for line in out.stdout.splitlines()] == sorted(BUILTIN_SCENES)
    assert "Kennedy Space Center (13 classes)" in out.stdout
