"""Schema revisions of the results database: where a database stands, the schema gate
every store passes when it opens, and the upgrade that ``python -m harness.db`` runs.

The schema changes only through Alembic revisions (``harness/store/migrations/versions/``).
A new database is created at the newest revision (*head*) by whatever opens it
first (:func:`open_schema`); an older one is refused by the same gate with a message
naming ``python -m harness.db upgrade``, which brings it to head (:func:`upgrade`):

* in one transaction: every revision commits together or none does;
* on SQLite, in Alembic's batch mode (a table is rebuilt where SQLite's ALTER TABLE
  cannot change it) with foreign keys off during the rebuild and checked before the
  commit, after a consistent copy of the file is written to ``NAME.bak-<revision>``
  (SQLite's online backup, so a WAL file's pages are in it).

A database made before Alembic (``schema_info`` at version 1, no ``alembic_version``)
counts as before the baseline revision ``0001``, which creates only the tables it
lacks, so such a database upgrades like any other.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from datasets.cli_options import python_command

from .engine import Database, resolve_target
from .errors import StoreError
from .schema import SCHEMA_VERSION, Base, SchemaInfoRow
from .values import now

__all__ = [
    "SchemaState",
    "UpgradeError",
    "alembic_config",
    "head_revision",
    "history",
    "open_schema",
    "schema_state",
    "stamp_head",
    "upgrade",
    "upgrade_command",
]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade_command(location: str) -> str:
    """The command that brings an older database up to date (the store's refusal names
    it), with the interpreter the user can run it with."""
    return python_command(f"harness.db upgrade --db {shlex.quote(str(location))}")


def alembic_config(connection: Connection | None = None) -> Any:
    """Alembic's configuration for the harness's revisions, on ``connection`` when given
    (``env.py`` then runs inside the caller's transaction)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _scripts().get_current_head()
    assert head is not None, f"no Alembic revisions in {_MIGRATIONS / 'versions'}"
    return head


def revision_title(revision: str | None) -> str:
    """``0002 (trials.pca_fit: ...)``, or what a pre-Alembic database is."""
    if revision is None:
        return "schema version 1 (before migrations)"
    script = _scripts().get_revision(revision)
    doc = (script.doc or "").strip().splitlines()[0] if script is not None else ""
    short = doc.split(":")[0].rstrip(".") if doc else ""
    return f"revision {revision} ({short})" if short else f"revision {revision}"


def history() -> list[tuple[str, str]]:
    """(revision, first line of its docstring) of every revision, oldest first."""
    revisions = list(_scripts().walk_revisions())
    return [
        (s.revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
        for s in reversed(revisions)
    ]


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands.

    Attributes:
        kind: "empty" (no tables), "foreign" (tables, but not the harness's),
            "current" (at head), "older" (a known revision before head, or a
            database from before migrations), "newer" (a revision this code does not
            know: written by a newer harness).
        revision: the database's revision (None: none recorded).
        head: the newest revision of this code.
        tables: the tables found.
    """

    kind: str
    revision: str | None
    head: str
    tables: tuple[str, ...]

    @property
    def description(self) -> str:
        if self.kind == "newer":
            return f"revision {self.revision} (unknown to this code: a newer harness wrote it)"
        if self.kind in ("empty", "foreign"):
            return "no harness schema"
        return revision_title(self.revision)


def schema_state(connection: Connection) -> SchemaState:
    """The :class:`SchemaState` of the database behind ``connection`` (reads only)."""
    from alembic.migration import MigrationContext
    from alembic.util import CommandError

    head = head_revision()
    tables = tuple(sorted(inspect(connection).get_table_names()))
    if not tables:
        return SchemaState("empty", None, head, tables)
    if "schema_info" not in tables:
        return SchemaState("foreign", None, head, tables)
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision == head:
        return SchemaState("current", revision, head, tables)
    if revision is None:
        return SchemaState("older", None, head, tables)
    try:
        known = _scripts().get_revision(revision) is not None
    except CommandError:
        known = False
    return SchemaState("older" if known else "newer", revision, head, tables)


def stamp_head(connection: Connection) -> None:
    """Record head as the revision of a database just created from the models."""
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection)
    context.stamp(_scripts(), head_revision())


class UpgradeError(RuntimeError):
    """The database cannot be upgraded; the message names it, the problem and the fix."""


@dataclass(frozen=True)
class UpgradeReport:
    """What :func:`upgrade` did.

    Attributes:
        location: the database (a path, or the URL without its password).
        before: the revision before (None: from before migrations).
        after: the revision after.
        backup: the copy written before the upgrade (SQLite files), or None.
    """

    location: str
    before: SchemaState
    after: str
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before.kind != "current"

    def line(self) -> str:
        if not self.changed:
            return (
                f"{self.location} is already at the newest revision {revision_title(self.after)}."
            )
        text = f"Upgraded {self.location} from {self.before.description} to {revision_title(self.after)}."
        if self.backup is not None:
            text += f" The database as it was before: {self.backup}"
        return text


def _target(db: str) -> tuple[Any, Path | None, str]:
    """(URL, SQLite path or None, location for messages) of a path or URL."""
    try:
        url, path = resolve_target(db)
    except StoreError as exc:
        raise UpgradeError(str(exc)) from exc
    location = str(path) if path is not None else url.render_as_string(hide_password=True)
    return url, path, location


def _migration_engine(url: Any) -> Engine:
    """An engine whose transactions may change the schema.

    SQLite: SQLAlchemy emits ``BEGIN IMMEDIATE`` itself (so DDL is inside the
    transaction and no other writer slips in), and foreign keys are off, so that
    rebuilding a table in batch mode does not cascade deletes into its children;
    :func:`upgrade` checks the keys before committing.
    """
    try:
        engine = create_engine(url)
    except ImportError as exc:
        raise UpgradeError(
            f"Cannot open {url.render_as_string(hide_password=True)}: {exc}. Install the "
            'driver (pip install -e ".[postgres]" for postgresql:// URLs).'
        ) from exc
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 30000")
            dbapi_connection.execute("PRAGMA foreign_keys = OFF")

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _backup(path: Path, state: SchemaState) -> Path:
    """A consistent copy of a SQLite file, named after its revision."""
    backup = path.with_name(f"{path.name}.bak-{state.revision or 'v1'}")
    if backup.exists():
        raise UpgradeError(
            f"{backup} already exists: an earlier upgrade's copy of {path.name}. Move it "
            "away (or delete it if you do not need it), then upgrade again."
        )
    partial = backup.with_name(backup.name + ".partial")
    source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    partial.rename(backup)
    return backup


def _check_keys(connection: Connection, location: str) -> None:
    """Before the commit: no row may point at a row that is gone (SQLite rebuilds
    tables with foreign keys off)."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise UpgradeError(
            f"Upgrading {location} would leave {len(broken)} rows whose foreign keys point "
            f"nowhere (first: {tuple(broken[0])}); nothing was changed. Report this with "
            "the database attached."
        )


@contextmanager
def _connected(db: str) -> Iterator[tuple[Connection, Path | None, str]]:
    url, path, location = _target(db)
    if path is not None and not path.is_file():
        raise UpgradeError(
            f"No results database at {path}. Nothing to upgrade: a new database is created "
            "at the newest schema by the first run that writes to it."
        )
    engine = _migration_engine(url)
    try:
        with engine.connect() as connection:
            yield connection, path, location
    except UpgradeError:
        raise
    except Exception as exc:
        if isinstance(exc, SQLAlchemyError | sqlite3.Error):
            raise UpgradeError(f"Database error on {location}: {exc}") from exc
        raise
    finally:
        engine.dispose()


def refuse(state: SchemaState, location: str) -> None:
    if state.kind == "empty":
        raise UpgradeError(
            f"{location} is an empty database. Nothing to upgrade: the first run that "
            "writes to it creates the newest schema."
        )
    if state.kind == "foreign":
        raise UpgradeError(
            f"{location} holds tables ({', '.join(state.tables[:5])}) but no schema_info "
            "table: it is not a harness results database. Check the --db value."
        )
    if state.kind == "newer":
        raise UpgradeError(
            f"{location} is at {state.description}; this code knows up to {state.head}. "
            "Update this checkout (git pull, then pip install -e .) and upgrade with it."
        )


def upgrade(db: str, revision: str = "heads") -> UpgradeReport:
    """Bring a results database to ``revision`` (default: the newest), in one transaction.

    Args:
        db: a file path (SQLite) or a SQLAlchemy URL.
        revision: the target revision.

    Raises:
        UpgradeError: the database is missing, foreign, newer than this code, or a
            revision failed (then nothing changed, and no copy is left behind).
    """
    from alembic import command

    with _connected(db) as (connection, path, location):
        state = schema_state(connection)
        connection.rollback()
        refuse(state, location)
        if state.kind == "current" and revision in ("head", "heads", state.head):
            return UpgradeReport(location, state, state.head, None)
        backup = _backup(path, state) if path is not None else None
        try:
            with connection.begin():
                command.upgrade(alembic_config(connection), revision)
                _check_keys(connection, location)
        except Exception as exc:
            if backup is not None:
                backup.unlink()  # the database is unchanged: the copy is not needed
            raise UpgradeError(
                f"Upgrading {location} from {state.description} failed and was rolled "
                f"back, so the database is unchanged: {type(exc).__name__}: {exc}"
            ) from exc
        after = schema_state(connection).revision
        connection.rollback()
    return UpgradeReport(location, state, after or head_revision(), backup)


def current(db: str) -> SchemaState:
    """The :class:`SchemaState` of a database (reads only)."""
    with _connected(db) as (connection, _path, _location):
        state = schema_state(connection)
        connection.rollback()
        return state


# --------------------------------------------------------------------------- the gate


def open_schema(db: Database) -> None:
    """The schema gate: create and stamp a new database; refuse foreign, older or newer
    ones (:class:`StoreError`, naming the upgrade command where one helps)."""
    engine = db.engine if db.readonly else db.write_engine
    try:
        with engine.begin() as conn:
            state = schema_state(conn)
            if state.kind == "empty" and not db.readonly:
                Base.metadata.create_all(conn)
                conn.execute(
                    insert(SchemaInfoRow).values(
                        id=1, schema_version=SCHEMA_VERSION, created_at=now()
                    )
                )
                stamp_head(conn)
                return
            if state.kind != "current":
                raise StoreError(refusal(state, db))
            version = conn.execute(select(SchemaInfoRow.schema_version)).scalar()
            if version is None or version < SCHEMA_VERSION:
                raise StoreError(
                    f"{db.location} has an empty or unknown schema_info table: the "
                    "database was not created by the harness, or its creation was "
                    "interrupted. Choose another database path."
                )
            if version > SCHEMA_VERSION:  # frozen at 1: only a harness to come may raise it
                raise StoreError(
                    f"{db.location} was written by a newer harness (schema version "
                    f"{version}; this code reads version {SCHEMA_VERSION}). Update this "
                    "checkout (git pull, then pip install -e .) or use another database path."
                )
    except StoreError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise StoreError(db.explain(exc)) from exc


def refusal(state: SchemaState, db: Database) -> str:
    """Why a database that is not at this code's revision cannot be opened."""
    if state.kind == "empty":
        return (
            f"{db.location} is an empty database with no results tables. "
            f"Run a suite first ({python_command('harness.run --suite quick')})."
        )
    if state.kind == "foreign":
        return (
            f"{db.location} holds tables ({', '.join(state.tables[:5])}...) "
            "but no schema_info table: it is not a harness results database. "
            "Choose another database path."
        )
    if state.kind == "newer":
        return (
            f"{db.location} was written by a newer harness (schema revision "
            f"{state.revision}; this code knows up to revision {state.head}). Update "
            "this checkout (git pull, then pip install -e .) or use another database path."
        )
    command = upgrade_command(db.location)
    backup = " (it keeps a copy of the file first)" if db.path is not None else ""
    return (
        f"{db.location} has an older schema, {state.description}; this code reads "
        f"revision {state.head}. Upgrade it in place with: {command}{backup}. "
        "Or start a new database."
    )
