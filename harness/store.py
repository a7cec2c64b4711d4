"""The results store: one SQL database (SQLite file or any SQLAlchemy URL) for every trial.

One writer: trials never open the database; the driver hands each
:class:`~harness.result.TrialResult` to :meth:`ResultStore.write`, which stores it in
one transaction (trial row, metrics, per-class rows, artifacts), so a crash never
leaves half a trial. Readers (the report, the dashboard) use the read API, which
returns plain dicts and lists.

    store = ResultStore("results/bench.db")                 # a path, or a URL
    run_id = store.start_run("python -m harness.run --suite quick", "quick",
                             collect_provenance())
    tid = store.mark_running(spec, run_id)                  # optional: resumable status
    store.write(result, run_id)                             # completes that row
    store.finish_run(run_id, "completed")
    store.leaderboard(scene="indian_pines")

SQLite: WAL journal mode (stored in the file); per connection ``busy_timeout``,
``foreign_keys=ON`` and ``synchronous=NORMAL``; SQLAlchemy emits the ``BEGIN`` itself
(the pysqlite recipe of the SQLAlchemy docs), ``BEGIN IMMEDIATE`` for writers so two
writers never deadlock upgrading a read lock, plain ``BEGIN`` for readers. WAL does
not work over a network filesystem: use PostgreSQL (a ``postgresql://`` URL) for a
store shared between machines; nothing outside the SQLite branch is SQLite-specific.

Identity: a trial is its ``spec_hash``; each run of a spec is an *attempt*
(``attempt`` 1, 2, ...). Writing a completed result for a spec that already has a
completed attempt stores nothing and returns the existing id; a new attempt comes
only from ``mark_running(spec, fresh=True)``. The read API counts the latest
completed attempt of each spec.

Saved models: a result's ``model_files`` (the trial's fitted model, preprocessing and
manifest) are kept in the artifact folder (:mod:`harness.artifact_store`;
``NAME.artifacts`` beside a SQLite file ``NAME.db``, or ``artifacts=DIR``) and listed
in ``model_files`` rows, in the trial's transaction: staged before it, published after
its commit, discarded if it fails. A store with no artifact folder (a server
database without ``artifacts=``) keeps no model files.

This module only persists: the engine, sessions, writes and reads. The schema is
:mod:`harness.schema`, its revisions :mod:`harness.db`; the npz codec of the artifacts
:mod:`harness.artifact_codec`; the run's provenance :mod:`harness.provenance`; spec
and configuration hashes :mod:`harness.spec`; the metric facts
:mod:`harness.metric_table`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import statistics
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import URL, Engine, and_, create_engine, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Subquery

from . import metric_table
from .artifact_codec import ARTIFACT_NAMES, artifact_arrays, artifact_value, decode_npz, encode_npz
from .artifact_store import ArtifactError, ArtifactStore, StagedFile, default_root
from .jsondata import to_json_data
from .provenance import collect_provenance, process_alive
from .result import TrialResult
from .schema import (
    OPEN_STATUSES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    STUDY_STATUSES,
    ArtifactRow,
    Base,
    ClassMetricRow,
    MetricRow,
    ModelFileRow,
    RunRow,
    SchemaInfoRow,
    StudyRow,
    TrialRow,
)
from .search import study_params
from .spec import GROUP_KEY, TrialSpec, config_hash, group_fields, group_of

__all__ = [
    "ARTIFACT_NAMES",
    "LEADERBOARD_METRICS",
    "ResultStore",
    "StoreError",
    "collect_provenance",
    "config_hash",
]

#: The columns of the paper's Tables III/IV, in order: the leaderboard rows of the
#: metric table (:mod:`harness.metric_table`).
LEADERBOARD_METRICS = metric_table.LEADERBOARD_METRICS
#: Statuses a :class:`TrialResult` can carry.
RESULT_STATUSES = ("completed", "failed", "pruned", "interrupted")

_BEGIN_OPTION = "harness_sqlite_begin"
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


#: The :data:`~harness.spec.GROUP_KEY` values of a result row (attribute access: the
#: leaderboard calls it once per metric value).
_row_group = attrgetter(*GROUP_KEY)


class StoreError(RuntimeError):
    """The results database cannot be used; the message names it, the problem and the fix."""


class ArtifactWarning(UserWarning):
    """A trial was stored without its model files (the artifact folder could not be written)."""


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _finite(value: Any) -> float | None:
    """A float, or None for None / NaN / inf (stored as SQL NULL on every backend)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    """JSON column data: non-finite floats as null, unknown objects as text."""
    return to_json_data(value, nonfinite="null")


def _not_sqlite(path: Path) -> str | None:
    """Why ``path`` is not a SQLite database, or None when it is one (or is empty).

    Asked of SQLite itself rather than by reading the file's header: closing any
    other file descriptor on the database drops every POSIX lock this process holds
    on it, and so the locks of this process's open connections (SQLite's "How To
    Corrupt An SQLite Database File", 2.2); SQLite's own opens are aware of that.
    """
    import sqlite3

    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            con.execute("PRAGMA schema_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "malformed" in str(exc):
            return f"SQLite: {exc}"
        raise
    return None


def _writable(path: Path) -> bool:
    """Writable by this process *and* not marked read-only by its permission bits.

    The second test makes a ``chmod a-w`` file or folder read-only even for root,
    who would otherwise write through it.
    """
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


def _group_label(model: str, config: str, ambiguous: bool) -> str:
    return f"{model} [{config[:8]}]" if ambiguous else model


def _per_repetition(values: dict[int, list[float]]) -> dict[int, float]:
    """{seed: mean of its values}: one value per seed, the mean over a cross-validation's
    folds (a seed of any other protocol has one trial, so one value)."""
    return {seed: statistics.fmean(v) for seed, v in values.items()}


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    # numpy's sample std (ddof=1): the same number as statistics.stdev to rounding, without
    # its exact-fraction arithmetic (a tenth of the leaderboard's time on 5,000 trials)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return mean, std


# --------------------------------------------------------------------------- the store


def resolve_target(
    target: str | os.PathLike[str] | URL, *, readonly: bool = False
) -> tuple[URL, Path | None]:
    """The URL to open for a path or URL and, for a SQLite file, its absolute path.

    Raises:
        StoreError: the URL cannot be parsed.
    """
    if isinstance(target, URL) or (isinstance(target, str) and "://" in target):
        try:
            url = make_url(target)
        except (ArgumentError, ValueError) as exc:
            raise StoreError(
                f"Cannot parse the database URL {target!r}: {exc}. Give a file path "
                "(results/bench.db) or a SQLAlchemy URL such as sqlite:///results/bench.db "
                "or postgresql://user@host/db."
            ) from exc
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # the driver of the [postgres] extra
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return url, None
        if url.database.startswith("file:"):
            return url, None  # a SQLite URI filename: the caller knows what it does
        path = Path(url.database).expanduser().absolute()
    else:
        path = Path(target).expanduser().absolute()
    if readonly:
        uri = f"{path.as_uri()}?mode=ro"
        return URL.create("sqlite", database=uri, query={"uri": "true"}), path
    return URL.create("sqlite", database=str(path)), path


@dataclass(frozen=True)
class Stored:
    """What :meth:`ResultStore.write` stored for one result: its trial row.

    Attributes:
        trial_id: the trial row's id.
        spec_hash: the trial's identity.
        attempt: the row's attempt number (1 for the first run of the spec).
        status: the row's status: the result's, or "completed" when the spec was
            already completed and nothing was written.
        error: the error stored with a failed (or interrupted) result, else None.
    """

    trial_id: int
    spec_hash: str
    attempt: int
    status: str
    error: str | None = None


class ResultStore:
    """The results database.

    Args:
        url_or_path: a SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``) or a
            file path (made absolute, opened as SQLite).
        readonly: open for reading only (the report, the dashboard): a missing
            database is an error instead of being created, SQLite opens the file
            read-only, nothing is ever written.
        busy_timeout_s: how long a SQLite connection waits for another writer's lock.
        artifacts: the artifact folder of saved models; default ``NAME.artifacts``
            beside a SQLite file ``NAME.db``, none for a server database (no model
            files are kept there without it). Readers also find the folder each run
            recorded.

    Raises:
        StoreError: before anything else happens, when the database cannot be used:
            a path in a missing folder, a read-only file or folder, a file that is
            not a SQLite database, a database of another application, a schema
            newer than this code, a server that cannot be reached.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | URL,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
        artifacts: str | os.PathLike[str] | None = None,
    ) -> None:
        self.readonly = readonly
        self.busy_timeout_s = busy_timeout_s
        self.url, self.path = self._resolve(url_or_path)
        self._explicit_artifacts = artifacts is not None
        root = Path(artifacts) if artifacts is not None else default_root(self.path)
        #: Where saved-model files are kept (None: nowhere).
        self.artifacts: ArtifactStore | None = ArtifactStore(root) if root is not None else None
        self.location = str(self.path) if self.path else self.url.render_as_string(True)
        if self.path is not None:
            self._check_sqlite_path(self.path)
        self.engine = self._create_engine()
        self._write_engine: Engine = self.engine
        if self.is_sqlite and not readonly:
            self._write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        try:
            self._init_schema()
        except BaseException:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------------ opening

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def _resolve(self, target: str | os.PathLike[str] | URL) -> tuple[URL, Path | None]:
        return resolve_target(target, readonly=self.readonly)

    def _check_sqlite_path(self, path: Path) -> None:
        """The errors a SQLite file can have, found before any connection is made."""
        folder = path.parent
        if path.is_dir():
            raise StoreError(
                f"The results database path {path} is a folder. Give a file path inside "
                f"it, e.g. {path / 'results.db'}."
            )
        if not folder.is_dir():
            raise StoreError(
                f"The folder of the results database {path} does not exist ({folder}). "
                f"Create it (mkdir -p {folder}) or choose another database path."
            )
        if not path.exists():
            if self.readonly:
                raise StoreError(
                    f"No results database at {path}. Run a suite first "
                    f"(python -m harness.run --suite quick --db {path}) or check the path."
                )
        else:
            reason = _not_sqlite(path)
            if reason:
                raise StoreError(
                    f"{path} is not a SQLite database ({reason}). Point the harness at its "
                    "results database, or at a new file path to start one."
                )
            if not self.readonly and not _writable(path):
                raise StoreError(
                    f"The results database {path} is read-only. Make it writable "
                    f"(chmod u+w {path}), copy it somewhere writable, or open it read-only "
                    "(ResultStore(..., readonly=True)) to only read it."
                )
        if not self.readonly and not _writable(folder):
            raise StoreError(
                f"The folder {folder} of the results database {path.name} is read-only; "
                "SQLite creates its journal files (-wal, -shm) beside the database. "
                "Choose a database path in a writable folder."
            )

    def _create_engine(self) -> Engine:
        kwargs: dict[str, Any] = {}
        memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        if memory:
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        try:
            engine = create_engine(self.url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(
                f"Cannot use the database URL {self.location}: {exc}. Check the URL's "
                "dialect and install its driver (e.g. psycopg for postgresql://)."
            ) from exc
        if self.is_sqlite:
            self._install_sqlite_events(engine, wal=not memory and not self.readonly)
        return engine

    def _install_sqlite_events(self, engine: Engine, wal: bool) -> None:
        timeout_ms = int(self.busy_timeout_s * 1000)
        readonly = self.readonly

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy, not sqlite3, emits BEGIN (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                cursor.execute("PRAGMA foreign_keys = ON")
                if wal:
                    mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                    if str(mode).lower() != "wal":
                        cursor.execute("PRAGMA journal_mode = WAL")
                if not readonly:
                    cursor.execute("PRAGMA synchronous = NORMAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

    def _init_schema(self) -> None:
        """Create and stamp a new database; refuse foreign, older or newer ones."""
        from .db import schema_state, stamp_head

        engine = self.engine if self.readonly else self._write_engine
        try:
            with engine.begin() as conn:
                state = schema_state(conn)
                if state.kind == "empty" and not self.readonly:
                    Base.metadata.create_all(conn)
                    conn.execute(
                        insert(SchemaInfoRow).values(
                            id=1, schema_version=SCHEMA_VERSION, created_at=_now()
                        )
                    )
                    stamp_head(conn)
                    return
                if state.kind != "current":
                    raise StoreError(self._refusal(state))
                version = conn.execute(select(SchemaInfoRow.schema_version)).scalar()
                if version is None or version < SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.location} has an empty or unknown schema_info table: the "
                        "database was not created by the harness, or its creation was "
                        "interrupted. Choose another database path."
                    )
                if version > SCHEMA_VERSION:  # frozen at 1: only a harness to come may raise it
                    raise StoreError(
                        f"{self.location} was written by a newer harness (schema version "
                        f"{version}; this code reads version {SCHEMA_VERSION}). Update this "
                        "checkout (git pull, then pip install -e .) or use another database path."
                    )
        except StoreError:
            raise
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreError(self._explain(exc)) from exc

    def _refusal(self, state: Any) -> str:
        """Why a database that is not at this code's revision cannot be opened."""
        from .db import UPGRADE_COMMAND

        if state.kind == "empty":
            return (
                f"{self.location} is an empty database with no results tables. "
                "Run a suite first (python -m harness.run --suite quick)."
            )
        if state.kind == "foreign":
            return (
                f"{self.location} holds tables ({', '.join(state.tables[:5])}...) "
                "but no schema_info table: it is not a harness results database. "
                "Choose another database path."
            )
        if state.kind == "newer":
            return (
                f"{self.location} was written by a newer harness (schema revision "
                f"{state.revision}; this code knows up to revision {state.head}). Update "
                "this checkout (git pull, then pip install -e .) or use another database path."
            )
        command = UPGRADE_COMMAND.format(location=self.location)
        backup = " (it keeps a copy of the file first)" if self.path is not None else ""
        return (
            f"{self.location} has an older schema, {state.description}; this code reads "
            f"revision {state.head}. Upgrade it in place with: {command}{backup}. "
            "Or start a new database."
        )

    def _explain(self, exc: BaseException) -> str:
        text = str(getattr(exc, "orig", None) or exc)
        low = text.lower()
        if "not a database" in low:
            return (
                f"{self.location} is not a SQLite database ({text}). Point the harness at "
                "its results database, or at a new file path to start one."
            )
        if "readonly" in low or "read-only" in low:
            return (
                f"The results database {self.location} is read-only ({text}). Make the file "
                "and its folder writable, or open it with readonly=True to only read it."
            )
        if "locked" in low or "busy" in low:
            return (
                f"The results database {self.location} stayed locked by another writer for "
                f"{self.busy_timeout_s:g} s ({text}). Is another harness writing to it? "
                "Keep one writer per SQLite file, or use PostgreSQL for a shared store."
            )
        if not self.is_sqlite:
            return (
                f"Database error on {self.location}: {text}. Check the URL, that the server "
                "is running and reachable, and the credentials."
            )
        return f"Database error on {self.location}: {text}"

    # ------------------------------------------------------------------ sessions

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits on success, rolls back on any error.

        Database errors come out as :class:`StoreError` (with the cause chained);
        other exceptions are re-raised unchanged after the rollback.

        Args:
            write: start the transaction as a writer (SQLite: ``BEGIN IMMEDIATE``).
        """
        if write and self.readonly:
            raise StoreError(f"{self.location} was opened read-only; it cannot be written.")
        session = (self._write_sessions if write else self._read_sessions)()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(self._explain(exc)) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({self.location!r}{', readonly=True' if self.readonly else ''})"

    # ------------------------------------------------------------------ runs

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
        columns["packages"] = _jsonable(columns["packages"])
        row = RunRow(
            command=command,
            suite=suite,
            started_at=_now(),
            status="running",
            extra=_jsonable(provenance) or None,
            **columns,
        )
        with self.session(write=True) as session:
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
        with self.session(write=True) as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise StoreError(f"No run with id {run_id} in {self.location}.")
            run.status = status
            run.finished_at = _now()
            return self._interrupt(session, run_id=run_id)

    def close_dead_runs(self, host: str | None = None) -> list[int]:
        """Mark "interrupted" the runs still "running" on ``host`` (default: this
        host) whose driver process is gone (a killed driver never closes its run);
        their open trials become "interrupted" too. Returns the run ids closed."""
        host = host or socket.gethostname()
        with self.session() as session:
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

    # ------------------------------------------------------------------ trial status

    def mark_pending(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record a planned trial (status "pending"); returns the trial id."""
        return self._open_attempt(spec, run_id, "pending", fresh)

    def mark_running(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record that a trial started; returns the trial id that :meth:`write` will fill.

        A pending, running or interrupted attempt of the same spec is reused (a
        resume); after a failed or pruned attempt a new attempt is opened.

        Args:
            spec: the trial.
            run_id: the run it belongs to.
            fresh: open a new attempt even when the spec already completed (an
                open attempt left behind becomes "interrupted").

        Raises:
            StoreError: the spec already has a completed attempt and ``fresh`` is
                False (the runner skips :meth:`completed_hashes`).
        """
        return self._open_attempt(spec, run_id, "running", fresh)

    def mark_interrupted(self, run_id: int | None = None) -> int:
        """Mark pending/running trials (of ``run_id``, or all) "interrupted"; returns the count."""
        with self.session(write=True) as session:
            return self._interrupt(session, run_id=run_id)

    def _interrupt(self, session: Session, run_id: int | None) -> int:
        query = select(TrialRow).where(TrialRow.status.in_(("pending", "running")))
        if run_id is not None:
            query = query.where(TrialRow.run_id == run_id)
        rows = session.scalars(query).all()
        for row in rows:
            row.status = "interrupted"
            row.finished_at = _now()
        return len(rows)

    def _attempts(self, session: Session, spec_hash: str) -> list[TrialRow]:
        """Every attempt of ``spec_hash``, latest first."""
        query = (
            select(TrialRow)
            .where(TrialRow.spec_hash == spec_hash)
            .order_by(TrialRow.attempt.desc())
        )
        return list(session.scalars(query))

    def _new_attempt(self, spec: TrialSpec, spec_hash: str, attempts: list[TrialRow]) -> TrialRow:
        return TrialRow(
            spec_hash=spec_hash,
            attempt=attempts[0].attempt + 1 if attempts else 1,
            config_hash=config_hash(spec),
            spec=json.loads(spec.to_json()),
            model=spec.model,
            family=spec.family or spec.model,  # make_spec fills it from the registry
            recipe=spec.recipe,
            pca_fit=spec.pca_fit,
            scene=spec.scene,
            source=spec.source,
            protocol=spec.protocol,
            seed=spec.seed,
            study=spec.study,
        )

    def _open_attempt(self, spec: TrialSpec, run_id: int | None, status: str, fresh: bool) -> int:
        spec_hash = spec.spec_hash
        with self.session(write=True) as session:
            attempts = self._attempts(session, spec_hash)
            latest = attempts[0] if attempts else None
            done = next((a for a in attempts if a.status == "completed"), None)
            if done is not None and not fresh:
                raise StoreError(
                    f"Trial {spec_hash[:12]} ({spec.model}, {spec.scene}, seed {spec.seed}) "
                    f"already completed (trial id {done.id}). Skip completed_hashes(), "
                    "or pass fresh=True to run it again as a new attempt."
                )
            if latest is not None and latest.status in OPEN_STATUSES and not fresh:
                row = latest  # resume the open attempt
            else:
                if latest is not None and latest.status in OPEN_STATUSES:
                    latest.status = "interrupted"  # superseded by the fresh attempt
                row = self._new_attempt(spec, spec_hash, attempts)
                session.add(row)
            row.status = status
            row.study = spec.study
            if run_id is not None:
                row.run_id = run_id
            if status == "running":
                row.started_at = _now()
                row.finished_at = None
            session.flush()
            return row.id

    # ------------------------------------------------------------------ writing

    def write(self, result: TrialResult, run_id: int | None = None) -> Stored:
        """Store one trial result in one transaction; returns what it stored.

        * An open (pending/running/interrupted) latest attempt of the spec is filled.
        * A completed result for a spec that already has a completed attempt (and
          no open one) stores nothing: the existing completed trial comes back.
        * A failed result stores the error and traceback only.
        * Otherwise a new attempt is added.

        Args:
            result: the trial's result.
            run_id: the run the trial belongs to (None: the row keeps its own).

        Returns:
            The trial row as stored (its id, attempt, status and error), so that a
            caller needs no read to learn it.

        Raises:
            StoreError: a database error (nothing of the trial is stored).
        """
        if result.status not in RESULT_STATUSES:
            raise StoreError(
                f"TrialResult.status={result.status!r} cannot be stored; it must be one of "
                f"{list(RESULT_STATUSES)}."
            )
        staged = self._stage(result)
        used = False
        try:
            stored, used = self._write(result, run_id, staged)
        finally:
            if self.artifacts is not None and staged:
                if used:
                    self.artifacts.publish(staged)  # committed: the files go in place
                else:
                    self.artifacts.discard(staged)
        return stored

    def _stage(self, result: TrialResult) -> list[StagedFile]:
        """Stage a completed result's model files. A folder that cannot be written
        does not cost the trial: it is stored without them, the reason in its
        ``info["model_not_saved"]``, and a warning says so."""
        if result.status != "completed" or not result.model_files or self.artifacts is None:
            return []
        try:
            return self.artifacts.stage(result.model_files)
        except ArtifactError as exc:
            warnings.warn(str(exc), ArtifactWarning, stacklevel=3)
            result.info = {**(result.info or {}), "model_not_saved": str(exc)}
            return []

    def _write(
        self, result: TrialResult, run_id: int | None, staged: list[StagedFile]
    ) -> tuple[Stored, bool]:
        """The transaction of :meth:`write`; returns what was stored and whether the
        staged model files were committed with it."""
        spec_hash = result.spec_hash
        with self.session(write=True) as session:
            attempts = self._attempts(session, spec_hash)
            latest = attempts[0] if attempts else None
            row = latest if latest is not None and latest.status in OPEN_STATUSES else None
            if row is None and result.status == "completed":
                done = next((a for a in attempts if a.status == "completed"), None)
                if done is not None:
                    return Stored(done.id, spec_hash, done.attempt, done.status, done.error), False
            if row is None:
                row = self._new_attempt(result.spec, spec_hash, attempts)
                session.add(row)
            row.status = result.status
            row.study = result.spec.study
            row.finished_at = _now()
            row.error = result.error
            row.traceback = result.traceback
            if run_id is not None:
                row.run_id = run_id
            session.flush()  # the trial row exists from here on: all or nothing below
            if result.status != "failed":
                self._add_details(session, row, result)
            for f in staged:
                session.add(
                    ModelFileRow(
                        trial_id=row.id,
                        kind=f.kind,
                        format=f.format,
                        path=f.path,
                        size=f.size,
                        sha256=f.sha256,
                    )
                )
            return Stored(row.id, spec_hash, row.attempt, row.status, row.error), bool(staged)

    def _add_details(self, session: Session, row: TrialRow, result: TrialResult) -> None:
        info = _jsonable(result.info or {})
        row.info = info or None
        row.fit_seconds = _finite(info.get("fit_seconds"))
        row.inference_seconds = _finite(info.get("inference_seconds"))
        n_params = info.get("n_parameters")
        row.n_parameters = int(n_params) if n_params is not None else None
        row.device = None if info.get("device") is None else str(info["device"])
        for split, values in (result.metrics or {}).items():
            for name, value in values.items():
                session.add(
                    MetricRow(
                        trial_id=row.id, split=str(split), name=str(name), value=_finite(value)
                    )
                )
        for cls in result.per_class or []:
            support = cls.get("support")
            session.add(
                ClassMetricRow(
                    trial_id=row.id,
                    label=int(cls["label"]),
                    name=str(cls.get("name", "")),
                    precision=_finite(cls.get("precision")),
                    recall=_finite(cls.get("recall")),
                    f1=_finite(cls.get("f1")),
                    ap=_finite(cls.get("ap")),
                    support=None if support is None else int(support),
                )
            )
        for name, arrays in artifact_arrays(result).items():
            session.add(
                ArtifactRow(trial_id=row.id, name=name, format="npz", data=encode_npz(arrays))
            )

    # ------------------------------------------------------------------ reading

    def completed_hashes(self) -> set[str]:
        """Spec hashes with at least one completed attempt (the runner skips them)."""
        with self.session() as session:
            query = select(TrialRow.spec_hash).where(TrialRow.status == "completed").distinct()
            return set(session.scalars(query))

    def completed_metric(
        self, spec_hash: str, name: str = "oa", split: str = "val"
    ) -> tuple[int, float | None] | None:
        """(trial id, metric value) of the latest completed attempt of a spec, or None
        when the spec has not completed (a search reuses a configuration it has seen)."""
        with self.session() as session:
            row = session.execute(
                select(TrialRow.id)
                .where(TrialRow.spec_hash == spec_hash, TrialRow.status == "completed")
                .order_by(TrialRow.attempt.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            value = session.scalar(
                select(MetricRow.value).where(
                    MetricRow.trial_id == row.id, MetricRow.split == split, MetricRow.name == name
                )
            )
            return row.id, value

    @staticmethod
    def _latest_completed() -> Subquery:
        """(spec_hash, attempt) of the latest completed attempt of each spec."""
        return (
            select(TrialRow.spec_hash, func.max(TrialRow.attempt).label("attempt"))
            .where(TrialRow.status == "completed")
            .group_by(TrialRow.spec_hash)
            .subquery()
        )

    def _metric_rows(
        self,
        metrics: Iterable[str],
        split: str,
        filters: dict[str, str | int | None],
        study: str | None,
    ) -> list[Any]:
        """(trial id, :data:`~harness.spec.GROUP_KEY` fields, model, family, config,
        seed, metric name, value) of the counted trials."""
        latest = self._latest_completed()
        query = (
            select(
                TrialRow.id,
                *(getattr(TrialRow, name) for name in GROUP_KEY),
                TrialRow.model,
                TrialRow.family,
                TrialRow.config_hash,
                TrialRow.seed,
                MetricRow.name,
                MetricRow.value,
            )
            .join(
                latest,
                and_(
                    TrialRow.spec_hash == latest.c.spec_hash, TrialRow.attempt == latest.c.attempt
                ),
            )
            .outerjoin(
                MetricRow,
                and_(
                    MetricRow.trial_id == TrialRow.id,
                    MetricRow.split == split,
                    MetricRow.name.in_(list(metrics)),
                ),
            )
            .where(TrialRow.status == "completed")
        )
        for column, value in filters.items():
            if value is not None:
                query = query.where(getattr(TrialRow, column) == value)
        if study is not None:
            query = query.where(TrialRow.study == study)
        with self.session() as session:
            return list(session.execute(query))

    @staticmethod
    def _labels(rows: Iterable[Any]) -> dict[tuple[str, ...], str]:
        """Row label per (*group, model, config), the group being the row's
        :data:`~harness.spec.GROUP_KEY` values: the model's name, with the config hash's
        head when a model has several configs in one group."""
        return ResultStore._labels_of({(*_row_group(r), r.model, r.config_hash) for r in rows})

    @staticmethod
    def _labels_of(keys: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
        """:meth:`_labels` of the distinct (*group, model, config) keys."""
        configs: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for key in keys:
            configs[key[:-1]].add(key[-1])
        labels = {}
        for key, hashes in configs.items():
            for h in hashes:
                labels[(*key, h)] = _group_label(key[-1], h, len(hashes) > 1)
        return labels

    def leaderboard(
        self,
        scene: str | None = None,
        protocol: str | None = None,
        recipe: str | None = None,
        source: str | None = None,
        metrics: Sequence[str] = LEADERBOARD_METRICS,
        *,
        pca_fit: str | None = None,
        split: str = "test",
        study: str | None = "",
        run_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Mean, sample std and n over seeds, per group and model configuration.

        A group is a :data:`~harness.spec.GROUP_KEY` value (scene, protocol, recipe,
        source, pca_fit); a row is one (model, config_hash) in it. Completed trials
        only, the latest completed attempt of each spec. A model run with two
        configurations (say 1 and 40 epochs) in one group gives two rows, labelled
        ``"model [config hash head]"``; seeds are never averaged across configurations.
        Two PCA fits of a model are two groups, each row labelled by the model's name.
        The folds of a cross-validation (``block_cv``) share their configuration: a
        seed's value is the mean over its folds (one repetition), and the row's mean
        and std are over those.

        Args:
            scene, protocol, recipe, source: filters (None: all).
            metrics: metric names (``split`` metrics of the trials).
            pca_fit: filter: "scene" or "train" (None: all).
            split: "test" or "val".
            study: "" (default) counts trials outside hyperparameter searches only; a
                study name counts that study's trials; None counts all.
            run_id: count only the trials of this run (None: every run).

        Returns:
            One dict per row, sorted by the group's fields, then label:
            scene, protocol, recipe, source, pca_fit, model, config_hash, label, n_trials
            (every fold of every seed), seeds (sorted, each once), trial_ids (sorted),
            trial_seeds (the seed of each of trial_ids, in that order), metrics
            {name: {"mean", "std", "n"}} where std is the sample standard deviation
            (ddof=1) over seeds, None for n < 2, and n counts the seeds with a value (a
            tree model has no centroid distance: n=0, mean None), and per_seed {name:
            {seed: value}} (what :meth:`per_seed` returns for the row, for each metric).
        """
        filters = {
            "scene": scene,
            "protocol": protocol,
            "recipe": recipe,
            "source": source,
            "pca_fit": pca_fit,
            "run_id": run_id,
        }
        rows = self._metric_rows(metrics, split, filters, study)
        groups: dict[tuple[str, ...], dict[str, Any]] = {}
        # positional access: (id, *group, model, family, config, seed, name, value), the
        # fastest way through the tens of thousands of rows of a large database
        for row in rows:
            tid, *head, family, config, seed, name, value = tuple(row)
            key = (*head, config)  # (*group, model, config)
            group = groups.get(key)
            if group is None:
                group = groups[key] = {"family": family, "trials": {}, "values": {}}
            group["trials"][tid] = seed
            if name is not None and value is not None:
                group["values"].setdefault(name, {}).setdefault(seed, []).append(value)
        labels = self._labels_of(groups)
        board = []
        for key, group in groups.items():
            *group_values, model, config = key
            stats, by_seed = {}, {}
            for name in metrics:
                by_seed[name] = dict(sorted(_per_repetition(group["values"].get(name, {})).items()))
                mean, std = _mean_std(list(by_seed[name].values()))
                stats[name] = {"mean": mean, "std": std, "n": len(by_seed[name])}
            board.append(
                {
                    **group_fields(group_values),
                    "model": model,
                    "family": group["family"],
                    "config_hash": config,
                    "label": labels[key],
                    "n_trials": len(group["trials"]),
                    "seeds": sorted(set(group["trials"].values())),
                    "trial_ids": sorted(group["trials"]),
                    "trial_seeds": [group["trials"][t] for t in sorted(group["trials"])],
                    "metrics": stats,
                    "per_seed": by_seed,
                }
            )
        board.sort(key=lambda b: (*group_of(b), b["label"]))
        return board

    def per_seed(
        self,
        scene: str,
        protocol: str,
        recipe: str,
        source: str,
        metric: str = "oa",
        *,
        pca_fit: str | None = None,
        split: str = "test",
        study: str | None = "",
        run_id: int | None = None,
    ) -> dict[str, dict[int, float]]:
        """{label: {seed: value}} of one group, for paired comparisons across models.

        The group is a :data:`~harness.spec.GROUP_KEY` value; with a group tuple
        ``key`` in hand, ``per_seed(**group_fields(key), metric=...)``. Labels are those
        of :meth:`leaderboard` (the model name unless a model has several
        configurations in the group). Trials without a value are left out; ``run_id``
        keeps one run's trials only. A cross-validation's seed (one repetition) has the
        mean over its folds, as in :meth:`leaderboard`.

        Args:
            scene, protocol, recipe, source: the group's fields.
            metric: the metric's name.
            pca_fit: the group's PCA fit, "scene" or "train"; None takes the one the
                trials have (an error when they have both: two groups).
            split: "test" or "val".
            study: as in :meth:`leaderboard`.
            run_id: count only the trials of this run (None: every run).

        Raises:
            StoreError: ``pca_fit`` is None and the trials hold both PCA fits.
        """
        filters = {
            "scene": scene,
            "protocol": protocol,
            "recipe": recipe,
            "source": source,
            "pca_fit": pca_fit,
            "run_id": run_id,
        }
        rows = self._metric_rows([metric], split, filters, study)
        fits = sorted({r.pca_fit for r in rows})
        if len(fits) > 1:
            raise StoreError(
                f"per_seed({scene!r}, {protocol!r}, {recipe!r}, {source!r}): its trials "
                f"fit PCA on {' and on '.join(fits)}, one group each; name the group's "
                f"PCA fit (pca_fit={fits[0]!r}, ...)."
            )
        labels = self._labels(rows)
        out: dict[str, dict[int, list[float]]] = {}
        for r in rows:
            label = labels[(*_row_group(r), r.model, r.config_hash)]
            values = out.setdefault(label, {})
            if r.value is not None:
                values.setdefault(int(r.seed), []).append(float(r.value))
        return {label: dict(sorted(_per_repetition(v).items())) for label, v in sorted(out.items())}

    def specs(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{trial id: spec (a dict, as :meth:`trial` gives it)} of these trials, in one
        query (unknown ids are left out)."""
        ids = sorted({int(i) for i in trial_ids})
        if not ids:
            return {}
        with self.session() as session:
            query = select(TrialRow.id, TrialRow.spec).where(TrialRow.id.in_(ids))
            return {row.id: row.spec for row in session.execute(query)}

    @staticmethod
    def _trial_dict(row: TrialRow, spec: bool = False) -> dict[str, Any]:
        out = {
            "id": row.id,
            "spec_hash": row.spec_hash,
            "attempt": row.attempt,
            "config_hash": row.config_hash,
            "run_id": row.run_id,
            "model": row.model,
            "family": row.family,
            "recipe": row.recipe,
            "scene": row.scene,
            "source": row.source,
            "protocol": row.protocol,
            "pca_fit": row.pca_fit,
            "seed": row.seed,
            "study": row.study,
            "status": row.status,
            "error": row.error,
            "started_at": _aware(row.started_at),
            "finished_at": _aware(row.finished_at),
            "fit_seconds": row.fit_seconds,
            "inference_seconds": row.inference_seconds,
            "n_parameters": row.n_parameters,
            "device": row.device,
        }
        if spec:
            out["spec"] = row.spec
            out["traceback"] = row.traceback
            out["info"] = row.info
        return out

    def trial(self, trial_id: int) -> dict[str, Any]:
        """One trial in detail: its columns, spec (dict), info, traceback, metrics
        {split: {name: value}}, per_class rows and the names of its artifacts.

        ``TrialSpec.from_json(json.dumps(d["spec"]))`` rebuilds the spec.
        """
        with self.session() as session:
            row = session.get(TrialRow, trial_id)
            if row is None:
                raise StoreError(f"No trial with id {trial_id} in {self.location}.")
            out = self._trial_dict(row, spec=True)
            metrics: dict[str, dict[str, float | None]] = {}
            for m in session.scalars(
                select(MetricRow).where(MetricRow.trial_id == trial_id).order_by(MetricRow.id)
            ):
                metrics.setdefault(m.split, {})[m.name] = m.value
            out["metrics"] = metrics
            out["per_class"] = [
                {
                    "label": c.label,
                    "name": c.name,
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "ap": c.ap,
                    "support": c.support,
                }
                for c in session.scalars(
                    select(ClassMetricRow)
                    .where(ClassMetricRow.trial_id == trial_id)
                    .order_by(ClassMetricRow.label)
                )
            ]
            out["artifacts"] = list(
                session.scalars(
                    select(ArtifactRow.name)
                    .where(ArtifactRow.trial_id == trial_id)
                    .order_by(ArtifactRow.name)
                )
            )
        out["model_files"] = self.model_files(trial_id)
        return out

    def artifact(self, trial_id: int, name: str) -> Any:
        """One artifact's arrays, shaped as :class:`TrialResult` holds them.

        "confusion", "class_map", "entropy_map", "split_counts": the array;
        "pr_curves": {label: (precision, recall)}; "embedding_2d":
        {"embedding_2d": (n, 2), "embedding_labels": (n,) or None}; "curves":
        {name: array}.

        Raises:
            StoreError: no such trial or no such artifact (the message lists those it has).
        """
        with self.session() as session:
            data = session.scalar(
                select(ArtifactRow.data).where(
                    ArtifactRow.trial_id == trial_id, ArtifactRow.name == name
                )
            )
            if data is None:
                names = list(
                    session.scalars(
                        select(ArtifactRow.name).where(ArtifactRow.trial_id == trial_id)
                    )
                )
                if session.get(TrialRow, trial_id) is None:
                    raise StoreError(f"No trial with id {trial_id} in {self.location}.")
                raise StoreError(
                    f"Trial {trial_id} has no artifact {name!r}; it has: "
                    f"{', '.join(sorted(names)) or 'none'}."
                )
        return artifact_value(name, decode_npz(data))

    def class_metrics(self, trial_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The test class metrics of trials: one dict per (trial, class) with trial_id,
        label (1-based), name, precision, recall, f1, ap and support (the per-class
        table's input, :func:`harness.analysis.significance.class_table`)."""
        ids = sorted({int(t) for t in trial_ids})
        out: list[dict[str, Any]] = []
        names = ("trial_id", "label", "name", "precision", "recall", "f1", "ap", "support")
        columns = [getattr(ClassMetricRow, n) for n in names]
        with self.session() as session:
            for start in range(0, len(ids), 500):
                query = select(*columns).where(
                    ClassMetricRow.trial_id.in_(ids[start : start + 500])
                )
                out += [dict(zip(names, row, strict=True)) for row in session.execute(query)]
        out.sort(key=lambda c: (c["trial_id"], c["label"]))
        return out

    def trial_metrics(
        self, trial_ids: Iterable[int], names: Sequence[str], split: str = "test"
    ) -> dict[int, dict[str, float | None]]:
        """{trial id: {name: value}} of some metrics of some trials (a metric a trial
        does not have is left out of its dict)."""
        ids = sorted({int(t) for t in trial_ids})
        out: dict[int, dict[str, float | None]] = {t: {} for t in ids}
        with self.session() as session:
            for start in range(0, len(ids), 500):
                query = select(MetricRow.trial_id, MetricRow.name, MetricRow.value).where(
                    MetricRow.trial_id.in_(ids[start : start + 500]),
                    MetricRow.split == split,
                    MetricRow.name.in_(list(names)),
                )
                for trial_id, name, value in session.execute(query):
                    out[trial_id][name] = value
        return out

    def test_sets(self, trial_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]:
        """{trial id: (seed, test-set sha256)} of trials; the hash is None for trials
        stored before it was recorded. Two trials with the same hash were tested on
        the same pixels (McNemar's test pairs them: :mod:`harness.analysis.significance`)."""
        ids = sorted({int(t) for t in trial_ids})
        out = {}
        with self.session() as session:
            for start in range(0, len(ids), 500):
                query = select(TrialRow.id, TrialRow.seed, TrialRow.info).where(
                    TrialRow.id.in_(ids[start : start + 500])
                )
                for trial_id, seed, info in session.execute(query):
                    sha = (info or {}).get("test_set_sha256")
                    out[trial_id] = (int(seed), None if sha is None else str(sha))
        return out

    def test_predictions(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any] | None]:
        """Trials' test sets pixel by pixel: {trial id: {"index", "truth", "pred"}} (flat
        indices into the trial's scene and 1-based labels), None for a trial stored
        without them. One query per 500 trials."""
        ids = sorted({int(t) for t in trial_ids})
        out: dict[int, dict[str, Any] | None] = dict.fromkeys(ids)
        with self.session() as session:
            for start in range(0, len(ids), 500):
                query = select(ArtifactRow.trial_id, ArtifactRow.data).where(
                    ArtifactRow.trial_id.in_(ids[start : start + 500]),
                    ArtifactRow.name == "test_predictions",
                )
                for trial_id, data in session.execute(query):
                    out[trial_id] = decode_npz(data)
        return out

    # ------------------------------------------------------------------ saved models

    def artifact_store(self, run_id: int | None = None) -> ArtifactStore | None:
        """The artifact folder holding a run's saved models: the one this store was
        opened with (``artifacts=``), else ``NAME.artifacts`` beside a SQLite file when
        it exists, else the folder the run recorded when it exists, else the default."""
        if self._explicit_artifacts or (
            self.artifacts is not None and self.artifacts.root.is_dir()
        ):
            return self.artifacts
        if run_id is not None:
            with self.session() as session:
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
        from .saved_model import FILE_KINDS

        with self.session() as session:
            row = session.get(TrialRow, trial_id)
            if row is None:
                raise StoreError(f"No trial with id {trial_id} in {self.location}.")
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

    def read_model_files(self, trial_id: int) -> dict[str, bytes]:
        """The bytes of a trial's saved model files, by kind, each checked against the
        sha256 its row records.

        Raises:
            StoreError: no such trial, or a trial without a saved model (the message
                says why and how to get one).
            harness.artifact_store.ArtifactError: a file missing or changed.
        """
        files = self.model_files(trial_id)
        if not files:
            trial = self.trial(trial_id)
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
                f"python -m harness.run --db {self.location} --fresh ... (without "
                "--no-save-models), or pick another trial."
            )
        folder = self.artifact_store(self.trial(trial_id)["run_id"])
        if folder is None:
            raise StoreError(
                f"Trial {trial_id}'s model files are listed, but {self.location} has no artifact "
                "folder. Fix: pass the folder the run wrote with --artifacts DIR."
            )
        return {f["kind"]: folder.read(f["path"], f["sha256"], f"{f['kind']} file") for f in files}

    def best_trial(
        self,
        model: str,
        scene: str,
        *,
        protocol: str | None = None,
        recipe: str | None = None,
        source: str | None = None,
        with_model: bool = True,
    ) -> dict[str, Any] | None:
        """The completed trial of ``model`` on ``scene`` with the best validation OA
        (ties: the newest), among those with a saved model when ``with_model``;
        None when there is none. Returns its :meth:`trials` row plus ``val_oa``."""
        with self.session() as session:
            query = (
                select(TrialRow, MetricRow.value)
                .join(
                    MetricRow,
                    and_(
                        MetricRow.trial_id == TrialRow.id,
                        MetricRow.split == "val",
                        MetricRow.name == "oa",
                    ),
                    isouter=True,
                )
                .where(
                    TrialRow.status == "completed",
                    TrialRow.model == model,
                    TrialRow.scene == scene,
                )
            )
            for column, value in (
                (TrialRow.protocol, protocol),
                (TrialRow.recipe, recipe),
                (TrialRow.source, source),
            ):
                if value is not None:
                    query = query.where(column == value)
            if with_model:
                saved = select(ModelFileRow.trial_id).where(ModelFileRow.kind == "model")
                query = query.where(TrialRow.id.in_(saved))
            rows = list(session.execute(query))
            if not rows:
                return None
            best, val_oa = max(
                rows, key=lambda r: (r[1] is not None, r[1] if r[1] is not None else 0.0, r[0].id)
            )
            out = self._trial_dict(best)
            out["val_oa"] = val_oa
            return out

    def check_artifacts(self) -> dict[str, list[str]]:
        """Every saved-model file the database names, checked in its artifact folder.

        Returns:
            {"ok": paths present with their recorded sha256, "missing": absent,
            "changed": present with other content, "orphans": files in a folder that
            no row names, "staged": files a writer staged and did not publish}; each
            entry an absolute path.
        """
        with self.session() as session:
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
        (:meth:`harness.artifact_store.ArtifactStore.recover`). Returns (published,
        deleted)."""
        if self.artifacts is None or self.readonly:
            return [], []
        with self.session() as session:
            named = set(session.scalars(select(ModelFileRow.path).distinct()))
        return self.artifacts.recover(named.__contains__)

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its provenance."""
        with self.session() as session:
            return [
                {
                    "id": r.id,
                    "command": r.command,
                    "suite": r.suite,
                    "status": r.status,
                    "started_at": _aware(r.started_at),
                    "finished_at": _aware(r.finished_at),
                    **{key: getattr(r, key) for key in _RUN_COLUMNS},
                    "extra": r.extra,
                }
                for r in session.scalars(select(RunRow).order_by(RunRow.id))
            ]

    def trials(self, status: str | None = None, study: str | None = None) -> list[dict[str, Any]]:
        """Every trial attempt (optionally of one status / study), oldest first, without spec."""
        query = select(TrialRow).order_by(TrialRow.id)
        if status is not None:
            query = query.where(TrialRow.status == status)
        if study is not None:
            query = query.where(TrialRow.study == study)
        with self.session() as session:
            return [self._trial_dict(r) for r in session.scalars(query)]

    # ------------------------------------------------------------------ studies

    def start_study(
        self,
        name: str,
        *,
        run_id: int | None,
        base_spec: TrialSpec,
        metric: str,
        mode: str,
        n_trials: int,
        seed: int,
        sampler: dict[str, Any],
        scheduler: dict[str, Any],
        search_space: dict[str, Any],
    ) -> int:
        """Record a search (or take up the one of the same name again); returns its id.

        A study that exists keeps its trials; its settings must match (a different
        search space or sampler under the same name is refused), ``n_trials`` and
        ``run_id`` are updated and its status goes back to "running".

        Raises:
            StoreError: the name exists with other settings.
        """
        if mode not in ("max", "min"):
            raise StoreError(f"start_study(mode={mode!r}): mode must be 'max' or 'min'.")
        settings = {
            "model": base_spec.model,
            "scene": base_spec.scene,
            "source": base_spec.source,
            "metric": metric,
            "mode": mode,
            "seed": int(seed),
            "sampler": _jsonable(sampler),
            "scheduler": _jsonable(scheduler),
            "search_space": _jsonable(search_space),
            "base_spec": json.loads(base_spec.to_json()),
        }
        with self.session(write=True) as session:
            row = session.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                row = StudyRow(name=name, created_at=_now(), **settings)
                session.add(row)
            else:
                differ = [k for k, v in settings.items() if getattr(row, k) != v]
                if differ:
                    raise StoreError(
                        f"Study {name!r} already exists in {self.location} with other "
                        f"settings ({', '.join(differ)}). Fix: choose another study name "
                        "(--study NAME), or repeat the original command to continue it."
                    )
            row.n_trials = int(n_trials)
            row.run_id = run_id
            row.status = "running"
            row.finished_at = None
            session.flush()
            return row.id

    def finish_study(
        self,
        name: str,
        status: str,
        *,
        best_trial_id: int | None = None,
        best_value: float | None = None,
        best_params: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of a search and its best trial."""
        if status not in STUDY_STATUSES or status == "running":
            allowed = [s for s in STUDY_STATUSES if s != "running"]
            raise StoreError(f"finish_study(status={status!r}): status must be one of {allowed}.")
        with self.session(write=True) as session:
            row = session.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                raise StoreError(f"No study {name!r} in {self.location}.")
            row.status = status
            row.finished_at = _now()
            if best_trial_id is not None:
                row.best_trial_id = best_trial_id
                row.best_value = _finite(best_value)
                row.best_params = _jsonable(best_params)

    @staticmethod
    def _study_dict(row: StudyRow, counts: dict[str, int]) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "run_id": row.run_id,
            "model": row.model,
            "scene": row.scene,
            "source": row.source,
            "metric": row.metric,
            "mode": row.mode,
            "n_trials": row.n_trials,
            "seed": row.seed,
            "sampler": row.sampler,
            "scheduler": row.scheduler,
            "search_space": row.search_space,
            "base_spec": row.base_spec,
            "status": row.status,
            "best_trial_id": row.best_trial_id,
            "best_value": row.best_value,
            "best_params": row.best_params,
            "created_at": _aware(row.created_at),
            "finished_at": _aware(row.finished_at),
            "counts": counts,
        }

    def studies(self) -> list[dict[str, Any]]:
        """Every study, oldest first: its settings, best trial and trial counts by status."""
        with self.session() as session:
            counts: dict[str, dict[str, int]] = defaultdict(dict)
            for study, status, n in session.execute(
                select(TrialRow.study, TrialRow.status, func.count())
                .where(TrialRow.study != "")
                .group_by(TrialRow.study, TrialRow.status)
            ):
                counts[study][status] = n
            rows = session.scalars(select(StudyRow).order_by(StudyRow.id))
            return [self._study_dict(r, counts.get(r.name, {})) for r in rows]

    def study(self, name: str) -> dict[str, Any]:
        """One study (as in :meth:`studies`).

        Raises:
            StoreError: no such study (the message lists those there are).
        """
        for study in self.studies():
            if study["name"] == name:
                return study
        names = [s["name"] for s in self.studies()]
        raise StoreError(
            f"No study {name!r} in {self.location}; studies: {', '.join(names) or 'none'}."
        )

    def study_trials(self, name: str) -> list[dict[str, Any]]:
        """The trials of a study in the order they started.

        Each: id, number (0-based), spec_hash, status, params (the searched values,
        read back from the spec through the study's search space), value (the
        trial's validation OA; for a pruned trial the best one before it was
        stopped; None without one), epochs_run, fit_seconds, error.
        """
        with self.session() as session:
            study = session.scalar(select(StudyRow).where(StudyRow.name == name))
            space = study.search_space if study is not None else {}
            rows = list(
                session.scalars(
                    select(TrialRow)
                    .where(TrialRow.study == name)
                    .order_by(TrialRow.started_at, TrialRow.id)
                )
            )
            values = dict(
                session.execute(
                    select(MetricRow.trial_id, MetricRow.value).where(
                        MetricRow.trial_id.in_([r.id for r in rows]),
                        MetricRow.split == "val",
                        MetricRow.name == "oa",
                    )
                ).all()
            )
            return [
                {
                    "id": r.id,
                    "number": i,
                    "spec_hash": r.spec_hash,
                    "status": r.status,
                    "params": study_params(r.spec, space),
                    "value": values.get(r.id),
                    "epochs_run": (r.info or {}).get("epochs_run"),
                    "fit_seconds": r.fit_seconds,
                    "error": r.error,
                }
                for i, r in enumerate(rows)
            ]
