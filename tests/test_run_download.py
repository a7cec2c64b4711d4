"""Tests of ``python -m harness.run --download`` against a loopback HTTP server (offline).

The server runs in a thread on 127.0.0.1 and serves the 'tiny' fixture scene; a
user scene file names its URLs. Every run is a dry run: no trial is trained.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from make_fixtures import write_fixtures

from datasets.matio import sha256_file
from harness import run as run_cli

UNREACHABLE = "http://127.0.0.1:1/"  # nothing listens on port 1: connection refused


class _Server(ThreadingHTTPServer):
    """A loopback file server that answers 404 for the files named in ``missing``."""

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/"
        self.missing: set[str] = set()
        #: file names requested, in order.
        self.requests: list[str] = []
        self.files: dict[str, Path] = {}


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        name = urllib.parse.unquote(self.path.lstrip("/"))
        self.server.requests.append(name)
        if name in self.server.missing:
            self.send_error(404, "File not found")
        else:
            super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch) -> Iterator[_Server]:
    """A running loopback server over the 'tiny' fixture; the tests run in ``tmp_path``."""
    monkeypatch.delenv("HSI_DATA_DIR", raising=False)
    monkeypatch.delenv("HSI_DATA_PATH", raising=False)  # the default folders, ./data first
    monkeypatch.chdir(tmp_path)  # ./data is searched: keep it inside the test's folder
    srv = _Server(tmp_path / "served")
    srv.files = write_fixtures(tmp_path / "served", base_url=srv.base_url)
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _scene_file(srv: _Server, tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    """A copy of the fixture's tiny.toml (its URLs point at the server), with text replaced."""
    text = srv.files["toml"].read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in the fixture scene file"
        text = text.replace(old, new)
    path = tmp_path / "scene" / "tiny.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run(tmp_path: Path, toml: Path, *extra: str | Path, suite: str = "paper") -> list[str]:
    """The argv of a one-trial dry run of ``suite`` on the 'tiny' user scene."""
    return [
        "--suite",
        suite,
        "--scenes",
        "tiny",
        "--scene-file",
        str(toml),
        "--models",
        "random_forest",
        "--seeds",
        "1",
        "--db",
        str(tmp_path / "results.db"),
        "--dry-run",
        *map(str, extra),
    ]


def _sources(out: str) -> list[str]:
    """The source column of the dry run's rows for the 'tiny' scene."""
    return [line.split()[4] for line in out.splitlines() if line.split()[3:4] == ["tiny"]]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_then_the_dry_run_plans_the_real_scene(server, tmp_path, capsys):
    dest = tmp_path / "new" / "data"  # does not exist yet: --download creates it
    toml = _scene_file(server, tmp_path)
    assert run_cli.main(_run(tmp_path, toml, "--data-dir", dest, "--download")) == 0
    out = capsys.readouterr().out
    assert _leftovers(dest) == ["tiny_cube.mat", "tiny_gt.mat"]
    for role in ("gt", "cube"):
        path = dest / f"tiny_{role}.mat"
        assert path.read_bytes() == server.files[role].read_bytes()
        assert f"downloaded {path}" in " ".join(out.split())
        assert sha256_file(path) in out
    assert out.index("downloaded") < out.index("spec_hash")  # fetched before the plan
    assert _sources(out) == ["real"]
    assert server.requests == ["tiny_gt.mat", "tiny_cube.mat"]

    # The same command again fetches nothing: the files are found in --data-dir.
    assert run_cli.main(_run(tmp_path, toml, "--data-dir", dest, "--download")) == 0
    out = capsys.readouterr().out
    assert "scene 'tiny' already found" in out and "downloaded" not in out
    assert _sources(out) == ["real"]
    assert server.requests == ["tiny_gt.mat", "tiny_cube.mat"]


def test_default_destination_is_data_in_the_working_folder(server, tmp_path, capsys):
    toml = _scene_file(server, tmp_path)
    assert run_cli.main(_run(tmp_path, toml, "--download", suite="quick")) == 0
    assert _leftovers(tmp_path / "data") == ["tiny_cube.mat", "tiny_gt.mat"]
    assert _sources(capsys.readouterr().out) == ["real"]


def test_http_404_is_one_clean_error_and_leaves_no_partial_file(server, tmp_path, capsys):
    dest = tmp_path / "dest"
    server.missing.add("tiny_cube.mat")
    toml = _scene_file(server, tmp_path)
    code = run_cli.main(_run(tmp_path, toml, "--data-dir", dest, "--download"))
    err = capsys.readouterr().err
    assert code == run_cli.EXIT_USAGE == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert "'tiny_cube.mat'" in err and "404" in err and "Fix:" in err
    # The ground truth came first, is complete and valid, and stays; no cube, no .part.
    assert _leftovers(dest) == ["tiny_gt.mat"]


def test_scene_without_download_address_names_the_scene_and_the_fix(server, tmp_path, capsys):
    dest = tmp_path / "dest"
    toml = _scene_file(server, tmp_path, {f'url = "{server.base_url}tiny_cube.mat"\n': ""})
    code = run_cli.main(_run(tmp_path, toml, "--data-dir", dest, "--download"))
    err = capsys.readouterr().err
    assert code == 2
    assert "scene 'tiny'" in err and "'tiny_cube.mat'" in err
    assert f"--data-dir '{dest}'" in err
    assert server.requests == [] and not dest.exists()  # checked before anything is fetched


def test_mirror_replaces_the_scene_addresses(server, tmp_path, capsys):
    dest = tmp_path / "dest"
    toml = _scene_file(server, tmp_path, {server.base_url: UNREACHABLE})
    argv = _run(tmp_path, toml, "--data-dir", dest, "--download", "--mirror", server.base_url)
    assert run_cli.main(argv) == 0
    assert _leftovers(dest) == ["tiny_cube.mat", "tiny_gt.mat"]
    assert _sources(capsys.readouterr().out) == ["real"]


def test_mirror_without_download_is_a_usage_error(server, tmp_path, capsys):
    toml = _scene_file(server, tmp_path)
    code = run_cli.main(_run(tmp_path, toml, "--mirror", server.base_url))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --mirror") and "--download" in err
    assert server.requests == []


def test_data_dir_that_is_a_file_is_refused(server, tmp_path, capsys):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x", encoding="utf-8")
    toml = _scene_file(server, tmp_path)
    code = run_cli.main(_run(tmp_path, toml, "--data-dir", not_a_folder, "--download"))
    err = capsys.readouterr().err
    assert code == 2 and "--data-dir" in err and "not a folder" in err


def test_missing_data_dir_without_download_names_download(server, tmp_path, capsys):
    toml = _scene_file(server, tmp_path)
    code = run_cli.main(_run(tmp_path, toml, "--data-dir", tmp_path / "absent"))
    err = capsys.readouterr().err
    assert code == 2 and "--data-dir" in err and "--download" in err


def test_paper_suite_refusal_names_download_and_download_fixes_it(server, tmp_path, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "tiny_gt.mat").write_bytes(server.files["gt"].read_bytes())  # no cube: a surrogate
    toml = _scene_file(server, tmp_path)
    assert run_cli.main(_run(tmp_path, toml, "--data-dir", dest)) == 2
    err = capsys.readouterr().err
    assert "SURROGATE" in err and "--download" in err

    assert run_cli.main(_run(tmp_path, toml, "--data-dir", dest, "--download")) == 0
    out = capsys.readouterr().out
    words = " ".join(out.split())
    assert f"present {dest / 'tiny_gt.mat'}" in words
    assert f"downloaded {dest / 'tiny_cube.mat'}" in words
    assert server.requests == ["tiny_cube.mat"]  # the valid ground truth there is kept
    assert _sources(out) == ["real"]
    assert run_cli.main(_run(tmp_path, toml, "--data-dir", dest)) == 0
    assert _sources(capsys.readouterr().out) == ["real"]


def test_smoke_suite_fetches_nothing(server, tmp_path, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "tiny_gt.mat").write_bytes(server.files["gt"].read_bytes())  # a surrogate needs it
    toml = _scene_file(server, tmp_path)
    argv = _run(tmp_path, toml, "--data-dir", dest, "--download", suite="smoke")
    argv[argv.index("random_forest")] = "random_forest_tiny"
    assert run_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "smoke suite uses surrogates only; nothing to fetch" in out
    assert server.requests == [] and _leftovers(dest) == ["tiny_gt.mat"]
    assert _sources(out) == ["surrogate"]
