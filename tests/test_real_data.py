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

import numpy as np
import pytest
import scipy.io

import datasets
import models
from harness.spec import make_spec
from harness.trial import device_patches, fit_deep, prepare_data, run_trial, seed_everything

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
        assert cube.copy == "PyPI tensorly 0.10.0, tensorly/datasets/data/Indian_pines_corrected.npy"
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
