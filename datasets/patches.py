"""Patch tensors: every sample's P x P neighbourhood gathered in one vectorised operation.

The image is padded once (reflect padding, as in the CLAReSNet paper; "constant"
gives zero padding as in HybridSN's reference code), then a strided window view
is indexed with all sample coordinates at once: no per-sample Python loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

_PAD_MODES = ("reflect", "symmetric", "constant", "edge")


def _check(image: np.ndarray, patch_size: int, pad_mode: str) -> int:
    if image.ndim != 3:
        raise ValueError(f"image must be H x W x T, got shape {image.shape}.")
    if (
        isinstance(patch_size, bool)
        or not isinstance(patch_size, int | np.integer)
        or patch_size < 1
        or patch_size % 2 == 0
    ):
        raise ValueError(f"patch_size={patch_size!r} must be a positive odd integer (e.g. 11).")
    if pad_mode not in _PAD_MODES:
        raise ValueError(f"pad_mode={pad_mode!r} must be one of {', '.join(_PAD_MODES)}.")
    r = int(patch_size) // 2
    h, w = image.shape[:2]
    if pad_mode in ("reflect", "symmetric") and r >= min(h, w):
        raise ValueError(
            f"patch_size={patch_size} needs {pad_mode} padding of {r} pixels, more than the "
            f"{h} x {w} image allows. Fix: use a smaller patch, a larger crop, or pad_mode='constant'."
        )
    return r


def pad_image(image: np.ndarray, patch_size: int, pad_mode: str = "reflect") -> np.ndarray:
    """Pad an (H, W, T) image by ``patch_size // 2`` on both spatial sides."""
    r = _check(image, patch_size, pad_mode)
    mode: Any = pad_mode  # checked by _check against the modes np.pad takes
    return np.pad(image, ((r, r), (r, r), (0, 0)), mode=mode)


def _windows(padded: np.ndarray, patch_size: int) -> np.ndarray:
    # (H, W, T, P, P) read-only view: window [i, j] is centred on pixel (i, j)
    return np.lib.stride_tricks.sliding_window_view(padded, (patch_size, patch_size), axis=(0, 1))


def _check_indices(indices: np.ndarray, h: int, w: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"indices must be a 1-D integer array of flat pixel indices, got {idx.dtype} {idx.shape}."
        )
    if idx.size and (idx.min() < 0 or idx.max() >= h * w):
        raise ValueError(
            f"indices must lie in 0..{h * w - 1} for a {h} x {w} image; got {int(idx.min())}..{int(idx.max())}."
        )
    return idx


def extract_patches(
    image: np.ndarray,
    indices: np.ndarray,
    patch_size: int,
    pad_mode: str = "reflect",
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Gather the P x P neighbourhoods of the given pixels.

    Args:
        image: (H, W, T) image (e.g. after PCA).
        indices: flat row-major pixel indices (``row * W + col``), shape (N,).
        patch_size: P, odd.
        pad_mode: how the border is padded ("reflect" as in the paper).
        dtype: output dtype.

    Returns:
        (N, T, P, P) contiguous array; patch ``n`` is centred on pixel ``indices[n]``.
    """
    image = np.asarray(image)
    _check(image, patch_size, pad_mode)
    h, w = image.shape[:2]
    idx = _check_indices(indices, h, w)
    rows, cols = np.divmod(idx, w)
    padded = pad_image(image.astype(dtype, copy=False), patch_size, pad_mode)
    return np.ascontiguousarray(_windows(padded, int(patch_size))[rows, cols])


def extract_spectra(
    image: np.ndarray, indices: np.ndarray, dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """Centre-pixel spectra (N, T) for spectral models (RF, XGBoost, pixel-wise SpectralFormer)."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be H x W x T, got shape {image.shape}.")
    h, w, t = image.shape
    idx = _check_indices(indices, h, w)
    return np.ascontiguousarray(image.reshape(h * w, t)[idx], dtype=dtype)


def iter_scene_patches(
    image: np.ndarray,
    patch_size: int,
    chunk_size: int = 4096,
    pad_mode: str = "reflect",
    dtype: np.dtype | type = np.float32,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pixel's patch, in chunks, for full-scene classification maps.

    The image is padded once; each chunk is gathered from the shared window view,
    so memory stays at ``chunk_size * T * P * P`` values (Salinas at T = 30,
    P = 11 would need 1.5 GB in one piece).

    Yields:
        (indices, patches): flat pixel indices (n,) and their (n, T, P, P) patches.
    """
    image = np.asarray(image)
    _check(image, patch_size, pad_mode)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer.")
    h, w = image.shape[:2]
    windows = _windows(
        pad_image(image.astype(dtype, copy=False), patch_size, pad_mode), int(patch_size)
    )
    total = h * w
    for start in range(0, total, chunk_size):
        idx = np.arange(start, min(start + chunk_size, total))
        rows, cols = np.divmod(idx, w)
        yield idx, np.ascontiguousarray(windows[rows, cols])
