"""Hyperparameter searches: search spaces, the plan of a study, and its trials' specs.

A search is a :class:`SearchPlan`: a base trial spec, a search space, a number of
trials and a sampler seed. The runner (:func:`harness.execute.run_search`) drives
it with Ray Tune's ``OptunaSearch`` (seeded TPE, asked and told on the driver)
and an ASHA scheduler fed each epoch's validation accuracy; every trial is an
ordinary trial spec tagged with the study's name, stored like any other. Then
the best configuration is trained again over the evaluation seeds and scored on
the test split, as ordinary (untagged) trials that the leaderboard counts.

Search spaces are data: ``{param: {"type": "int"|"float"|"categorical", "low",
"high", "step", "log", "choices", "target": "hparams"|"training", "encoding"}}``.
Tuples (dilation patterns, attention scales) are offered as strings such as
``"1-2-4"`` (``"encoding": "dash-tuple"``), which Optuna's categorical
distributions accept; :func:`apply_params` turns them back into tuples.

Search trials train on split seed ``SEARCH_SEED_OFFSET + sampler seed`` so that
the final evaluation seeds (0, 1, ...) are new trials, never a search trial
counted twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from .jsondata import to_json_data
from .spec import TrialSpec

#: Search trials use split seed SEARCH_SEED_OFFSET + the sampler seed.
SEARCH_SEED_OFFSET = 1000

_PATTERNS = ("1-2-3-4", "1-2-4-8", "1-1-2-2", "1-2-3", "1-2", "1")

#: CLAReSNet's latent-token and dilation settings, plus width, depth and learning rate.
#: The ranges keep every combination valid (latent_min <= 16 <= latent_max; emb_dim
#: divisible by the 8 heads).
CLARESNET_SPACE: dict[str, dict[str, Any]] = {
    "latent_min": {"type": "int", "low": 4, "high": 16, "step": 2, "target": "hparams"},
    "latent_max": {"type": "int", "low": 16, "high": 96, "step": 8, "target": "hparams"},
    "latent_base": {"type": "int", "low": 8, "high": 32, "step": 4, "target": "hparams"},
    "base_length": {"type": "categorical", "choices": [8, 16, 32], "target": "hparams"},
    "dilations": {
        "type": "categorical",
        "choices": list(_PATTERNS[:5]),
        "target": "hparams",
        "encoding": "dash-tuple",
    },
    "scales": {
        "type": "categorical",
        "choices": ["1", "1-2", "1-2-4", "1-2-4-8"],
        "target": "hparams",
        "encoding": "dash-tuple",
    },
    "emb_dim": {"type": "categorical", "choices": [128, 192, 256], "target": "hparams"},
    "n_layers": {"type": "int", "low": 1, "high": 4, "target": "hparams"},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True, "target": "training"},
}

#: The same parameters at the tiny variant's scale (4 heads), for tests and laptops.
CLARESNET_TINY_SPACE: dict[str, dict[str, Any]] = {
    "latent_min": {"type": "int", "low": 2, "high": 8, "step": 2, "target": "hparams"},
    "latent_max": {"type": "int", "low": 8, "high": 24, "step": 8, "target": "hparams"},
    "latent_base": {"type": "int", "low": 4, "high": 16, "step": 4, "target": "hparams"},
    "base_length": {"type": "categorical", "choices": [8, 16], "target": "hparams"},
    "dilations": {
        "type": "categorical",
        "choices": ["1-2", "1-2-3", "1"],
        "target": "hparams",
        "encoding": "dash-tuple",
    },
    "scales": {
        "type": "categorical",
        "choices": ["1", "1-2"],
        "target": "hparams",
        "encoding": "dash-tuple",
    },
    "emb_dim": {"type": "categorical", "choices": [16, 32], "target": "hparams"},
    "n_layers": {"type": "int", "low": 1, "high": 2, "target": "hparams"},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "target": "training"},
}

#: Search spaces by model name (``--models`` of the search suite must be one of these).
SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "claresnet": CLARESNET_SPACE,
    "claresnet_tiny": CLARESNET_TINY_SPACE,
}


class SearchError(ValueError):
    """A search that cannot be set up as asked (the message names the value and the fix)."""


def to_optuna(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The search space as Optuna distributions (what ``OptunaSearch`` and importance use)."""
    import optuna

    out: dict[str, Any] = {}
    for name, d in space.items():
        kind = d.get("type")
        if kind == "int":
            out[name] = optuna.distributions.IntDistribution(
                int(d["low"]), int(d["high"]), step=int(d.get("step", 1)), log=bool(d.get("log"))
            )
        elif kind == "float":
            out[name] = optuna.distributions.FloatDistribution(
                float(d["low"]), float(d["high"]), log=bool(d.get("log")), step=d.get("step")
            )
        elif kind == "categorical":
            out[name] = optuna.distributions.CategoricalDistribution(list(d["choices"]))
        else:
            raise SearchError(
                f"search space parameter {name!r} has type {kind!r}; expected 'int', 'float' "
                "or 'categorical'."
            )
    return out


def decode(value: Any, dist: dict[str, Any]) -> Any:
    """A sampled value as the model takes it ("1-2-4" -> (1, 2, 4) for dash-tuples)."""
    if dist.get("encoding") == "dash-tuple":
        return tuple(int(v) for v in str(value).split("-"))
    return to_json_data(value)  # NumPy scalars from the sampler as Python numbers


def apply_params(
    base: TrialSpec, params: dict[str, Any], space: dict[str, dict[str, Any]], study: str
) -> TrialSpec:
    """The trial spec of one search trial: ``base`` with the sampled values written in."""
    unknown = sorted(set(params) - set(space))
    if unknown:
        raise SearchError(f"parameters {unknown} are not in the search space {sorted(space)}.")
    hparams = dict(base.hparams)
    training: dict[str, Any] = {}
    for name, value in params.items():
        dist = space[name]
        target = dist.get("target", "hparams")
        if target == "hparams":
            hparams[name] = decode(value, dist)
        elif target == "training":
            training[name] = decode(value, dist)
        else:
            raise SearchError(
                f"search space parameter {name!r} has target {target!r}; expected 'hparams' "
                "or 'training'."
            )
    return replace(base, hparams=hparams, training=replace(base.training, **training), study=study)


@dataclass(frozen=True)
class SearchPlan:
    """One study: what to search, how, and how to evaluate the winner.

    Attributes:
        base_spec: the spec every search trial starts from (seed: the search split seed).
        space: the search space (see the module docstring).
        n_trials: trials to finish (completed or pruned), counting those already stored.
        seed: the TPE sampler's seed.
        final_seeds: the evaluation seeds the best configuration is trained with.
        study: the study's name (default: model, scene and a digest of the settings,
            so the same command continues the same study).
        n_startup_trials: random trials before TPE models the results.
        grace_period, reduction_factor: ASHA's rungs (in epochs).
        max_concurrent: search trials at once (TPE learns from finished trials only).
    """

    base_spec: TrialSpec
    space: dict[str, dict[str, Any]]
    n_trials: int
    seed: int = 0
    final_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    study: str = ""
    n_startup_trials: int = 10
    grace_period: int = 5
    reduction_factor: int = 3
    max_concurrent: int = 4
    metric: str = "val_oa"
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise SearchError(f"--trials {self.n_trials} must be >= 1.")
        to_optuna(self.space)  # refuses a malformed space early
        if not self.study:
            object.__setattr__(self, "study", self.default_name())

    @property
    def epochs(self) -> int:
        return int(self.base_spec.training.epochs)

    def sampler_info(self) -> dict[str, Any]:
        return {
            "name": "TPESampler",
            "library": "optuna",
            "seed": self.seed,
            "n_startup_trials": self.n_startup_trials,
            "via": "ray.tune.search.optuna.OptunaSearch",
            "max_concurrent": self.max_concurrent,
        }

    def scheduler_info(self) -> dict[str, Any]:
        return {
            "name": "ASHAScheduler",
            "metric": "val_acc",
            "mode": "max",
            "time_attr": "training_iteration (epochs)",
            "max_t": self.epochs,
            "grace_period": min(self.grace_period, max(1, self.epochs // 3)),
            "reduction_factor": self.reduction_factor,
        }

    def default_name(self) -> str:
        settings = {
            "base": self.base_spec.spec_hash,
            "space": self.space,
            "sampler": {k: v for k, v in self.sampler_info().items() if k != "max_concurrent"},
            "scheduler": self.scheduler_info(),
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        return f"search-{self.base_spec.model}-{self.base_spec.scene}-{digest[:10]}"

    def trial_spec(self, params: dict[str, Any]) -> TrialSpec:
        return apply_params(self.base_spec, params, self.space, self.study)

    def final_specs(self, params: dict[str, Any]) -> list[TrialSpec]:
        """The best configuration over the evaluation seeds (untagged: leaderboard trials);
        under a cross-validation protocol, every fold of every seed."""
        import datasets

        best = apply_params(self.base_spec, params, self.space, study="")
        folds = datasets.repetition(best.protocol, best.protocol_params)
        return [
            replace(best, seed=int(s), protocol_params={**best.protocol_params, **fold})
            for s in self.final_seeds
            for fold in folds
        ]


def study_params(spec: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """The searched values of a trial, read from its spec (a dict) by the search space.

    A parameter's ``target`` says where it lives ("hparams" or "training"); the
    ``"dash-tuple"`` encoding writes a tuple such as (1, 2, 4) as "1-2-4", the way
    the search space offers it.
    """
    params = {}
    for name, dist in space.items():
        holder = spec.get(dist.get("target", "hparams")) or {}
        if name not in holder:
            continue
        value = holder[name]
        if dist.get("encoding") == "dash-tuple" and isinstance(value, list | tuple):
            value = "-".join(str(v) for v in value)
        params[name] = value
    return params
