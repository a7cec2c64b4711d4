"""The README and the documentation site: short, with the first commands on the first
screen, every page in the site's navigation, and every command line they show accepted
by its tool's own argument parser.

The strict site build itself (broken links, API pages) is run by ``.ci/run``
(``mkdocs build --strict``), not here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: The Quick start's two commands: CI (``.ci/run``) and the fresh-clone test run them.
QUICK_START = (
    "bash scripts/setup.sh && .venv/bin/python -m harness.run --suite quick",
    "bash scripts/setup.sh --dev && .venv/bin/python -m pytest -q",
)
SMOKE = ".venv/bin/python -m harness.run --suite smoke"

#: Each command's module and the module whose function builds its parser.
PARSERS: dict[str, str] = {
    "harness.run": "harness.run_flags",
    "harness.report": "harness.report",
    "harness.predict": "harness.predict",
    "harness.db": "harness.db",
    "datasets": "datasets.__main__",
}
_COMMAND = re.compile(
    r"python -m (harness\.run|harness\.report|harness\.predict|harness\.db|datasets)\b"
)
_FENCE = re.compile(r"^```(\w*)\s*$")


def test_readme_is_short():
    words = len(README.read_text(encoding="utf-8").split())
    assert words <= 1250, (
        f"README.md has {words} words; keep it at most 1,250 (move detail to docs/guide/)"
    )


def test_quick_start_and_first_command_on_the_first_screen():
    first_screen = README.read_text(encoding="utf-8").splitlines()[:60]
    for command in (*QUICK_START, SMOKE):
        assert command in first_screen, f"{command!r} is not a line of README.md's first 60 lines"


def _nav_pages(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def test_every_page_is_in_the_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs"
    nav = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), (
        f"pages under docs/ missing from mkdocs.yml's nav: {sorted(pages - nav)}"
    )
    assert nav - pages == set(), (
        f"mkdocs.yml's nav names pages that do not exist: {sorted(nav - pages)}"
    )


def _shell_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of the ``bash`` code blocks of a Markdown file, continuations joined,
    comments removed, with the number of their first line."""
    in_block, start, pending = False, 0, ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line.strip())
        if fence:
            in_block = not in_block and fence.group(1) in ("bash", "sh", "console")
            continue
        if not in_block:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""


def _commands() -> list[tuple[str, str, list[str]]]:
    """Every ``python -m TOOL ...`` of the README and the guide: (where, tool, argv)."""
    found = []
    for path in (README, *sorted((DOCS / "guide").glob("*.md"))):
        for number, line in _shell_lines(path):
            for part in re.split(r"&&|;|\|", line):
                match = _COMMAND.search(part)
                if match is None:
                    continue
                words = shlex.split(part[match.end() :], comments=True)
                where = f"{path.relative_to(ROOT)}:{number}"
                found.append((where, match.group(1), words))
    return found


COMMANDS = _commands()


def _parser(tool: str) -> argparse.ArgumentParser:
    module = importlib.import_module(PARSERS[tool])
    build: Callable[[], argparse.ArgumentParser] = getattr(module, "parser", None) or module._parser
    return build()


def test_the_docs_show_every_tool():
    assert {tool for _, tool, _ in COMMANDS} == set(PARSERS)
    assert len(COMMANDS) >= 40


@pytest.mark.parametrize(("where", "tool", "argv"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_command_line_parses(where, tool, argv):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _parser(tool).parse_args(argv)
    except SystemExit:
        pytest.fail(
            f"{where}: python -m {tool} {shlex.join(argv)} is refused by its parser: {err.getvalue()}"
        )
