"""The artifact codec: a trial's arrays as compact npz blobs, and back.

A :class:`~harness.result.TrialResult` carries its confusion matrix, PR curves,
embedding, maps, epoch curves and split counts as arrays; the store keeps each
named bundle as one ``np.savez_compressed`` blob (``artifacts.data``) in the
smallest dtype that holds it exactly (int16/int32 labels and counts, float32
curves and embeddings, float16 entropy). Readers get them back in the shapes a
``TrialResult`` holds them (:func:`artifact_value`).

    blobs = {name: encode_npz(arrays) for name, arrays in artifact_arrays(result).items()}
    value = artifact_value("pr_curves", decode_npz(blobs["pr_curves"]))
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..result import TrialResult

__all__ = [
    "ARTIFACT_NAMES",
    "artifact_arrays",
    "artifact_value",
    "compact_int",
    "decode_npz",
    "encode_npz",
]

#: Artifacts a trial can carry (each one npz blob in ``artifacts``).
ARTIFACT_NAMES = (
    "confusion",
    "pr_curves",
    "embedding_2d",
    "class_map",
    "entropy_map",
    "curves",
    "split_counts",
    "test_predictions",
)


def compact_int(array: np.ndarray, smallest: type = np.int32) -> np.ndarray:
    """Integers in ``smallest`` (int16/int32) when they fit, else int64."""
    array = np.asarray(array)
    info = np.iinfo(smallest)
    if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
        return array.astype(smallest, copy=False)
    return array.astype(np.int64, copy=False)


def artifact_arrays(result: TrialResult) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of each artifact of ``result``, in their compact storage dtypes."""
    out: dict[str, dict[str, np.ndarray]] = {}
    if result.confusion is not None:
        out["confusion"] = {"confusion": compact_int(result.confusion)}
    if result.pr_curves:
        curves: dict[str, np.ndarray] = {}
        for label, (precision, recall) in sorted(result.pr_curves.items()):
            curves[f"precision_{int(label)}"] = np.asarray(precision, dtype=np.float32)
            curves[f"recall_{int(label)}"] = np.asarray(recall, dtype=np.float32)
        out["pr_curves"] = curves
    if result.embedding_2d is not None:
        emb = {"embedding_2d": np.asarray(result.embedding_2d, dtype=np.float32)}
        if result.embedding_labels is not None:
            emb["embedding_labels"] = compact_int(result.embedding_labels, np.int16)
        out["embedding_2d"] = emb
    if result.class_map is not None:
        out["class_map"] = {"class_map": compact_int(result.class_map, np.int16)}
    if result.entropy_map is not None:
        out["entropy_map"] = {"entropy_map": np.asarray(result.entropy_map, dtype=np.float16)}
    if result.curves:
        out["curves"] = {
            str(key): np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
            for key, values in result.curves.items()
        }
    if result.split_counts is not None:
        out["split_counts"] = {"split_counts": compact_int(result.split_counts)}
    if result.test_predictions is not None:
        out["test_predictions"] = {
            "index": compact_int(result.test_predictions["index"]),
            "truth": compact_int(result.test_predictions["truth"], np.int16),
            "pred": compact_int(result.test_predictions["pred"], np.int16),
        }
    return out


def encode_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """``np.savez_compressed`` bytes of ``arrays``."""
    buffer = io.BytesIO()
    named: dict[str, Any] = dict(arrays)
    np.savez_compressed(buffer, **named)
    return buffer.getvalue()


def decode_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def artifact_value(name: str, arrays: dict[str, np.ndarray]) -> Any:
    """An artifact in the shape :class:`TrialResult` holds it."""
    if name in ("confusion", "class_map", "entropy_map", "split_counts"):
        return arrays[name]
    if name == "pr_curves":
        labels = sorted(int(key.split("_", 1)[1]) for key in arrays if key.startswith("precision_"))
        return {lab: (arrays[f"precision_{lab}"], arrays[f"recall_{lab}"]) for lab in labels}
    if name == "embedding_2d":
        return {
            "embedding_2d": arrays["embedding_2d"],
            "embedding_labels": arrays.get("embedding_labels"),
        }
    return arrays  # "curves" and anything newer: {key: array}
