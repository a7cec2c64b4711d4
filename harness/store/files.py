"""Saved-model files: where a run's artifact folder is, the files of a trial (checked
against their sha256), and the check and recovery of the folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from datasets.cli_options import python_command

from ..saved_model import FILE_KINDS
from .artifact_store import ArtifactError, ArtifactStore
from .engine import Database
from .errors import StoreError
from .schema import ModelFileRow, RunRow, TrialRow


class SavedModels:
    """The saved-model files of a :class:`~harness.store.engine.Database`, in ``artifacts``
    (the folder the store was opened with; ``explicit`` when given as ``artifacts=``)."""

    def __init__(self, db: Database, artifacts: ArtifactStore | None, explicit: bool) -> None:
        self.db = db
        self.artifacts = artifacts
        self._explicit_artifacts = explicit

    def artifact_store(self, run_id: int | None = None) -> ArtifactStore | None:
        """The artifact folder holding a run's saved models: the one this store was
        opened with (``artifacts=``), else ``NAME.artifacts`` beside a SQLite file when
        it exists, else the folder the run recorded when it exists, else the default."""
        if self._explicit_artifacts or (
            self.artifacts is not None and self.artifacts.root.is_dir()
        ):
            return self.artifacts
        if run_id is not None:
            with self.db.session() as session:
                run = session.get(RunRow, run_id)
                recorded = (run.extra or {}).get("artifacts") if run is not None else None
            if recorded and Path(recorded).is_dir():
                return ArtifactStore(recorded)
        return self.artifacts

    def model_files(self, trial_id: int) -> list[dict[str, Any]]:
        """The files of a trial's saved model, in ``model``, ``preprocessing``,
        ``manifest`` order: kind, format, path (in the artifact folder), size, sha256,
        and ``file``, the absolute path in the folder this store finds
        (:meth:`artifact_store`; None without one). Empty: no saved model."""
        with self.db.session() as session:
            row = session.get(TrialRow, trial_id)
            if row is None:
                raise StoreError(f"No trial with id {trial_id} in {self.db.location}.")
            run_id = row.run_id
            files = sorted(
                session.scalars(select(ModelFileRow).where(ModelFileRow.trial_id == trial_id)),
                key=lambda f: FILE_KINDS.index(f.kind) if f.kind in FILE_KINDS else 99,
            )
            rows = [(f.kind, f.format, f.path, f.size, f.sha256) for f in files]
        folder = self.artifact_store(run_id) if rows else None
        return [
            {"kind": kind, "format": fmt, "path": path, "size": size, "sha256": sha,
             "file": str(folder.path(path)) if folder is not None else None}
            for kind, fmt, path, size, sha in rows
        ]  # fmt: skip

    def read_model_files(
        self, trial_id: int, lookup: Callable[[int], dict[str, Any]]
    ) -> dict[str, bytes]:
        """The bytes of a trial's saved model files, by kind, each checked against the
        sha256 its row records; ``lookup`` gives a trial's row (its status, info, model,
        scene, seed and run).

        Raises:
            StoreError: no such trial, or a trial without a saved model (the message
                says why and how to get one).
            harness.store.artifact_store.ArtifactError: a file missing or changed.
        """
        files = self.model_files(trial_id)
        if not files:
            trial = lookup(trial_id)
            why = (trial.get("info") or {}).get("model_not_saved")
            if trial["status"] != "completed":
                reason = f"it is {trial['status']}, not completed"
            elif why:
                reason = f"its model files could not be written: {why}"
            else:
                reason = (
                    "it ran with --no-save-models, before models were saved, or with a "
                    "server database and no --artifacts folder"
                )
            raise StoreError(
                f"Trial {trial_id} ({trial['model']}, {trial['scene']}, seed {trial['seed']}) "
                f"has no saved model: {reason}. Fix: re-run it with saved models, e.g. "
                f"{python_command(f'harness.run --db {self.db.location} --fresh')} ... (without "
                "--no-save-models), or pick another trial."
            )
        folder = self.artifact_store(lookup(trial_id)["run_id"])
        if folder is None:
            raise StoreError(
                f"Trial {trial_id}'s model files are listed, but {self.db.location} has no artifact "
                "folder. Fix: pass the folder the run wrote with --artifacts DIR."
            )
        return {f["kind"]: folder.read(f["path"], f["sha256"], f"{f['kind']} file") for f in files}

    def check_artifacts(self) -> dict[str, list[str]]:
        """Every saved-model file the database names, checked in its artifact folder.

        Returns:
            {"ok": paths present with their recorded sha256, "missing": absent,
            "changed": present with other content, "orphans": files in a folder that
            no row names, "staged": files a writer staged and did not publish}; each
            entry an absolute path.
        """
        with self.db.session() as session:
            rows = list(
                session.execute(
                    select(ModelFileRow.path, ModelFileRow.sha256, TrialRow.run_id)
                    .join(TrialRow, TrialRow.id == ModelFileRow.trial_id)
                    .distinct()
                )
            )
        out: dict[str, list[str]] = {
            k: [] for k in ("ok", "missing", "changed", "orphans", "staged")
        }
        folders: dict[Path, set[str]] = {}
        for path, sha, run_id in rows:
            folder = self.artifact_store(run_id)
            if folder is None:
                out["missing"].append(path)
                continue
            named = folders.setdefault(folder.root, set())
            if path in named:
                continue
            named.add(path)
            try:
                folder.read(path, sha)
            except ArtifactError:
                kind = "missing" if not folder.path(path).is_file() else "changed"
                out[kind].append(str(folder.path(path)))
            else:
                out["ok"].append(str(folder.path(path)))
        if self.artifacts is not None:
            folders.setdefault(self.artifacts.root, set())
        for root, named in folders.items():
            folder = ArtifactStore(root)
            out["orphans"] += [str(folder.path(p)) for p in folder.files() if p not in named]
            staging = root / ".staging"
            if staging.is_dir():
                out["staged"] += sorted(str(p) for p in staging.rglob("*") if p.is_file())
        return out

    def recover_artifacts(self) -> tuple[list[str], list[str]]:
        """Settle the artifact folder after writers that were killed: their staged
        files that a row names are published, the others deleted
        (:meth:`harness.store.artifact_store.ArtifactStore.recover`). Returns (published,
        deleted)."""
        if self.artifacts is None or self.db.readonly:
            return [], []
        with self.db.session() as session:
            named = set(session.scalars(select(ModelFileRow.path).distinct()))
        return self.artifacts.recover(named.__contains__)
