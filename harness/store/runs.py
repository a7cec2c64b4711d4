"""Runs: one row per command that ran trials, with its provenance and status."""

from __future__ import annotations

import socket
from typing import Any

from sqlalchemy import select

from ..provenance import process_alive
from .artifact_store import ArtifactStore
from .engine import Database
from .errors import StoreError
from .schema import RUN_STATUSES, RunRow
from .values import aware, jsonable, now
from .writer import interrupt

_RUN_COLUMNS = (
    "git_commit",
    "git_dirty",
    "packages",
    "host",
    "cpu",
    "gpu",
    "cuda_version",
    "python_version",
)


class Runs:
    """The runs of a :class:`~harness.store.engine.Database`."""

    def __init__(self, db: Database, artifacts: ArtifactStore | None) -> None:
        self.db = db
        self.artifacts = artifacts

    def start_run(self, command: str, suite: str, provenance: dict[str, Any] | None = None) -> int:
        """Record the start of a run; returns its id.

        Args:
            command: the command line.
            suite: the suite's name ("" for none).
            provenance: :func:`collect_provenance`'s dict (unknown keys go to ``extra``).
        """
        provenance = dict(provenance or {})
        if self.artifacts is not None:
            provenance.setdefault("artifacts", str(self.artifacts.root))
        columns = {key: provenance.pop(key, None) for key in _RUN_COLUMNS}
        columns["packages"] = jsonable(columns["packages"])
        row = RunRow(
            command=command,
            suite=suite,
            started_at=now(),
            status="running",
            extra=jsonable(provenance) or None,
            **columns,
        )
        with self.db.session(write=True) as session:
            session.add(row)
            session.flush()
            return row.id

    def finish_run(self, run_id: int, status: str = "completed") -> int:
        """Record the end of a run.

        Its trials still pending or running never delivered a result: they become
        "interrupted" (a later run resumes them).

        Returns:
            the number of trials marked interrupted.
        """
        if status not in RUN_STATUSES or status == "running":
            allowed = [s for s in RUN_STATUSES if s != "running"]
            raise StoreError(f"finish_run(status={status!r}): status must be one of {allowed}.")
        with self.db.session(write=True) as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise StoreError(f"No run with id {run_id} in {self.db.location}.")
            run.status = status
            run.finished_at = now()
            return interrupt(session, run_id=run_id)

    def close_dead_runs(self, host: str | None = None) -> list[int]:
        """Mark "interrupted" the runs still "running" on ``host`` (default: this
        host) whose driver process is gone (a killed driver never closes its run);
        their open trials become "interrupted" too. Returns the run ids closed."""
        host = host or socket.gethostname()
        with self.db.session() as session:
            candidates = [
                (r.id, (r.extra or {}).get("pid"))
                for r in session.scalars(
                    select(RunRow).where(RunRow.status == "running", RunRow.host == host)
                )
            ]
        closed = []
        for run_id, pid in candidates:
            if not isinstance(pid, int) or process_alive(pid):
                continue
            self.finish_run(run_id, "interrupted")
            closed.append(run_id)
        return closed

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its provenance."""
        with self.db.session() as session:
            return [
                {
                    "id": r.id,
                    "command": r.command,
                    "suite": r.suite,
                    "status": r.status,
                    "started_at": aware(r.started_at),
                    "finished_at": aware(r.finished_at),
                    **{key: getattr(r, key) for key in _RUN_COLUMNS},
                    "extra": r.extra,
                }
                for r in session.scalars(select(RunRow).order_by(RunRow.id))
            ]
