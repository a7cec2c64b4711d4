"""A fingerprint of the harness's observable behaviour, to prove a refactor changed none.

It captures, as SHA-256 digests in one JSON file:

- ``report``: ``python -m harness.report`` in every format and table on the fixture
  results database (``tests/data/make_results_db.py``, seeded), byte for byte;
- ``db``: ``python -m harness.db history`` and ``current`` on that database;
- ``trials``: 12 trials run in-process (the smoke suite's tiny models on a 32 x 32
  surrogate crop, plus block CV folds, a disjoint split and PCA on the training pixels),
  each result's every array, metric, curve and info field except the timings and the
  machine (``TIMING_KEYS``) hashed bit for bit.

Run it before a change and after, and compare::

    python bench/behaviour_capture.py --out before.json
    # ... the refactor ...
    python bench/behaviour_capture.py --out after.json --compare before.json

Exit 1 when ``--compare`` finds a difference (each differing entry is named).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data"))

#: ``info`` fields that measure the machine, not the behaviour: left out of the digest.
TIMING_KEYS = (
    "seconds",
    "per_second",
    "peak_memory",
    "node_id",
    "device",
    "torch_version",
    "model_file_bytes",
    "folder",
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-able, with arrays as digests of their dtype, shape and bytes."""
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return f"array {arr.dtype} {arr.shape} {_sha(arr.tobytes())}"
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value).hex()
    if isinstance(value, np.integer):
        return int(value)
    return value


def _without_timings(info: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in info.items():
        if any(t in key for t in TIMING_KEYS):
            continue
        if isinstance(value, dict):
            value = _without_timings(value)
        elif isinstance(value, list):
            value = [_without_timings(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def _cli(*args: str) -> bytes:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return f"exit {done.returncode}\n".encode() + done.stdout + b"\n--stderr--\n" + done.stderr


def capture_cli(folder: Path) -> dict[str, str]:
    from make_results_db import write_results_db

    db = write_results_db(folder / "results.db", 160)
    out: dict[str, str] = {}
    for fmt in ("markdown", "latex", "csv"):
        tables = ["all", "summary", "per-class", "mcnemar", "intervals"]
        if fmt != "csv":
            tables.append("leakage")
        for table in tables:
            if fmt == "csv" and table == "all":
                continue
            out[f"report {fmt} {table}"] = _sha(
                _cli("-m", "harness.report", "--db", str(db), "--format", fmt, "--table", table)
            )
    for command in ("history", "current"):
        args = ["-m", "harness.db", command] + (["--db", str(db)] if command == "current" else [])
        text = _cli(*args).replace(str(db).encode(), b"DB")
        out[f"db {command}"] = _sha(text)
    return out


def trial_specs() -> list[Any]:
    import datasets
    from harness.suites import SuiteOptions, get_suite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        opts = SuiteOptions(scenes=("indian_pines",), source="surrogate", source_given=True)
        specs = list(get_suite("smoke").build(opts))
        cv = get_suite("smoke").build(
            replace(opts, protocol="block_cv", models=("random_forest_tiny",))
        )
        specs += cv[:3]
        disjoint = get_suite("smoke").build(
            replace(opts, protocol="disjoint", models=("hybridsn_tiny", "random_forest_tiny"))
        )
        specs += disjoint
        specs += get_suite("smoke").build(
            replace(opts, pca_fit="train", seeds=2, models=(specs[0].model,))
        )[1:]
    return specs[:12]


def capture_trials() -> dict[str, str]:
    from harness.trial.flow import run_trial_safely

    out: dict[str, str] = {}
    for spec in trial_specs():
        result = run_trial_safely(spec, save_model=False)
        fields = {
            "status": result.status,
            "error": result.error,
            "metrics": result.metrics,
            "per_class": result.per_class,
            "confusion": result.confusion,
            "pr_curves": result.pr_curves,
            "embedding_2d": result.embedding_2d,
            "embedding_labels": result.embedding_labels,
            "class_map": result.class_map,
            "entropy_map": result.entropy_map,
            "curves": result.curves,
            "info": _without_timings(result.info),
            "split_counts": result.split_counts,
            "test_predictions": result.test_predictions,
        }
        text = json.dumps(_canonical(fields), sort_keys=True)
        out[f"trial {spec.model} {spec.protocol} {spec.pca_fit} seed {spec.seed} "
            f"{spec.spec_hash[:12]}"] = _sha(text.encode())  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="the capture to write (JSON)")
    ap.add_argument("--compare", type=Path, help="a capture to compare with")
    ap.add_argument("--skip-trials", action="store_true", help="the report and db CLIs only")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        capture = capture_cli(Path(tmp))
    if not args.skip_trials:
        capture |= capture_trials()
    args.out.write_text(json.dumps(capture, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({len(capture)} entries)")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    differ = sorted(k for k in before.keys() | capture.keys() if before.get(k) != capture.get(k))
    for key in differ:
        print(f"differs: {key}")
    print("identical" if not differ else f"{len(differ)} of {len(capture)} entries differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
