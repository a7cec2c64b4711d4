"""Plain JSON data from Python and NumPy values: the harness's one normaliser.

Specs are hashed from it (strict: a NaN in a spec is an error), the store writes
its JSON columns with it (lenient: a NaN or an infinity is stored as null, an
unknown object as its text), and the search hands sampled values through it.
Mappings become dicts with string keys, tuples and lists become lists, sets
become sorted lists, NumPy scalars and arrays become Python numbers and lists.
The way back (lists to tuples where a model expects them) is
``models._config._from_json_data``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["NonFiniteError", "to_json_data"]


class NonFiniteError(ValueError):
    """A NaN or an infinity where ``nonfinite="raise"`` (the number: ``.value``)."""

    def __init__(self, value: float) -> None:
        super().__init__(f"the non-finite number {value!r} is not JSON data")
        self.value = value


def to_json_data(value: Any, *, nonfinite: Literal["raise", "null"] = "raise") -> Any:
    """``value`` as plain JSON data, canonical (equal content, equal data).

    Args:
        value: dicts, lists, tuples, sets, numbers, strings, None, NumPy values.
        nonfinite: "raise" (:class:`NonFiniteError`) or "null" (None) for NaN and
            infinities; with "null", an object of another type becomes ``str(value)``
            (with "raise" it is left for ``json.dumps`` to refuse).
    """
    if isinstance(value, str | bytes | bool | int) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json_data(v, nonfinite=nonfinite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_data(v, nonfinite=nonfinite) for v in value]
    if isinstance(value, set | frozenset):
        return [to_json_data(v, nonfinite=nonfinite) for v in sorted(value, key=repr)]
    if getattr(value, "ndim", 0) > 0 and callable(getattr(value, "tolist", None)):
        return to_json_data(value.tolist(), nonfinite=nonfinite)  # an array
    if callable(getattr(value, "item", None)):
        value = value.item()  # a NumPy (or torch) scalar
        if isinstance(value, bool | int | str) or value is None:
            return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if nonfinite == "null":
            return None
        raise NonFiniteError(value)
    return str(value) if nonfinite == "null" else value
