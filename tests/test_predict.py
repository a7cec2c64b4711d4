"""``python -m harness.predict``: a trial's saved model applied to a cube.

The models are those of a real ``--suite smoke`` run through Ray (the session's
``dashboard_smoke_db``: six tiny models trained in Ray workers, their files
written by the single writer); this module never writes to it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import datasets
from harness import predict
from harness.maps import class_colour
from harness.saved_model import SavedModelError
from harness.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
#: A new cube's georeference: UTM 16N, 20 m pixels.
CRS_EPSG = 32616
TRANSFORM = [600000.0, 20.0, 0.0, 4500000.0, 0.0, -20.0]


def _trials(db) -> list[dict]:
    with ResultStore(db, readonly=True) as store:
        return store.trials(status="completed")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.predict", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def smoke(dashboard_smoke_db) -> Path:
    return Path(dashboard_smoke_db)


@pytest.fixture(scope="module")
def new_cube(tmp_path_factory, shared_data) -> Path:
    """A GeoTIFF cube the trials never saw: another surrogate draw of Indian Pines
    (seed 7), another window (rows 100-139, cols 60-109), its own georeference."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene(
            "indian_pines", source="surrogate", data_dir=str(shared_data), surrogate_seed=7
        ).crop_to(100, 140, 60, 110)
    cube = np.asarray(scene.cube)
    path = tmp_path_factory.mktemp("new_cube") / "field.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=cube.shape[1], height=cube.shape[0],
        count=cube.shape[2], dtype=cube.dtype, crs=CRS.from_epsg(CRS_EPSG),
        transform=Affine.from_gdal(*TRANSFORM),
    ) as dst:  # fmt: skip
        dst.write(np.moveaxis(cube, 2, 0))
    return path


def test_the_training_scene_gives_the_stored_class_map(smoke, tmp_path, capsys):
    """Every model of the smoke run: the map predicted from its saved files, in this
    process, equals the map the trial stored, pixel for pixel."""
    rows = _trials(smoke)
    assert len(rows) == 6
    with ResultStore(smoke, readonly=True) as store:
        for row in rows:
            out = tmp_path / f"trial{row['id']}.npy"
            rc = predict.main(
                ["--db", str(smoke), "--trial", str(row["id"]), "--scene", "indian_pines",
                 "--out", str(out)]
            )  # fmt: skip
            assert rc == 0, capsys.readouterr().err
            labels = np.load(out)
            entropy = np.load(tmp_path / f"trial{row['id']}.entropy.npy")
            assert np.array_equal(labels, store.artifact(row["id"], "class_map")), row["model"]
            stored = store.artifact(row["id"], "entropy_map")
            assert np.array_equal(entropy.astype(np.float16), stored), row["model"]
    err = capsys.readouterr().err
    assert ", crop (" in err and ") as the trial" in err  # the trial's own crop of the scene


def test_a_new_georeferenced_cube_gives_a_georeferenced_map(smoke, new_cube, tmp_path):
    import rasterio

    deep = next(r for r in _trials(smoke) if r["model"] == "claresnet_tiny")
    out = tmp_path / "map.tif"
    proc = _run("--db", str(smoke), "--trial", str(deep["id"]), "--cube", str(new_cube),
                "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2,000 pixels" in proc.stdout and "with the input's georeference" in proc.stdout
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == CRS_EPSG
        assert list(ds.transform.to_gdal()) == TRANSFORM
        assert (ds.height, ds.width, ds.count) == (40, 50, 1)
        labels = ds.read(1)
        colours = ds.colormap(1)
    assert labels.min() >= 1 and labels.max() <= 16
    for label in np.unique(labels):
        hexed = "#{:02X}{:02X}{:02X}".format(*colours[int(label)][:3])
        assert hexed == class_colour(int(label)).upper()
    with rasterio.open(tmp_path / "map.entropy.tif") as ds:
        assert ds.crs.to_epsg() == CRS_EPSG and ds.dtypes == ("float32",)
        assert float(ds.read(1).min()) >= 0.0 and float(ds.read(1).max()) <= np.log(16) + 1e-5


def test_the_python_api_matches_the_command(smoke, new_cube, tmp_path):
    from datasets.formats import read_array

    tree = next(r for r in _trials(smoke) if r["model"] == "random_forest_tiny")
    model = predict.load(tree["id"], smoke)
    assert model.n_bands == 200 and len(model.class_names) == 16
    cube = read_array(new_cube).data
    labels, entropy = model.predict(cube)
    assert labels.shape == entropy.shape == (40, 50)
    assert labels.dtype == np.int16 and entropy.dtype == np.float32
    out = tmp_path / "tree.npy"
    rc = predict.main(["--db", str(smoke), "--trial", str(tree["id"]), "--cube", str(new_cube),
                       "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert np.array_equal(np.load(out), labels)


def test_best_picks_the_best_validation_oa(smoke, tmp_path, capsys):
    rows = [r for r in _trials(smoke) if r["model"] == "xgboost_tiny"]
    out = tmp_path / "best.png"
    rc = predict.main(["--db", str(smoke), "--best", "xgboost_tiny", "--scene", "indian_pines",
                       "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"model: trial {rows[0]['id']} (xgboost_tiny" in err
    from PIL import Image

    with Image.open(out) as img:
        assert img.width > 32 and img.height > 32  # upscaled, with a legend
    assert (tmp_path / "best.entropy.png").is_file()


def test_mat_output_holds_both_maps(smoke, tmp_path):
    from scipy.io import loadmat

    row = _trials(smoke)[0]
    out = tmp_path / "maps.mat"
    assert predict.main(["--db", str(smoke), "--trial", str(row["id"]), "--scene",
                         "indian_pines", "--out", str(out)]) == 0  # fmt: skip
    mat = loadmat(out)
    assert mat["class_map"].shape == mat["entropy"].shape == (32, 32)


def test_a_cube_with_other_bands_is_refused_before_any_work(smoke, tmp_path, capsys):
    row = _trials(smoke)[0]
    cube = tmp_path / "short.npy"
    np.save(cube, np.zeros((10, 10, 103), dtype=np.float32))
    out = tmp_path / "map.tif"
    rc = predict.main(["--db", str(smoke), "--trial", str(row["id"]), "--cube", str(cube),
                       "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "The cube has 103 bands" in err and "trained on 200 bands" in err
    assert "Fix:" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [cube]


def test_a_wavelength_range_that_differs_is_refused(tmp_path):
    """A model trained on a scene whose file gives its band centres (the ENVI fixture)
    records their range, and refuses a cube whose bands span another."""
    from make_fixtures import WAVELENGTHS, write_format_fixtures

    from datasets import load_scene
    from harness.spec import make_spec
    from harness.trial.flow import run_trial_safely

    scene = load_scene(str(write_format_fixtures(tmp_path / "f")["tiny_envi_bsq"]), source="real")
    # the published recipe: the raw bands (PCA to 30 needs more than 12)
    spec = make_spec("random_forest_tiny", scene, recipe="published", max_train_per_class=5)
    result = run_trial_safely(spec)
    assert result.status == "completed", result.error
    with ResultStore(tmp_path / "r.db") as store:
        trial_id = store.write(result).trial_id
    model = predict.load(trial_id, tmp_path / "r.db")
    low, high = min(WAVELENGTHS), max(WAVELENGTHS)
    assert model.manifest["wavelengths_nm"] == pytest.approx([low, high])  # read, not written
    bands = len(WAVELENGTHS)
    model.check_cube((50, 50, bands), wavelengths_nm=np.linspace(low, high, bands))  # the same
    model.check_cube((50, 50, bands))  # a cube without wavelengths: nothing to compare
    with pytest.raises(SavedModelError, match="bands span 900-2500 nm"):
        model.check_cube((50, 50, bands), wavelengths_nm=np.linspace(900, 2500, bands))


def test_a_changed_model_file_is_refused(smoke, tmp_path):
    """A copy of the database and its artifact folder, one model file altered."""
    import sqlite3

    db = tmp_path / "copy.db"
    with sqlite3.connect(smoke) as src, sqlite3.connect(db) as dst:
        src.backup(dst)  # the pages in the WAL file too
    shutil.copytree(smoke.with_name(smoke.stem + ".artifacts"), tmp_path / "copy.artifacts")
    row = _trials(db)[0]
    with ResultStore(db, readonly=True) as store:
        model_file = Path(store.model_files(row["id"])[0]["file"])
    assert model_file.is_relative_to(tmp_path)
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"0123456789")
    proc = _run("--db", str(db), "--trial", str(row["id"]), "--scene", "indian_pines",
                "--out", str(tmp_path / "map.npy"))  # fmt: skip
    assert proc.returncode == 2
    assert "sha256" in proc.stderr and "the database records" in proc.stderr
    assert not (tmp_path / "map.npy").exists()


def test_usage_errors_name_the_flag(smoke, tmp_path, capsys):
    db = str(smoke)
    cases = {
        ("--db", db, "--scene", "indian_pines", "--out", "m.tif"): "--trial ID or with --best",
        ("--db", db, "--trial", "1", "--out", "m.tif"): "--cube FILE or --scene SCENE",
        ("--db", db, "--best", "ssrn_tiny", "--cube", "c.npy", "--out", "m.tif"): "needs --scene",
        ("--db", db, "--trial", "1", "--scene", "indian_pines", "--out", "m.jpg"): "'.jpg'",
        ("--db", db, "--trial", "1", "--scene", "indian_pines",
         "--out", str(tmp_path / "no" / "m.tif")): "does not exist",
        ("--db", db, "--best", "ssrn", "--scene", "indian_pines", "--out", "m.tif"):
            "there is no completed trial",
        ("--db", db, "--trial", "999", "--scene", "indian_pines", "--out", "m.tif"):
            "No trial with id 999",
    }  # fmt: skip
    for argv, expected in cases.items():
        assert predict.main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert expected in err, (argv, err)


def test_threads_sets_torch_threads(smoke, tmp_path):
    import torch

    row = next(r for r in _trials(smoke) if r["model"] == "ssrn_tiny")
    before = torch.get_num_threads()
    try:
        out = tmp_path / "m.npy"
        assert predict.main(["--db", str(smoke), "--trial", str(row["id"]), "--scene",
                             "indian_pines", "--threads", "1", "--out", str(out)]) == 0  # fmt: skip
        assert torch.get_num_threads() == 1
        assert predict.main(["--db", str(smoke), "--trial", str(row["id"]), "--scene",
                             "indian_pines", "--threads", "0", "--out", str(out)]) == 2  # fmt: skip
    finally:
        torch.set_num_threads(before)


def test_cube_files_as_users_give_them(smoke, tmp_path, capsys):
    """An archive's only 3-D array is the cube; several need --key; a missing file and a
    cube smaller than the model's window are named."""
    from scipy.io import savemat

    row = next(r for r in _trials(smoke) if r["model"] == "hybridsn_tiny")
    cube = np.zeros((20, 20, 200), dtype=np.float32)
    savemat(tmp_path / "one.mat", {"scene": cube, "gt": np.zeros((20, 20))})
    np.savez(tmp_path / "one.npz", scene=cube, gt=np.zeros((20, 20)))
    savemat(tmp_path / "two.mat", {"a": cube, "b": cube})
    np.save(tmp_path / "small.npy", cube[:2, :2])

    def run(*args: str) -> tuple[int, str]:
        rc = predict.main(["--db", str(smoke), "--trial", str(row["id"]), *args])
        return rc, capsys.readouterr().err

    for name in ("one.mat", "one.npz"):
        out = tmp_path / f"{name}.npy"
        assert run("--cube", str(tmp_path / name), "--out", str(out))[0] == 0, name
        assert np.load(out).shape == (20, 20)
    rc, err = run("--cube", str(tmp_path / "two.mat"), "--out", str(tmp_path / "x.npy"))
    assert rc == 2 and "holds 2 3-D arrays (a, b" in err and "--key NAME" in err
    assert run("--cube", str(tmp_path / "two.mat"), "--key", "b", "--out",
               str(tmp_path / "b.npy"))[0] == 0  # fmt: skip
    rc, err = run("--cube", str(tmp_path / "nothing.tif"), "--out", str(tmp_path / "x.npy"))
    assert rc == 2 and "nothing.tif: no such file" in err
    rc, err = run("--cube", str(tmp_path / "small.npy"), "--out", str(tmp_path / "x.npy"))
    assert rc == 2 and "The cube is 2 x 2 pixels" in err and "larger cube" in err
    assert not (tmp_path / "x.npy").exists()


def test_a_model_that_is_not_a_result_is_named_before_the_map(smoke, tmp_path, capsys):
    """predict warns before it spends time on a trial that predicts one class, and says
    nothing of the kind for one that learned."""
    import sqlite3

    from harness.metrics import trial_note

    db = tmp_path / "flagged.db"
    with sqlite3.connect(smoke) as src, sqlite3.connect(db) as dst:
        src.backup(dst)  # the write-ahead log too
    rows = _trials(smoke)
    flagged, learned = rows[0]["id"], rows[1]["id"]
    with sqlite3.connect(db) as con:  # the first trial, as a collapsed model stores it
        con.execute(
            "UPDATE metrics SET value = 0.99 WHERE trial_id = ? AND split = 'test' "
            "AND name = 'top_prediction_share'",
            (flagged,),
        )
    with ResultStore(db, readonly=True) as store:
        assert trial_note(store.trial(flagged)) == "predicts one class"
        learned_note = trial_note(store.trial(learned))
    artifacts = Path(str(smoke).removesuffix(".db") + ".artifacts")
    errs = {}
    for trial_id in (flagged, learned):
        rc = predict.main(
            ["--db", str(db), "--artifacts", str(artifacts), "--trial", str(trial_id),
             "--scene", "indian_pines", "--out", str(tmp_path / f"t{trial_id}.npy")]
        )  # fmt: skip
        errs[trial_id] = capsys.readouterr().err
        assert rc == 0, errs[trial_id]
    warning = f"warning: trial {flagged} is NOT A RESULT (predicts one class: test OA "
    assert warning in errs[flagged], errs[flagged]
    warned = f"warning: trial {learned} is NOT A RESULT (" in errs[learned]
    assert warned == (learned_note is not None), errs[learned]
