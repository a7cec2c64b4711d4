"""One entry to every format of a report (:func:`render`)."""

from __future__ import annotations

from collections.abc import Sequence

from .csv_tables import render_csv, render_csv_detail
from .latex import render_latex
from .markdown import render_markdown
from .tables import TABLES, Group

FORMATS = ("markdown", "latex", "csv")


RENDERERS = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}


def render(groups: Sequence[Group], fmt: str = "markdown", table: str = "all") -> str:
    """The report of ``groups`` in ``fmt`` ("markdown", "latex" or "csv").

    Markdown and LaTeX hold the paper's layout and its paired comparisons (unless
    ``table`` names one detail table) and every table the groups were filled with
    (:func:`add_details`); CSV holds one table, ``table`` ("all" means "summary").
    """
    if fmt not in RENDERERS:
        raise ValueError(f"format={fmt!r} must be one of {', '.join(FORMATS)}.")
    if table not in ("all", *TABLES) or table == "leakage":
        raise ValueError(
            f"table={table!r} must be one of all, {', '.join(TABLES[:-1])} (the leakage "
            "tables: harness.analysis.leakage.render)."
        )
    if fmt == "csv":
        return (
            render_csv(groups) if table in ("all", "summary") else render_csv_detail(groups, table)
        )
    if fmt == "markdown":
        return render_markdown(groups, summary=table in ("all", "summary"))
    return render_latex(groups, summary=table in ("all", "summary"))
