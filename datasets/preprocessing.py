"""Spectral preprocessing: per-band scaling and PCA, fitted on the pixels a protocol allows.

``fit="scene"`` fits on every pixel of the scene (what the CLAReSNet paper and the
baselines' reference codes do; unlabelled and test pixels included). ``fit="train"``
fits on the training pixels only (leak-free). Both are recorded with the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from .errors import PreprocessingError

_FITS = ("scene", "train")
_SCALES = ("none", "standard", "minmax")


@dataclass(frozen=True)
class PreprocessConfig:
    """How a cube becomes the model's input image.

    Attributes:
        n_components: PCA components T; ``None`` keeps all bands (no PCA).
        fit: "scene" (every pixel) or "train" (training pixels only).
        scale: per-band scaling before PCA: "none", "standard" (zero mean, unit
            std) or "minmax" (to [0, 1]).
        whiten: PCA whitening (HybridSN's published recipe).
    """

    n_components: int | None = 30
    fit: Literal["scene", "train"] = "scene"
    scale: Literal["none", "standard", "minmax"] = "none"
    whiten: bool = False

    def __post_init__(self) -> None:
        n = self.n_components
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise PreprocessingError(
                f"n_components={n!r} must be a positive integer, or None to keep all bands."
            )
        if self.fit not in _FITS:
            raise PreprocessingError(f"fit={self.fit!r} must be one of {', '.join(_FITS)}.")
        if self.scale not in _SCALES:
            raise PreprocessingError(f"scale={self.scale!r} must be one of {', '.join(_SCALES)}.")
        if self.whiten and n is None:
            raise PreprocessingError("whiten=True needs PCA: set n_components.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Preprocessed:
    """The model-ready image and what was fitted.

    Attributes:
        image: (H, W, T) float32.
        config: the configuration used.
        n_fit_pixels: how many pixels the scaler/PCA were fitted on.
        explained_variance_ratio: per PCA component (empty without PCA).
    """

    image: np.ndarray
    config: PreprocessConfig
    n_fit_pixels: int
    explained_variance_ratio: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.image.shape[2])


def preprocess(
    cube: np.ndarray,
    config: PreprocessConfig | None = None,
    train_indices: np.ndarray | None = None,
    seed: int = 0,
) -> Preprocessed:
    """Scale and reduce a cube, fitting only on the pixels ``config.fit`` allows.

    Args:
        cube: (H, W, B) array.
        config: what to do (default: PCA to 30 components fitted on the scene).
        train_indices: flat row-major indices of the training pixels; required
            when ``config.fit == "train"``.
        seed: seed of the PCA solver (randomised solvers only).

    Returns:
        A :class:`Preprocessed` with the (H, W, T) float32 image.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    config = config or PreprocessConfig()
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise PreprocessingError(f"cube must be H x W x B, got shape {cube.shape}.")
    h, w, b = cube.shape
    pixels = cube.reshape(-1, b).astype(np.float64)
    if config.fit == "train":
        if train_indices is None or len(train_indices) == 0:
            raise PreprocessingError(
                "fit='train' needs the training pixel indices (train_indices); got none. "
                "Fix: pass split.train, or use fit='scene'."
            )
        idx = np.asarray(train_indices, dtype=np.int64)
        if idx.min() < 0 or idx.max() >= h * w:
            raise PreprocessingError(
                f"train_indices must lie in 0..{h * w - 1} for a {h} x {w} scene."
            )
        fit_pixels = pixels[idx]
    else:
        fit_pixels = pixels
    if config.n_components is not None and config.n_components > min(b, fit_pixels.shape[0]):
        raise PreprocessingError(
            f"n_components={config.n_components} exceeds what {fit_pixels.shape[0]} pixels x {b} bands "
            f"allow (at most {min(b, fit_pixels.shape[0])}). Fix: use fewer components."
        )
    if config.scale != "none":
        scaler = StandardScaler() if config.scale == "standard" else MinMaxScaler()
        scaler.fit(fit_pixels)
        pixels = scaler.transform(pixels)
        fit_pixels = scaler.transform(fit_pixels)
    evr = np.zeros(0)
    if config.n_components is not None:
        pca = PCA(n_components=config.n_components, whiten=config.whiten, random_state=seed)
        pca.fit(fit_pixels)
        pixels = pca.transform(pixels)
        evr = pca.explained_variance_ratio_.astype(np.float64)
    image = np.ascontiguousarray(pixels.reshape(h, w, -1), dtype=np.float32)
    return Preprocessed(
        image=image,
        config=config,
        n_fit_pixels=int(fit_pixels.shape[0]),
        explained_variance_ratio=evr,
    )
