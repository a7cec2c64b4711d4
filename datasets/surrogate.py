"""Surrogate scenes: the real ground-truth map with synthetic, realistic spectra.

The real spectral cubes are large and not always at hand (they are not on the
project's CI machines). A surrogate keeps the REAL label map (shapes, class
sizes, field boundaries, imbalance) and synthesises the spectra, so that every
part of the harness -- splits, preprocessing, patches, models, metrics, maps --
runs on data with the scene's real geometry.

What a surrogate is good for: exercising and testing the whole harness end to
end, comparing models *relative to each other* on a task of realistic
difficulty, and measuring speed. What it is NOT good for: numbers comparable to
the paper or to any published result. Every result computed on a surrogate is
marked ``source = "surrogate"``.

How a pixel's spectrum is made (all seeded, deterministic):

1. Class spectra. For a scene with published per-class signatures (Indian
   Pines: the 17 spectra of the "simulated Indian Pines" image, its 24 water
   bands removed -> 200 bands) these are used; other scenes get seeded smooth
   spectra drawn in a few families, so that some classes are spectrally close
   (as Grapes_untrained and Vinyard_untrained are in Salinas).
2. Within-class variation. Each class has ``n_variants`` versions of its
   spectrum (smooth multiplicative and additive perturbations). A pixel mixes
   them with weights from spatially smooth random fields: a field's texture
   varies slowly, so a pixel's neighbourhood tells which variant it is.
3. Mixing across class boundaries. The one-hot label maps are blurred with a
   Gaussian (``boundary_sigma`` pixels): near a boundary a pixel is a linear
   mixture of the neighbouring classes' spectra.
4. Illumination. A smooth multiplicative field plus a small per-pixel factor
   scales each spectrum (topography, viewing geometry).
5. Noise. Gaussian noise correlated across neighbouring bands, and
   independent between pixels, proportional to the scene's mean signal.
6. Sensor units. The real corrected cubes hold digital numbers, not reflectance
   (Indian Pines: uint16, 955..9604; Salinas: int16). When the scene's TOML
   states the real file's units (``[surrogate]`` ``dtype``, ``value_range`` and,
   where known, each band's mean and standard deviation), the cube is mapped
   into them band by band (:func:`to_sensor_units`): with per-band statistics,
   each band gets the real band's mean and standard deviation; with a range
   only, one affine map takes the cube's values onto the range. Then values are
   rounded and stored in the file's dtype, so every numerical path a real cube
   takes (unscaled PCA scores in the thousands, integer input) runs on the
   surrogate too.

Memory: every per-pixel quantity is drawn on the (H, W) grid first; the (H, W, B)
spectra are then made, and converted to sensor units, a block of rows at a time
(about 65k pixels), so that no full-size float64 cube or temporary is held. The
values are those of making the whole cube at once (each pixel gets the same
operations in the same order; the noise stream is drawn block after block): the
largest scene, Pavia Centre (1096 x 715 x 102), peaks at about 0.7 GB instead of
2.8 GB.

The defaults were calibrated (``bench/surrogate_calibration.py``) so that a
Random Forest on centre-pixel spectra under the paper's 72/8/20 protocol lands
in the 60-90 % OA band on the Indian Pines surrogate; the measured figures are
in docs/DATA.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d, label

#: Bump when the generator changes in a way that changes the cube it produces.
#: 2: the cube is written in the real file's sensor units (:func:`to_sensor_units`).
SURROGATE_VERSION = 2
#: The random stream of the synthetic spectra (that of version 1: version 2 changed
#: only the units the same synthetic scene is written in).
_STREAM = 1


@dataclass(frozen=True)
class SurrogateParams:
    """Knobs of the surrogate generator (recorded with every scene built from it)."""

    #: Shrinks the class spectra towards their mean (1 keeps them as given): real
    #: classes such as the corn and soybean fields differ far less than the
    #: reference signatures do.
    class_contrast: float = 0.4
    n_variants: int = 4
    #: Std of the smooth multiplicative perturbation of each variant (relative).
    variant_scale: float = 0.12
    #: Std of the smooth additive perturbation of each variant (absolute, spectra in [0, 1]).
    variant_offset: float = 0.025
    #: Shared directions of variation (soil, moisture, vigour...): smooth spectral
    #: curves along which every class varies, so classes overlap.
    n_shared: int = 3
    #: Std (relative to the mean signal) of each field's own offset along the shared
    #: directions: pixels of one field (connected region of a class) share it.
    field_effect_std: float = 0.04
    #: Std (relative to the mean signal) of the smooth within-field variation along them.
    shared_texture_std: float = 0.02
    #: Spatial smoothness (pixels) of the fields that mix the variants.
    texture_sigma: float = 3.0
    #: Sharpness of the variant mixing (higher: one variant dominates each region).
    texture_contrast: float = 2.5
    #: Blur (pixels) of the label maps that gives boundary mixtures.
    boundary_sigma: float = 0.8
    #: Std of the smooth illumination field (relative).
    illumination_std: float = 0.10
    #: Spatial smoothness (pixels) of the illumination field.
    illumination_sigma: float = 10.0
    #: Std of the per-pixel illumination factor (relative).
    pixel_gain_std: float = 0.08
    #: Noise std relative to the mean signal.
    noise_std: float = 0.15
    #: Band correlation length of the noise (bands).
    noise_band_sigma: float = 2.0

    def as_dict(self) -> dict[str, float | int]:
        return {"version": SURROGATE_VERSION, **asdict(self)}


def _unit_field(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: float, axis=None
) -> np.ndarray:
    """A Gaussian random field with zero mean and unit std, smoothed with ``sigma``."""
    white = rng.standard_normal(shape)
    if axis is None:
        field = gaussian_filter(white, sigma, mode="reflect")
    else:
        field = gaussian_filter1d(white, sigma, axis=axis, mode="reflect")
    field -= field.mean(axis=axis, keepdims=axis is not None)
    std = field.std(axis=axis, keepdims=axis is not None)
    return field / np.maximum(std, 1e-12)


def smooth_class_spectra(
    n_classes: int, n_bands: int, seed: int, n_families: int = 4
) -> np.ndarray:
    """Seeded smooth reflectance-like spectra for scenes without published signatures.

    Classes are drawn in ``n_families`` families (a family base plus a smaller
    per-class deviation), so some pairs of classes are close, as in real scenes.

    Returns:
        (n_classes, n_bands) float64 array with values in about [0.05, 0.9].
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EC7]))
    x = np.linspace(0.0, 1.0, n_bands)

    def curve(n_bumps: int, width: tuple[float, float]) -> np.ndarray:
        y = rng.uniform(-0.3, 0.3) * x
        for _ in range(n_bumps):
            centre = rng.uniform(0, 1)
            w = rng.uniform(*width)
            y += rng.normal(0, 1) * np.exp(-0.5 * ((x - centre) / w) ** 2)
        return y

    families = [curve(5, (0.05, 0.25)) for _ in range(n_families)]
    out = np.empty((n_classes, n_bands))
    for c in range(n_classes):
        base = families[rng.integers(n_families)]
        out[c] = base + 0.35 * curve(3, (0.04, 0.2))
    lo, hi = out.min(axis=1, keepdims=True), out.max(axis=1, keepdims=True)
    low = rng.uniform(0.05, 0.3, size=(n_classes, 1))
    span = rng.uniform(0.25, 0.6, size=(n_classes, 1))
    return low + span * (out - lo) / np.maximum(hi - lo, 1e-12)


#: Pixels per block of rows when a cube is made or converted block by block.
_BLOCK_PIXELS = 1 << 16


def _row_blocks(h: int, w: int) -> list[tuple[int, int]]:
    """Consecutive (first, stop) row ranges of about :data:`_BLOCK_PIXELS` pixels."""
    rows = max(1, _BLOCK_PIXELS // max(w, 1))
    return [(r0, min(h, r0 + rows)) for r0 in range(0, h, rows)]


@dataclass(frozen=True)
class _ClassMixture:
    """Where one label contributes to the cube: the flat indices of its pixels (sorted),
    its abundance there, and each pixel's weights over the label's variants."""

    label: int
    where: np.ndarray
    share: np.ndarray
    weights: np.ndarray


def make_surrogate_cube(
    gt: np.ndarray,
    class_spectra: np.ndarray,
    seed: int = 0,
    params: SurrogateParams | None = None,
) -> np.ndarray:
    """Synthesise a cube for a real label map.

    Args:
        gt: (H, W) integer labels 0..C (0 = unlabelled background, which gets
            spectrum 0 like any class).
        class_spectra: (C + 1, B) spectra, row k for label k.
        seed: generator seed; the same seed gives the same cube.
        params: generator settings (defaults: :class:`SurrogateParams`).

    Returns:
        (H, W, B) float32 cube.
    """
    p = params or SurrogateParams()
    gt = np.asarray(gt)
    spectra = np.asarray(class_spectra, dtype=np.float64)
    n_labels, n_bands = spectra.shape
    if gt.max() >= n_labels:
        raise ValueError(
            f"gt has label {int(gt.max())} but only {n_labels} class spectra were given"
        )
    h, w = gt.shape
    spectra = spectra.mean(axis=0) + p.class_contrast * (spectra - spectra.mean(axis=0))
    ss = np.random.SeedSequence([seed, _STREAM])
    rng_var, rng_tex, rng_ill, rng_noise, rng_shared = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )
    level = float(spectra.mean())

    # 2. per-class spectral variants: smooth multiplicative and additive perturbations
    band_sigma = max(n_bands / 20.0, 1.0)
    mult = _unit_field(rng_var, (n_labels, p.n_variants, n_bands), band_sigma, axis=2)
    add = _unit_field(rng_var, (n_labels, p.n_variants, n_bands), band_sigma, axis=2)
    # centred over the variants, so that a class's variants average to its spectrum
    mult -= mult.mean(axis=1, keepdims=True)
    add -= add.mean(axis=1, keepdims=True)
    variants = spectra[:, None, :] * (1.0 + p.variant_scale * mult) + p.variant_offset * add
    variants = np.clip(variants, 1e-3, None)

    # 3. boundary mixing: blurred one-hot label maps, normalised to abundances
    onehot = np.stack([(gt == k).astype(np.float64) for k in range(n_labels)])
    if p.boundary_sigma > 0:
        onehot = gaussian_filter(
            onehot, sigma=(0, p.boundary_sigma, p.boundary_sigma), mode="nearest"
        )
    abundance = onehot / np.maximum(onehot.sum(axis=0, keepdims=True), 1e-12)
    del onehot

    # Every per-pixel quantity is drawn first, on the whole (H, W) grid and in the
    # order of each random stream; the (H, W, B) spectra are then made a block of
    # rows at a time (:func:`_spectra_rows`), so that no full-size float64 cube or
    # temporary is ever held (Pavia Centre: 784k pixels x 102 bands).
    mixtures: list[_ClassMixture] = []
    for k in range(n_labels):
        mask = abundance[k] > 1e-4
        if not mask.any():
            continue
        # texture: smooth fields -> softmax weights over this class's variants
        fields = np.stack(
            [_unit_field(rng_tex, (h, w), p.texture_sigma) for _ in range(p.n_variants)], axis=-1
        )[mask]
        weights = np.exp(p.texture_contrast * fields)
        weights /= weights.sum(axis=1, keepdims=True)
        mixtures.append(_ClassMixture(k, np.flatnonzero(mask), abundance[k][mask], weights))
    del abundance

    # shared directions: a per-field offset plus smooth within-field texture
    shared = None
    if p.n_shared > 0:
        directions = _unit_field(
            rng_shared, (p.n_shared, n_bands), max(n_bands / 15.0, 1.0), axis=1
        )
        coeff = np.zeros((h, w, p.n_shared))
        for k in range(n_labels):
            regions, n_regions = label(gt == k)
            offsets = rng_shared.normal(0.0, p.field_effect_std, size=(n_regions + 1, p.n_shared))
            inside = regions > 0
            coeff[inside] += offsets[regions[inside]]
        for j in range(p.n_shared):
            coeff[:, :, j] += p.shared_texture_std * _unit_field(
                rng_shared, (h, w), p.texture_sigma
            )
        if p.boundary_sigma > 0:
            coeff = gaussian_filter(
                coeff, sigma=(p.boundary_sigma, p.boundary_sigma, 0), mode="nearest"
            )
        shared = (coeff, directions)

    # 4. illumination: smooth field plus per-pixel gain
    gain = 1.0 + p.illumination_std * _unit_field(rng_ill, (h, w), p.illumination_sigma)
    gain *= 1.0 + p.pixel_gain_std * rng_ill.standard_normal((h, w))
    gain = np.clip(gain, 0.2, None)

    cube = np.empty((h, w, n_bands), dtype=np.float32)
    for r0, r1 in _row_blocks(h, w):
        cube[r0:r1] = _spectra_rows(
            r0, r1, w, variants, mixtures, shared, level, gain, rng_noise, p
        )
    return cube


def _spectra_rows(
    r0: int,
    r1: int,
    w: int,
    variants: np.ndarray,
    mixtures: list[_ClassMixture],
    shared: tuple[np.ndarray, np.ndarray] | None,
    level: float,
    gain: np.ndarray,
    rng_noise: np.random.Generator,
    p: SurrogateParams,
) -> np.ndarray:
    """Rows r0:r1 of the cube (float64): every pixel gets the same operations, in the
    same order, as when the whole cube is made at once, so the values do not depend
    on the blocks; the noise is drawn block after block from its own stream, which
    gives the same numbers as one draw of the whole cube."""
    n_bands = variants.shape[2]
    block = np.zeros((r1 - r0, w, n_bands), dtype=np.float64)
    flat = block.reshape(-1, n_bands)
    first, stop = r0 * w, r1 * w
    # 3. each label's variant mixture, weighted by its abundance
    for mix in mixtures:
        a, b = np.searchsorted(mix.where, [first, stop])
        if a < b:
            flat[mix.where[a:b] - first] += mix.share[a:b, None] * (
                mix.weights[a:b] @ variants[mix.label]
            )
    if shared is not None:
        coeff, directions = shared
        block += level * (coeff[r0:r1] @ directions)
    # 4. illumination
    block *= gain[r0:r1, :, None]
    # 5. band-correlated noise
    block += p.noise_std * level * _unit_field(rng_noise, block.shape, p.noise_band_sigma, axis=2)
    return block


def select_bands(spectra: np.ndarray, drop_ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Remove 1-based inclusive band ranges from the last axis."""
    n = spectra.shape[-1]
    keep = np.ones(n, dtype=bool)
    for first, last in drop_ranges:
        keep[first - 1 : min(last, n)] = False
    return spectra[..., keep]


def signatures_from_image(image: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-label mean spectrum of an (H, W, B) image: row k for label k (0..max)."""
    flat = image.reshape(-1, image.shape[-1]).astype(np.float64)
    labels = gt.reshape(-1).astype(np.int64)
    n = int(labels.max()) + 1
    sums = np.zeros((n, flat.shape[1]))
    np.add.at(sums, labels, flat)
    counts = np.bincount(labels, minlength=n)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"labels {missing} have no pixel in the signature image")
    return sums / counts[:, None]


def to_sensor_units(
    cube: np.ndarray,
    dtype: str,
    value_range: tuple[float, float] | None = None,
    band_mean: tuple[float, ...] | np.ndarray | None = None,
    band_std: tuple[float, ...] | np.ndarray | None = None,
) -> np.ndarray:
    """Map a reflectance-like surrogate cube into the real cube's units.

    Args:
        cube: (H, W, B) float cube from :func:`make_surrogate_cube`.
        dtype: the real file's dtype ("uint16", "int16", ...).
        value_range: (min, max) of the real values; the result is clipped to it
            (and to the dtype's limits). Without band statistics, one affine map
            takes the cube's own min..max onto it.
        band_mean, band_std: per-band mean and standard deviation of the real cube;
            each band of the result has them (before rounding and clipping).

    Returns:
        (H, W, B) array of ``dtype`` (integers rounded to the nearest).
    """
    target = np.dtype(dtype)
    h, w, n_bands = cube.shape
    if band_mean is not None and band_std is not None:
        mean = np.asarray(band_mean, dtype=np.float64)
        std = np.asarray(band_std, dtype=np.float64)
        if mean.shape != (n_bands,) or std.shape != (n_bands,):
            raise ValueError(
                f"band_mean/band_std have {mean.size}/{std.size} values for a cube of "
                f"{n_bands} bands; expected one per band."
            )
        # the band statistics of the whole cube, summed as one float64 array (the
        # conversion below then goes a block of rows at a time)
        x = np.asarray(cube, dtype=np.float64)
        own_mean = x.mean(axis=(0, 1))
        own_std = np.maximum(x.std(axis=(0, 1)), 1e-12)
        scale = std / own_std

        def affine(block: np.ndarray) -> np.ndarray:
            return mean + (block - own_mean) * scale

    elif value_range is not None:
        lo, hi = float(np.min(cube)), float(np.max(cube))
        step = (value_range[1] - value_range[0]) / max(hi - lo, 1e-12)

        def affine(block: np.ndarray) -> np.ndarray:
            return value_range[0] + (block - lo) * step

    else:

        def affine(block: np.ndarray) -> np.ndarray:
            return block

    if target.kind in "iu":
        info = np.iinfo(target)
        low, high = float(info.min), float(info.max)
        if value_range is not None:
            low, high = max(low, value_range[0]), min(high, value_range[1])
    elif value_range is not None:
        low, high = value_range
    out = np.empty((h, w, n_bands), dtype=target)
    for r0, r1 in _row_blocks(h, w):
        y = affine(np.asarray(cube[r0:r1], dtype=np.float64))
        if target.kind in "iu":
            y = np.clip(np.rint(y), low, high)
        elif value_range is not None:
            y = np.clip(y, low, high)
        out[r0:r1] = y
    return out
