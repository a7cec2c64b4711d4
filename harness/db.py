"""The command of the results database's schema revisions and saved-model files.

    python -m harness.db upgrade --db results/bench.db      # or a postgresql:// URL
    python -m harness.db current --db results/bench.db
    python -m harness.db history                             # --db: results.db when it exists
    python -m harness.db check-artifacts --db results/bench.db   # the saved-model files

What each does is :mod:`harness.store.migrate` (the revisions, the upgrade with its
copy of a SQLite file first) and :meth:`harness.store.ResultStore.check_artifacts`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from datasets.cli_options import DEFAULT_DB, add_option

from .store import ResultStore, StoreError
from .store.migrate import (
    UpgradeError,
    current,
    history,
    refuse,
    revision_title,
    upgrade,
    upgrade_command,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.db",
        description="Schema revisions of the harness's results database (Alembic).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, helptext in (
        ("upgrade", "bring a database to the newest revision (SQLite: a copy is kept first)"),
        ("current", "print a database's revision and whether it needs an upgrade"),
    ):
        sub = commands.add_parser(name, help=helptext, description=helptext)
        add_option(sub, "--db")
    helptext = "check the saved-model files the database names: present, unchanged, no orphans"
    sub = commands.add_parser("check-artifacts", help=helptext, description=helptext)
    add_option(sub, "--db")
    add_option(sub, "--artifacts")
    helptext = (
        "list the revisions, oldest first, marking the one the database is at (none when "
        "the default database does not exist)"
    )
    sub = commands.add_parser("history", help=helptext, description=helptext)
    add_option(sub, "--db")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "upgrade":
            print(upgrade(args.db).line())
        elif args.command == "current":
            state = current(args.db)
            if state.kind in ("empty", "foreign"):
                refuse(state, args.db)
            print(f"{args.db}: {state.description}")
            if state.kind == "older":
                command = upgrade_command(args.db)
                print(f"Needs an upgrade to {revision_title(state.head)}: {command}")
            elif state.kind == "current":
                print("Up to date (the newest revision this code knows).")
        elif args.command == "check-artifacts":
            return _check_artifacts(args.db, args.artifacts)
        else:
            unmarked = args.db == DEFAULT_DB and not Path(DEFAULT_DB).exists()
            at = None if unmarked else current(args.db).revision
            for revision, doc in history():
                mark = "  <- the database" if at is not None and revision == at else ""
                print(f"{revision}  {doc}{mark}")
    except UpgradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _check_artifacts(db: str, artifacts: str | None) -> int:
    """``check-artifacts``: 0 when every named file is there and unchanged and nothing
    else is in the folder, 1 otherwise (each problem listed), 2 for an unusable database."""
    try:
        with ResultStore(db, readonly=True, artifacts=artifacts) as store:
            found = store.check_artifacts()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(found['ok'])} saved-model files present and unchanged")
    notes = {
        "missing": "named by the database, not found (restore the folder, or point "
        "--artifacts at it)",
        "changed": "content differs from the recorded sha256 (restore from a copy)",
        "orphans": "in the folder, named by no row (safe to delete)",
        "staged": "staged by a writer and not published (the next run settles them)",
    }
    for kind, note in notes.items():
        if found[kind]:
            print(f"{len(found[kind])} {kind}: {note}")
            for path in found[kind]:
                print(f"  {path}")
    return 1 if any(found[k] for k in notes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
