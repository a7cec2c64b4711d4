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


#: Pixels transformed per step by :meth:`FittedPreprocessing.transform` (bounds the
#: float64 working copy: 65,536 pixels x 224 bands is 117 MB).
TRANSFORM_CHUNK = 65536


@dataclass(frozen=True)
class FittedPreprocessing:
    """The fitted scaler and PCA of a trial: applied the same way to any cube with the
    same bands (the trial's scene, or a new image a saved model classifies).

    Attributes:
        config: the configuration they were fitted with.
        n_bands: the bands B of the cube they were fitted on.
        scaler: the fitted ``StandardScaler`` / ``MinMaxScaler``, or None (``scale="none"``).
        pca: the fitted ``PCA``, or None (``n_components=None``).
    """

    config: PreprocessConfig
    n_bands: int
    scaler: Any = None
    pca: Any = None

    @property
    def n_features(self) -> int:
        """The features T per pixel of the transformed image."""
        return int(self.pca.n_components_) if self.pca is not None else self.n_bands

    def transform(self, cube: np.ndarray, chunk_pixels: int = TRANSFORM_CHUNK) -> np.ndarray:
        """The model-ready (H, W, T) float32 image of an (H, W, B) cube.

        Pixels are transformed ``chunk_pixels`` at a time in float64, so the working
        memory stays bounded whatever the cube's size; the chunks start at pixel 0,
        so the same cube always gives the same bits.

        Raises:
            PreprocessingError: a cube that is not H x W x B with this B.
        """
        cube = np.asarray(cube)
        if cube.ndim != 3 or cube.shape[2] != self.n_bands:
            raise PreprocessingError(
                f"cube of shape {cube.shape} cannot be transformed: the preprocessing was fitted "
                f"on {self.n_bands} bands (H x W x {self.n_bands})."
            )
        h, w, b = cube.shape
        pixels = cube.reshape(-1, b)
        out = np.empty((h * w, self.n_features), dtype=np.float32)
        for start in range(0, h * w, chunk_pixels):
            chunk = pixels[start : start + chunk_pixels].astype(np.float64)
            if self.scaler is not None:
                chunk = self.scaler.transform(chunk)
            if self.pca is not None:
                chunk = self.pca.transform(chunk)
            out[start : start + chunk_pixels] = chunk
        return out.reshape(h, w, -1)


@dataclass(frozen=True)
class Preprocessed:
    """The model-ready image and what was fitted.

    Attributes:
        image: (H, W, T) float32.
        config: the configuration used.
        n_fit_pixels: how many pixels the scaler/PCA were fitted on.
        explained_variance_ratio: per PCA component (empty without PCA).
        fitted: the fitted scaler and PCA (what a saved model keeps, to apply them to
            another cube).
    """

    image: np.ndarray
    config: PreprocessConfig
    n_fit_pixels: int
    explained_variance_ratio: np.ndarray
    fitted: FittedPreprocessing | None = None

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
        A :class:`Preprocessed` with the (H, W, T) float32 image and the fitted steps.
    """
    fitted, n_fit, evr = fit_preprocessing(cube, config, train_indices, seed)
    return Preprocessed(
        image=fitted.transform(np.asarray(cube)),
        config=fitted.config,
        n_fit_pixels=n_fit,
        explained_variance_ratio=evr,
        fitted=fitted,
    )


def fit_preprocessing(
    cube: np.ndarray,
    config: PreprocessConfig | None = None,
    train_indices: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[FittedPreprocessing, int, np.ndarray]:
    """Fit the scaler and PCA on the pixels ``config.fit`` allows (see :func:`preprocess`).

    Returns:
        The fitted steps, the number of pixels they were fitted on and the PCA's
        explained variance ratios (empty without PCA).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    config = config or PreprocessConfig()
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise PreprocessingError(f"cube must be H x W x B, got shape {cube.shape}.")
    h, w, b = cube.shape
    pixels = cube.reshape(-1, b)
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
        fit_pixels = pixels[idx].astype(np.float64)
    else:
        fit_pixels = pixels.astype(np.float64)
    if config.n_components is not None and config.n_components > min(b, fit_pixels.shape[0]):
        raise PreprocessingError(
            f"n_components={config.n_components} exceeds what {fit_pixels.shape[0]} pixels x {b} bands "
            f"allow (at most {min(b, fit_pixels.shape[0])}). Fix: use fewer components."
        )
    n_fit = int(fit_pixels.shape[0])
    scaler = pca = None
    if config.scale != "none":
        scaler = StandardScaler() if config.scale == "standard" else MinMaxScaler()
        scaler.fit(fit_pixels)
        fit_pixels = scaler.transform(fit_pixels)
    evr = np.zeros(0)
    if config.n_components is not None:
        pca = PCA(n_components=config.n_components, whiten=config.whiten, random_state=seed)
        pca.fit(fit_pixels)
        evr = pca.explained_variance_ratio_.astype(np.float64)
    return FittedPreprocessing(config=config, n_bands=b, scaler=scaler, pca=pca), n_fit, evr
