"""A trial's data: the scene loaded and checked, split, preprocessed, its pixels
subsampled per class, and its patches extracted once onto the device."""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..spec import TrialSpec
from .errors import TrialError


@dataclass
class PreparedData:
    """What the data pipeline hands to the model: split, image and labels."""

    image: np.ndarray  # (H, W, T) float32
    gt: np.ndarray  # (H, W) int64
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    class_names: tuple[str, ...]
    split_counts: np.ndarray
    preprocess_info: dict[str, Any]
    #: The fitted scaler and PCA (:class:`datasets.FittedPreprocessing`): saved with the model.
    preprocessing: Any = None
    #: The scene's band centres (nm), when known: saved with the model.
    wavelengths_nm: tuple[float, ...] | None = None
    #: The scene's georeference (of its crop), when it has one: saved with the model.
    georef: dict[str, Any] | None = None
    #: Which copy of each file the scene was read from (``SceneFile.provenance``): kept in
    #: the trial's ``info["scene_files"]``.
    scene_files: tuple[dict[str, Any], ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def labels(self, idx: np.ndarray) -> np.ndarray:
        """0-based labels of flat pixel indices."""
        return self.gt.ravel()[idx] - 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the trial seed."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_data(spec: TrialSpec, data_dir: str | None = None, scene: Any = None) -> PreparedData:
    """Check, split and preprocess the spec's scene.

    Args:
        spec: the trial.
        data_dir: where to look for the scene's files when ``scene`` is not given.
        scene: the :class:`datasets.Scene` the driver resolved for this spec (the Ray
            path: no file is opened); None loads it here (in-process use).
    """
    import datasets

    loaded_here = scene is None
    if scene is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", datasets.SurrogateWarning)
            scene = datasets.load_scene(
                spec.scene,
                source=cast(Any, spec.source),  # "real" or "surrogate": made by make_spec
                data_dir=data_dir,
                surrogate_seed=spec.surrogate_seed,
            )
    if spec.crop is not None and scene.crop != spec.crop:
        scene = scene.crop_to(*spec.crop)
    if scene.fingerprint != spec.scene_fingerprint:
        raise TrialError(
            f"Scene '{spec.scene}' ({spec.source}) now has fingerprint {scene.fingerprint[:12]}..., but "
            f"the trial was specified on {spec.scene_fingerprint[:12]}...: the data (a real scene's "
            "array values) or the surrogate generator changed. Fix: re-create the trial spec "
            "(re-run the suite) so that results are never mixed across different data."
        )
    if loaded_here:
        from ..scenes import ensure_split

        ensure_split(scene, spec, data_dir)  # a fixed split the scene file declares
    gt, fixed = _labels_of(scene, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SplitWarning)  # recorded in split_counts instead
        sp = datasets.split(gt, spec.protocol, seed=spec.seed, fixed=fixed, **spec.protocol_params)
    train = sp.train
    if spec.max_train_per_class is not None:
        train = _subsample_per_class(train, gt.ravel()[train], spec.max_train_per_class, spec.seed)
    if train.size == 0:
        raise TrialError(
            f"The '{spec.protocol}' split of scene '{spec.scene}' left no training pixel. Fix: use a "
            "larger scene or crop, or another protocol."
        )
    if sp.test.size == 0:
        raise TrialError(
            f"The '{spec.protocol}' split of scene '{spec.scene}' left no test pixel. Fix: use a "
            "larger scene or crop, or another protocol."
        )
    cfg = datasets.PreprocessConfig(  # the values were checked when the spec was made
        n_components=spec.n_components,
        fit=cast(Any, spec.pca_fit),
        scale=cast(Any, spec.scale),
        whiten=spec.whiten,
    )
    pre = datasets.preprocess(scene.cube, cfg, train_indices=train, seed=spec.seed)
    counts = np.zeros(
        (scene.n_classes, 4), dtype=np.int64
    )  # every class, even if absent from a crop
    counts[: sp.counts.shape[0]] = sp.counts
    return PreparedData(
        image=pre.image,
        gt=np.asarray(gt, dtype=np.int64),
        train=train,
        val=sp.val,
        test=sp.test,
        class_names=scene.class_names,
        split_counts=counts,
        preprocessing=pre.fitted,
        wavelengths_nm=scene.wavelengths_nm,
        georef=scene.georef,
        scene_files=tuple(f.provenance() for f in scene.files),
        preprocess_info={
            "n_fit_pixels": pre.n_fit_pixels,
            "explained_variance": float(pre.explained_variance_ratio.sum())
            if pre.explained_variance_ratio.size
            else None,
            "n_features": pre.n_features,
        },
    )


def _labels_of(scene: Any, spec: TrialSpec) -> tuple[np.ndarray, Any]:
    """The label map a trial's sets are drawn from, and its fixed split (or None): the
    scene's ground truth, or for ``fixed:NAME`` the split's own labels.

    Raises:
        TrialError: the scene carries no such split, or one read from other files.
    """
    import datasets

    if not datasets.is_fixed(spec.protocol):
        return scene.gt, None
    name = datasets.fixed_name(spec.protocol)
    fixed = scene.splits.get(name)
    if fixed is None:
        raise TrialError(
            f"Trial {spec.spec_hash[:12]} uses the split '{name}', which the scene handed to it "
            "does not carry. Fix: run the trial through harness.execute.run_specs (or make its "
            "spec with make_spec), which reads the split and hands it on with the scene."
        )
    if fixed.identity() != spec.protocol_params.get("files"):
        raise TrialError(
            f"Trial {spec.spec_hash[:12]} was specified on the split '{name}' read from files "
            f"{spec.protocol_params.get('files')}, but the scene carries one read from "
            f"{fixed.identity()}. Fix: re-create the trial specs (re-run the suite)."
        )
    return fixed.labels, fixed


def _subsample_per_class(idx: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5AB5]))
    keep = [rng.permutation(idx[labels == k])[:n] for k in np.unique(labels)]
    return np.sort(np.concatenate(keep))


@dataclass
class DevicePatches:
    """The windows of some pixels and their labels, extracted once and moved to the device once.

    Attributes:
        x: (N, T, P, P) float32 patches on the device.
        y: (N,) int64 0-based labels on the device.
    """

    x: Any
    y: Any

    def __len__(self) -> int:
        return int(self.x.shape[0])


def device_patches(
    spec: TrialSpec, data: PreparedData, idx: np.ndarray, device: Any
) -> DevicePatches:
    """The spec's windows (size, padding) around the pixels ``idx``, with their labels.

    Args:
        spec: the trial (``patch_size``, ``pad_mode``).
        data: the prepared scene.
        idx: flat pixel indices (e.g. ``data.val``).
        device: where the tensors go.
    """
    import torch

    return DevicePatches(
        x=patch_tensor(spec, data, idx, device),
        y=torch.from_numpy(data.labels(idx)).to(device),
    )


def patch_tensor(spec: TrialSpec, data: PreparedData, idx: np.ndarray, device: Any) -> Any:
    import torch

    import datasets

    arr = datasets.extract_patches(data.image, idx, spec.patch_size, pad_mode=spec.pad_mode)
    return torch.from_numpy(arr).to(device)


def pixel_table(data: PreparedData) -> np.ndarray:
    """The preprocessed image as one (H * W, T) row per pixel (a view)."""
    h, w, t = data.image.shape
    return data.image.reshape(h * w, t)
