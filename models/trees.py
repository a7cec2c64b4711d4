"""Random Forest and XGBoost on per-pixel spectra (shared/BASELINES.md, "Random Forest and XGBoost").

Two scikit-learn-style wrappers, registered with ``kind="sklearn"``, ``input="spectrum"``
and ``patch_size=1``:

- ``random_forest`` (and ``random_forest_tiny``): scikit-learn's
  ``RandomForestClassifier``;
- ``xgboost`` (and ``xgboost_tiny``): ``xgboost.XGBClassifier`` with
  ``tree_method="hist"``, ``objective="multi:softprob"`` and early stopping on the
  validation set's multi-class log loss.

Both take N x T spectra and integer labels 0..C-1::

    model = models.build_model("xgboost", n_bands=30, n_classes=16, patch_size=1)
    model.fit(x_train, y_train, x_val, y_val)
    proba = model.predict_proba(x_test)   # N x C, a column for every class 0..C-1
    model.fit_info                        # for the trial record (see below)
    model.complexity()                    # tree and node counts (instead of parameters)

Choices:

- **Every class has a column.** A split (or a crop) can leave a class without
  training pixels. XGBoost's scikit-learn wrapper requires the labels to be
  exactly 0..K-1, and a forest's ``predict_proba`` has one column per class it
  saw. Both wrappers therefore fit on the K labels present in training (XGBoost on
  the present labels remapped to 0..K-1, with ``num_class=K``) and scatter the K
  probabilities back into C columns; a class absent from training gets exactly 0.
  (A booster trained with ``num_class=C`` would also give C columns, but a small
  non-zero probability to classes it never saw.) With a single training class
  XGBoost is not fitted at all: the model predicts that class with probability 1
  (``fit_info["constant"]``); the forest handles it natively.
- **Validation set.** ``fit`` always takes ``x_val, y_val``. The forest does not
  use them for fitting (it has no early stopping); XGBoost stops when the
  validation mlogloss has not improved for ``early_stopping_rounds`` rounds and
  predicts with the trees up to the best round. Validation pixels of a class
  absent from training cannot be scored by a K-class booster and are left out of
  the early-stopping metric (counted in ``fit_info["val_rows_unseen_class"]``).
  Both record the validation accuracy over all validation rows.
- **No embedding.** :meth:`embed` returns None: a tree ensemble has no feature
  space comparable with the deep models' penultimate layer, so the harness
  stores a null class-centroid distance for these models, as the CLAReSNet
  paper's tables do (no t-SNE or centroid figure for RF and XGBoost).
- **Size.** Instead of a parameter count, :meth:`complexity` gives the number of
  trees actually used and their total number of nodes (split and leaf nodes);
  :meth:`n_parameters` returns that node count, which the harness records in the
  parameter column. For XGBoost only the trees up to the best round count (K trees
  per round with ``multi:softprob``).
- **GPU.** ``device="cuda"`` (or ``"cuda:<ordinal>"``) puts XGBoost on the GPU.
  XGBoost itself silently falls back to the CPU when no GPU is visible; this
  wrapper refuses instead (a :class:`HyperparameterError` at build time, from a
  one-round probe fit), so that a timing recorded as a GPU run is one. The forest
  is CPU only.
- **Threads.** ``n_jobs=-1`` (the default) means the process's CPU allotment:
  ``OMP_NUM_THREADS`` when set (Ray sets it to a trial's ``num_cpus``), otherwise
  ``joblib.cpu_count()``, which honours the CPU affinity mask and cgroup quotas
  (taskset, Slurm, containers). A harness that shares a machine between trials
  some other way passes the trial's CPU count. The number used is recorded in
  ``fit_info["n_jobs"]``; it does not change the result. Oversubscription is
  costly for XGBoost: its OpenMP threads spin at every barrier, and with 2 threads
  on 2 cores that other processes also used, a 48-round fit on 40 pixels took
  47 s instead of 0.07 s (0.07 s with ``OMP_WAIT_POLICY=PASSIVE`` in the
  environment, which must be set before scikit-learn or xgboost is imported, or
  with ``n_jobs=1``).
- **Inputs.** ``fit`` and ``predict_proba`` refuse anything but finite real
  2-D arrays with T = ``n_bands`` columns, and labels that are not integers in
  0..C-1, with an error that names the offending value (labels are 0-based:
  ``gt - 1``).

Defaults (measured on the Indian Pines surrogate, paper split 72/8/20, split
seed 0, PCA 30 fitted on the scene; 2 shared CPU cores; surrogate numbers, for
the choice only):

- Random Forest: 200 trees (scikit-learn's default is 100, R's randomForest
  500). Test OA was 78.6 / 78.5 / 78.6 % with 100 / 200 / 500 trees on the full
  scene and 77.4 / 79.2 / 79.5 % on a 72 x 72 crop, while 500 trees took 2.5-3.5x
  as long to fit as 200; 200 is where the curve had flattened. ``max_features="sqrt"``,
  unlimited depth and ``min_samples_leaf=1`` are the library's (and Breiman's)
  classification defaults.
- XGBoost: the library's defaults (``max_depth=6``, ``subsample=1``,
  ``colsample_bytree=1``, ``min_child_weight=1``, ``reg_lambda=1``) except the
  learning rate, 0.1 instead of 0.3 (79.5 against 79.1 % OA; the best round was
  140 against 36), with at most 500 rounds and early stopping after 30 rounds
  without improvement; the best round never came near 500 in those runs (at
  most 171, raw bands included).

Recipes: ``unified`` feeds the per-pixel spectra after the deep models' PCA (30
components fitted on the scene, ``patch_size=1``, no augmentation). The
baselines' sources give no single published recipe for these two models
(BASELINES.md: "after the same PCA as the deep models, or raw bands: record
which"); ``published`` records the alternative it names, the raw bands, with
per-band standardisation fitted on the scene. Trees are invariant to a per-band
monotone rescaling, so the standardisation changes nothing but the numbers'
range; it is kept so that every raw-band pipeline in the harness sees the same
input. A tree model trains in one call (``optimizer="sklearn"``): the recipes'
``epochs=1`` and ``batch_size=1`` are placeholders and ``lr``/``weight_decay``
are 0 (unused).
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._config import config_from_hparams, is_int, is_number, positive_int
from .recipes import UNIFIED
from .registry import HyperparameterError, register_model

MAX_FEATURES_NAMES = ("sqrt", "log2")
DEVICES = ("cpu", "cuda")
_MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------- validation


def _optional_positive_int(name: str, value: Any, none_means: str) -> None:
    if value is not None and (not is_int(value) or value < 1):
        raise HyperparameterError(
            f"{name}={value!r} must be a positive integer (>= 1), or None ({none_means})."
        )


def _fraction(name: str, value: Any) -> None:
    if not is_number(value) or not 0.0 < value <= 1.0:
        raise HyperparameterError(f"{name}={value!r} must be a number in (0, 1].")


def _non_negative(name: str, value: Any) -> None:
    if not is_number(value) or not 0.0 <= value < float("inf"):
        raise HyperparameterError(f"{name}={value!r} must be a finite number >= 0.")


def _n_jobs(value: Any) -> None:
    if not is_int(value) or (value < 1 and value != -1):
        raise HyperparameterError(
            f"n_jobs={value!r} must be a positive integer (threads), or -1 for every CPU "
            "this process may use."
        )


def _seed(value: Any) -> None:
    if not is_int(value) or not 0 <= value <= _MAX_SEED:
        raise HyperparameterError(f"seed={value!r} must be an integer in 0..{_MAX_SEED}.")


def resolve_n_jobs(n_jobs: int) -> int:
    """Threads to use: ``n_jobs`` itself, or for -1 this process's CPU allotment.

    The allotment is ``OMP_NUM_THREADS`` when it is set to a positive integer (Ray
    sets it to a trial's ``num_cpus``), otherwise ``joblib.cpu_count()`` (the CPUs
    of the affinity mask, within any cgroup quota).
    """
    if n_jobs != -1:
        return n_jobs
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    import joblib

    return max(1, int(joblib.cpu_count()))


# ----------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class RandomForestConfig:
    """Hyperparameters of the Random Forest (scikit-learn ``RandomForestClassifier``).

    Attributes:
        n_estimators: trees (>= 1).
        max_depth: maximum tree depth (>= 1), or None to grow until the leaves are pure
            or hold ``min_samples_leaf`` pixels.
        max_features: features tried per split: "sqrt", "log2", a fraction in (0, 1] of
            the T features, or a count 1..T.
        min_samples_leaf: pixels a leaf must hold (>= 1).
        n_jobs: threads (>= 1), or -1 for every CPU this process may use.
        seed: ``random_state`` (0..2**32 - 1); the same seed gives the same forest.
    """

    n_estimators: int = 200
    max_depth: int | None = None
    max_features: str | float | int = "sqrt"
    min_samples_leaf: int = 1
    n_jobs: int = -1
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int("n_estimators", self.n_estimators)
        _optional_positive_int("max_depth", self.max_depth, "no depth limit")
        positive_int("min_samples_leaf", self.min_samples_leaf)
        _n_jobs(self.n_jobs)
        _seed(self.seed)
        mf = self.max_features
        ok = (
            (isinstance(mf, str) and mf in MAX_FEATURES_NAMES)
            or (isinstance(mf, float) and 0.0 < mf <= 1.0)
            or (is_int(mf) and mf >= 1)
        )
        if not ok:
            raise HyperparameterError(
                f"max_features={mf!r} must be one of {', '.join(repr(n) for n in MAX_FEATURES_NAMES)}, "
                "a float in (0, 1] (fraction of the features) or a positive integer (a count)."
            )

    @classmethod
    def from_hparams(
        cls, base: RandomForestConfig | None = None, **hparams: Any
    ) -> RandomForestConfig:
        """Build a config from keyword hyperparameters (unknown names refused)."""
        return config_from_hparams(cls, "Random Forest", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class XGBoostConfig:
    """Hyperparameters of XGBoost (``xgboost.XGBClassifier``, ``tree_method="hist"``).

    Attributes:
        n_estimators: maximum boosting rounds (>= 1; K trees per round for K classes).
        max_depth: maximum tree depth (>= 1).
        learning_rate: shrinkage ``eta``, in (0, 1].
        subsample: fraction of the training pixels drawn for each round, in (0, 1].
        colsample_bytree: fraction of the features drawn for each tree, in (0, 1].
        min_child_weight: minimum hessian sum in a child (>= 0).
        reg_lambda: L2 penalty on the leaf weights (>= 0).
        early_stopping_rounds: stop after this many rounds without a better validation
            mlogloss (>= 1), or None to train all ``n_estimators`` rounds. Used only
            when ``fit`` is given a validation set.
        n_jobs: threads (>= 1), or -1 for every CPU this process may use.
        seed: ``random_state`` (0..2**32 - 1).
        device: "cpu", "cuda" or "cuda:<ordinal>" (a GPU must be visible to XGBoost).
    """

    n_estimators: int = 500
    max_depth: int = 6
    learning_rate: float = 0.1
    subsample: float = 1.0
    colsample_bytree: float = 1.0
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    early_stopping_rounds: int | None = 30
    n_jobs: int = -1
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        positive_int("n_estimators", self.n_estimators)
        positive_int("max_depth", self.max_depth)
        _fraction("learning_rate", self.learning_rate)
        _fraction("subsample", self.subsample)
        _fraction("colsample_bytree", self.colsample_bytree)
        _non_negative("min_child_weight", self.min_child_weight)
        _non_negative("reg_lambda", self.reg_lambda)
        _optional_positive_int(
            "early_stopping_rounds", self.early_stopping_rounds, "no early stopping"
        )
        _n_jobs(self.n_jobs)
        _seed(self.seed)
        if not _valid_device(self.device):
            raise HyperparameterError(
                f"device={self.device!r} must be one of {', '.join(repr(d) for d in DEVICES)} "
                "or 'cuda:<ordinal>' (e.g. 'cuda:0')."
            )

    @classmethod
    def from_hparams(cls, base: XGBoostConfig | None = None, **hparams: Any) -> XGBoostConfig:
        """Build a config from keyword hyperparameters (unknown names refused)."""
        return config_from_hparams(cls, "XGBoost", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _valid_device(device: Any) -> bool:
    if not isinstance(device, str):
        return False
    if device in DEVICES:
        return True
    head, sep, ordinal = device.partition(":")
    return head == "cuda" and sep == ":" and ordinal.isdigit()


@functools.lru_cache(maxsize=8)
def cuda_problem(device: str) -> str | None:
    """Why XGBoost cannot train on ``device`` (a "cuda..." string), or None when it can.

    Checks that this xgboost build has CUDA support, then fits one round on four
    pixels and reads back the device the booster actually used (XGBoost falls
    back to the CPU with only a warning when no GPU is visible).
    """
    import json

    import xgboost

    fix = (
        "Fix: run the trial on a machine with a GPU and give it one (e.g. Ray Tune "
        "resources {'gpu': 1}; check CUDA_VISIBLE_DEVICES and nvidia-smi), or set device='cpu'."
    )
    if not xgboost.build_info().get("USE_CUDA", False):
        return (
            f"device={device!r}: this xgboost build ({xgboost.__version__}) has no CUDA support. "
            "Fix: install a CUDA-enabled xgboost (the PyPI 'xgboost' wheels for Linux x86_64 "
            "include CUDA; 'xgboost-cpu' and some conda builds do not), or set device='cpu'."
        )
    x = np.array([[0.0], [1.0], [0.0], [1.0]], dtype=np.float32)
    y = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgboost.train(
                {"device": device, "tree_method": "hist", "objective": "binary:logistic"},
                xgboost.DMatrix(x, label=y),
                num_boost_round=1,
            )
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    except xgboost.core.XGBoostError as exc:
        return f"device={device!r}: xgboost could not train on the GPU ({exc}). {fix}"
    if not str(used).startswith("cuda"):
        return f"device={device!r}: no GPU is visible to xgboost (it would run on {used!r}). {fix}"
    return None


# ----------------------------------------------------------------------------- wrappers


class _TreeModel:
    """What the two wrappers share: input checks, the C-column scatter, the record."""

    family = ""

    def __init__(self, n_bands: int, n_classes: int, config: Any, name: str) -> None:
        self.n_bands = n_bands
        self.n_classes = n_classes
        self.config = config
        self.name = name
        self.classes_: np.ndarray | None = None  # labels seen in training, sorted
        self.fit_info: dict[str, Any] = {}
        self._complexity: dict[str, int] | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.as_dict().items())
        return f"{type(self).__name__}(n_bands={self.n_bands}, n_classes={self.n_classes}, {args})"

    # -- checks
    def _check_x(self, x: Any, what: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(
                f"{what} must be a 2-D array N x T of spectra (T = n_bands = {self.n_bands}); "
                f"got shape {arr.shape}."
            )
        if arr.dtype == np.bool_ or not (
            np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        ):
            raise TypeError(f"{what} must hold real numbers (float); got dtype {arr.dtype}.")
        if arr.shape[1] != self.n_bands:
            raise ValueError(
                f"{what} has T={arr.shape[1]} features per row but the model was built for "
                f"n_bands={self.n_bands}."
            )
        arr = arr.astype(np.float32, copy=False)
        finite = np.isfinite(arr)
        if not finite.all():
            bad = np.argwhere(~finite)
            r, c = (int(v) for v in bad[0])
            raise ValueError(
                f"{what} has {len(bad)} non-finite value(s) (first: {float(arr[r, c])!r} at row {r}, "
                f"feature {c}); spectra must be finite."
            )
        return arr

    def _check_y(self, y: Any, n: int, what: str) -> np.ndarray:
        arr = np.asarray(y)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"{what} must be a 1-D array of {n} labels; got shape {arr.shape}.")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"{what} must hold integer labels 0..{self.n_classes - 1}; got dtype {arr.dtype}."
            )
        bad = np.unique(arr[(arr < 0) | (arr >= self.n_classes)])
        if bad.size:
            shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise ValueError(
                f"{what} has label(s) {shown} outside 0..{self.n_classes - 1} "
                f"(n_classes={self.n_classes}); labels are 0-based (gt - 1)."
            )
        return arr.astype(np.int64, copy=False)

    def _check_fit_args(
        self, x_train: Any, y_train: Any, x_val: Any, y_val: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        x = self._check_x(x_train, "x_train")
        if x.shape[0] == 0:
            raise ValueError("x_train has no rows; a tree model needs training pixels.")
        y = self._check_y(y_train, x.shape[0], "y_train")
        if (x_val is None) != (y_val is None):
            raise ValueError("pass both x_val and y_val, or neither.")
        if x_val is None:
            return x, y, None, None
        xv = self._check_x(x_val, "x_val")
        yv = self._check_y(y_val, xv.shape[0], "y_val")
        return x, y, xv, yv

    def _require_fitted(self) -> None:
        if self.classes_ is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"{self.name} is not fitted yet: call fit(x_train, y_train, ...).")

    # -- the interface
    def fit(self, x_train: Any, y_train: Any, x_val: Any = None, y_val: Any = None) -> _TreeModel:
        """Fit on N x T spectra and labels 0..C-1 (``x_val, y_val``: see the module docstring)."""
        x, y, xv, yv = self._check_fit_args(x_train, y_train, x_val, y_val)
        t0 = time.perf_counter()
        self.classes_, self._complexity, self.fit_info = np.unique(y), None, {}
        try:
            info = self._fit(x, y, xv, yv)
            self._complexity = self._count()
        except BaseException:
            self.classes_ = None  # a failed fit leaves the model unfitted
            raise
        seen = [int(c) for c in self.classes_]
        self.fit_info = {
            "model": self.name,
            "n_train": int(x.shape[0]),
            "n_val": 0 if xv is None else int(xv.shape[0]),
            "classes_seen": seen,
            "classes_absent": [c for c in range(self.n_classes) if c not in set(seen)],
            **info,
            "n_trees": self._complexity["n_trees"],
            "n_nodes": self._complexity["n_nodes"],
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        if xv is not None:
            acc = float((self.predict(xv) == yv).mean()) if xv.shape[0] else None
            self.fit_info["val_accuracy"] = acc
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """N x C class probabilities (float64; a class absent from training gets 0)."""
        self._require_fitted()
        arr = self._check_x(x, "x")
        out = np.zeros((arr.shape[0], self.n_classes), dtype=np.float64)
        if arr.shape[0]:
            p = np.asarray(self._proba_seen(arr), dtype=np.float64)
            out[:, self.classes_] = p / p.sum(axis=1, keepdims=True)
        return out

    def predict(self, x: Any) -> np.ndarray:
        """N labels in 0..C-1 (the most probable class)."""
        return self.predict_proba(x).argmax(axis=1)

    def embed(self, x: Any) -> None:
        """None: tree ensembles have no feature space (a null class-centroid distance)."""
        del x
        return None

    def complexity(self) -> dict[str, int]:
        """Trees actually used, their nodes (split + leaf), leaves and deepest depth."""
        self._require_fitted()
        assert self._complexity is not None
        return dict(self._complexity)

    def n_parameters(self) -> int:
        """The total number of tree nodes (recorded where deep models give parameters)."""
        return self.complexity()["n_nodes"]

    def hparams(self) -> dict[str, Any]:
        return self.config.as_dict()

    # -- per model
    def _fit(
        self, x: np.ndarray, y: np.ndarray, xv: np.ndarray | None, yv: np.ndarray | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _proba_seen(self, x: np.ndarray) -> np.ndarray:
        """N x K probabilities of the K classes seen in training (in ``classes_`` order)."""
        raise NotImplementedError

    def _count(self) -> dict[str, int]:
        raise NotImplementedError


class RandomForestModel(_TreeModel):
    """scikit-learn ``RandomForestClassifier`` behind the harness's tree-model interface."""

    family = "random_forest"

    def __init__(
        self, n_bands: int, n_classes: int, config: RandomForestConfig, name: str = "random_forest"
    ) -> None:
        mf = config.max_features
        if is_int(mf) and mf > n_bands:
            raise HyperparameterError(
                f"max_features={mf} exceeds the {n_bands} features (n_bands); use 1..{n_bands}, "
                "a fraction in (0, 1], 'sqrt' or 'log2'."
            )
        super().__init__(n_bands, n_classes, config, name)
        self.estimator: Any = None

    def _fit(self, x, y, xv, yv):
        from sklearn.ensemble import RandomForestClassifier

        cfg = self.config
        n_jobs = resolve_n_jobs(cfg.n_jobs)
        self.estimator = RandomForestClassifier(
            n_estimators=cfg.n_estimators,
            max_depth=cfg.max_depth,
            max_features=cfg.max_features,
            min_samples_leaf=cfg.min_samples_leaf,
            n_jobs=n_jobs,
            random_state=cfg.seed,
        ).fit(x, y)
        assert np.array_equal(self.estimator.classes_, self.classes_)
        return {"n_jobs": n_jobs, "val_used_for_fitting": False}

    def _proba_seen(self, x):
        return self.estimator.predict_proba(x)

    def _count(self):
        trees = [est.tree_ for est in self.estimator.estimators_]
        return {
            "n_trees": len(trees),
            "n_nodes": int(sum(t.node_count for t in trees)),
            "n_leaves": int(sum(t.n_leaves for t in trees)),
            "max_depth": int(max(t.max_depth for t in trees)),
        }


class XGBoostModel(_TreeModel):
    """``xgboost.XGBClassifier`` (hist, multi:softprob, early stopping) behind the tree interface."""

    family = "xgboost"

    def __init__(
        self, n_bands: int, n_classes: int, config: XGBoostConfig, name: str = "xgboost"
    ) -> None:
        if config.device != "cpu":
            problem = cuda_problem(config.device)
            if problem:
                raise HyperparameterError(problem)
        super().__init__(n_bands, n_classes, config, name)
        self.estimator: Any = None
        self._rounds = 0  # boosting rounds used for prediction

    def _fit(self, x, y, xv, yv):
        import xgboost

        cfg = self.config
        n_jobs = resolve_n_jobs(cfg.n_jobs)
        k = len(self.classes_)
        info: dict[str, Any] = {
            "n_jobs": n_jobs,
            "device": cfg.device,
            "n_estimators": cfg.n_estimators,
            "constant": k == 1,
        }
        if k == 1:  # nothing to learn: the one class seen gets probability 1
            self.estimator, self._rounds = None, 0
            return {**info, "best_iteration": None, "rounds_trained": 0, "early_stopped": False}
        lookup = np.full(self.n_classes, -1, dtype=np.int64)
        lookup[self.classes_] = np.arange(k)
        eval_set = None
        if xv is not None:
            keep = lookup[yv] >= 0
            info["val_rows_unseen_class"] = int((~keep).sum())
            if keep.any():
                eval_set = [(xv[keep], lookup[yv[keep]])]
        stop = cfg.early_stopping_rounds if eval_set is not None else None
        self.estimator = xgboost.XGBClassifier(
            objective="multi:softprob",
            num_class=k,
            tree_method="hist",
            device=cfg.device,
            n_estimators=cfg.n_estimators,
            max_depth=cfg.max_depth,
            learning_rate=cfg.learning_rate,
            subsample=cfg.subsample,
            colsample_bytree=cfg.colsample_bytree,
            min_child_weight=cfg.min_child_weight,
            reg_lambda=cfg.reg_lambda,
            eval_metric="mlogloss",
            early_stopping_rounds=stop,
            n_jobs=n_jobs,
            random_state=cfg.seed,
        )
        self.estimator.fit(x, lookup[y], eval_set=eval_set, verbose=False)
        trained = int(self.estimator.get_booster().num_boosted_rounds())
        best = int(self.estimator.best_iteration) if stop is not None else trained - 1
        self._rounds = best + 1
        info.update(
            best_iteration=best,
            rounds_trained=trained,
            early_stopped=trained < cfg.n_estimators,
            early_stopping_rounds=stop,
        )
        if eval_set is not None:
            curve = self.estimator.evals_result()["validation_0"]["mlogloss"]
            info["val_mlogloss"] = float(curve[best])
        return info

    def _proba_seen(self, x):
        if self.estimator is None:
            return np.ones((x.shape[0], 1))
        with warnings.catch_warnings():  # numpy input to a GPU booster: harmless notice
            warnings.filterwarnings("ignore", message=".*mismatched devices.*")
            return self.estimator.predict_proba(x, iteration_range=(0, self._rounds))

    def _count(self):
        if self.estimator is None:
            return {"n_trees": 0, "n_nodes": 0, "n_leaves": 0, "max_depth": 0}
        dump = self.estimator.get_booster()[: self._rounds].get_dump()
        nodes = leaves = depth = 0
        for tree in dump:
            for line in tree.splitlines():
                if not line.strip():
                    continue
                nodes += 1
                leaves += "leaf=" in line
                depth = max(depth, len(line) - len(line.lstrip("\t")))
        return {"n_trees": len(dump), "n_nodes": nodes, "n_leaves": leaves, "max_depth": depth}


# ----------------------------------------------------------------------------- registry

#: Per-pixel spectra after the deep models' PCA; tree models fit in one call.
UNIFIED_TREES = UNIFIED.with_(
    patch_size=1,
    n_components=30,
    pca_fit="scene",
    scale="none",
    whiten=False,
    optimizer="sklearn",
    augment=False,
    lr=0.0,
    weight_decay=0.0,
    batch_size=1,
    epochs=1,
    scheduler=None,
    select_on="last",
    notes="Unified pipeline for tree models: per-pixel spectra (patch_size 1) after PCA to 30 "
    "components fitted on the scene, no augmentation, fitted in one call (optimizer 'sklearn'; "
    "epochs=1, batch_size=1, lr and weight_decay are placeholders). XGBoost's early stopping on "
    "the validation mlogloss is its model selection.",
)

RECIPES = {
    "unified": UNIFIED_TREES,
    "published": UNIFIED_TREES.with_(
        name="published",
        n_components=None,
        scale="standard",
        notes="Raw bands (no PCA), per-band standardisation fitted on the scene. The baselines' "
        "sources give no single published recipe for RF and XGBoost; shared/BASELINES.md names "
        "'the same PCA as the deep models, or raw bands', and this records the raw-band "
        "alternative. Fitted in one call (epochs=1, batch_size=1, lr are placeholders).",
    ),
}

RF_TINY = RandomForestConfig(n_estimators=10, max_depth=8, n_jobs=1)
XGB_TINY = XGBoostConfig(
    n_estimators=20, max_depth=3, learning_rate=0.3, early_stopping_rounds=5, n_jobs=1
)


def _check_patch(patch_size: int) -> None:
    if patch_size != 1:
        raise HyperparameterError(
            f"patch_size={patch_size} must be 1: tree models take centre-pixel spectra (N x T)."
        )


@register_model(
    "random_forest",
    input="spectrum",
    patch_size=1,
    n_components=30,
    kind="sklearn",
    recipes=RECIPES,
)
def random_forest(
    n_bands: int, n_classes: int, patch_size: int = 1, **hparams: Any
) -> RandomForestModel:
    """Random Forest on per-pixel spectra (scikit-learn, 200 trees, sqrt features per split)."""
    _check_patch(patch_size)
    cfg = RandomForestConfig.from_hparams(None, **hparams)
    return RandomForestModel(n_bands, n_classes, cfg, name="random_forest")


@register_model(
    "random_forest_tiny",
    input="spectrum",
    patch_size=1,
    n_components=30,
    family="random_forest",
    tiny=True,
    kind="sklearn",
    recipes=RECIPES,
)
def random_forest_tiny(
    n_bands: int, n_classes: int, patch_size: int = 1, **hparams: Any
) -> RandomForestModel:
    """Random Forest, tiny variant for tests and the smoke suite (10 trees, depth 8, 1 thread)."""
    _check_patch(patch_size)
    cfg = RandomForestConfig.from_hparams(RF_TINY, **hparams)
    return RandomForestModel(n_bands, n_classes, cfg, name="random_forest_tiny")


@register_model(
    "xgboost", input="spectrum", patch_size=1, n_components=30, kind="sklearn", recipes=RECIPES
)
def xgboost_model(
    n_bands: int, n_classes: int, patch_size: int = 1, **hparams: Any
) -> XGBoostModel:
    """XGBoost on per-pixel spectra (hist, softprob, lr 0.1, <= 500 rounds, early stopping 30)."""
    _check_patch(patch_size)
    cfg = XGBoostConfig.from_hparams(None, **hparams)
    return XGBoostModel(n_bands, n_classes, cfg, name="xgboost")


@register_model(
    "xgboost_tiny",
    input="spectrum",
    patch_size=1,
    n_components=30,
    family="xgboost",
    tiny=True,
    kind="sklearn",
    recipes=RECIPES,
)
def xgboost_tiny(n_bands: int, n_classes: int, patch_size: int = 1, **hparams: Any) -> XGBoostModel:
    """XGBoost, tiny variant for tests and the smoke suite (20 rounds, depth 3, 1 thread)."""
    _check_patch(patch_size)
    cfg = XGBoostConfig.from_hparams(XGB_TINY, **hparams)
    return XGBoostModel(n_bands, n_classes, cfg, name="xgboost_tiny")
