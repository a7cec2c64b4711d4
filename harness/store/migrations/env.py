"""Alembic's environment for the results database.

:mod:`harness.store.migrate` runs Alembic with ``config.attributes["connection"]`` set to a
connection that is already inside its transaction (on SQLite a ``BEGIN IMMEDIATE``
with foreign keys off, so that batch mode can rebuild a table without cascading
deletes), so every revision of one upgrade commits or rolls back together. Run
from the ``alembic`` command line instead, it opens ``sqlalchemy.url`` itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from datasets.cli_options import python_command
from harness.store.schema import Base

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        transaction_per_migration=False,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "Set sqlalchemy.url (alembic -x, or alembic.ini) to the results database, or "
            f"upgrade with: {python_command('harness.db upgrade --db URL_OR_PATH')}"
        )
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
