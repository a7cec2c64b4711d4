"""The options the project's command lines share, defined once, and the command a hint prints.

Every command (``python -m harness.run``, ``harness.report``, ``harness.predict``,
``harness.db`` and ``python -m datasets``) adds a shared option with
:func:`add_option`, so that ``--db``, ``--scene``, ``--data-dir``, ``--seed``,
``--seeds``, ``--recipe``, ... have one name, one metavar and one help text
wherever they appear. What may differ between commands is how many values an option
takes (``nargs``), its default where the command has its own, and a narrower set of
choices (a report filters to the sources a trial can have). Old spellings stay
accepted as hidden aliases where they were used (``harness.run --scenes``,
``datasets download --to``): they fill the same value and are not shown in ``--help``.

The definitions live in the data layer, the lowest one, because both ``datasets``
and ``harness`` build command lines and ``datasets`` never imports ``harness``. This
module imports the standard library only.

:func:`python_command` is the command line a message tells the user to run: ``python
-m ...`` when a bare ``python`` is this interpreter (an activated virtual environment,
or the system's own), otherwise this interpreter's path (relative to the working
folder when it is inside it, e.g. ``.venv/bin/python -m harness.db upgrade --db
results.db``), so that the hint works when pasted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The results database a command reads or writes when ``--db`` is not given.
DEFAULT_DB = "results.db"

#: The training recipes (``models.RECIPE_NAMES``; the data layer does not import ``models``).
RECIPES = ("unified", "published")

#: Where a scene's data come from: its real files, a surrogate, or real when found.
SOURCES = ("real", "surrogate", "auto")


@dataclass(frozen=True)
class SharedOption:
    """One option as every command spells it.

    Attributes:
        name: the option string, e.g. ``"--db"``.
        help: the help text, the same in every command.
        metavar: the value's name in the usage and help (None: argparse's, e.g. the
            choices in braces).
        choices: the values accepted (a command may accept fewer).
        type: converts the value (None: a string).
        default: the value when the option is absent (a command may set its own).
        action: argparse's action (None: store one value, or ``nargs`` of them).
        aliases: old spellings, accepted (and hidden from ``--help``) by the commands
            that spelled the option so (``add_option(..., old_spellings=True)``).
    """

    name: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    type: Callable[[str], Any] | None = None
    default: Any = None
    action: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds the value."""
        return self.name.removeprefix("--").replace("-", "_")


def _options(*options: SharedOption) -> dict[str, SharedOption]:
    return {option.name: option for option in options}


#: The shared options, by name.
OPTIONS: dict[str, SharedOption] = _options(
    SharedOption(
        "--db",
        metavar="URL_OR_PATH",
        default=DEFAULT_DB,
        help=f"results database: a SQLite path or a SQLAlchemy URL (default {DEFAULT_DB})",
    ),
    SharedOption(
        "--artifacts",
        metavar="DIR",
        help="folder of the saved models (default: NAME.artifacts beside a SQLite database "
        "NAME.db; a server database keeps none without it)",
    ),
    SharedOption(
        "--scene",
        metavar="SCENE",
        aliases=("--scenes",),
        help="scene name: a registered scene (python -m datasets list) or one described "
        "with --scene-file",
    ),
    SharedOption(
        "--scene-file",
        metavar="F",
        action="append",
        default=[],
        help="TOML description of a scene of your own (repeatable)",
    ),
    SharedOption(
        "--data-dir",
        metavar="DIR",
        aliases=("--to",),
        help="folder of the scene files: searched first for them, and where a download "
        "saves them (created if missing; default ./data, which is searched too)",
    ),
    SharedOption(
        "--source",
        choices=SOURCES,
        help="data source: the real files, a surrogate (synthetic spectra on the real "
        "ground truth), or auto (real when its files are found)",
    ),
    SharedOption(
        "--protocol",
        metavar="PROTOCOL",
        help="split protocol: paper, fraction, per_class, disjoint, block_cv (5-fold "
        "spatial cross-validation: 5 trials per seed), or fixed:NAME (a split read from "
        "label-map files: declared in the scene file, or given with --split-file)",
    ),
    SharedOption(
        "--split-file",
        metavar="[ROLE=]PATH[:KEY]",
        action="append",
        default=[],
        help="a label map of a fixed split, ROLE train, test or val (repeatable); or one "
        ".mat/.npz holding TR and TE maps. With --protocol fixed:NAME (NAME defaults to the "
        "train file's name); one scene only",
    ),
    SharedOption(
        "--recipe",
        choices=RECIPES,
        help="training recipe: unified (the CLAReSNet paper's pipeline for every model) or "
        "published (each model's authors' own)",
    ),
    SharedOption(
        "--pca-fit",
        choices=("scene", "train"),
        help="where PCA is fitted: on the whole scene (the paper's setting) or on the "
        "training pixels only",
    ),
    SharedOption(
        "--seeds",
        metavar="N",
        type=int,
        help="how many seeds: 0..N-1",
    ),
    SharedOption(
        "--seed",
        metavar="S",
        type=int,
        help="which seed, e.g. --seed 2: the random seed of the split and of the training",
    ),
    SharedOption(
        "--mirror",
        metavar="URL",
        help="download FILE from URL/FILE (a folder serving the scene files) instead of "
        "each scene's own address",
    ),
    SharedOption(
        "--json",
        action="store_true",
        default=False,
        help="print JSON instead of a table",
    ),
)

#: What a command may set for itself when it adds a shared option.
_PER_COMMAND = {"nargs", "default", "choices", "required"}


def add_option(
    container: argparse.ArgumentParser | argparse._ArgumentGroup,
    name: str,
    *,
    old_spellings: bool = False,
    **per_command: Any,
) -> argparse.Action:
    """Add the shared option ``name`` to a parser or group.

    Args:
        container: the parser, argument group or mutually exclusive group.
        name: the option string, a key of :data:`OPTIONS`.
        old_spellings: also accept the option's old spellings (``aliases``), hidden
            from ``--help``: for the commands that spelled it so.
        **per_command: what this command sets for itself: ``nargs``, ``default``,
            ``required``, and ``choices`` (a subset of the shared ones).

    Returns:
        The option's action.

    Raises:
        KeyError: ``name`` is not a shared option.
        ValueError: a setting a command may not change (the help text, the metavar,
            the destination), or choices outside the shared ones.
    """
    option = OPTIONS[name]
    refused = set(per_command) - _PER_COMMAND
    if refused:
        raise ValueError(
            f"{name}: {', '.join(sorted(refused))} cannot be set per command (expected only "
            f"{', '.join(sorted(_PER_COMMAND))}); change the shared definition in "
            "datasets/cli_options.py instead."
        )
    choices = per_command.pop("choices", option.choices)
    if choices is not None and option.choices is not None and set(choices) - set(option.choices):
        raise ValueError(
            f"{name}: choices {tuple(choices)} are not among the shared ones {option.choices}."
        )
    kwargs: dict[str, Any] = {"default": option.default, **per_command}
    if option.action is not None:
        kwargs["action"] = option.action
    else:
        kwargs["type"] = option.type
        kwargs["choices"] = choices
    if option.metavar is not None:
        kwargs["metavar"] = option.metavar
    if isinstance(kwargs["default"], list):
        kwargs["default"] = list(kwargs["default"])  # each parser its own list
    action = container.add_argument(option.name, dest=option.dest, help=option.help, **kwargs)
    for alias in option.aliases if old_spellings else ():
        hidden = {**kwargs, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        container.add_argument(alias, dest=option.dest, **hidden)
    return action


def python_executable() -> str:
    """How the user starts this interpreter from the working folder: ``python`` when a
    bare ``python`` is this one (an activated virtual environment, or the same
    interpreter in the same folder), else its path (relative when it lies inside the
    working folder), quoted for a shell."""
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and _same(Path(venv), Path(sys.prefix)):
        return "python"
    here = Path(sys.executable)
    found = shutil.which("python")
    if found and _same(Path(found).parent, here.parent) and _same(Path(found), here):
        return "python"
    path = here.absolute()
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return shlex.quote(shown)


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (False when either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def python_command(module_and_args: str) -> str:
    """The command line a message prints for the user to paste: ``python -m
    MODULE ARGS`` with the interpreter of :func:`python_executable`.

    Args:
        module_and_args: what follows ``-m``, e.g. ``"harness.db upgrade --db results.db"``
            (its values quoted by the caller where they need it).
    """
    return f"{python_executable()} -m {module_and_args}"
