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
import re
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


def _start(db: Path, log: Path, address: str | None = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """``streamlit run`` from the project root (so its ``.streamlit/config.toml`` applies);
    ``address=None`` leaves ``server.address`` to that file."""
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.pop("RAY_ADDRESS", None)  # the app never needs Ray
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    where = [] if address is None else ["--server.address", address]
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
        "--server.headless", "true",
        *where,
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


# --------------------------------------------------------------------------- privacy


def _listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on TCP ``port`` (Linux ``/proc/net``)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                host, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(host)
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.mark.slow
def test_a_default_streamlit_run_listens_on_loopback_only(chromium, tmp_path):
    """``streamlit run dashboard/app.py`` with no address given: 127.0.0.1 only (the
    project's .streamlit/config.toml), read from the socket the server listens on."""
    from harness.store import ResultStore

    db = tmp_path / "empty.db"
    ResultStore(db).close()
    proc, url = _start(db, tmp_path / "default.log", address=None)
    try:
        port = int(url.rsplit(":", 1)[1])
        assert _listening(port) == {"127.0.0.1"}
    finally:
        _stop(proc)


#: A class name and a study name that are markup: shown as text, never run.
EVIL_CLASS = "<img src=x onerror=alert(1)>"
EVIL_STUDY = "<b>bold</b><script>alert(2)</script>"


def _write_evil_db(path: Path) -> int:
    """A database whose first class is named :data:`EVIL_CLASS` and whose search study is
    :data:`EVIL_STUDY`; returns the trial id of the completed trial."""
    import numpy as np
    from make_results_db import make_result, make_spec

    from harness.store import ResultStore

    rng = np.random.default_rng(0)
    with ResultStore(path) as store:
        run = store.start_run("pytest evil names", "smoke", {})
        result = make_result(make_spec("claresnet", "indian_pines", 0), 0.9, rng)
        result.per_class[0]["name"] = EVIL_CLASS
        trial_id = store.write(result, run).trial_id
        base = make_spec("claresnet", "indian_pines", 0, study=EVIL_STUDY)
        store.start_study(
            EVIL_STUDY, run_id=run, base_spec=base, metric="val_oa", mode="max", n_trials=2,
            seed=0, sampler={"name": "TPESampler", "seed": 0}, scheduler={"name": "ASHAScheduler"},
            search_space={"lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True,
                                 "target": "training"}},
        )  # fmt: skip
        for k in range(2):
            spec = make_spec("claresnet", "indian_pines", 0, study=EVIL_STUDY, lr=10.0 ** -(3 + k))
            store.write(make_result(spec, 0.8 + 0.05 * k, rng), run)
        store.finish_study(EVIL_STUDY, "completed")
        store.finish_run(run, "completed")
    return trial_id


@pytest.mark.slow
def test_names_from_users_are_shown_as_text_and_run_no_script(browser, tmp_path):
    db = tmp_path / "evil.db"
    trial_id = _write_evil_db(db)
    proc, base = _start(db, tmp_path / "evil.log")
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"{base}/trial_detail?trial={trial_id}", wait_until="domcontentloaded")
        _wait_until_done(page)
        assert page.get_by_text(EVIL_CLASS, exact=False).count() > 0  # the literal text
        legend = page.locator('[data-testid="stHtml"]')  # the maps' class legend
        assert legend.count() == 1 and f"1. {EVIL_CLASS}" in legend.inner_text()
        assert page.locator('img[src="x"]').count() == 0
        page.goto(f"{base}/search", wait_until="domcontentloaded")
        _wait_until_done(page)
        chosen = page.get_by_role("combobox", name="Study").input_value()
        assert chosen.startswith(EVIL_STUDY), chosen  # the study's name as written
        for path in ("", "paper_tables", "embeddings", "runs"):
            page.goto(f"{base}/{path}", wait_until="domcontentloaded")
            _wait_until_done(page)
            assert page.locator('img[src="x"]').count() == 0
            assert page.locator("b", has_text="bold").count() == 0
        assert dialogs == []  # no alert() ran
    finally:
        page.close()
        _stop(proc)


def _snapshot(db: Path) -> tuple[int, int, dict[str, int]]:
    """(size, modification time in ns, row count per table) of a SQLite file, read
    without writing (an immutable read-only URI)."""
    import sqlite3

    stat = db.stat()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    return stat.st_size, stat.st_mtime_ns, counts


@pytest.mark.slow
def test_clicking_through_every_page_leaves_the_database_unchanged(
    browser, dashboard_smoke_db, tmp_path
):
    before = _snapshot(dashboard_smoke_db)
    proc, base = _start(dashboard_smoke_db, tmp_path / "readonly.log")
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(base, wait_until="domcontentloaded")
        _wait_until_done(page)
        links = page.locator('[data-testid="stSidebarNavLink"]')
        titles = links.all_inner_texts()
        assert len(titles) == 6, titles
        for k in range(len(titles)):
            links.nth(k).click()
            _wait_until_done(page)
            for box in page.locator('[data-testid="stExpander"] summary').all()[:3]:
                box.click()  # open what the page folds away, so that it runs too
            _wait_until_done(page)
    finally:
        page.close()
        _stop(proc)
    assert _snapshot(dashboard_smoke_db) == before


# --------------------------------------------------------------------------- 1400 px

#: The width a researcher's laptop shows the dashboard at (the sidebar open).
NARROW = {"width": 1400, "height": 1000}
#: Every page of the smoke run's database: (url path, its title).
SMOKE_PAGES = [
    ("", "Leaderboard"),
    ("paper_tables", "Paper tables"),
    ("trial_detail", "Trial detail"),
    ("embeddings", "Embeddings"),
    ("search", "Search"),
    ("runs", "Runs"),
]

#: What the page cuts off. Every table of the dashboard is HTML (``st.table``), not
#: ``st.dataframe``: the grid draws its cells on a canvas, where the DOM sees no text
#: to measure, and cuts what does not fit its column ("random_for"). So the check is
#: on the DOM, for every piece of text in the main area: an element holding text that
#: overflows its own box while hiding the overflow (an ellipsis: a selectbox's value, a
#: metric's label, a toggle's label), or text that reaches past the edge of an
#: ancestor that hides or scrolls what overflows (a table cell beyond its table's
#: scrolling wrapper, a heading wider than its column). Code blocks scroll by design
#: and are left out; so are charts (SVG, measured by :data:`CLIPPED_CHART_TEXT`).
CLIPPED_TEXT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const found = [];
    const hides = s => s.overflowX !== 'visible' || s.textOverflow === 'ellipsis';
    for (const input of main.querySelectorAll('input')) {  // a selectbox shows its value
        if (input.value && input.getClientRects().length && input.scrollWidth > input.clientWidth + 1)
            found.push(`${input.getAttribute('aria-label')}: "${input.value}" cut ` +
                       `(${input.scrollWidth} px in ${input.clientWidth})`);
    }
    for (const e of main.querySelectorAll('*')) {  // an ellipsis over text below it
        if (getComputedStyle(e).textOverflow === 'ellipsis' && e.textContent.trim() &&
            e.getClientRects().length && e.scrollWidth > e.clientWidth)  // 1 px: an ellipsis
            found.push(`"${e.textContent.trim()}" cut to ${e.clientWidth} px (${e.scrollWidth})`);
    }
    for (const e of main.querySelectorAll('*')) {
        if (e.closest('pre, [data-testid="stCode"], [data-testid="stPlotlyChart"], svg'))
            continue;
        const text = [...e.childNodes].filter(n => n.nodeType === 3)
            .map(n => n.textContent).join('').trim();
        if (!text || e.getClientRects().length === 0) continue;
        const own = getComputedStyle(e);
        if (hides(own) && e.scrollWidth > e.clientWidth + 1) {
            found.push(`${e.tagName} "${text}": ${e.scrollWidth} px in ${e.clientWidth}`);
            continue;
        }
        const range = document.createRange();
        range.selectNodeContents(e);
        const box = range.getBoundingClientRect();
        const cell = e.closest('td, th');  // a cell's text spilling over its neighbour
        if (cell && box.right > cell.getBoundingClientRect().right + 1) {
            found.push(`${cell.tagName} "${text}" wider than its cell`);
            continue;
        }
        for (let a = e.parentElement; a && a !== main; a = a.parentElement) {
            if (!hides(getComputedStyle(a))) continue;
            const edge = a.getBoundingClientRect();
            if (box.right > edge.right + 1 || box.left < edge.left - 1) {
                found.push(`${e.tagName} "${text}" reaches past its ${a.tagName} ` +
                           `(${Math.round(box.left)}..${Math.round(box.right)} in ` +
                           `${Math.round(edge.left)}..${Math.round(edge.right)})`);
                break;
            }
        }
    }
    return found;
}"""
#: Text of a plotly chart (tick labels, legend entries, titles) outside the chart's box.
CLIPPED_CHART_TEXT = """() => {
    const found = [];
    for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
        const svg = chart.querySelector('.main-svg').getBoundingClientRect();
        for (const t of chart.querySelectorAll('.main-svg text')) {
            const r = t.getBoundingClientRect();
            if (!t.textContent.trim() || r.width === 0) continue;
            if (r.left < svg.left - 1 || r.right > svg.right + 1 ||
                r.top < svg.top - 1 || r.bottom > svg.bottom + 1)
                found.push(`"${t.textContent}" outside its chart`);
        }
    }
    return found;
}"""
#: The names of the classes on the confusion matrix's axes (x, then y).
CONFUSION_TICKS = """() => {
    const chart = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .find(c => c.textContent.includes('Confusion matrix'));
    const ticks = axis => [...chart.querySelectorAll(`.${axis}tick text`)]
        .map(t => t.textContent);
    return [ticks('x'), ticks('y')];
}"""


@pytest.fixture(scope="module")
def screenshot_dirs(tmp_path_factory) -> list[Path]:
    """Where the 1400 px screenshots go: pytest's temporary folder, and ``$HSI_SCREENSHOTS``
    when set (to look at them)."""
    dirs = [tmp_path_factory.mktemp("screenshots_1400")]
    if os.environ.get("HSI_SCREENSHOTS"):
        dirs.append(Path(os.environ["HSI_SCREENSHOTS"]))
        dirs[-1].mkdir(parents=True, exist_ok=True)
    return dirs


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, title", SMOKE_PAGES, ids=[p or "leaderboard" for p, _ in SMOKE_PAGES]
)
def test_every_page_reads_cleanly_at_1400_px(path, title, server, browser, screenshot_dirs):
    """The smoke run's pages at 1400 px: no text cut, no chart text outside its chart,
    no "None"/"nan" where a value does not apply, no "1 threads"; every table HTML."""
    base = server("smoke")
    page = browser.new_page(viewport=dict(NARROW))
    try:
        page.goto(f"{base}/{path}", wait_until="domcontentloaded", timeout=60_000)
        _wait_until_done(page)
        shot = f"smoke-1400-{path or 'leaderboard'}.png"
        _full_page_screenshot(page, screenshot_dirs[0] / shot)
        for folder in screenshot_dirs[1:]:
            shutil.copy(screenshot_dirs[0] / shot, folder / shot)
        assert page.locator("h1").first.inner_text().strip() == title
        # the full-page screenshot grew the viewport's height only: still 1400 px wide
        assert page.viewport_size["width"] == NARROW["width"]
        assert page.locator('[data-testid="stDataFrame"]').count() == 0  # canvas: unmeasured
        assert page.evaluate(CLIPPED_TEXT) == []
        assert page.evaluate(CLIPPED_CHART_TEXT) == []
        shown = page.locator('[data-testid="stMain"]').inner_text()
        assert not re.search(r"\b(None|nan|NaN)\b", shown), re.findall(r".*\bNone\b.*", shown)
        assert not re.search(r"\b1 (thread|seed|trial|epoch)s\b", shown)
        if path == "trial_detail":  # every class named on both axes of the confusion matrix
            x, y = page.evaluate(CONFUSION_TICKS)
            assert len(x) == len(y) == 16 and x[0] == "Alfalfa" and len(set(x)) == 16, (x, y)
    finally:
        page.close()
