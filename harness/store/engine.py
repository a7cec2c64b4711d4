"""The database engine: a path or URL resolved, a SQLite file checked before any
connection, the connection settings, sessions and the wording of database errors.

SQLite: WAL journal mode (stored in the file); per connection ``busy_timeout``,
``foreign_keys=ON`` and ``synchronous=NORMAL``; SQLAlchemy emits the ``BEGIN`` itself
(the pysqlite recipe of the SQLAlchemy docs), ``BEGIN IMMEDIATE`` for writers so two
writers never deadlock upgrading a read lock, plain ``BEGIN`` for readers. WAL does
not work over a network filesystem: use PostgreSQL (a ``postgresql://`` URL) for a
store shared between machines; nothing outside the SQLite branch is SQLite-specific.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from datasets.cli_options import python_command

from .errors import StoreError

_BEGIN_OPTION = "harness_sqlite_begin"


def not_sqlite(path: Path) -> str | None:
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


def writable(path: Path) -> bool:
    """Writable by this process *and* not marked read-only by its permission bits.

    The second test makes a ``chmod a-w`` file or folder read-only even for root,
    who would otherwise write through it.
    """
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


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


class Database:
    """One results database: its URL, its engine and its sessions.

    Args:
        url_or_path: a SQLAlchemy URL or a file path (made absolute, opened as SQLite).
        readonly: open for reading only: a missing SQLite file is an error, the file is
            opened read-only, no session can write.
        busy_timeout_s: how long a SQLite connection waits for another writer's lock.

    Raises:
        StoreError: a path in a missing folder, a read-only file or folder, a file that
            is not a SQLite database, a URL that cannot be used.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | URL,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.readonly = readonly
        self.busy_timeout_s = busy_timeout_s
        self.url, self.path = self._resolve(url_or_path)
        self.location = str(self.path) if self.path else self.url.render_as_string(True)
        if self.path is not None:
            self._check_sqlite_path(self.path)
        self.engine = self._create_engine()
        #: The engine of writers (SQLite: ``BEGIN IMMEDIATE``).
        self.write_engine: Engine = self.engine
        if self.is_sqlite and not readonly:
            self.write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

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
                run = python_command(f"harness.run --suite quick --db {shlex.quote(str(path))}")
                raise StoreError(
                    f"No results database at {path}. Run a suite first ({run}), or point "
                    "--db at an existing database."
                )
        else:
            reason = not_sqlite(path)
            if reason:
                raise StoreError(
                    f"{path} is not a SQLite database ({reason}). Point the harness at its "
                    "results database, or at a new file path to start one."
                )
            if not self.readonly and not writable(path):
                raise StoreError(
                    f"The results database {path} is read-only. Make it writable "
                    f"(chmod u+w {path}), copy it somewhere writable, or open it read-only "
                    "(ResultStore(..., readonly=True)) to only read it."
                )
        if not self.readonly and not writable(folder):
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

    def explain(self, exc: BaseException) -> str:
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
            raise StoreError(self.explain(exc)) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()
