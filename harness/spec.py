"""Trial specifications: everything that can change a trial's numbers, and its hash.

A :class:`TrialSpec` is fully resolved: the recipe's defaults are written into it
(preprocessing, window, optimizer, schedule...), so two specs that would train
the same way hash the same, and any field that can change a number changes the
hash. The scene enters through its fingerprint (name, real/surrogate, file
checksums, surrogate generator and seed, crop), never through a path.

    spec = make_spec("claresnet", scene, seed=0)          # unified recipe, paper protocol
    spec.spec_hash                                        # 64 hex digits, same on any machine
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .jsondata import NonFiniteError, to_json_data

#: Bump when the harness changes in a way that changes a trial's numbers for the same spec
#: (the training loop, the metrics, the data pipeline's semantics). Part of every hash.
PROTOCOL_VERSION = 1


#: The spec fields that put trials into one comparison: one table in the layout of the
#: paper's Tables III/IV (the report's tables, the dashboard's leaderboard and paired
#: comparisons). Within a group a row is one model configuration, (model, config_hash),
#: and its seeds are what the row averages. ``pca_fit`` ("scene" or "train": PCA
#: fitted on the whole scene or on the training pixels only) is part of it, so a
#: leak-free setting is never ranked beside the paper's.
GROUP_KEY: tuple[str, ...] = ("scene", "protocol", "recipe", "source", "pca_fit")


def group_of(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The :data:`GROUP_KEY` values of ``row`` (a leaderboard row, a trial dict, a
    database row's ``_mapping``), in that order."""
    return tuple(row[name] for name in GROUP_KEY)


def group_fields(group: Sequence[str]) -> dict[str, Any]:
    """``{field: value}`` of a group tuple (in :data:`GROUP_KEY` order), e.g. as the
    keyword filters of ``harness.analysis.seeds.leaderboard`` and ``per_seed``.

    Raises:
        ValueError: ``group`` does not have one value per :data:`GROUP_KEY` field.
    """
    if len(group) != len(GROUP_KEY):
        raise ValueError(
            f"a group has {len(GROUP_KEY)} values ({', '.join(GROUP_KEY)}); got {tuple(group)!r}."
        )
    return dict(zip(GROUP_KEY, group, strict=True))


class SpecError(ValueError):
    """An invalid trial specification (the message names the field and the fix)."""


@dataclass(frozen=True)
class TrainingConfig:
    """How a deep model is trained (from the recipe, optionally overridden)."""

    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-2
    batch_size: int = 16
    eval_batch_size: int = 32
    epochs: int = 40
    scheduler: dict[str, Any] | None = None
    augment: bool = True
    select_on: str = "val_acc"
    #: Stop when the selection metric has not improved for this many epochs (None: never).
    patience: int | None = None
    #: Mixed precision ("bf16": autocast on CUDA and the CPU; "fp16": on CUDA only, elsewhere
    #: float32, as the trial's ``info.amp`` records) or None.
    amp: str | None = None
    # Fields added after PROTOCOL_VERSION 1: each one recorded and hashed, and left out
    # of the hash at its default, so that specs made before it existed keep their
    # identity (see ADDED_FIELD_DEFAULTS).
    #: Further settings of the optimizer, by torch's keyword names (``{"alpha": 0.9,
    #: "eps": 1e-8}`` for RMSprop; allowed names: :data:`OPTIMIZER_PARAMS`); None: torch's
    #: defaults.
    optimizer_params: dict[str, Any] | None = None
    #: Build the optimizer on the model's own parameter groups
    #: (``model.param_groups(weight_decay)``, SSRN: weight decay on the convolution kernels
    #: only, its authors' Keras L2) instead of one group with weight decay on every
    #: parameter. Only a recipe that reproduces such an author's setting turns it on.
    model_param_groups: bool = False
    # Fast-path switches (each one recorded and hashed, so results stay comparable;
    # at their defaults they are left out of the hash, so specs made before they
    # existed keep their identity: see ADDED_FIELD_DEFAULTS).
    #: Convert the model's 4-D weights (and so its convolutions) to channels-last memory.
    channels_last: bool = False
    #: ``torch.compile`` the model (eager fallback, recorded in the trial's info, when
    #: compilation fails).
    compile: bool = False
    #: Fused (single-kernel) Adam/AdamW on CUDA.
    fused_optimizer: bool = False
    #: CUDA graphs for the fixed-shape steps: ``torch.compile(mode="reduce-overhead")``,
    #: which records one graph per batch shape (so the last partial batch and the
    #: evaluation batches get their own) and replays it; on CUDA only.
    cuda_graphs: bool = False
    #: TF32 tensor-core matrix products on CUDA (``torch.backends.cuda.matmul.allow_tf32``;
    #: PyTorch's own default leaves them in float32 and lets cuDNN convolutions use TF32).
    tf32: bool = False
    #: cuDNN's autotuner for the fixed batch shapes (``torch.backends.cudnn.benchmark``).
    cudnn_benchmark: bool = False


#: The fast-path switches (``--fast-path``) and their defaults (off).
FAST_PATH_DEFAULTS: dict[str, Any] = {
    "channels_last": False,
    "compile": False,
    "fused_optimizer": False,
    "cuda_graphs": False,
    "tf32": False,
    "cudnn_benchmark": False,
}

#: Training fields added after PROTOCOL_VERSION 1 and their defaults: a spec at the
#: default leaves the field out of its canonical form (and so out of its hash), so a
#: spec made before the field existed keeps its identity and reads back (defaults
#: filled in) equal to itself. A new training field belongs here, with the default
#: that means what the harness did before it.
ADDED_FIELD_DEFAULTS: dict[str, Any] = {
    **FAST_PATH_DEFAULTS,
    "optimizer_params": None,
    "model_param_groups": False,
}

#: The names ``TrainingConfig.optimizer_params`` may hold, by optimizer (torch's keywords;
#: ``lr`` and ``weight_decay`` are fields of their own).
OPTIMIZER_PARAMS: dict[str, tuple[str, ...]] = {
    "adamw": ("betas", "eps", "amsgrad"),
    "adam": ("betas", "eps", "amsgrad"),
    "rmsprop": ("alpha", "eps", "momentum", "centered"),
}


@dataclass(frozen=True)
class TrialSpec:
    """One trial: model, data, protocol, preprocessing, training and seed.

    Attributes:
        model: registry name.
        recipe: "unified" or "published" (the recipe the fields below were resolved from).
        hparams: model hyperparameters (the recipe's, then overrides).
        scene: scene name.
        source: "real" or "surrogate".
        scene_fingerprint: ``Scene.fingerprint`` (files' checksums, generator, crop).
        crop: (row0, row1, col0, col1) of the scene used, or None.
        surrogate_seed: seed of a surrogate scene.
        protocol: split protocol; ``protocol_params`` its parameters (defaults filled in).
        seed: the trial seed (split, initialisation, augmentation, sampling).
        n_components, pca_fit, scale, whiten: spectral preprocessing.
        patch_size, pad_mode: the window.
        max_train_per_class: subsample the training pixels (None: all).
        training: the training loop (ignored by tree models except ``epochs``).
        study: the search study a trial belongs to ("" outside searches; not hashed).
        family: the model's architecture family from the model registry
            (``claresnet`` for ``claresnet_lite``), filled in by :func:`make_spec` so
            that whoever stores the trial need not import the models; "" when unknown
            (a spec built by hand, or stored before the field existed). Not hashed.
        protocol_version: :data:`PROTOCOL_VERSION` when the spec was made.
    """

    model: str
    recipe: str
    hparams: dict[str, Any]
    scene: str
    source: str
    scene_fingerprint: str
    protocol: str
    protocol_params: dict[str, Any]
    seed: int
    n_components: int | None
    pca_fit: str
    scale: str
    whiten: bool
    patch_size: int
    pad_mode: str
    training: TrainingConfig
    crop: tuple[int, int, int, int] | None = None
    surrogate_seed: int = 0
    max_train_per_class: int | None = None
    study: str = field(default="", compare=False)
    family: str = field(default="", compare=False)
    protocol_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        # one representation for equal content: tuples in dicts become lists, as after JSON
        object.__setattr__(self, "hparams", _to_json_data(self.hparams))
        object.__setattr__(self, "protocol_params", _to_json_data(self.protocol_params))
        if self.training.optimizer_params is not None:
            params = _to_json_data(self.training.optimizer_params)
            object.__setattr__(self, "training", replace(self.training, optimizer_params=params))
        if self.crop is not None:
            object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))

    def canonical(self) -> dict[str, Any]:
        """The hashed content: every field but ``study`` and ``family``, as plain
        JSON-able data."""
        data = _to_json_data(asdict(self))
        data.pop("study", None)
        data.pop("family", None)
        for name, default in ADDED_FIELD_DEFAULTS.items():
            if data["training"].get(name) == default:
                del data["training"][name]
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def spec_hash(self) -> str:
        """sha256 of :meth:`canonical_json`: the trial's identity."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def config_hash(self) -> str:
        """sha256 of the canonical spec without its seed (and, for a cross-validation
        protocol, its test fold): the seeds and folds of one configuration share it, so
        a leaderboard never averages two configurations of one model. The spec hash
        keeps both: every fold of every seed is a trial of its own."""
        import datasets

        data = self.canonical()
        data.pop("seed", None)
        fold = datasets.FOLD_PARAMS.get(self.protocol)
        if fold is not None:
            data["protocol_params"].pop(fold, None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        """All fields (``study`` included), for storage; :meth:`from_json` reads it back."""
        return json.dumps(_to_json_data(asdict(self)), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrialSpec:
        data = json.loads(text)
        data["training"] = TrainingConfig(**data["training"])  # older specs: defaults
        if data.get("crop") is not None:
            data["crop"] = tuple(data["crop"])
        return cls(**data)

    def with_(self, **changes: Any) -> TrialSpec:
        return replace(self, **changes)


def config_hash(spec: TrialSpec) -> str:
    """:attr:`TrialSpec.config_hash` of ``spec``."""
    return spec.config_hash


def _to_json_data(value: Any) -> Any:
    """Spec fields as JSON data (:func:`harness.jsondata.to_json_data`); a NaN or an
    infinity in a spec is a :class:`SpecError`."""
    try:
        return to_json_data(value, nonfinite="raise")
    except NonFiniteError as exc:
        raise SpecError(f"a trial spec cannot hold the non-finite number {exc.value!r}.") from exc


def _fixed_params(
    scene: Any, protocol: str, given: dict[str, Any], split_files: dict[str, Any] | None
) -> dict[str, Any]:
    """The recorded parameters of a ``fixed:NAME`` spec: its validation share and the
    split files' identity (checksums and keys), reading the split when the scene lacks it."""
    import datasets

    name = datasets.fixed_name(protocol)
    fixed = scene.splits.get(name)
    if fixed is None or split_files:
        fixed = datasets.load_split(scene, name, split_files)
    if fixed.has_val and given.get("val_fraction") is not None:
        raise SpecError(
            f"split '{name}' has its own validation map, so val_fraction="
            f"{given['val_fraction']!r} cannot apply. Fix: leave val_fraction out."
        )
    default = None if fixed.has_val else datasets.protocol_params(protocol)["val_fraction"]
    return {"val_fraction": given.get("val_fraction", default), "files": fixed.identity()}


def _check_optimizer_params(cfg: TrainingConfig) -> None:
    """Refuse ``optimizer_params`` names the optimizer does not take."""
    given = cfg.optimizer_params
    if given is None:
        return
    if not isinstance(given, Mapping):
        raise SpecError(
            f"optimizer_params={given!r} must be a mapping of optimizer settings or None."
        )
    names = OPTIMIZER_PARAMS.get(cfg.optimizer)
    if names is None:
        raise SpecError(
            f"optimizer '{cfg.optimizer}' takes no optimizer_params (got {dict(given)!r}). "
            "Fix: training={'optimizer_params': None}."
        )
    bad = sorted(set(given) - set(names))
    if bad:
        raise SpecError(
            f"optimizer_params {bad} do not apply to '{cfg.optimizer}', which takes "
            f"{', '.join(names)}. Fix: set training={{'optimizer_params': ...}} for this optimizer."
        )


def make_spec(
    model: str,
    scene: Any,
    *,
    recipe: str = "unified",
    seed: int = 0,
    protocol: str = "paper",
    protocol_params: dict[str, Any] | None = None,
    hparams: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    pca_fit: str | None = None,
    max_train_per_class: int | None = None,
    study: str = "",
    split_files: dict[str, Any] | None = None,
) -> TrialSpec:
    """Resolve a trial from a model's recipe and a loaded scene.

    Args:
        model: registry name.
        scene: a :class:`datasets.Scene` (its fingerprint, source and crop are recorded;
            the scene itself is kept for the runner, which hands it to the trials:
            :mod:`harness.scenes`).
        recipe: "unified" or "published".
        seed: trial seed.
        protocol: split protocol; ``protocol_params`` override its defaults (for
            ``block_cv``, ``fold`` picks the test fold: :func:`datasets.repetition`). For
            ``fixed:NAME`` the split is the scene's (``scene.splits[NAME]``), else read
            from ``split_files`` or from the scene file's declaration and kept with the
            scene; its files' checksums are recorded in ``protocol_params["files"]``.
        hparams: model hyperparameters on top of the recipe's.
        training: overrides of the recipe's training fields (e.g. ``{"epochs": 2}``).
        pca_fit: override of the recipe's PCA fit scope ("scene" or "train").
        max_train_per_class: subsample training pixels per class.
        study: search study name (stored, not hashed).
        split_files: with ``fixed:NAME``, the split's label maps
            (``{"train": path, "test": path, "val": path}``), for a split the scene
            file does not declare.

    Raises:
        SpecError: an unknown training field or a bad value; model/recipe/protocol
            errors from their registries.
    """
    import datasets
    import models

    from .scenes import remember

    entry = models.get_model_entry(model)
    rec = entry.recipe(recipe)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"seed={seed!r} must be a non-negative integer.")
    params = {**datasets.protocol_params(protocol), **(protocol_params or {})}
    unknown = sorted(set(protocol_params or {}) - set(datasets.protocol_params(protocol)))
    if unknown:
        raise SpecError(
            f"protocol '{protocol}' has no parameter(s) {unknown}; it takes "
            f"{sorted(datasets.protocol_params(protocol))}."
        )
    if datasets.is_fixed(protocol):
        params = _fixed_params(scene, protocol, protocol_params or {}, split_files)
    if protocol in ("disjoint", "block_cv") and "patch_size" not in (protocol_params or {}):
        params["patch_size"] = rec.patch_size  # the buffer follows the window actually used
    datasets.check_params(protocol, params)  # e.g. a fold outside 0..k-1, before any trial
    base = TrainingConfig(
        optimizer=rec.optimizer,
        lr=rec.lr,
        weight_decay=rec.weight_decay,
        batch_size=rec.batch_size,
        eval_batch_size=rec.eval_batch_size,
        epochs=rec.epochs,
        scheduler=rec.scheduler,
        augment=rec.augment,
        select_on=rec.select_on,
        optimizer_params=rec.optimizer_params,
        model_param_groups=rec.model_param_groups,
    )
    allowed = {f.name for f in fields(TrainingConfig)}
    bad = sorted(set(training or {}) - allowed)
    if bad:
        raise SpecError(f"unknown training field(s) {bad}; allowed: {sorted(allowed)}.")
    train_cfg = replace(base, **(training or {}))
    _check_optimizer_params(train_cfg)
    fit = pca_fit or rec.pca_fit
    if fit not in ("scene", "train"):
        raise SpecError(f"pca_fit={fit!r} must be 'scene' or 'train'.")
    if max_train_per_class is not None and (
        not isinstance(max_train_per_class, int) or max_train_per_class < 1
    ):
        raise SpecError(
            f"max_train_per_class={max_train_per_class!r} must be a positive integer or None."
        )
    remember(scene)  # the runner hands this very scene to the spec's trials
    return TrialSpec(
        model=model,
        recipe=recipe,
        hparams={**rec.hparams, **(hparams or {})},
        scene=scene.name,
        source=scene.source,
        scene_fingerprint=scene.fingerprint,
        crop=scene.crop,
        surrogate_seed=int(scene.surrogate["seed"]) if scene.surrogate else 0,
        protocol=protocol,
        protocol_params=params,
        seed=seed,
        n_components=rec.components_for(scene.name),
        pca_fit=fit,
        scale=rec.scale,
        whiten=rec.whiten,
        patch_size=rec.patch_size,
        pad_mode=rec.pad_mode,
        training=train_cfg,
        max_train_per_class=max_train_per_class,
        study=study,
        family=entry.family,
    )
