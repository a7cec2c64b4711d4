"""A results database in the version-1 schema, as the harness wrote it before Alembic.

For the upgrade tests (tests/test_db.py): every Alembic revision is tested by
upgrading a database written by the revision before it, and the first of them is
this one. The tables come from the baseline revision ``0001``; the
``alembic_version`` table is dropped, because databases of that time had none;
the rows are inserted with SQLAlchemy Core by the frozen writer below, never
through today's ``ResultStore`` (which writes the newest schema). The content is
``make_results_db.py``'s seeded synthetic trials: the six paper models on Indian
Pines, both PCA fit scopes, three seeds, two failures and a small search.

    python tests/data/make_store_v1.py /tmp/v1.db
    python tests/data/make_store_v1.py postgresql://postgres@127.0.0.1:55432/v1
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import MetaData, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_results_db import BASE_OA, LEAK_DROP, MODELS, make_result, make_spec  # noqa: E402

from harness.result import TrialResult  # noqa: E402
from harness.spec import TrialSpec, config_hash  # noqa: E402
from harness.store.migrate import alembic_config  # noqa: E402

#: Trials written: 6 models x 2 PCA fit scopes x SEEDS completed, FAILED failed, and
#: STUDY_TRIALS in a search (one of them pruned).
SEEDS = 3
FAILED = 2
STUDY = "claresnet-ip-v1-search"
STUDY_TRIALS = 4
_T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _artifacts(result: TrialResult) -> dict[str, bytes]:
    """The version-1 artifacts: one npz blob per name, in their storage dtypes."""
    out = {
        "confusion": _npz(confusion=result.confusion.astype(np.int32)),
        "pr_curves": _npz(
            **{
                f"{kind}_{label}": np.asarray(curve, dtype=np.float32)
                for label, pair in sorted(result.pr_curves.items())
                for kind, curve in zip(("precision", "recall"), pair, strict=True)
            }
        ),
        "class_map": _npz(class_map=result.class_map.astype(np.int16)),
        "entropy_map": _npz(entropy_map=result.entropy_map.astype(np.float16)),
        "split_counts": _npz(split_counts=result.split_counts.astype(np.int32)),
    }
    if result.embedding_2d is not None:
        out["embedding_2d"] = _npz(
            embedding_2d=result.embedding_2d.astype(np.float32),
            embedding_labels=np.asarray(result.embedding_labels).astype(np.int16),
        )
    if result.curves:
        out["curves"] = _npz(
            **{k: np.asarray(v, dtype=np.float64) for k, v in result.curves.items()}
        )
    return out


def _family(model: str) -> str:
    return model.removesuffix("_tiny")


class _V1Writer:
    """Inserts runs, trials, metrics, class metrics, artifacts and a study."""

    def __init__(self, connection: Any) -> None:
        self.conn = connection
        self.tables = MetaData()
        self.tables.reflect(connection)
        self.clock = 0

    def _now(self) -> datetime:
        self.clock += 1
        return _T0.replace(minute=self.clock % 60, second=self.clock // 60 % 60)

    def _insert(self, table: str, **values: Any) -> int:
        result = self.conn.execute(self.tables.tables[table].insert().values(**values))
        return int(result.inserted_primary_key[0])

    def run(self, suite: str) -> int:
        return self._insert(
            "runs", command=f"python -m harness.run --suite {suite}", suite=suite,
            started_at=self._now(), finished_at=self._now(), git_commit="0" * 40,
            git_dirty=False, packages={"numpy": "1.26.4", "torch": "2.3.0"}, host="v1-host",
            cpu="synthetic CPU", gpu=None, cuda_version=None, python_version="3.11.9",
            status="completed", extra={"platform": "Linux"},
        )  # fmt: skip

    def trial(self, spec: TrialSpec, run_id: int, result: TrialResult, status: str) -> int:
        info = result.info or {}
        trial_id = self._insert(
            "trials", spec_hash=spec.spec_hash, attempt=1, config_hash=config_hash(spec),
            run_id=run_id, spec=json.loads(spec.to_json()), model=spec.model,
            family=_family(spec.model), recipe=spec.recipe, scene=spec.scene,
            source=spec.source, protocol=spec.protocol, seed=spec.seed, study=spec.study,
            status=status, error=result.error, traceback=result.traceback,
            started_at=self._now(), finished_at=self._now(),
            fit_seconds=info.get("fit_seconds"), inference_seconds=info.get("inference_seconds"),
            n_parameters=info.get("n_parameters"), device=info.get("device"),
            info=info or None,
        )  # fmt: skip
        if status == "failed":
            return trial_id
        for split, values in result.metrics.items():
            for name, value in values.items():
                self._insert("metrics", trial_id=trial_id, split=split, name=name, value=value)
        for cls in result.per_class:
            self._insert("class_metrics", trial_id=trial_id, **cls)
        for name, data in _artifacts(result).items():
            self._insert("artifacts", trial_id=trial_id, name=name, format="npz", data=data)
        return trial_id

    def study(self, run_id: int, rng: np.random.Generator) -> None:
        base = make_spec("claresnet", "indian_pines", 0, study=STUDY)
        space = {
            "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True, "target": "training"}
        }
        best: tuple[int, float, dict[str, Any]] | None = None
        ids = []
        for number in range(STUDY_TRIALS):
            lr = float(10 ** rng.uniform(-5, -2))
            spec = make_spec("claresnet", "indian_pines", 0, study=STUDY, lr=lr)
            result = make_result(spec, 0.9 - abs(np.log10(lr) + 3.3) / 10, rng)
            status = "pruned" if number == 1 else "completed"
            trial_id = self.trial(spec, run_id, result, status)
            ids.append(trial_id)
            value = result.metrics["val"]["oa"]
            if status == "completed" and (best is None or value > best[1]):
                best = (trial_id, value, {"lr": lr})
        assert best is not None
        self._insert(
            "studies", name=STUDY, run_id=run_id, model="claresnet", scene="indian_pines",
            source="real", metric="val_oa", mode="max", n_trials=STUDY_TRIALS, seed=0,
            sampler={"name": "TPESampler", "seed": 0}, scheduler={}, search_space=space,
            base_spec=json.loads(base.to_json()), status="completed", best_trial_id=best[0],
            best_value=best[1], best_params=best[2], created_at=self._now(),
            finished_at=self._now(),
        )  # fmt: skip


def write_store_v1(db: str | Path, *, seed: int = 0) -> dict[str, int]:
    """Write the version-1 database at ``db`` (a new file path, or the URL of an empty
    database); returns the number of rows per status."""
    url = str(db) if "://" in str(db) else f"sqlite:///{Path(db).absolute()}"
    if "://" not in str(db) and Path(db).exists():
        raise FileExistsError(f"{db} exists; make_store_v1 writes a new database only.")
    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    counts = {"completed": 0, "failed": 0, "pruned": 0}
    try:
        with engine.begin() as connection:
            from alembic import command

            command.upgrade(alembic_config(connection), "0001")
            connection.execute(text("DROP TABLE alembic_version"))
            writer = _V1Writer(connection)
            runs = [writer.run("paper"), writer.run("search")]
            for pca_fit in ("scene", "train"):
                for seed_ in range(SEEDS):
                    for model in MODELS:
                        spec = make_spec(model, "indian_pines", seed_, pca_fit=pca_fit)
                        oa = BASE_OA[model] - LEAK_DROP[("paper", pca_fit)]
                        oa += rng.normal(0, 0.005)
                        writer.trial(spec, runs[0], make_result(spec, oa, rng), "completed")
                        counts["completed"] += 1
            for k in range(FAILED):
                spec = make_spec("hybridsn", "indian_pines", 1000 + k)
                error = RuntimeError(f"CUDA out of memory (synthetic failure {k})")
                failed = TrialResult.failed(spec, error, f"Traceback (synthetic):\n  {error}\n")
                writer.trial(spec, runs[0], failed, "failed")
                counts["failed"] += 1
            writer.study(runs[1], rng)
            counts["completed"] += STUDY_TRIALS - 1
            counts["pruned"] += 1
    finally:
        engine.dispose()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", help="a new SQLite file path, or the URL of an empty database")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = write_store_v1(args.db, seed=args.seed)
    print(f"wrote {args.db}: {counts}")


if __name__ == "__main__":
    main()
