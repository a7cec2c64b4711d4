"""Shared pieces of the models' hyperparameter configs: building and validating them.

Every architecture keeps its hyperparameters in a frozen dataclass whose
``__post_init__`` validates them with the checks below (each error names the
value and what is allowed), and builds it from keyword hyperparameters with
:func:`config_from_hparams` (unknown names refused with a did-you-mean hint;
lists become tuples and NumPy scalars Python ones, as search libraries hand them
over).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, fields
from typing import Any, TypeVar

import numpy as np

from .registry import HyperparameterError

C = TypeVar("C")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> None:
    """Refuse anything but an integer >= 1."""
    if not is_int(value) or value < 1:
        raise HyperparameterError(f"{name}={value!r} must be a positive integer.")


def positive_int_tuple(name: str, value: Any, example: tuple[int, ...] | None = None) -> None:
    """Refuse anything but a non-empty tuple of integers >= 1."""
    if not isinstance(value, tuple) or not value or not all(is_int(v) and v >= 1 for v in value):
        hint = f", e.g. {example}" if example else ""
        raise HyperparameterError(
            f"{name}={value!r} must be a non-empty tuple of positive integers{hint}."
        )


def probability(name: str, value: Any) -> None:
    """Refuse anything but a number in [0, 1) (dropout rates)."""
    if not is_number(value) or not 0.0 <= value < 1.0:
        raise HyperparameterError(f"{name}={value!r} must be a number in [0, 1).")


def boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise HyperparameterError(f"{name}={value!r} must be True or False.")


def one_of(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise HyperparameterError(f"{name}={value!r} must be one of {', '.join(choices)}.")


def _from_json_data(value: Any) -> Any:
    """JSON data to config values: lists as tuples, NumPy scalars as Python ones (the
    way there, tuples to lists, is ``harness.spec._to_json_data``)."""
    if isinstance(value, list):
        return tuple(_from_json_data(v) for v in value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def config_from_hparams(cls: type[C], label: str, base: C | None, hparams: dict[str, Any]) -> C:
    """``base`` (default: ``cls()``) with ``hparams`` applied; unknown names refused.

    Args:
        cls: the config dataclass.
        label: the model's name in error messages (e.g. "CLAReSNet").
        base: the config to start from (e.g. a tiny variant's).
        hparams: keyword hyperparameters.
    """
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, allowed, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise HyperparameterError(
            f"Unknown {label} hyperparameter(s) {', '.join(hints)}. Allowed: {', '.join(allowed)}."
        )
    values = asdict(base if base is not None else cls())
    values.update({k: _from_json_data(v) for k, v in hparams.items()})
    return cls(**values)
