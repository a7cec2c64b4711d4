"""The one JSON normaliser: what specs are hashed from and the store's JSON columns hold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.jsondata import NonFiniteError, to_json_data
from harness.spec import SpecError, _to_json_data


def test_numpy_values_become_python_values():
    data = to_json_data({"a": np.float32(0.5), 2: (np.int64(3), np.bool_(True)),
                         "arr": np.arange(4).reshape(2, 2), "s": {"b", "a"}})  # fmt: skip
    assert data == {"a": 0.5, "2": [3, True], "arr": [[0, 1], [2, 3]], "s": ["a", "b"]}
    assert type(data["a"]) is float and type(data["2"][0]) is int and data["2"][1] is True
    json.dumps(data, allow_nan=False)


def test_non_finite_numbers_raise_or_become_null():
    with pytest.raises(NonFiniteError) as info:
        to_json_data({"lr": [1.0, float("nan")]})
    assert math.isnan(info.value.value)
    assert to_json_data([np.float64("inf"), 1.5], nonfinite="null") == [None, 1.5]


def test_unknown_objects_become_text_only_when_lenient():
    path = Path("/tmp/x")
    assert to_json_data({"p": path}, nonfinite="null") == {"p": "/tmp/x"}
    assert to_json_data({"p": path})["p"] is path  # json.dumps refuses it later


def test_a_spec_refuses_a_non_finite_number():
    with pytest.raises(SpecError, match="cannot hold the non-finite number nan"):
        _to_json_data({"dropout": float("nan")})
