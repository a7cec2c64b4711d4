"""The data layer: scenes (real or surrogate), split protocols, preprocessing, patches, augmentation.

Importing this package is cheap: torch is imported only by :mod:`datasets.augment`.

Typical use::

    import datasets
    scene = datasets.load_scene("indian_pines")            # real if found, else surrogate
    sp = datasets.split(scene.gt, "paper", seed=0)         # train/val/test flat indices
    pre = datasets.preprocess(scene.cube, datasets.PreprocessConfig(n_components=30))
    x_train = datasets.extract_patches(pre.image, sp.train, patch_size=11)   # N x T x P x P

    # a published split, from label-map files (declared in the scene file, or ad hoc):
    fixed = datasets.load_split(scene, "spectralformer",
                                split_files={"train": "TR.npy", "test": "TE.npy"})
    sp = datasets.split(scene.gt, "fixed:spectralformer", seed=0, fixed=fixed)
"""

from .errors import (
    DatasetError,
    DatasetNotFoundError,
    DownloadError,
    PreprocessingError,
    ProtocolError,
    SceneFileError,
    SceneSpecError,
    SplitFileError,
    UnknownSceneError,
)
from .patches import extract_patches, extract_spectra, iter_scene_patches, pad_image
from .preprocessing import (
    FittedPreprocessing,
    PreprocessConfig,
    Preprocessed,
    fit_preprocessing,
    preprocess,
)
from .protocols import (
    FOLD_PARAMS,
    PROTOCOLS,
    Split,
    SplitWarning,
    check_params,
    protocol_params,
    repetition,
    split,
)
from .registry import SceneInfo, get_scene_info, list_scenes, register_scene_file
from .scene import Scene, SurrogateWarning, array_digest, load_scene, search_dirs
from .splits import (
    FixedSplit,
    SplitFileWarning,
    fixed_name,
    is_fixed,
    load_split,
    split_files_from_args,
)
from .surrogate import SurrogateParams

__all__ = [
    "array_digest",
    "FOLD_PARAMS",
    "PROTOCOLS",
    "DatasetError",
    "DatasetNotFoundError",
    "DownloadError",
    "FixedSplit",
    "FittedPreprocessing",
    "PreprocessConfig",
    "Preprocessed",
    "PreprocessingError",
    "ProtocolError",
    "Scene",
    "SceneFileError",
    "SceneInfo",
    "SceneSpecError",
    "Split",
    "SplitFileError",
    "SplitFileWarning",
    "SplitWarning",
    "SurrogateParams",
    "SurrogateWarning",
    "UnknownSceneError",
    "check_params",
    "extract_patches",
    "extract_spectra",
    "fixed_name",
    "get_scene_info",
    "is_fixed",
    "iter_scene_patches",
    "list_scenes",
    "load_scene",
    "load_split",
    "pad_image",
    "fit_preprocessing",
    "preprocess",
    "protocol_params",
    "register_scene_file",
    "repetition",
    "search_dirs",
    "split",
    "split_files_from_args",
]
