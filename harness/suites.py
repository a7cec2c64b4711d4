"""Suites: named lists of trials, as data.

A suite expands :class:`SuiteOptions` (what the command line chose) into
:class:`~harness.spec.TrialSpec` objects. ``python -m harness.run --list-suites``
prints them.

- ``smoke``: every tiny model variant on a small Indian Pines surrogate crop,
  1 seed, 1 epoch, 20 training pixels per class (CI and tests); an explicit
  ``--source`` (e.g. ``real`` for a scene file's own cube) replaces the surrogate.
- ``quick``: the six models on 64 x 64 crops of Indian Pines and Salinas (real
  when found, else surrogate), 1 seed, 80 training pixels per class, the deep
  baselines up to 30 epochs at lr 1e-3 with early stopping (patience 6), and
  CLAReSNet as ``claresnet_lite`` (the paper's network on 15 PCA components and
  7 x 7 windows; the name says so in every table) up to 12 epochs at the
  paper's lr 1e-4 (patience 4): a check of the whole pipeline in about 10
  minutes on a 2-core laptop. Its numbers are not a benchmark; a model that did
  not learn its task is flagged "predicts one class" in the summary and the
  dashboard, not printed as a result.
- ``paper``: the CLAReSNet paper's protocol: the six models x {Indian Pines,
  Salinas} x 5 seeds, 72/8/20 split, PCA 30 on the scene, 11 x 11, augmentation,
  40 epochs, the ``unified`` recipe; refuses surrogates unless ``--source
  surrogate`` is given explicitly.
- ``published``: as ``paper``, each baseline with its authors' recipe.
- ``leakage``: every model under the ``paper`` and ``disjoint`` protocols (3 seeds)
  and the ``block_cv`` cross-validation (2 repetitions of its 5 folds), with PCA
  fitted on the scene and on the training pixels only: 32 trials per model and scene,
  384 for the six models on both scenes.
- ``search``: an Optuna study (seeded TPE through Ray Tune, ASHA early stopping)
  over CLAReSNet's latent-token and dilation settings, width, depth and learning
  rate on the paper's protocol (validation accuracy), then the best configuration
  over the seeds on the test split. Its ``build`` returns
  :class:`~harness.search.SearchPlan` objects, one per scene and model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .spec import TrialSpec, make_spec

if TYPE_CHECKING:
    from datasets.scene import Source

#: The six models of the paper's tables.
PAPER_MODELS = ("random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet")
#: The quick suite's: CLAReSNet's network on a lighter input (``claresnet_lite``: 15 PCA
#: components, 7 x 7 windows), which learns its small task in minutes on a CPU.
QUICK_MODELS = (*PAPER_MODELS[:-1], "claresnet_lite")
PAPER_SCENES = ("indian_pines", "salinas")


class SuiteError(ValueError):
    """A suite that cannot be built as asked (the message names the flag and the fix)."""


@dataclass(frozen=True)
class SuiteOptions:
    """What the command line chose; ``None`` means the suite's default."""

    scenes: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    seeds: int | None = None
    #: ``--seed``: exactly these seeds (None: ``range(seeds)``, or the suite's).
    seed: tuple[int, ...] | None = None
    protocol: str | None = None
    #: ``--split-file``: the label maps of an ad hoc ``fixed:NAME`` split, by role
    #: (paths or :class:`datasets.registry.SplitFileSpec`); one scene only.
    split_files: tuple[tuple[str, Any], ...] = ()
    recipe: str | None = None
    source: Source = "auto"
    source_given: bool = False
    data_dir: str | None = None
    #: Epochs of the deep models (None: the suite's or the recipe's).
    epochs: int | None = None
    #: Training fields set on every deep model's spec (fast-path switches, amp).
    training: tuple[tuple[str, Any], ...] = ()
    #: Search suite: trials per study, study name, sampler seed.
    trials: int | None = None
    study: str | None = None
    sampler_seed: int = 0
    #: ``--pca-fit``: PCA fitted on "scene" or "train" pixels (None: the recipe's; the
    #: leakage suite: both, or only this one).
    pca_fit: str | None = None


@dataclass(frozen=True)
class Suite:
    """A named spec generator.

    ``kind`` "grid": ``build`` returns trial specs; "search": it returns
    :class:`~harness.search.SearchPlan` objects.
    """

    name: str
    description: str
    build: Callable[[SuiteOptions], list[Any]] = field(repr=False)
    kind: str = "grid"


def _scene(name: str, opts: SuiteOptions, crop: tuple[int, int] | None = None):
    import datasets

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", datasets.SurrogateWarning)
        scene = datasets.load_scene(name, source=opts.source, data_dir=opts.data_dir)
    for w in caught:
        if issubclass(w.category, datasets.SurrogateWarning):
            warnings.warn(w.message, datasets.SurrogateWarning, stacklevel=3)
    fixed = None
    if opts.protocol is not None and datasets.is_fixed(opts.protocol):
        fixed = datasets.load_split(
            scene,
            datasets.fixed_name(opts.protocol),
            dict(opts.split_files) or None,
            data_dir=opts.data_dir,
        )
    if crop is not None:
        scene = _crop_with_most_classes(scene, *crop, fixed=fixed)
    return scene


def _crop_with_most_classes(scene, height: int, width: int, fixed=None):
    """The ``height`` x ``width`` window (on a coarse grid) holding the most classes, then
    most pixels; with a fixed split, the most classes with both training and test
    pixels, then the most training pixels."""
    import numpy as np

    h, w = scene.shape
    height, width = min(height, h), min(width, w)
    best = None
    for r in range(0, h - height + 1, max(1, height // 4)):
        for c in range(0, w - width + 1, max(1, width // 4)):
            if fixed is not None:
                roles = fixed.roles[r : r + height, c : c + width].ravel()
                labels = fixed.labels[r : r + height, c : c + width].ravel()
                n = scene.n_classes + 1
                train = np.bincount(labels[roles == 1], minlength=n)[1:]
                test = np.bincount(labels[roles == 3], minlength=n)[1:]
                key = (int(((train >= 2) & (test >= 1)).sum()), int(train.sum()))
            else:
                window = scene.gt[r : r + height, c : c + width]
                counts = np.bincount(window.ravel(), minlength=scene.n_classes + 1)[1:]
                key = (int((counts >= 4).sum()), int(counts.sum()))
            if best is None or key > best[0]:
                best = (key, r, c)
    assert best is not None  # the window fits: h >= height and w >= width
    _, r, c = best
    return scene.crop_to(r, r + height, c, c + width)


def _models(opts: SuiteOptions, default: tuple[str, ...]) -> tuple[str, ...]:
    import models

    chosen = opts.models or default
    for name in chosen:
        models.get_model_entry(name)  # unknown names fail here, with suggestions
    return tuple(chosen)


def _seeds(opts: SuiteOptions, default: int) -> Sequence[int]:
    if opts.seed is not None:
        return opts.seed
    return range(opts.seeds if opts.seeds is not None else default)


def _grid(
    opts: SuiteOptions,
    scenes: list[Any],
    default_models: tuple[str, ...],
    default_seeds: int,
    recipe: str = "unified",
    training: Callable[[str], dict[str, Any] | None] = lambda model: None,
    **spec_kwargs: Any,
) -> list[TrialSpec]:
    """Every scene x model x seed (x fold, for a cross-validation protocol: every seed
    is a repetition of all its folds), with the command line's protocol, recipe and
    epochs."""
    import datasets

    protocol = opts.protocol or "paper"
    return [
        make_spec(
            model,
            scene,
            seed=seed,
            protocol=protocol,
            protocol_params=fold or None,
            recipe=opts.recipe or recipe,
            training=_with_epochs(opts, model, training(model)),
            pca_fit=opts.pca_fit,
            **spec_kwargs,
        )
        for scene in scenes
        for model in _models(opts, default_models)
        for seed in _seeds(opts, default_seeds)
        for fold in datasets.repetition(protocol)
    ]


def _with_epochs(
    opts: SuiteOptions, model: str, training: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``--epochs``, ``--fast-path`` and ``--amp`` on top of a suite's training
    overrides (deep models only)."""
    import models

    extra = dict(opts.training)
    if opts.epochs is not None:
        extra["epochs"] = opts.epochs
    if not extra or models.get_model_entry(model).kind != "torch":
        return training
    return {**(training or {}), **extra}


def _smoke(opts: SuiteOptions) -> list[TrialSpec]:
    import models

    tiny = tuple(n for n in models.list_models() if models.get_model_entry(n).tiny)
    # a surrogate, unless --source was given (a user scene's own cube file, read for real)
    chosen = opts if opts.source_given else replace(opts, source="surrogate")
    scenes = [_scene(name, chosen, crop=(32, 32)) for name in opts.scenes or ("indian_pines",)]
    return _grid(
        opts,
        scenes,
        tiny,
        1,
        max_train_per_class=20,
        training=lambda model: {"epochs": 1, "batch_size": 32},
    )


#: Training pixels per class of the quick suite: enough for the pixel classifiers to
#: pass 60 % test OA on both crops (on the Indian Pines surrogate crop, Random Forest
#: 58.5 / 65.5 / 65.9 % and XGBoost 56.5 / 57.9 / 61.7 % at 30 / 60 / 80 per class; on
#: the real cube's crop Random Forest 60.7 % at 30 and 68.4 % at 60).
QUICK_TRAIN_PER_CLASS = 80
#: The quick suite's schedule for the deep baselines: up to 30 epochs at lr 1e-3,
#: stopped when validation OA has not improved for 6 epochs (best epoch kept).
QUICK_TRAINING = {"epochs": 30, "lr": 1e-3, "patience": 6}
#: Per model family, instead: CLAReSNet at the paper's learning rate (at 1e-3 it does not
#: learn), up to 12 epochs with patience 4: it starts to learn only after about 150
#: steps (docs/BENCHMARKS.md, "The quick suite").
QUICK_TRAINING_BY_FAMILY: dict[str, dict[str, Any]] = {
    "claresnet": {"epochs": 12, "lr": 1e-4, "patience": 4}
}


def _quick_training(model: str) -> dict[str, Any] | None:
    import models

    entry = models.get_model_entry(model)
    if entry.kind != "torch":
        return None
    return QUICK_TRAINING_BY_FAMILY.get(entry.family, QUICK_TRAINING)


def _quick(opts: SuiteOptions) -> list[TrialSpec]:
    scenes = [_scene(name, opts, crop=(64, 64)) for name in opts.scenes or PAPER_SCENES]
    return _grid(
        opts,
        scenes,
        QUICK_MODELS,
        1,
        max_train_per_class=QUICK_TRAIN_PER_CLASS,
        training=_quick_training,
    )


def _real_scene(scene_name: str, opts: SuiteOptions, suite: str):
    """The scene of a paper-protocol suite: real, unless surrogates were asked for explicitly."""
    scene = _scene(scene_name, opts)
    if scene.source == "surrogate" and not (opts.source == "surrogate" and opts.source_given):
        from datasets.cli_options import python_command

        hint = scene.info.download_hint() or python_command(
            f"datasets download {scene_name} --data-dir data"
        )
        raise SuiteError(
            f"The {suite} suite needs the real scenes, but '{scene_name}' resolved to a SURROGATE "
            "(its cube file was not found). Fix: pass --download (fetches the real files into "
            f"./data or --data-dir), or download them yourself ({hint}), or pass --data-dir DIR "
            "holding them; to run on surrogates anyway, pass --source surrogate explicitly."
        )
    return scene


def _paper_like(recipe: str) -> Callable[[SuiteOptions], list[TrialSpec]]:
    def build(opts: SuiteOptions) -> list[TrialSpec]:
        specs = []
        for scene_name in opts.scenes or PAPER_SCENES:
            scene = _real_scene(scene_name, opts, "paper" if recipe == "unified" else "published")
            specs += _grid(opts, [scene], PAPER_MODELS, 5, recipe=recipe)
        return specs

    return build


#: Default trials of a study (``--trials``).
SEARCH_TRIALS = 30


def _search(opts: SuiteOptions) -> list[Any]:
    from .search import SEARCH_SEED_OFFSET, SEARCH_SPACES, SearchPlan

    chosen = opts.models or ("claresnet",)
    for model in chosen:
        if model not in SEARCH_SPACES:
            raise SuiteError(
                f"--models {model!r}: the search suite has no search space for it. "
                f"Searchable: {', '.join(SEARCH_SPACES)}."
            )
    if opts.study and len(chosen) * len(opts.scenes or ("indian_pines",)) > 1:
        raise SuiteError(
            "--study names one study, but the search would run one per scene and model. "
            "Fix: pass one --scene and one --models with --study, or leave --study out."
        )
    seeds = tuple(_seeds(opts, 5))
    plans = []
    for scene_name in opts.scenes or ("indian_pines",):
        scene = _real_scene(scene_name, opts, "search")
        for model in chosen:
            base = make_spec(
                model,
                scene,
                seed=SEARCH_SEED_OFFSET + opts.sampler_seed,
                protocol=opts.protocol or "paper",
                recipe=opts.recipe or "unified",
                training=_with_epochs(opts, model, None),
                pca_fit=opts.pca_fit,
            )
            plans.append(
                SearchPlan(
                    base_spec=base,
                    space=SEARCH_SPACES[model],
                    n_trials=opts.trials if opts.trials is not None else SEARCH_TRIALS,
                    seed=opts.sampler_seed,
                    final_seeds=seeds,
                    study=opts.study or "",
                )
            )
    return plans


#: The leakage suite's settings: (protocol, repetitions by default). A ``block_cv``
#: repetition is its k = 5 folds, each pixel tested once, so 2 of them (10 trials) stand
#: beside the 3 seeds of each other protocol; ``--seeds N`` sets all of them to N.
LEAKAGE_PROTOCOLS: tuple[tuple[str, int], ...] = (("paper", 3), ("disjoint", 3), ("block_cv", 2))


def _leakage(opts: SuiteOptions) -> list[TrialSpec]:
    import datasets

    specs = []
    for scene_name in opts.scenes or PAPER_SCENES:
        scene = _scene(scene_name, opts)
        for model in _models(opts, PAPER_MODELS):
            for protocol, repetitions in LEAKAGE_PROTOCOLS:
                if opts.protocol not in (None, protocol):
                    continue
                for fit in ("scene", "train"):
                    if opts.pca_fit not in (None, fit):
                        continue
                    for seed in _seeds(opts, repetitions):
                        for fold in datasets.repetition(protocol):
                            specs.append(
                                make_spec(
                                    model,
                                    scene,
                                    seed=seed,
                                    protocol=protocol,
                                    protocol_params=fold or None,
                                    pca_fit=fit,
                                    recipe=opts.recipe or "unified",
                                    training=_with_epochs(opts, model, None),
                                )
                            )
    return specs


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "smoke",
            "every tiny model on a 32 x 32 surrogate crop (--source real: the real cube's), "
            "1 seed, 1 epoch (CI)",
            _smoke,
        ),
        Suite(
            "quick",
            "six models on 64 x 64 crops of both scenes, 1 seed, short schedules with early "
            "stopping (~10 min, a pipeline check)",
            _quick,
        ),
        Suite(
            "paper",
            "the paper's protocol: six models x two scenes x 5 seeds, unified recipe",
            _paper_like("unified"),
        ),
        Suite(
            "published",
            "as paper, each baseline with its authors' recipe",
            _paper_like("published"),
        ),
        Suite(
            "leakage",
            "random vs spatially disjoint split vs 5-fold block CV, PCA on scene vs train "
            "pixels (384 trials)",
            _leakage,
        ),
        Suite(
            "search",
            "Optuna TPE + ASHA over CLAReSNet's latent/dilation settings (--trials N), "
            "then the best config over the seeds",
            _search,
            kind="search",
        ),
    )
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        import difflib

        close = difflib.get_close_matches(name, list(SUITES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SuiteError(f"--suite {name!r} is unknown.{hint} Available: {', '.join(SUITES)}.")
    return SUITES[name]
