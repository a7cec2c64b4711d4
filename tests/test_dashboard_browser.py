"""The dashboard in a real browser: ``streamlit run`` on a loopback port, every page opened
in headless Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright).

Each page: wait until Streamlit has finished running the script, assert that no
error or exception element is shown and that every plotly chart has drawn its SVG,
and save a full-page screenshot under ``artifacts/screenshots/`` (git-ignored; CI
keeps it as an artifact).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it)
and the ``playwright`` package (the ``dev`` extra). Playwright's own browser
download is never used. Outside CI a missing browser skips these tests; in CI
(``CI=true`` or ``HSI_REQUIRE_SHARED=1``) it fails them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("HSI_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
#: Flags for Chromium on closed machines (DESIGN.md, known pitfalls).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: (database, url path, page title, plotly charts expected): every page on the smoke run's
#: database, and the pages that show more on the synthetic one (both paper tables with the
#: leakage study; a search).
PAGES = [
    ("smoke", "", "Leaderboard", 1),
    ("smoke", "paper_tables", "Paper tables", 1),
    ("smoke", "trial_detail", "Trial detail", 8),
    ("smoke", "embeddings", "Embeddings", 2),
    ("smoke", "search", "Search", 0),
    ("smoke", "runs", "Runs", 1),
    ("synthetic", "paper_tables", "Paper tables", 2),
    ("synthetic", "search", "Search", 4),
]
IN_CI = (
    os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("HSI_REQUIRE_SHARED") == "1"
)


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI: .ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install -e .[dev])")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _start(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.pop("RAY_ADDRESS", None)  # the app never needs Ray
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--", "--db", str(db),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log)
    return proc, url


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def server(chromium, request, tmp_path_factory):
    """``streamlit run dashboard/app.py -- --db DB`` on 127.0.0.1 per database, started on
    first use; returns a function from the database's name to the server's URL."""
    started: dict[str, tuple[subprocess.Popen, str]] = {}
    folder = tmp_path_factory.mktemp("streamlit")

    def url(kind: str) -> str:
        if kind not in started:
            if kind == "smoke":
                db = request.getfixturevalue("dashboard_smoke_db")
            else:
                from make_results_db import write_results_db

                db = write_results_db(folder / "synthetic.db", 160, n_runs=2)
            started[kind] = _start(db, folder / f"{kind}.log")
        return started[kind][1]

    try:
        yield url
    finally:
        for proc, _ in started.values():
            _stop(proc)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def _wait_until_done(page, timeout_ms: int = 90_000) -> None:
    """Streamlit has run the script to its end and every plotly chart has drawn."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms
    )
    page.wait_for_function(
        """() => {
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            return [...charts].every(c => c.querySelector('.js-plotly-plot .main-svg'));
        }""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(500)  # the last layout pass (fonts, widths) before the screenshot


def _full_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main container, not the document: grow the viewport to
    the content's height so that the screenshot holds the whole page."""
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section')]
                   .map(e => e.scrollHeight), document.body.scrollHeight)"""
    )
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 12_000)})
    _wait_until_done(page)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "db, path, title, n_charts", PAGES, ids=[f"{d}-{p or 'leaderboard'}" for d, p, *_ in PAGES]
)
def test_page_renders_in_chromium(db, path, title, n_charts, server, browser, screenshots):
    if db == "synthetic" and path == "search":
        from harness.store import ResultStore

        if not hasattr(ResultStore, "studies"):
            n_charts = 0  # a store that records no searches: the page says so
    base = server(db)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{base}/{path}", wait_until="domcontentloaded", timeout=60_000)
        _wait_until_done(page)
        name = f"{db}-{path or 'leaderboard'}"
        _full_page_screenshot(page, screenshots / f"{name}.png")
        assert page.locator("h1").first.inner_text().strip() == title
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.all_inner_texts()
        alerts = page.locator('[data-testid="stAlertContentError"]')
        assert alerts.count() == 0, alerts.all_inner_texts()
        drawn = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg')
        charts = page.locator('[data-testid="stPlotlyChart"]').count()
        assert charts == n_charts, f"{charts} plotly charts on {name}, expected {n_charts}"
        assert drawn.count() >= n_charts  # plotly draws at least one SVG layer per chart
        # the data source is on every page (the smoke run is a surrogate, the synthetic real)
        badge = "surrogate" if db == "smoke" else "real"
        assert page.get_by_text(badge, exact=False).count() > 0
        assert not errors, errors
    finally:
        page.close()
