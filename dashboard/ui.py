"""Pieces every page shares: badges, messages, number formats, the group filters."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from datasets.cli_options import python_command
from harness import metric_table
from harness.analysis import csv_tables, latex, tables
from harness.analysis.tables import COLUMNS as COLUMNS
from harness.analysis.tables import NOT_A_RESULT, Column, not_a_result
from harness.analysis.tables import NOT_A_RESULT_NOTE as NOT_A_RESULT_NOTE
from harness.metric_table import Direction
from harness.spec import GROUP_KEY, group_of

from . import queries

SURROGATE_NOTE = (
    "Surrogate data: synthetic spectra on the real ground-truth map. These results "
    "check the pipeline; they are not the paper's numbers and are not comparable to them."
)
REAL_NOTE = "Real data: the scene's published hyperspectral cube."
#: The paper's row order (registry families).
PAPER_ORDER = ("random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet")
#: Every metric's row of the metric table by name (header, scale, decimals,
#: direction; a live read-only view). The leaderboard's columns are :data:`COLUMNS`.
COLUMN_BY_METRIC: Mapping[str, Column] = metric_table.TABLE

#: Pages (paths relative to app.py) for st.page_link / st.switch_page.
PAGE_LEADERBOARD = "app_pages/leaderboard.py"
PAGE_PAPER = "app_pages/paper_tables.py"
PAGE_TRIAL = "app_pages/trial_detail.py"
PAGE_EMBEDDINGS = "app_pages/embeddings.py"
PAGE_SEARCH = "app_pages/search.py"
PAGE_RUNS = "app_pages/runs.py"


# --------------------------------------------------------------------------- badges


def source_badge(source: str | None, *, note: bool = True) -> None:
    """The real/surrogate badge (with what it means) for the data shown below it."""
    if source == "real":
        st.badge("real data", icon=":material/verified:", color="green", help=REAL_NOTE)
    elif source == "surrogate":
        st.badge(
            "SURROGATE data — not paper numbers",
            icon=":material/science:",
            color="orange",
            help=SURROGATE_NOTE,
        )
        if note:
            st.caption(SURROGATE_NOTE)
    elif source:
        st.badge(f"source: {source}", color="gray")


def sources_badges(sources: Sequence[str]) -> None:
    """Badges of every source present (the sidebar, and pages mixing sources)."""
    if not sources:
        return
    parts = []
    for source in sources:
        if source == "real":
            parts.append(":green-badge[:material/verified: real]")
        elif source == "surrogate":
            parts.append(":orange-badge[:material/science: surrogate — not paper numbers]")
        else:
            parts.append(f":gray-badge[{source}]")
    st.markdown("Data in this database: " + " ".join(parts))


# --------------------------------------------------------------------------- formats

#: The text of a cell where a value does not apply (the report's own, never "None"/"nan").
NA = "–"


def missing(value: Any) -> bool:
    """Whether ``value`` is no value: None or a NaN (what pandas makes of a None)."""
    return value is None or (isinstance(value, float) and value != value)


def plural(n: int, word: str, words: str | None = None) -> str:
    """ "1 thread", "4 threads" (``words``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def device_text(device: str) -> str:
    """A stored device description with its counts in the right number ("1 thread")."""
    return re.sub(r"\b(\d+) (thread|core|GPU)s\b", lambda m: plural(int(m[1]), m[2]), device)


def fmt_value(value: float | None, metric: str) -> str:
    """A metric value in the paper's units and decimals (:data:`NA` for none)."""
    if value is None or missing(value):
        return NA
    column = COLUMN_BY_METRIC.get(metric)
    if column is None:
        return f"{value:.4g}"
    return column.format(value)


def fmt_stats(stats: dict[str, Any], metric: str, *, with_n: bool = True) -> str:
    """ "mean ± std (n=k)" of one leaderboard cell, in the paper's units."""
    if missing(stats.get("mean")):
        return NA
    text = fmt_value(stats["mean"], metric)
    if not missing(stats.get("std")):
        text += f" ± {fmt_value(stats['std'], metric)}"
    if with_n:
        text += f" (n={stats['n']})"
    return text


def percent(value: float | None) -> str:
    """A share as "29.6 %" (a no-break space before "%"; :data:`NA` for none)."""
    return NA if value is None or missing(value) else f"{100 * value:.1f}\u00a0%"


def fmt_number(value: Any, fmt: str = "{:.3f}") -> str:
    """A plain number for a table cell (:data:`NA` for none)."""
    return NA if missing(value) else fmt.format(value)


# --------------------------------------------------------------------------- not a result


def one_class_note(row: dict[str, Any]) -> str | None:
    """Why a leaderboard row is not a result ("predicts one class", "no better than the
    majority class"), or None (:func:`harness.analysis.tables.not_a_result`)."""
    return not_a_result(row)


def trial_note(test: dict[str, Any]) -> str | None:
    """Why one trial is not a result, or None: :func:`harness.metrics.one_class_note` on
    its test metrics (``trial["metrics"]["test"]``)."""
    from harness.metrics import one_class_note as note

    return note(test.get("oa"), test.get("majority_rate"), test.get("top_prediction_share"))


def flag_text(note: str) -> str:
    """The mark of a number that is not a result: "NOT A RESULT: predicts one class"."""
    return f"{NOT_A_RESULT}: {note}"


def flagged_label(label: str, note: str | None, *, short: bool = False) -> str:
    """``label``, followed by its mark when ``note`` says it is not a result (``short``:
    the mark without the reason, for a column header or a table that says it elsewhere)."""
    if not note:
        return label
    return f"{label} ({NOT_A_RESULT})" if short else f"{label} ({flag_text(note)})"


def not_a_result_warning(items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """One warning over the numbers that are not results: each one's name, why, its test
    OA and the majority-class share (``items``: (name, why, {metric: value}))."""
    if not items:
        return
    lines = [
        f"- **{what}**: {note} (test OA {percent(test.get('oa'))}, majority-class share "
        f"of the test pixels {percent(test.get('majority_rate'))})"
        for what, note, test in items
    ]
    st.warning(
        f"**{NOT_A_RESULT}** — shown for the record only, never ranked nor compared: the "
        "model did not learn the task (too short a schedule, or an input it cannot train "
        "on).\n\n" + "\n".join(lines),
        icon=":material/warning:",
    )


def one_line(text: Any) -> str:
    """``text`` with no-break spaces, for a cell that stays on one line ("52.17 (n=1)", not
    "52.17" over "(n=1)"): the table grows and a name column wraps instead."""
    return str(text).replace(" ", "\u00a0")


def scaled(value: float | None, metric: str) -> float | None:
    """``value`` in the paper's units (percent for OA/BA)."""
    if value is None:
        return None
    column = COLUMN_BY_METRIC.get(metric)
    return value * column.scale if column else value


def header(metric: str) -> str:
    """The metric's column header ("OA (%)"), or its name when the table has no row."""
    column = COLUMN_BY_METRIC.get(metric)
    return column.header if column else metric


def run_label(run: dict[str, Any]) -> str:
    started = run.get("started_at")
    when = started.strftime("%Y-%m-%d %H:%M") if started else "?"
    suite = run.get("suite") or "no suite"
    return f"run {run['id']} · {suite} · {when} · {run.get('status', '')}"


def trial_label(t: dict[str, Any], *, short: bool = False) -> str:
    """ "#2 · claresnet · indian_pines · paper · seed 0 · real" (``short``: the id, model
    and seed only, for a page whose filters fix the rest), marked when the trial is not a
    result (:func:`dashboard.queries.trial_notes`)."""
    study = f" · study {t['study']}" if t.get("study") else ""
    if short:
        text = f"#{t['id']} · {t['model']} · seed {t['seed']}{study}"
    else:
        text = (
            f"#{t['id']} · {t['model']} · {t['scene']} · {t['protocol']} · seed {t['seed']} · "
            f"{t['source']}{study}"
        )
    return f"{text} · {NOT_A_RESULT}" if t["id"] in queries.trial_notes() else text


# --------------------------------------------------------------------------- filters


def choose(
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    preferred: Sequence[Any] = (),
    format_func: Any = str,
    help: str | None = None,
    container: Any = st,
) -> Any:
    """A selectbox over ``options`` starting at the first of ``preferred`` present."""
    options = list(options)
    index = 0
    for value in preferred:
        if value in options:
            index = options.index(value)
            break
    if key in st.session_state:
        if st.session_state[key] in options:
            index = 0  # the widget keeps its state; a second default would warn
        else:
            del st.session_state[key]  # left from other filters and not offered here
    return container.selectbox(
        label, options, index=index, key=key, format_func=format_func, help=help
    )


def run_filter(container: Any = st, key: str = "run") -> int | None:
    """The run selectbox ("All runs" or one run); None means every run."""
    runs = queries.runs()
    options: list[int | None] = [None, *[r["id"] for r in reversed(runs)]]
    labels = {r["id"]: run_label(r) for r in runs}
    return choose(
        "Run",
        options,
        key=key,
        format_func=lambda v: "All runs" if v is None else labels.get(v, str(v)),
        help="Count the trials of one run only (a suite run, a resume, a search).",
        container=container,
    )


#: The selectbox of each :data:`~harness.spec.GROUP_KEY` field: (label, preferred
#: values, help).
GROUP_SELECTORS: Mapping[str, tuple[str, tuple[str, ...], str | None]] = {
    "scene": ("Scene", ("indian_pines",), None),
    "protocol": (
        "Protocol",
        ("paper",),
        "paper: the paper's random 72/8/20 split; disjoint: spatially disjoint blocks; "
        "block_cv: spatial 5-fold cross-validation over blocks (a seed: the mean over its "
        "folds); fixed:NAME: the published split NAME, read from label-map files (their checksums "
        "are in each trial's spec).",
    ),
    "recipe": (
        "Recipe",
        ("unified",),
        "unified: the paper's shared training recipe; published: each model's own.",
    ),
    "source": (
        "Source",
        ("real",),
        "real: the published cube; surrogate: synthetic spectra on the real map.",
    ),
    "pca_fit": (
        "PCA fit",
        ("scene",),
        "scene: PCA fitted on every pixel of the scene, test pixels included (the paper's "
        "setting, which leaks test information into the features); train: fitted on the "
        "training pixels only (leak-free).",
    ),
}


def group_filters(
    rows: Sequence[dict[str, Any]],
    prefix: str,
    *,
    columns: Sequence[Any] | None = None,
    fields: Sequence[str] = GROUP_KEY,
) -> tuple[str, ...]:
    """One selectbox per group field (scene, protocol, recipe, source, PCA fit), each
    offering what the previous allow; key ``f"{prefix}_{field}"``.

    Defaults: the real data, the paper's protocol and unified recipe and PCA fitted on
    the scene (the paper's setting) when present.

    Args:
        rows: leaderboard rows.
        prefix: the widgets' key prefix.
        columns: one container per field (default: a row of columns).
        fields: the fields to choose, in order (default: all of
            :data:`~harness.spec.GROUP_KEY`, so the result is a group).

    Returns:
        The chosen value of each of ``fields``.
    """
    cols = columns or st.columns(len(fields))
    chosen = []
    for i, field in enumerate(fields):
        label, preferred, help_text = GROUP_SELECTORS[field]
        value = choose(
            label,
            sorted({r[field] for r in rows}),
            key=f"{prefix}_{field}",
            preferred=preferred,
            container=cols[i],
            help=help_text,
        )
        rows = [r for r in rows if r[field] == value]
        chosen.append(value)
    return tuple(chosen)


def empty_message() -> str:
    """ "No results yet — run ..." with the configured database in the command."""
    db = queries.settings().db
    suffix = "" if db == queries.DEFAULT_DB else f" --db {db}"
    return f"No results yet — run `{python_command('harness.run --suite quick' + suffix)}`"


def no_completed_trials(run_id: int | None = None) -> None:
    """The message of a page with nothing completed to show, and why."""
    info = queries.overview()
    counts = info["status_counts"]
    if not info["n_trials"]:
        st.info(empty_message(), icon=":material/info:")
        return
    if run_id is not None:
        st.info(
            f"Run {run_id} has no completed trial outside hyperparameter searches; choose "
            "another run or all runs.",
            icon=":material/info:",
        )
        return
    if counts.get("completed"):
        st.info(
            "Every completed trial in this database belongs to a hyperparameter search (the "
            "Search page shows them); the tables count trials outside searches, such as the "
            "final evaluation of a search's best configuration.",
            icon=":material/info:",
        )
        return
    other = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    st.info(
        f"No completed trials yet ({other}); the Runs page lists failures with their errors. "
        f"{empty_message()}.",
        icon=":material/info:",
    )


# --------------------------------------------------------------------------- tables

BEST_STYLE = "background-color: #d8f0dc; font-weight: 700"
#: A row that is not a result: greyed (its Model cell says why).
FLAGGED_STYLE = "color: #8a6d3b; background-color: #fdf6e3"


_NOT_SETTINGS = {"seed", "study", "scene_fingerprint"}


def _flat(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_settings(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """{label: "training.epochs=40, ..."} for models with several configurations in one
    group (:data:`~harness.spec.GROUP_KEY`) of ``rows``: the spec fields that tell
    their configurations apart (read from one trial of each)."""
    by_model: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_model[(*group_of(row), row["model"])].append(row)
    settings: dict[str, str] = {}
    for group in by_model.values():
        if len(group) < 2:
            continue
        specs = {r["label"]: _flat(queries.trial(r["trial_ids"][0])["spec"]) for r in group}
        keys = sorted({k for spec in specs.values() for k in spec} - _NOT_SETTINGS)
        differing = [
            k
            for k in keys
            if len(
                {json.dumps(spec.get(k), sort_keys=True, default=str) for spec in specs.values()}
            )
            > 1
        ]
        for label, spec in specs.items():
            settings[label] = ", ".join(f"{k}={spec.get(k)}" for k in differing)
    return settings


def _direction(metric: str) -> Direction:
    column = COLUMN_BY_METRIC.get(metric)
    return column.direction if column is not None else Direction.NONE


def stats_table(
    rows: Sequence[dict[str, Any]],
    metrics: Sequence[str],
    *,
    sort_by: str | None = None,
    descending: bool = True,
) -> tuple[pd.DataFrame, Any]:
    """A leaderboard table: numbers for sorting, "mean ± std" shown ("(n=k)" after it when
    only k of the row's seeds have a value), best per column marked.

    A row that is not a result (:func:`harness.analysis.tables.not_a_result`) is never
    ranked (Rank :data:`NA`), comes after every result whatever the order and is never a
    column's best; its Model cell says why. The best value of a column is its maximum,
    or its minimum for a metric whose :class:`~harness.metric_table.Direction` is
    "lower"; a metric that is not comparable (or not in the metric table) gets no mark.

    Returns:
        (the numeric frame: Rank (text), Model, Setting (what tells a model's
        configurations apart, only when one has several), Seeds and one column per metric
        holding the mean in the paper's units, in the order shown; its Styler for
        :func:`table`).
    """
    settings = config_settings(rows)
    notes = [not_a_result(r) for r in rows]
    frame = pd.DataFrame(
        {
            "Model": [flagged_label(r["label"], n) for r, n in zip(rows, notes, strict=True)],
            **({"Setting": [settings.get(r["label"], "") for r in rows]} if settings else {}),
            "Seeds": [len(r["seeds"]) for r in rows],  # a block_cv seed: all its folds
            **{header(m): [scaled(r["metrics"][m]["mean"], m) for r in rows] for m in metrics},
        }
    )
    texts = {  # n only where fewer seeds than the row's have a value
        header(m): [
            one_line(fmt_stats(r["metrics"][m], m, with_n=r["metrics"][m]["n"] != len(r["seeds"])))
            for r in rows
        ]
        for m in metrics
    }
    order = list(range(len(rows)))
    if sort_by is not None and header(sort_by) in frame:
        order = list(
            frame[header(sort_by)]
            .sort_values(ascending=not descending, na_position="last", kind="stable")
            .index
        )
    order = [i for i in order if not notes[i]] + [i for i in order if notes[i]]
    flagged = [bool(notes[i]) for i in order]
    frame = frame.loc[order].reset_index(drop=True)
    texts = {k: [v[i] for i in order] for k, v in texts.items()}
    ranks, rank = [], 0
    for is_flagged in flagged:
        rank += not is_flagged
        ranks.append(NA if is_flagged else str(rank))
    frame.insert(0, "Rank", ranks)
    styler = frame.style.hide(axis="index")
    directions = {header(m): _direction(m) for m in metrics}
    for column, values in texts.items():
        for i, text in enumerate(values):
            styler = styler.format(lambda _v, text=text: text, subset=pd.IndexSlice[[i], [column]])
        numbers = frame[column].where([not f for f in flagged])  # results only
        direction = directions[column]
        if numbers.notna().any() and direction is not Direction.NONE:
            best = numbers.min() if direction is Direction.LOWER else numbers.max()
            styler = styler.apply(
                lambda col, best=best: [
                    BEST_STYLE if v == best and not f else ""
                    for v, f in zip(col, flagged, strict=True)
                ],
                subset=[column],
            )
    styler = styler.apply(
        lambda row: [FLAGGED_STYLE if flagged[row.name] else "" for _ in row], axis=1
    )
    return frame, styler


def table(data: Any) -> None:
    """A table as HTML (``st.table``), never as ``st.dataframe``'s canvas grid.

    HTML cells wrap and grow to their text, so nothing in them is cut at any width (the
    browser test measures every cell); the grid draws on a canvas with widths of its own
    and clips what does not fit ("random_for", "Suppo").
    """
    st.table(data, hide_index=True)


def downloads(
    key: Sequence[str], rows: Sequence[dict[str, Any]], run_id: int | None
) -> tuple[str, str]:
    """(CSV, LaTeX) of one group's table, as ``python -m harness.report`` writes them.

    Args:
        key: the group's :data:`~harness.spec.GROUP_KEY` values.
        rows: its leaderboard rows.
        run_id: the run they were counted from (None: every run).
    """
    group = tables.make_group(key, list(rows), lambda: queries.per_seed(key, "oa", run_id))
    return csv_tables.render_csv([group]), latex.render_latex([group])


#: Addresses only this machine can reach.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_notice(address: str | None, port: Any) -> str | None:
    """The notice for a dashboard served beyond this machine, or None on loopback.

    Args:
        address: Streamlit's ``server.address`` (None or "": every interface).
        port: its ``server.port``.
    """
    if address and address in LOOPBACK:
        return None
    where = f"{address}:{port}" if address else f"every network interface, port {port}"
    return (
        f"This dashboard is served on {where}: anyone who can reach that port can read "
        "every result, map, error and run's provenance here, with no login. The default "
        "is 127.0.0.1 (this machine only; from a laptop, an SSH tunnel: see the README). "
        "Shared access belongs behind your own authenticating proxy."
    )
