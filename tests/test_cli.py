"""One vocabulary across the command lines: ``harness.run``, ``harness.report``,
``harness.predict``, ``harness.db`` and ``python -m datasets``.

Every parser is walked (subcommands included): an option that appears in several
commands has one name, one metavar and one help text (:mod:`datasets.cli_options`), the
old spellings parse to the same value and stay out of ``--help``, ``--db`` defaults to
``results.db``, errors start with ``error:``, and a hint prints a command that runs
from where the user is (:func:`datasets.cli_options.python_command`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import datasets.__main__ as datasets_cli
from datasets import cli_options
from datasets.cli_options import DEFAULT_DB, OPTIONS, python_command, python_executable
from harness import db as db_cli
from harness import predict, report, run_flags
from harness import run as run_cli
from models.recipes import RECIPE_NAMES

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Found:
    """One option of one command's parser."""

    command: str
    strings: tuple[str, ...]
    dest: str
    metavar: object
    help: str | None
    default: object


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand, by its command line (built by the modules' own
    parser functions)."""
    top = {
        "harness.run": run_flags.parser(),
        "harness.report": report._parser(),
        "harness.predict": predict._parser(),
        "harness.db": db_cli._parser(),
        "datasets": datasets_cli._parser(),
    }
    found: dict[str, argparse.ArgumentParser] = {}
    for name, parser in top.items():
        found[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    found[f"{name} {sub}"] = subparser
    return found


PARSERS = _parsers()


def _options() -> list[Found]:
    return [
        Found(command, tuple(a.option_strings), a.dest, a.metavar, a.help, a.default)
        for command, parser in PARSERS.items()
        for a in parser._actions
        if a.option_strings and a.dest != "help"
    ]


OPTIONS_FOUND = _options()
VISIBLE = [o for o in OPTIONS_FOUND if o.help != argparse.SUPPRESS]
HIDDEN = [o for o in OPTIONS_FOUND if o.help == argparse.SUPPRESS]

#: Where each shared option must appear (a parser that stops using the shared
#: definition, or drops the option, fails here).
WHERE = {
    "--db": {
        "harness.run",
        "harness.report",
        "harness.predict",
        "harness.db upgrade",
        "harness.db current",
        "harness.db check-artifacts",
        "harness.db history",
    },
    "--scene": {"harness.run", "harness.report", "harness.predict"},
    "--data-dir": {
        "harness.run",
        "harness.predict",
        "datasets info",
        "datasets download",
        "datasets split",
    },
    "--seeds": {"harness.run"},
    "--seed": {"harness.run", "datasets split"},
    "--recipe": {"harness.run", "harness.report", "harness.predict"},
    "--source": {"harness.run", "harness.report", "harness.predict", "datasets info"},
    "--protocol": {"harness.run", "harness.report", "harness.predict", "datasets split"},
    "--pca-fit": {"harness.run", "harness.report"},
    "--scene-file": {
        "harness.run",
        "harness.predict",
        "datasets info",
        "datasets download",
        "datasets split",
    },
    "--split-file": {"harness.run", "datasets split"},
    "--artifacts": {"harness.run", "harness.predict", "harness.db check-artifacts"},
    "--mirror": {"harness.run", "datasets download"},
    "--json": {"datasets info", "datasets split"},
}


def test_the_walk_reaches_every_command():
    assert set(PARSERS) == {
        "harness.run",
        "harness.report",
        "harness.predict",
        "harness.db",
        "harness.db upgrade",
        "harness.db current",
        "harness.db check-artifacts",
        "harness.db history",
        "datasets",
        "datasets list",
        "datasets info",
        "datasets download",
        "datasets split",
    }
    assert set(WHERE) == set(OPTIONS)


@pytest.mark.parametrize("name", sorted(WHERE))
def test_a_shared_option_has_one_name_metavar_and_help(name):
    shared = OPTIONS[name]
    uses = [o for o in VISIBLE if name in o.strings]
    assert {o.command for o in uses} == WHERE[name]
    for o in uses:
        assert o.strings == (name,), f"{o.command}: {o.strings}"
        assert o.dest == shared.dest, o.command
        assert o.help == shared.help, o.command
        assert o.metavar == shared.metavar, o.command


def test_an_option_in_several_commands_is_a_shared_one():
    """No option outside the shared module appears in two commands, so none can drift."""
    commands: dict[str, set[str]] = {}
    for o in VISIBLE:
        for string in o.strings:
            commands.setdefault(string, set()).add(o.command)
    several = {s for s, where in commands.items() if len(where) > 1}
    assert several <= set(OPTIONS), several - set(OPTIONS)


def test_one_value_has_one_name():
    """A value (dest) has one visible spelling everywhere, and a spelling one value:
    ``--seed`` (which seeds) and ``--seeds`` (how many) are two values."""
    names: dict[str, set[str]] = {}
    dests: dict[str, set[str]] = {}
    for o in VISIBLE:
        names.setdefault(o.dest, set()).update(o.strings)
        for string in o.strings:
            dests.setdefault(string, set()).add(o.dest)
    assert {d: n for d, n in names.items() if len(n) > 1} == {}
    assert {s: d for s, d in dests.items() if len(d) > 1} == {}
    assert dests["--seed"] == {"seed"} and dests["--seeds"] == {"seeds"}


def test_choices_are_the_shared_ones_or_fewer():
    for command, parser in PARSERS.items():
        for a in parser._actions:
            for string in a.option_strings:
                shared = OPTIONS.get(string)
                if shared is not None and shared.choices is not None:
                    assert set(a.choices or ()) <= set(shared.choices), (command, string)
    assert cli_options.RECIPES == RECIPE_NAMES
    recipe = next(a for a in report._parser()._actions if "--recipe" in a.option_strings)
    assert tuple(recipe.choices or ()) == RECIPE_NAMES


def test_db_defaults_to_results_db_everywhere():
    uses = [o for o in OPTIONS_FOUND if "--db" in o.strings]
    assert {o.command for o in uses} == WHERE["--db"]
    assert {o.default for o in uses} == {DEFAULT_DB} == {"results.db"}
    for o in uses:
        assert not _action(o.command, "--db").required, o.command


def _action(command: str, string: str) -> argparse.Action:
    return next(a for a in PARSERS[command]._actions if string in a.option_strings)


@pytest.mark.parametrize(
    ("command", "alias", "name", "argv", "value"),
    [
        (
            "harness.run",
            "--scenes",
            "--scene",
            ["--suite", "smoke", "--scenes", "indian_pines", "salinas"],
            ["indian_pines", "salinas"],
        ),
        ("datasets", "--to", "--data-dir", ["download", "salinas", "--to", "d"], "d"),
    ],
)
def test_an_old_spelling_is_hidden_and_parses_to_the_same_value(command, alias, name, argv, value):
    parser = PARSERS[command]
    args = parser.parse_args(argv)
    dest = OPTIONS[name].dest
    assert getattr(args, dest) == value
    absent = parser.parse_args(argv[: argv.index(alias)])
    assert getattr(absent, dest) is None  # the alias does not shadow the option's default
    hidden = [o for o in HIDDEN if alias in o.strings]
    assert [o.dest for o in hidden] == [dest]
    helps = [PARSERS[c].format_help() for c in PARSERS if c.split()[0] == command.split()[0]]
    pattern = re.compile(rf"(?<![\w-]){re.escape(alias)}(?![\w-])")
    assert not any(pattern.search(text) for text in helps)
    assert any(name in text for text in helps)


def test_only_the_old_spellings_are_hidden():
    assert sorted(s for o in HIDDEN for s in o.strings) == ["--scenes", "--to"]


def test_seed_and_seeds_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        run_flags.parser().parse_args(["--suite", "smoke", "--seeds", "3", "--seed", "2"])
    assert exc.value.code == 2
    assert "error: argument --seed: not allowed with argument --seeds" in capsys.readouterr().err


def _dry_run(capsys, tmp_path: Path, *argv: str) -> list[tuple[str, str]]:
    """(spec hash, seed) of each trial ``harness.run --dry-run`` plans."""
    code = run_cli.main(["--suite", "smoke", "--dry-run", "--db", str(tmp_path / "r.db"), *argv])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()[1:] if re.match(r"[0-9a-f]{12} ", line)]
    return [(row[0], row[-1]) for row in rows]


def test_seed_runs_exactly_those_seeds_of_the_suite(capsys, tmp_path):
    three = _dry_run(capsys, tmp_path, "--seeds", "3")
    assert {seed for _, seed in three} == {"0", "1", "2"}
    two = _dry_run(capsys, tmp_path, "--seed", "2")
    assert two == [row for row in three if row[1] == "2"] and len(two) == len(three) // 3
    both = _dry_run(capsys, tmp_path, "--seed", "2", "0", "2")
    assert sorted(both) == sorted(row for row in three if row[1] in ("0", "2"))


def test_a_negative_seed_is_refused(capsys, tmp_path):
    code = run_cli.main(["--suite", "smoke", "--seed", "-1", "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --seed -1 must be >= 0. Fix:")


def _missing(tmp_path: Path) -> str:
    return str(tmp_path / "missing.db")


#: Each tool with a bad value: (main, argv, exit status). argparse's usage errors exit
#: 2; the tools' own errors exit as before (1 or 2).
BAD = {
    "run flag": (run_cli.main, lambda t: ["--suite", "smoke", "--recipe", "paper"], 2),
    "run value": (
        run_cli.main,
        lambda t: ["--suite", "smoke", "--scene", "atlantis", "--dry-run", "--db", _missing(t)],
        2,
    ),
    "report flag": (report.main, lambda t: ["--source", "auto"], 2),
    "report value": (report.main, lambda t: ["--db", _missing(t)], 2),
    "predict flag": (predict.main, lambda t: ["--chunk", "many", "--out", "m.png"], 2),
    "predict value": (
        predict.main,
        lambda t: [
            "--db",
            _missing(t),
            "--trial",
            "1",
            "--scene",
            "indian_pines",
            "--out",
            str(t / "m.png"),
        ],  # fmt: skip
        2,
    ),
    "db flag": (db_cli.main, lambda t: ["downgrade"], 2),
    "db value": (db_cli.main, lambda t: ["current", "--db", _missing(t)], 2),
    "datasets flag": (datasets_cli.main, lambda t: ["split", "indian_pines", "--seed", "x"], 2),
    "datasets value": (datasets_cli.main, lambda t: ["info", "atlantis"], 2),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_error_starts_with_lowercase_error(case, capsys, tmp_path):
    main, argv, status = BAD[case]
    try:
        code = main(argv(tmp_path))
    except SystemExit as exc:  # argparse: "PROG: error: ..."
        code = exc.code
    err = capsys.readouterr().err
    assert code == status, err
    last = err.strip().splitlines()[-1]
    assert re.match(r"(python -m [\w.]+( [\w-]+)?: )?error: \S", last), last
    assert "Error:" not in err and "Traceback" not in err


def test_python_command_names_this_interpreter(monkeypatch, tmp_path):
    here = Path(sys.executable)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bare python at all
    monkeypatch.chdir(here.parents[2])
    relative = str(here.absolute().relative_to(here.parents[2]))
    assert python_executable() == relative
    assert python_command("harness.db upgrade --db results.db") == (
        f"{relative} -m harness.db upgrade --db results.db"
    )
    monkeypatch.chdir(tmp_path)  # the interpreter is outside the working folder
    assert python_executable() == str(here.absolute())
    monkeypatch.setenv("PATH", str(here.parent))  # a bare python finds this environment
    if (here.parent / "python").exists():
        assert python_executable() == "python"
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)  # this environment is activated
    assert python_command("datasets list") == "python -m datasets list"


def test_a_hint_prints_a_command_that_runs_here(tmp_path):
    """The store's refusal of an older database names the upgrade with this interpreter."""
    from harness.store.migrate import upgrade_command

    command = upgrade_command(str(tmp_path / "old results.db"))
    assert (
        command == f"{python_executable()} -m harness.db upgrade --db '{tmp_path}/old results.db'"
    )


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who has not activated the virtual environment."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = str(tmp_path / "bin")  # no bare python on it
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_report_without_db_in_an_empty_folder_names_results_db_and_the_fix(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "harness.report"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    missing = tmp_path / "results.db"
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: No results database at {missing}."), out.stderr
    assert f"{sys.executable} -m harness.run --suite quick --db {missing}" in out.stderr
    assert "--db" in out.stderr and "Traceback" not in out.stderr
    assert not missing.exists()  # a report never creates the database


def test_the_old_scenes_spelling_still_runs_a_command(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.run",
            "--suite",
            "smoke",
            "--scenes",
            "salinas",
            "--dry-run",
            "--db",
            "tmp.db",
        ],  # fmt: skip
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    planned = [line for line in out.stdout.splitlines() if re.match(r"[0-9a-f]{12} ", line)]
    assert planned and all(" salinas " in line for line in planned)
    assert f"(suite 'smoke', database {tmp_path / 'tmp.db'})" in out.stdout
