"""The results dashboard: ``streamlit run dashboard/app.py [-- --db results.db]``.

The database comes from ``--db`` after ``--`` (a path or a SQLAlchemy URL), else
``$HARNESS_DB``, else ``results.db``; ``--data-dir DIR`` (or ``$HSI_DATA_DIR``)
is searched first for the scene files behind the RGB composites. The database is
opened read-only and never written.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `streamlit run` puts dashboard/, not the project, on the path
    sys.path.insert(0, str(_ROOT))

import os  # noqa: E402

import streamlit as st  # noqa: E402

from dashboard import queries, ui  # noqa: E402
from datasets.cli_options import python_command  # noqa: E402
from harness.store import StoreError  # noqa: E402


def _script_args() -> list[str]:
    """The arguments after ``--`` when run by ``streamlit run`` (none under a test runner)."""
    if sys.argv and Path(sys.argv[0]).resolve() == Path(__file__).resolve():
        return sys.argv[1:]
    return []


def _sidebar(settings: queries.Settings) -> None:
    with st.sidebar:
        st.caption(f"Database ({settings.origin}): `{settings.location}` — read-only")


def _check_database() -> bool:
    """Show why the database cannot be used, or that it holds nothing yet; True when usable."""
    settings = queries.settings()
    try:
        queries.store()
        info = queries.overview()
    except StoreError as exc:
        missing = not settings.is_url and not Path(settings.location).exists()
        st.title("CLAReSNet benchmark results")
        if missing:
            st.error(f"No results database at `{settings.location}`.", icon=":material/error:")
        else:
            st.error(f"The results database cannot be read: {exc}", icon=":material/error:")
        st.markdown(
            "**Fix:** point the dashboard at a results database — "
            "`streamlit run dashboard/app.py -- --db path/to/results.db` or "
            f"`{queries.ENV_DB}=path/to/results.db` — or create one: "
            f"`{python_command('harness.run --suite quick --db ' + settings.db)}`."
        )
        return False
    with st.sidebar:
        ui.sources_badges(info["sources"])
    if not info["n_trials"]:
        st.title("CLAReSNet benchmark results")
        st.info(ui.empty_message(), icon=":material/info:")
        st.caption(f"`{settings.location}` is a results database with no trials yet.")
        return False
    return True


def main() -> None:
    st.set_page_config(
        page_title="CLAReSNet benchmark results", page_icon=":material/insights:", layout="wide"
    )
    settings = queries.parse_args(_script_args(), os.environ)
    queries.configure(settings)
    pages = [
        st.Page(
            ui.PAGE_LEADERBOARD, title="Leaderboard", icon=":material/leaderboard:", default=True
        ),
        st.Page(ui.PAGE_PAPER, title="Paper tables", icon=":material/table_chart:"),
        st.Page(ui.PAGE_TRIAL, title="Trial detail", icon=":material/zoom_in:"),
        st.Page(ui.PAGE_EMBEDDINGS, title="Embeddings", icon=":material/scatter_plot:"),
        st.Page(ui.PAGE_SEARCH, title="Search", icon=":material/tune:"),
        st.Page(ui.PAGE_RUNS, title="Runs", icon=":material/history:"),
    ]
    page = st.navigation(pages)
    notice = ui.exposure_notice(st.get_option("server.address"), st.get_option("server.port"))
    if notice:
        st.warning(notice, icon=":material/public:")
    _sidebar(settings)
    if not _check_database():
        return
    try:
        page.run()
    except StoreError as exc:  # e.g. the file was replaced by something else meanwhile
        st.error(f"The results database cannot be read: {exc}", icon=":material/error:")


main()
