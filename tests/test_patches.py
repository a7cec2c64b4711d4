"""Patch extraction, preprocessing and batched augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import datasets
from datasets import PreprocessConfig, PreprocessingError, extract_patches, preprocess
from datasets.augment import AugmentConfig, BatchAugmenter, apply_transform


def naive_patches(
    image: np.ndarray, indices: np.ndarray, p: int, mode: str = "reflect"
) -> np.ndarray:
    r = p // 2
    padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode=mode)
    w = image.shape[1]
    out = []
    for i in indices:
        row, col = divmod(int(i), w)
        out.append(padded[row : row + p, col : col + p, :].transpose(2, 0, 1))
    return np.stack(out)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((23, 17, 6)).astype(np.float32)


@pytest.mark.parametrize("p", [1, 3, 7, 11])
@pytest.mark.parametrize("mode", ["reflect", "constant", "symmetric"])
def test_extract_patches_equals_a_naive_loop(image, p, mode):
    idx = np.random.default_rng(1).choice(23 * 17, size=60, replace=False)
    idx[:4] = [0, 16, 23 * 17 - 1, 22 * 17]  # the four corners
    got = extract_patches(image, idx, p, pad_mode=mode)
    assert got.shape == (60, 6, p, p) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, naive_patches(image, idx, p, mode))
    # the centre of each patch is the pixel itself
    np.testing.assert_array_equal(got[:, :, p // 2, p // 2], datasets.extract_spectra(image, idx))


def test_reflect_padding_mirrors_without_repeating_the_edge(image):
    patch = extract_patches(image, np.array([0]), 3)[0, 0]
    assert patch[0, 0] == image[1, 1, 0] and patch[1, 1] == image[0, 0, 0]


def test_full_scene_chunks_cover_every_pixel_once(image):
    seen = []
    for idx, patches in datasets.iter_scene_patches(image, 5, chunk_size=50):
        assert patches.shape == (len(idx), 6, 5, 5)
        np.testing.assert_array_equal(patches, naive_patches(image, idx, 5))
        seen.append(idx)
    assert np.array_equal(np.concatenate(seen), np.arange(23 * 17))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"patch_size": 4}, "positive odd integer"),
        ({"patch_size": 0}, "positive odd integer"),
        ({"patch_size": 41}, "more than the 23 x 17 image allows"),
        ({"pad_mode": "wrap"}, "pad_mode='wrap' must be one of"),
        ({"indices": np.array([23 * 17])}, "indices must lie in 0..390"),
        ({"indices": np.array([1.5])}, "1-D integer array"),
    ],
)
def test_patch_errors(image, kwargs, needle):
    args = {"indices": np.array([0, 1]), "patch_size": 3, **kwargs}
    with pytest.raises(ValueError) as err:
        extract_patches(image, **args)
    assert needle in str(err.value)


# ---------------------------------------------------------------- preprocessing


def test_pca_fit_scopes_differ_and_are_recorded():
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((20, 20, 12)) @ rng.standard_normal((12, 12))
    cube[:10] += 5 * rng.standard_normal(12)  # the top half differs
    train = np.arange(200, 400)  # bottom half only
    scene_fit = preprocess(cube, PreprocessConfig(n_components=4, fit="scene"))
    train_fit = preprocess(cube, PreprocessConfig(n_components=4, fit="train"), train_indices=train)
    assert scene_fit.image.shape == (20, 20, 4) and scene_fit.image.dtype == np.float32
    assert scene_fit.n_fit_pixels == 400 and train_fit.n_fit_pixels == 200
    assert not np.allclose(np.abs(scene_fit.image), np.abs(train_fit.image), atol=1e-3)
    # fitted on train pixels: those pixels have zero mean in component space
    np.testing.assert_allclose(train_fit.image.reshape(-1, 4)[train].mean(axis=0), 0, atol=1e-4)
    assert np.all(np.diff(scene_fit.explained_variance_ratio) <= 0)


def test_scaling_and_raw_bands():
    cube = np.random.default_rng(0).uniform(3, 9, size=(8, 8, 5))
    out = preprocess(cube, PreprocessConfig(n_components=None, scale="minmax")).image
    assert out.shape == (8, 8, 5)
    np.testing.assert_allclose(out.reshape(-1, 5).min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.reshape(-1, 5).max(axis=0), 1, atol=1e-6)
    std = preprocess(cube, PreprocessConfig(n_components=None, scale="standard")).image.reshape(
        -1, 5
    )
    np.testing.assert_allclose(std.std(axis=0), 1, atol=1e-4)
    white = preprocess(cube, PreprocessConfig(n_components=3, whiten=True)).image.reshape(-1, 3)
    np.testing.assert_allclose(white.std(axis=0, ddof=1), 1, atol=1e-4)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (dict(n_components=0), "n_components=0 must be a positive integer"),
        (dict(fit="test"), "fit='test' must be one of scene, train"),
        (dict(scale="l2"), "scale='l2' must be one of"),
        (dict(n_components=None, whiten=True), "whiten=True needs PCA"),
    ],
)
def test_bad_preprocessing_config(config, needle):
    with pytest.raises(PreprocessingError) as err:
        PreprocessConfig(**config)
    assert needle in str(err.value)


def test_bad_preprocessing_input():
    cube = np.zeros((4, 4, 3))
    with pytest.raises(PreprocessingError, match="needs the training pixel indices"):
        preprocess(cube, PreprocessConfig(n_components=2, fit="train"))
    with pytest.raises(PreprocessingError, match="n_components=5 exceeds"):
        preprocess(cube, PreprocessConfig(n_components=5))


# ---------------------------------------------------------------- augmentation


def test_index_maps_match_rot90_and_flip():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    aug = BatchAugmenter(AugmentConfig(p_noise=0.0, p_rotate=1.0, p_flip=1.0), seed=0)
    which, noisy = aug.draw(4000, torch.device("cpu"))
    assert not noisy.any()
    assert set(which.tolist()) == {3 * k + f for k in (1, 2, 3) for f in (1, 2)}
    aug2 = BatchAugmenter(AugmentConfig(p_noise=0.0), seed=3)
    big = x.repeat(200, 1, 1, 1)
    which = aug2.draw(len(big), big.device)[0]
    out = BatchAugmenter(AugmentConfig(p_noise=0.0), seed=3)(big)
    for n in range(0, len(big), 37):
        torch.testing.assert_close(out[n], apply_transform(big[n], int(which[n])))


def test_augmentation_probabilities_and_noise():
    n = 20000
    aug = BatchAugmenter(seed=1)
    which, noisy = aug.draw(n, torch.device("cpu"))
    k, f = which // 3, which % 3
    assert abs((k > 0).float().mean().item() - 0.5) < 0.02
    assert abs((f > 0).float().mean().item() - 0.5) < 0.02
    assert abs(noisy.float().mean().item() - 0.5) < 0.02
    for value in (1, 2, 3):  # rotations equally likely
        assert abs((k == value).float().mean().item() - 1 / 6) < 0.02
    x = torch.zeros(n, 2, 3, 3)
    out = BatchAugmenter(seed=1)(x)
    per_sample_std = out.flatten(1).std(dim=1)
    changed = per_sample_std > 0
    assert abs(changed.float().mean().item() - 0.5) < 0.02
    assert abs(per_sample_std[changed].mean().item() - 0.05) < 0.005


def test_augmentation_is_seeded_and_leaves_its_input_alone():
    x = torch.randn(64, 4, 7, 7)
    before = x.clone()
    a = BatchAugmenter(seed=5)(x)
    b = BatchAugmenter(seed=5)(x)
    c = BatchAugmenter(seed=6)(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    torch.testing.assert_close(x, before)
    identity = BatchAugmenter(AugmentConfig(p_noise=0, p_rotate=0, p_flip=0))(x)
    torch.testing.assert_close(identity, x)


def test_augmentation_input_errors():
    with pytest.raises(ValueError, match="square patches"):
        BatchAugmenter()(torch.zeros(2, 3, 5, 4))
    with pytest.raises(ValueError, match="p_flip=1.5 must be a probability"):
        AugmentConfig(p_flip=1.5)
    with pytest.raises(ValueError, match="noise_std=-1 must be >= 0"):
        AugmentConfig(noise_std=-1)
