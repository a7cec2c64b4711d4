"""The real Indian Pines cube (the PyPI copy, tensorly 0.10.0): real units, real spectra,
real neighbourhoods, beside the surrogates.

Needs the cube in the project's ``data/`` (``scripts/setup.sh``, or ``python -m
datasets download indian_pines --from pypi``) or ``$HSI_REAL_DATA``; CI fetches it
that way and sets ``HSI_REQUIRE_REAL=1``, so there a missing cube fails these tests.
"""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import datasets
import models
from harness.spec import make_spec
from harness.trial.data import device_patches, prepare_data, seed_everything
from harness.trial.fit import fit_deep
from harness.trial.flow import run_trial

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.real_data, pytest.mark.usefixtures("one_thread")]

#: The real scene's fingerprint, made of its arrays' content (cube and ground truth):
#: the same from the GIC ``.mat`` file and from the PyPI ``.npy``. A literal: it
#: changes only on purpose.
REAL_FINGERPRINT = "7fac90cc3dfbcfdd22f7639d7a665165154cf1a674cbac116a7b022b7a76d305"
REAL_CONTENT = {
    "cube": "9c5c050475ed40560e1ce3d4a466b6560a285e8b8152cd52ef5cd8192d14e883",
    "gt": "892d81629bce92a992892ebde86edb1abe509222e80b8d8d5bf9286206bb2f70",
}
#: The Indian Pines surrogate's fingerprint (seed 0), unchanged by the switch of real
#: scenes to content fingerprints: surrogate results keep their identity.
SURROGATE_FINGERPRINT = "68d76636116eab2d44ee4a9e5783cfd0109e481da2b49409ac9477fd26ef0a8a"

#: The crop the training tests use: 40 x 40 pixels of the scene's north-west, 11 of
#: the 16 classes (Corn-notill, Corn-mintill, Grass-trees, Soybean-*, Woods, ...).
CROP = (0, 40, 0, 40)


def test_the_pypi_copy_is_the_real_cube(real_ip):
    """Sensor units and facts, and the record of which copy was read."""
    info = datasets.get_scene_info("indian_pines")
    assert real_ip.source == "real" and real_ip.cube.shape == (145, 145, 200)
    assert real_ip.cube.dtype == np.uint16
    assert (int(real_ip.cube.min()), int(real_ip.cube.max())) == (955, 9604)
    assert tuple(real_ip.class_counts().tolist()) == info.class_counts
    cube = next(f for f in real_ip.files if f.role == "cube")
    if cube.path.endswith(".npy"):
        assert cube.sha256 == info.cube.pypi.sha256 and cube.pypi == info.cube.pypi
        assert (
            cube.copy == "PyPI tensorly 0.10.0, tensorly/datasets/data/Indian_pines_corrected.npy"
        )
        record = cube.provenance()
        assert record["pypi"]["package"] == "tensorly" and record["pypi"]["version"] == "0.10.0"
        assert record["pypi"]["member"] == info.cube.pypi.member
    # the scene file's per-band mean and std of the surrogate's units were measured on it
    mean = real_ip.cube.reshape(-1, 200).mean(0)
    std = real_ip.cube.reshape(-1, 200).std(0)
    np.testing.assert_allclose(mean, info.surrogate.band_mean, atol=0.51)
    np.testing.assert_allclose(std, info.surrogate.band_std, atol=0.51)


def test_one_scene_whatever_the_container(real_ip, tmp_path, shared_data):
    """The GIC ``.mat`` form and the PyPI ``.npy`` are one scene (grouping and resume):
    the fingerprint is made of the arrays' values; the files' checksums stay apart."""
    assert real_ip.content == REAL_CONTENT and real_ip.fingerprint == REAL_FINGERPRINT
    mat_dir = tmp_path / "gic"
    mat_dir.mkdir()
    scipy.io.savemat(
        mat_dir / "Indian_pines_corrected.mat",
        {"indian_pines_corrected": np.asarray(real_ip.cube)},
    )
    shutil.copy(shared_data / "Indian_pines_gt.mat", mat_dir)
    from_mat = datasets.load_scene("indian_pines", source="real", data_dir=mat_dir)
    assert from_mat.files[0].path.endswith(".mat") and from_mat.files[0].pypi is None
    assert from_mat.files[0].sha256 != next(f for f in real_ip.files if f.role == "cube").sha256
    assert from_mat.fingerprint == REAL_FINGERPRINT
    assert from_mat.crop_to(*CROP).fingerprint == real_ip.crop_to(*CROP).fingerprint
    spec_mat = make_spec("random_forest", from_mat, seed=0)
    spec_npy = make_spec("random_forest", real_ip, seed=0)
    assert spec_mat.spec_hash == spec_npy.spec_hash
    # the values, not the dtype: whole-number doubles are the same array ...
    assert datasets.array_digest(real_ip.cube.astype(np.float64)) == REAL_CONTENT["cube"]
    # ... and one changed value is another scene
    changed = np.array(real_ip.cube)
    changed[72, 72, 100] += 1
    assert datasets.array_digest(changed) != REAL_CONTENT["cube"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        surrogate = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    assert surrogate.content is None and surrogate.fingerprint == SURROGATE_FINGERPRINT


def _recipes(model: str) -> list[str]:
    return list(models.get_model_entry(model).recipes)


@pytest.mark.parametrize(
    ("model", "recipe"),
    [(m, r) for m in models.list_models() for r in _recipes(m)],
)
def test_every_model_trains_on_a_real_crop(real_ip, model, recipe):
    """Two epochs of each deep model on a real crop: a finite loss that falls; the tree
    models fit the same pixels and beat the majority class on the crop's test pixels."""
    crop = real_ip.crop_to(*CROP)
    entry = models.get_model_entry(model)
    training = {"epochs": 2, "patience": None} if entry.kind == "torch" else None
    # 8 training pixels per class for CLAReSNet's full-size networks (17 M parameters),
    # 40 for the others: a few steps per epoch even at HybridSN's published batch of 256
    per_class = 8 if entry.family == "claresnet" and not entry.tiny else 40
    spec = make_spec(
        model, crop, recipe=recipe, seed=0, training=training, max_train_per_class=per_class
    )
    seed_everything(spec.seed)
    data = prepare_data(spec, scene=crop)
    assert data.image.dtype.kind == "f" and np.isfinite(data.image).all()
    if entry.kind != "torch":
        result = run_trial(spec, scene=crop)
        majority = np.bincount(data.labels(data.test)).max() / data.test.size
        assert result.metrics["test"]["oa"] > majority, (result.metrics["test"], majority)
        return
    built = models.build_model(
        spec.model,
        n_bands=data.image.shape[2],
        n_classes=data.n_classes,
        patch_size=spec.patch_size,
        **spec.hparams,
    )
    import torch

    cpu = torch.device("cpu")
    val = device_patches(spec, data, data.val[:16], cpu)
    fit = fit_deep(built, spec, data, cpu, val=val)
    losses = fit.curves.train_loss
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), losses
    assert losses[1] < losses[0], f"{model}/{recipe}: training loss {losses} did not fall"


def test_the_surrogate_against_the_real_cube(real_ip_dir):
    """Where the surrogate claims to match the real cube (its units: per-band mean and
    std) it does; where it differs (docs/DATA.md, "The surrogate against the real
    cube"), it differs as stated: its variance spreads over more components, its
    centre pixels are harder and its neighbourhoods more telling than the real ones."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from surrogate_vs_real import compare, relative

    real, sur = compare(str(real_ip_dir), trees=50)
    assert relative(sur.band_mean, real.band_mean).max() < 1e-3
    std_err = relative(sur.band_std, real.band_std)
    assert np.median(std_err) < 5e-3 and std_err.max() < 0.05
    assert real.variance_share[:2].sum() > 0.9 and sur.variance_share[:2].sum() < 0.7
    assert abs(sur.pc1_std / real.pc1_std - 1) < 0.15
    assert 0.84 < real.rf_centre < 0.91 and 0.72 < sur.rf_centre < 0.80
    assert real.rf_centre - sur.rf_centre > 0.08
    assert sur.rf_mean5 > real.rf_mean5 > 0.92


#: Test OA bands of the tree models on the full real paper split (unified recipe: PCA
#: 30 on the scene, centre pixels), seed 0. Measured here at seeds 0, 1, 2 (docs/
#: RESULTS.md): Random Forest 84.44 / ... %, XGBoost 85.22 / ... %. The floors sit about
#: four points under the lowest seed: a broken pipeline (labels misaligned with the
#: cube, bands reordered, a wrong PCA fit) lands far below; the ceilings catch the
#: other failure, test pixels leaking into training (centre-pixel models do not reach
#: 95 % on this scene).
TREE_BANDS = {"random_forest": (0.80, 0.90), "xgboost": (0.81, 0.91)}


@pytest.mark.parametrize("model", sorted(TREE_BANDS))
def test_tree_models_on_the_full_real_paper_split(real_ip, model):
    spec = make_spec(model, real_ip, seed=0)
    result = run_trial(spec, scene=real_ip)
    low, high = TREE_BANDS[model]
    oa = result.metrics["test"]["oa"]
    assert low <= oa <= high, f"{model}: test OA {oa:.4f} outside [{low}, {high}]"
    assert result.info["n_test"] == 2050 and result.info["n_train"] == 7379
    cube = next(f for f in result.info["scene_files"] if f["role"] == "cube")
    if cube["file"].endswith(".npy"):
        assert cube["pypi"]["package"] == "tensorly" and cube["pypi"]["version"] == "0.10.0"


@pytest.mark.slow
def test_the_quick_suite_runs_on_the_real_crop_when_the_cube_is_there(
    real_ip_dir, shared_data, ray_env, tmp_path
):
    """As a user has it after scripts/setup.sh: the cube in a default data folder, no
    flag. The quick suite plans Indian Pines on the real crop (Salinas stays a
    surrogate), and its tree models run through Ray on it, recording the PyPI copy."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    from procs import finish, spawn, tail

    env = {**ray_env, "HSI_DATA_PATH": os.pathsep.join([str(real_ip_dir), str(shared_data)])}
    db = tmp_path / "quick.db"
    plan = subprocess.run(
        [sys.executable, "-m", "harness.run", "--suite", "quick", "--dry-run", "--db", str(db)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    rows = [line.split() for line in plan.stdout.splitlines()]
    sources = {(r[3], r[4]) for r in rows if len(r) >= 7 and r[1] in ("no", "yes")}
    assert sources == {("indian_pines", "real"), ("salinas", "surrogate")}, plan.stdout
    log = tmp_path / "quick.log"
    command = [sys.executable, "-m", "harness.run", "--suite", "quick", "--scenes", "indian_pines",
               "--models", "random_forest", "xgboost", "--db", str(db)]  # fmt: skip
    rc = finish(spawn(command, env, log, cwd=ROOT), timeout=400, log=log)
    assert rc == 0, tail(log)
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT t.model, t.source, t.status, t.info, m.value FROM trials t JOIN metrics m "
            "ON m.trial_id = t.id WHERE m.name = 'oa' AND m.split = 'test'"
        ).fetchall()
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("random_forest", "real", "completed"),
        ("xgboost", "real", "completed"),
    ], tail(log)
    for model, _source, _status, info, oa in rows:
        cube = next(f for f in json.loads(info)["scene_files"] if f["role"] == "cube")
        assert cube["folder"] == str(real_ip_dir.resolve())
        if cube["file"].endswith(".npy"):
            assert cube["copy"].startswith("PyPI tensorly 0.10.0")
        assert oa > 0.6, (model, oa)
