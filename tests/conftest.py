"""Shared test fixtures.

``shared_data`` gives ../shared/data (the real ground-truth files). When the
folder is absent the tests that need it are skipped with the reason, unless
``HSI_REQUIRE_SHARED=1`` (set by .ci/run), which turns the skip into a failure.
``HSI_SHARED_DATA`` points the tests at another copy of the folder.

The tests do not read whatever sits in ``./data`` or the project's ``data/``
(where ``scripts/setup.sh`` saves the real Indian Pines cube): ``HSI_DATA_PATH``
is set for the whole session (Ray workers and subprocesses included) to
``../shared/data`` alone, so a suite that says "real when found" finds what it
did on a bare checkout, on every machine.

``real_ip`` gives a folder holding the real Indian Pines cube: ``$HSI_REAL_DATA``,
else the project's ``data/`` (``scripts/setup.sh``, or ``python -m datasets
download indian_pines --from pypi``). Without it the real-data tests are skipped
with the command that fetches it, unless ``HSI_REQUIRE_REAL=1`` (set by .ci/run),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("HSI_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT / "tests" / "data"))

from make_fixtures import write_fixtures  # noqa: E402

#: The default data folders of every process of the session: ../shared/data alone.
os.environ["HSI_DATA_PATH"] = str(SHARED_DATA) if SHARED_DATA.is_dir() else ""
#: Where the real Indian Pines cube is looked for (see the module docstring).
REAL_DATA = Path(os.environ.get("HSI_REAL_DATA", ROOT / "data"))
REAL_CUBE_NAMES = ("Indian_pines_corrected.npy", "Indian_pines_corrected.mat")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skip (or fail under HSI_REQUIRE_SHARED=1) when absent."""
    if (SHARED_DATA / "Indian_pines_gt.mat").is_file():
        return SHARED_DATA
    reason = (
        f"needs the real ground-truth files in {SHARED_DATA} (../shared/data beside the checkout)"
    )
    if os.environ.get("HSI_REQUIRE_SHARED") == "1":
        pytest.fail(f"HSI_REQUIRE_SHARED=1 but the folder is missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_ip_dir() -> Path:
    """A folder holding the real Indian Pines cube; skip (or fail under
    HSI_REQUIRE_REAL=1) when there is none."""
    if any((REAL_DATA / name).is_file() for name in REAL_CUBE_NAMES):
        return REAL_DATA
    reason = (
        f"needs the real Indian Pines cube in {REAL_DATA} (bash scripts/setup.sh, or "
        "python -m datasets download indian_pines --from pypi; HSI_REAL_DATA=DIR for another folder)"
    )
    if os.environ.get("HSI_REQUIRE_REAL") == "1":
        pytest.fail(f"HSI_REQUIRE_REAL=1 but the cube is missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_ip(real_ip_dir):
    """The real Indian Pines scene (the whole cube), loaded once per session."""
    import datasets

    return datasets.load_scene("indian_pines", source="real", data_dir=real_ip_dir)


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """The seeded 'tiny' scene fixture (MAT v5 + v7.3 + TOML), written once per session."""
    return write_fixtures(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def ip_surrogate(shared_data):
    """The Indian Pines surrogate (seed 0), built once per session."""
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        return datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)


@pytest.fixture(autouse=True)
def _isolated_scene_registry():
    """Scenes registered by one test (from --scene-file TOMLs) do not leak into the next."""
    from datasets import registry

    registry._ensure_builtins()
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.fixture
def one_thread():
    """Run a test on one intra-op thread (restored afterwards).

    The networks are tiny at test sizes; on a busy 2-core machine OpenMP's second
    thread makes their small convolutions and matmuls up to ~100x slower
    (measured: 60 training steps of hybridsn_tiny take 0.3 s on one thread, 14-40 s
    on two while other processes hold the cores).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- Ray


def _ray_process_tree(root_pids: set[int]) -> set[int]:
    """``root_pids`` and every live descendant of them (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = {pid for pid in root_pids if pid in parents}
    grew = True
    while grew:
        new = {pid for pid, ppid in parents.items() if ppid in tree and pid not in tree}
        tree |= new
        grew = bool(new)
    return tree


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session, shut down (and checked for leaks) at the end.

    2 CPUs, no dashboard, a short temp dir of its own under /tmp (Ray's socket
    paths must stay under ~107 bytes, and its own dir keeps it apart from any other
    Ray on the machine); ``address="local"`` so that it never joins a cluster some
    other process advertised in /tmp/ray/ray_current_cluster.
    ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1`` for the session. Teardown fails when
    a process of this Ray outlives ``ray.shutdown()`` by 30 s (it is killed).
    """
    import contextlib
    import shutil
    import signal
    import tempfile
    import time

    import ray

    if ray.is_initialized():
        pytest.fail("ray_session: Ray is already initialised in this process")
    saved = os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS")
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=temp_dir,
    )
    node = ray._private.worker._global_node
    roots = {
        info.process.pid
        for infos in node.all_processes.values()
        for info in infos
        if info.process is not None
    }
    try:
        yield ray
    finally:
        ours = _ray_process_tree(roots)
        ray.shutdown()
        deadline = time.monotonic() + 30
        while (left := _ray_process_tree(ours)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if saved is None:
            os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
        else:
            os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = saved
        shutil.rmtree(temp_dir, ignore_errors=True)
        if left:
            pytest.fail(f"ray_session: Ray processes outlived ray.shutdown() (killed): {left}")


@pytest.fixture
def ray_env(tmp_path):
    """Environment of a subprocess that starts a Ray of its own (tests/procs.py)."""
    from procs import make_ray_env

    yield from make_ray_env(tmp_path)


# --------------------------------------------------------------------------- dashboard


@pytest.fixture(scope="session")
def smoke_database(request, ray_session, shared_data, tmp_path_factory):
    """``smoke_database(backend)``: a database filled by a real ``--suite smoke`` run
    through Ray, made on first use once per session and backend ("sqlite", or
    "postgresql" when a server is there: see ``postgres_server``); read-only for the
    dashboard tests (the runner's own tests keep a database of their own)."""
    made: dict[str, Path | str] = {}

    def make(backend: str) -> Path | str:
        if backend in made:
            return made[backend]
        from harness.execute.context import run_specs
        from harness.execute.options import RunOptions
        from harness.suites import SuiteOptions, get_suite

        specs = get_suite("smoke").build(SuiteOptions(data_dir=str(shared_data)))
        folder = tmp_path_factory.mktemp(f"dashboard_smoke_{backend}")
        if backend == "sqlite":
            db: Path | str = folder / "results.db"
        else:
            db, drop = new_postgres_database(request.getfixturevalue("postgres_server"))
            request.addfinalizer(drop)
        options = RunOptions(
            db=str(db),
            command="python -m harness.run --suite smoke",
            suite="smoke",
            data_dir=str(shared_data),
            storage_path=str(folder / "tune"),
        )
        summary = run_specs(specs, options)
        assert summary.ok, f"the smoke run behind the dashboard tests failed: {summary.failed}"
        made[backend] = db
        return db

    return make


@pytest.fixture(scope="session")
def dashboard_smoke_db(smoke_database) -> Path:
    """The smoke run's SQLite database (see ``smoke_database``)."""
    return smoke_database("sqlite")


@pytest.fixture(params=["sqlite", "postgresql"])
def smoke_db_on(request, smoke_database) -> Path | str:
    """The smoke run's database on each backend (see ``smoke_database``)."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")  # skips (or fails in CI) without one
    return smoke_database(request.param)


# --------------------------------------------------------------------------- databases

#: The URL of a PostgreSQL server whose superuser the tests may use to create and drop
#: throwaway databases (``eval "$(bash scripts/postgres.sh start)"`` sets it; .ci/run does).
POSTGRES_ENV = "HSI_TEST_POSTGRES"
#: Whether a missing server fails the tests instead of skipping them: under ``CI=true``
#: and under the ``HSI_REQUIRE_SHARED=1`` that .ci/run sets (run by hand or by CI).
IN_CI = (
    os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("HSI_REQUIRE_SHARED") == "1"
)


@pytest.fixture(scope="session")
def postgres_server():
    """The server's admin URL; skips without one (fails under CI=true or
    HSI_REQUIRE_SHARED=1, as in .ci/run, which starts Debian's server)."""
    url = os.environ.get(POSTGRES_ENV)
    reason = None
    if not url:
        reason = (
            f"no PostgreSQL server for the store tests: ${POSTGRES_ENV} is unset "
            '(start one with: eval "$(bash scripts/postgres.sh start)")'
        )
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            reason = f"the PostgreSQL server at ${POSTGRES_ENV}={url} does not answer: {exc}"
        finally:
            engine.dispose()
    if reason:
        if IN_CI:
            pytest.fail(
                f"{reason} (required under CI=true or HSI_REQUIRE_SHARED=1: .ci/run starts it)"
            )
        pytest.skip(reason)
    return url


def new_postgres_database(admin_url: str) -> tuple[str, object]:
    """(URL of a new empty database, a function that drops it)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hsi_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), drop


@pytest.fixture
def postgres_db(postgres_server):
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url, drop = new_postgres_database(postgres_server)
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A new results database on each backend: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "results.db")
    return request.getfixturevalue("postgres_db")
