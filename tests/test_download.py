"""Tests of ``datasets.download`` against a loopback HTTP server (offline).

The server runs in a thread on 127.0.0.1 and serves the 'tiny' fixture scene. It
can be told, per file, to answer 404, to send a truncated body, to send an HTML
page instead of the file, or to stall mid-body.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from make_fixtures import write_fixtures, write_format_fixtures

import datasets
from datasets import download
from datasets.download import DownloadResult, download_scene
from datasets.errors import DownloadError
from datasets.matio import git_blob_id, sha256_file
from datasets.registry import load_scene_file
from datasets.scene import PACKAGE_DATA

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:1/"  # nothing listens on port 1: connection refused
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Service unavailable</h1></body></html>\n"


class _Server(ThreadingHTTPServer):
    """A loopback file server whose misbehaviour is chosen per file name."""

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
        self.root = root
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/"
        #: file name -> "404", "truncate", "garbage" or "stall"; other files are served as is.
        self.modes: dict[str, str] = {}
        #: file names requested, in order.
        self.requests: list[str] = []
        #: set at teardown to end a stalled response.
        self.release = threading.Event()
        self.files: dict[str, Path] = {}


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        name = urllib.parse.unquote(self.path.lstrip("/"))
        self.server.requests.append(name)
        mode = self.server.modes.get(name)
        if mode == "404":
            self.send_error(404, "File not found")
        elif mode == "garbage":
            self._send_head(len(HTML_PAGE), "text/html; charset=utf-8")
            self.wfile.write(HTML_PAGE)
        elif mode in ("truncate", "stall"):
            data = (self.server.root / name).read_bytes()
            self._send_head(len(data), "application/octet-stream")
            self.wfile.write(data[: len(data) // 2])
            if mode == "stall":
                self.server.release.wait(10)
            self.close_connection = True
        else:
            super().do_GET()

    def _send_head(self, length: int, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    """A running loopback server over a fresh copy of the 'tiny' fixture files."""
    srv = _Server(tmp_path / "served")
    srv.files = write_fixtures(srv.root, base_url=srv.base_url)
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _scene_file(srv: _Server, tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    """A copy of the fixture's tiny.toml, outside the served folder, with text replaced."""
    text = srv.files["toml"].read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in the fixture scene file"
        text = text.replace(old, new)
    path = tmp_path / "scene" / "tiny.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HSI_DATA_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "datasets", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _download(
    srv: _Server, tmp_path: Path, dest: Path, scene: Path | None = None, **kw
) -> list[DownloadResult]:
    """``download_scene`` of ``scene`` (default: the fixture's scene file), quietly."""
    info = load_scene_file(scene or _scene_file(srv, tmp_path))
    kw.setdefault("timeout", 5)
    return download_scene(info, dest, progress=False, **kw)


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_cli_download_then_info_uses_the_real_files(server, tmp_path):
    dest = tmp_path / "data" / "tiny"
    toml = _scene_file(server, tmp_path)
    run = _cli("download", "--scene-file", toml, "--to", dest, "--quiet")
    assert run.returncode == 0, run.stderr
    assert _leftovers(dest) == ["tiny_cube.mat", "tiny_gt.mat"]
    for role in ("gt", "cube"):
        assert (dest / f"tiny_{role}.mat").read_bytes() == server.files[role].read_bytes()
    assert run.stdout.count("downloaded") == 2
    assert sha256_file(dest / "tiny_gt.mat") in run.stdout

    info = _cli("info", "--scene-file", toml, "--data-dir", dest, "--source", "real", "--json")
    assert info.returncode == 0, info.stderr
    desc = json.loads(info.stdout)
    assert desc["source"] == "real"
    assert desc["shape"] == [24, 20, 12]
    assert {Path(f["path"]).parent for f in desc["files"]} == {dest.resolve()}


def test_second_run_keeps_present_files(server, tmp_path):
    dest = tmp_path / "dest"
    first = _download(server, tmp_path, dest)
    assert [(r.role, r.status) for r in first] == [("gt", "downloaded"), ("cube", "downloaded")]
    assert first[1].size == server.files["cube"].stat().st_size
    n_requests = len(server.requests)

    second = _download(server, tmp_path, dest)
    assert [r.status for r in second] == ["present", "present"]
    assert [r.sha256 for r in second] == [r.sha256 for r in first]
    assert len(server.requests) == n_requests


def test_force_and_invalid_present_files_are_replaced(server, tmp_path):
    dest = tmp_path / "dest"
    _download(server, tmp_path, dest)
    (dest / "tiny_cube.mat").write_bytes(HTML_PAGE)

    repaired = _download(server, tmp_path, dest)
    assert [r.status for r in repaired] == ["present", "replaced"]
    assert "invalid" in repaired[1].note
    assert (dest / "tiny_cube.mat").read_bytes() == server.files["cube"].read_bytes()
    assert server.requests.count("tiny_cube.mat") == 2

    forced = _download(server, tmp_path, dest, force=True)
    assert [r.status for r in forced] == ["replaced", "replaced"]
    assert server.requests.count("tiny_cube.mat") == 3
    assert _leftovers(dest) == ["tiny_cube.mat", "tiny_gt.mat"]


def test_cli_http_404_is_a_clean_error(server, tmp_path):
    dest = tmp_path / "dest"
    server.modes["tiny_cube.mat"] = "404"
    run = _cli("download", "--scene-file", _scene_file(server, tmp_path), "--to", dest, "--quiet")
    assert run.returncode == 2
    assert "error:" in run.stderr
    assert f"{server.base_url}tiny_cube.mat" in run.stderr
    assert "404" in run.stderr and "--mirror" in run.stderr
    assert "Traceback" not in run.stderr
    # The ground truth came first, is complete and valid, and stays; no cube, no .part.
    assert _leftovers(dest) == ["tiny_gt.mat"]


@pytest.mark.parametrize("role", ["gt", "cube"])
def test_truncated_body_leaves_nothing(server, tmp_path, role):
    dest = tmp_path / "dest"
    server.modes[f"tiny_{role}.mat"] = "truncate"
    size = server.files[role].stat().st_size
    with pytest.raises(DownloadError, match="truncated") as err:
        _download(server, tmp_path, dest)
    assert f"{size // 2} of the {size} bytes" in str(err.value)
    assert f"tiny_{role}.mat" not in _leftovers(dest)
    assert not [n for n in _leftovers(dest) if ".part" in n]  # e.g. .tiny_gt.mat.abc.part.mat


def test_html_instead_of_mat_file_leaves_nothing(server, tmp_path):
    dest = tmp_path / "dest"
    server.modes["tiny_gt.mat"] = "garbage"
    with pytest.raises(DownloadError) as err:
        _download(server, tmp_path, dest)
    msg = str(err.value)
    assert "'tiny_gt.mat'" in msg and f"{server.base_url}tiny_gt.mat" in msg
    assert "text/html" in msg and "not a valid ground truth file" in msg
    assert _leftovers(dest) == []


def test_sha256_mismatch_leaves_nothing(server, tmp_path):
    dest = tmp_path / "dest"
    wrong = "0" * 64
    toml = _scene_file(server, tmp_path, {'key = "gt"\n': f'key = "gt"\nsha256 = "{wrong}"\n'})
    with pytest.raises(DownloadError) as err:
        _download(server, tmp_path, dest, scene=toml)
    assert wrong in str(err.value)
    assert sha256_file(server.files["gt"]) in str(err.value)
    assert _leftovers(dest) == []


def test_known_sha256_is_accepted(server, tmp_path):
    digest = sha256_file(server.files["gt"])
    toml = _scene_file(server, tmp_path, {'key = "gt"\n': f'key = "gt"\nsha256 = "{digest}"\n'})
    results = _download(server, tmp_path, tmp_path / "dest", scene=toml)
    assert results[0].sha256 == digest


def test_cli_mirror_replaces_unreachable_urls(server, tmp_path):
    dest = tmp_path / "dest"
    toml = _scene_file(server, tmp_path, {server.base_url: UNREACHABLE})
    run = _cli(
        "download", "--scene-file", toml, "--to", dest, "--mirror", server.base_url, "--quiet"
    )
    assert run.returncode == 0, run.stderr
    assert _leftovers(dest) == ["tiny_cube.mat", "tiny_gt.mat"]
    assert server.requests == ["tiny_gt.mat", "tiny_cube.mat"]


def test_connection_refused_is_a_clean_error(server, tmp_path):
    dest = tmp_path / "dest"
    toml = _scene_file(server, tmp_path, {server.base_url: UNREACHABLE})
    with pytest.raises(DownloadError, match="refused") as err:
        _download(server, tmp_path, dest, scene=toml)
    assert f"{UNREACHABLE}tiny_gt.mat" in str(err.value) and "--mirror" in str(err.value)
    assert _leftovers(dest) == []


def test_timeout_is_a_clean_error(server, tmp_path):
    dest = tmp_path / "dest"
    server.modes["tiny_gt.mat"] = "stall"
    with pytest.raises(DownloadError, match="timeout") as err:
        _download(server, tmp_path, dest, timeout=0.3)
    assert "--timeout" in str(err.value)
    assert _leftovers(dest) == []


def test_missing_url_without_mirror_names_the_fix(server, tmp_path):
    toml = _scene_file(server, tmp_path, {f'url = "{server.base_url}tiny_gt.mat"\n': ""})
    with pytest.raises(DownloadError, match="gives no url") as err:
        _download(server, tmp_path, tmp_path / "dest", scene=toml)
    assert "'tiny_gt.mat'" in str(err.value) and "--mirror URL" in str(err.value)


def test_interrupt_mid_download_leaves_nothing(server, tmp_path, monkeypatch):
    class Interrupting(download.tqdm):
        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", Interrupting)
    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        _download(server, tmp_path, dest)
    assert _leftovers(dest) == []


@pytest.mark.parametrize("known", ["fixture", "other"])
def test_git_blob_note(server, tmp_path, known):
    blob = git_blob_id(server.files["cube"]) if known == "fixture" else "f" * 40
    toml = _scene_file(server, tmp_path, {'key = "cube"\n': f'key = "cube"\ngit_blob = "{blob}"\n'})
    results = _download(server, tmp_path, tmp_path / "dest", scene=toml)
    cube = results[1]
    assert cube.status == "downloaded" and cube.path.is_file()
    if known == "fixture":
        assert cube.note == "matches the known public copy"
    else:
        assert "differs" in cube.note and git_blob_id(cube.path) in cube.note
    assert results[0].note == ""


@pytest.mark.parametrize("known", ["fixture", "other"])
def test_known_sha256_is_reported_never_refused(server, tmp_path, known):
    """``known_sha256`` (a public copy's checksum, never checked against the original):
    a gt that differs is downloaded, kept and reported, and loads without a warning."""
    digest = sha256_file(server.files["gt"])
    known_digest = digest if known == "fixture" else "e" * 64
    toml = _scene_file(
        server, tmp_path, {'key = "gt"\n': f'key = "gt"\nknown_sha256 = "{known_digest}"\n'}
    )
    dest = tmp_path / "dest"
    gt, cube = _download(server, tmp_path, dest, scene=toml)
    assert (gt.status, cube.status) == ("downloaded", "downloaded")
    assert (dest / "tiny_gt.mat").read_bytes() == server.files["gt"].read_bytes()
    if known == "fixture":
        assert gt.note == "matches the known public copy"
    else:
        assert gt.note == (
            f"differs from the known public copy (sha256 {digest}, known {known_digest}); "
            "validated by content"
        )
    assert cube.note == ""
    # a second run keeps the file (it is valid) and says the same
    again = _download(server, tmp_path, dest, scene=toml)
    assert [r.status for r in again] == ["present", "present"] and again[0].note == gt.note
    # loading it: no warning (unlike a differing `sha256`), the file's own checksum recorded
    datasets.register_scene_file(toml)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = datasets.load_scene("tiny", source="real", data_dir=dest)
    assert scene.checksums["gt"] == digest


def test_cli_reports_a_known_sha256_mismatch(server, tmp_path):
    toml = _scene_file(
        server, tmp_path, {'key = "gt"\n': f'key = "gt"\nknown_sha256 = "{"e" * 64}"\n'}
    )
    run = _cli("download", "--scene-file", toml, "--to", tmp_path / "dest", "--quiet")
    assert run.returncode == 0, run.stderr
    (gt_line,) = [line for line in run.stdout.splitlines() if "tiny_gt.mat" in line]
    assert "differs from the known public copy" in gt_line and "e" * 64 in gt_line


#: The four scenes known from public copies: the real ground truth is served (the
#: package's copy) with a cube of the real shape in uint8, which is what a download
#: validates (its size against the label map, its band count, finite values).
PUBLIC_COPY_SCENES = ["pavia_university", "pavia_centre", "ksc", "botswana"]


@pytest.mark.parametrize("name", PUBLIC_COPY_SCENES)
def test_cli_downloads_a_registry_scene_from_a_mirror(server, tmp_path, name):
    info = datasets.get_scene_info(name)
    assert info.shape is not None and info.n_bands is not None
    (server.root / info.gt.file).write_bytes((PACKAGE_DATA / info.gt.file).read_bytes())
    ramp = np.arange(info.n_bands, dtype=np.uint8)
    cube = np.ascontiguousarray(np.broadcast_to(ramp, (*info.shape, info.n_bands)))
    scipy.io.savemat(server.root / info.cube.file, {info.cube.key: cube}, do_compression=True)
    dest = tmp_path / "data"

    run = _cli("download", name, "--to", dest, "--mirror", server.base_url, "--quiet")
    assert run.returncode == 0, run.stderr
    assert server.requests == [info.gt.file, info.cube.file]
    assert _leftovers(dest) == sorted([info.gt.file, info.cube.file])
    lines = run.stdout.splitlines()
    assert lines[0].startswith("downloaded") and info.gt.file in lines[0]
    assert "(matches the known public copy)" in lines[0]
    assert lines[1].startswith("downloaded") and info.cube.file in lines[1]

    scene = datasets.load_scene(name, source="real", data_dir=dest)
    assert scene.cube.shape == (*info.shape, info.n_bands) and scene.cube.dtype == np.uint8
    assert tuple(scene.class_counts().tolist()) == info.class_counts
    assert scene.checksums["gt"] == info.gt.known_sha256


@pytest.fixture
def format_scenes(server) -> dict[str, Path]:
    """The 'tiny' scene in the non-MATLAB formats, served by ``server``."""
    return write_format_fixtures(server.root)


@pytest.mark.parametrize("name", ["tiny_npy", "tiny_npz", "tiny_geotiff"])
def test_single_file_formats_download_and_validate(server, format_scenes, tmp_path, name):
    info = load_scene_file(format_scenes[name])
    dest = tmp_path / "dest"
    results = download_scene(info, dest, mirror=server.base_url, progress=False, timeout=5)
    assert [(r.role, r.status) for r in results] == [("gt", "downloaded"), ("cube", "downloaded")]
    for r in results:
        assert r.path.read_bytes() == (server.root / r.path.name).read_bytes()
    assert _leftovers(dest) == sorted([info.gt.file, info.cube.file])
    scene = datasets.load_scene(str(format_scenes[name]), source="real", data_dir=dest)
    assert scene.cube.shape == (24, 20, 12) and scene.class_counts().tolist() == [70, 70, 112]


def test_a_broken_npy_download_leaves_nothing(server, format_scenes, tmp_path):
    """The .npy reader validates a download too: a truncated array is refused."""
    info = load_scene_file(format_scenes["tiny_npy"])
    (server.root / "cube.npy").write_bytes((server.root / "truncated.npy").read_bytes())
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="not a valid cube file") as err:
        download_scene(info, dest, mirror=server.base_url, progress=False, timeout=5)
    assert "not a readable NumPy .npy array" in str(err.value)
    assert _leftovers(dest) == ["gt.npy"]


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("tiny_envi_bsq", "ground truth file 'gt_bsq.hdr' is ENVI"),
        ("tiny_envi_bil", "cube file 'cube_bil.img' is ENVI"),
        ("bad_extension", "the extension '.xyz'"),
    ],
)
def test_files_that_are_not_one_downloadable_file_are_refused_first(
    server, format_scenes, tmp_path, name, needle
):
    info = load_scene_file(format_scenes[name])
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="Fix:") as err:
        download_scene(info, dest, mirror=server.base_url, progress=False, timeout=5)
    msg = str(err.value)
    assert needle in msg and str(format_scenes[name]) in msg
    if "ENVI" in needle:
        assert "--data-dir" in msg and "(.mat, .npy, .npz or .tif)" in msg
    assert server.requests == [] and not dest.exists()  # nothing fetched, nothing made
