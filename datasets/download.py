"""Downloading a scene's real files: atomic and validated.

    python -m datasets download indian_pines --data-dir DIR [--mirror URL] [--force]

Each file (ground truth first, then the cube) is streamed into a hidden temporary
file beside its destination, flushed to disk, checked, and only then renamed into
place. The checks: a readable file (MAT, NumPy or GeoTIFF, read by
:func:`datasets.formats.read_array` as when the scene is loaded) holding the
scene's variable, a label map or cube that fits the scene (and the cube fits the
label map), and the sha256 when the scene file gives one. A failed or interrupted
download removes its temporary file, so the destination never holds a partial
file; a file that was already there is left as it was.

Checksums of public copies that were never checked against the original
(``known_sha256``, ``git_blob``) are only reported: "matches the known public
copy", or "differs ...; validated by content". An ENVI file is a header and a
binary file, two downloads that this command does not pair up: a scene whose file
is ENVI is refused before anything is fetched, naming the fix.

Only the standard library talks to the network (``urllib.request``), so a mirror
may be any URL it understands, ``file:///path/to/folder`` included.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
from tqdm import tqdm

from .errors import DownloadError, SceneFileError
from .formats import ENVI_BINARY_SUFFIXES, label_map, read_array
from .matio import git_blob_id, sha256_file
from .registry import FileSpec, SceneInfo
from .scene import validate_cube, validate_gt

_CHUNK = 1 << 16
_USER_AGENT = "hsi-harness-datasets (python urllib)"
_ROLE_WORDS = {"gt": "ground truth", "cube": "cube"}
#: Extensions of the formats a download can fetch and validate as one file.
_SINGLE_FILE_SUFFIXES = (".mat", ".npy", ".npz", ".tif", ".tiff")


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_scene` did with one file.

    Attributes:
        role: "gt" or "cube".
        path: the file in the destination folder.
        status: "downloaded" (it was not there), "present" (a valid copy was there and
            was kept) or "replaced" (a copy was there, invalid or ``force=True``, and
            was overwritten).
        sha256: hex sha256 of the file.
        size: its size in bytes.
        note: anything else worth knowing, such as whether the file matches the known
            public copy; "" when there is nothing to add.
    """

    role: str
    path: Path
    status: str
    sha256: str
    size: int
    note: str = ""


class _Checked(NamedTuple):
    """A file that passed validation."""

    sha256: str
    note: str
    #: The scene's label map: the file's own for the gt, the one checked against for a cube.
    gt: np.ndarray


def download_scene(
    info: SceneInfo,
    to: str | os.PathLike,
    *,
    mirror: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[DownloadResult]:
    """Download a scene's ground truth and cube into a folder, atomically and validated.

    A file already in the folder that passes validation is kept (status "present")
    unless ``force``; one that fails it is downloaded again (status "replaced").

    Args:
        info: the scene (``get_scene_info(name)``).
        to: destination folder, created if missing.
        mirror: fetch each file from ``mirror/FILE`` instead of its ``url``.
        force: download even when a valid copy is already there.
        timeout: network timeout in seconds (connecting, and each wait for data).
        progress: show a progress bar per file on stderr.

    Returns:
        One result per file: the ground truth, then the cube.

    Raises:
        DownloadError: a file in a format that is not one file (ENVI) or not
            supported, no address for a file, a network or HTTP failure, a truncated
            body, a file that fails validation, or a folder that cannot be written.
            Nothing is written for the failing file; a ground truth downloaded before
            a failing cube stays (it is complete and valid).
    """
    for role in ("gt", "cube"):
        _check_downloadable(info, role)
    folder = Path(to).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the destination folder '{folder}': {exc}. "
            "Fix: pass --data-dir a folder you can write to."
        ) from exc
    fetcher = _Fetcher(info, folder, mirror, force, timeout, progress)
    gt_result, gt = fetcher.fetch("gt", None)
    cube_result, _ = fetcher.fetch("cube", gt)
    return [gt_result, cube_result]


def _check_downloadable(info: SceneInfo, role: str) -> None:
    """Refuse, before any download, a file that is not one self-contained file of a
    supported format (an ENVI header and its binary are two)."""
    spec = info.gt if role == "gt" else info.cube
    suffix = Path(spec.file).suffix.lower()
    if suffix in _SINGLE_FILE_SUFFIXES:
        return
    what = _ROLE_WORDS[role]
    if suffix == ".hdr" or suffix in ENVI_BINARY_SUFFIXES or not suffix:
        raise DownloadError(
            f"Scene '{info.name}': the {what} file '{spec.file}' is ENVI, a header (.hdr) and "
            "a binary file that go together, which `python -m datasets download` cannot "
            "fetch as one file. Fix: download both files by hand into one folder and pass "
            "--data-dir FOLDER, or convert the array to one file (.mat, .npy, .npz or .tif) "
            f"and name that file in [{role}] of the scene file '{info.origin}'."
        )
    raise DownloadError(
        f"Scene '{info.name}': the {what} file '{spec.file}' has the extension '{suffix}', "
        "which is not a scene format a download can fetch and check; expected one of "
        f"{', '.join(_SINGLE_FILE_SUFFIXES)}. Fix: name a file in one of these formats in "
        f"[{role}] of the scene file '{info.origin}'."
    )


class _Fetcher:
    """Fetches and validates one scene's files into one folder."""

    def __init__(
        self,
        info: SceneInfo,
        folder: Path,
        mirror: str | None,
        force: bool,
        timeout: float,
        progress: bool,
    ) -> None:
        self.info = info
        self.folder = folder
        self.mirror = mirror
        self.force = force
        self.timeout = timeout
        self.progress = progress

    def fetch(self, role: str, gt: np.ndarray | None) -> tuple[DownloadResult, np.ndarray]:
        """Make sure a valid copy of one file is in the folder.

        Args:
            role: "gt" or "cube".
            gt: the validated label map; required for the cube, None for the gt.

        Returns:
            The result, and the scene's label map (see :class:`_Checked`).
        """
        spec = self._spec(role)
        dest = self._destination(role, spec)
        existed = dest.exists()
        notes: list[str] = []
        if existed and not self.force:
            try:
                checked = self._validate(role, dest, gt)
            except (SceneFileError, OSError):  # OSError: unreadable, or a folder in its place
                notes.append("the copy that was there was invalid")
            else:
                return self._result(role, dest, "present", checked, []), checked.gt
        checked = self._download(role, spec, dest, self._url(role, spec), gt)
        status = "replaced" if existed else "downloaded"
        return self._result(role, dest, status, checked, notes), checked.gt

    def _spec(self, role: str) -> FileSpec:
        return self.info.gt if role == "gt" else self.info.cube

    def _destination(self, role: str, spec: FileSpec) -> Path:
        name = Path(spec.file)
        if name.is_absolute() or ".." in name.parts:
            raise DownloadError(
                f"Scene '{self.info.name}': the {_ROLE_WORDS[role]} file name '{spec.file}' is "
                f"not a path inside a folder, so it cannot be saved in '{self.folder}'. "
                f"Fix: give a plain file name such as '{name.name}' in [{role}] of the scene file."
            )
        return self.folder / name

    def _url(self, role: str, spec: FileSpec) -> str:
        if self.mirror:
            return self.mirror.rstrip("/") + "/" + urllib.parse.quote(spec.file)
        if spec.url:
            return spec.url
        raise DownloadError(
            f"Scene '{self.info.name}': the scene file '{self.info.origin}' gives no url for the "
            f"{_ROLE_WORDS[role]} file '{spec.file}', so it cannot be downloaded. Fix: pass "
            f"--mirror URL (a folder serving '{spec.file}'), add url = \"...\" to [{role}] in "
            f"the scene file, or copy the file into '{self.folder}' by hand."
        )

    def _validate(self, role: str, path: Path, gt: np.ndarray | None) -> _Checked:
        """Check one file of the scene.

        Raises:
            SceneFileError: a sha256 other than the scene file's ``sha256``, an
                unreadable file, a missing variable, or content that does not fit the
                scene. (A ``known_sha256`` or ``git_blob`` that differs is only noted.)
        """
        spec = self._spec(role)
        digest = sha256_file(path)
        if spec.sha256 and digest != spec.sha256.lower():
            raise SceneFileError(
                f"File '{path}' has sha256 {digest}; the scene file expects {spec.sha256}. "
                "Fix: fetch the file distributed for this scene."
            )
        array = read_array(path, spec.key)
        if role == "gt":
            gt = validate_gt(label_map(array), self.info, path)
        else:
            assert gt is not None, "the ground truth is validated before the cube"
            validate_cube(array.data, gt, self.info, path, self.folder / self.info.gt.file)
        del array  # a memory map (.npy) of the file, which is renamed next
        notes = []
        if spec.known_sha256:
            notes.append(_public_copy_note("sha256", digest, spec.known_sha256))
        if spec.git_blob:
            notes.append(_public_copy_note("git blob", git_blob_id(path), spec.git_blob))
        return _Checked(digest, "; ".join(notes), gt)

    def _result(
        self, role: str, path: Path, status: str, checked: _Checked, notes: list[str]
    ) -> DownloadResult:
        return DownloadResult(
            role=role,
            path=path,
            status=status,
            sha256=checked.sha256,
            size=path.stat().st_size,
            note="; ".join(n for n in [checked.note, *notes] if n),
        )

    def _error(self, role: str, dest: Path, url: str, what: str, fix: str = "") -> DownloadError:
        spec = self._spec(role)
        fix = fix or (
            f"retry; or fetch it from another copy with --mirror URL (which must serve "
            f"URL/{spec.file}); or download {url} by hand and save it as '{dest}'."
        )
        return DownloadError(
            f"Could not download the {_ROLE_WORDS[role]} file '{spec.file}' of scene "
            f"'{self.info.name}' from {url}: {what}. Nothing was written to '{dest}'. Fix: {fix}"
        )

    def _download(
        self, role: str, spec: FileSpec, dest: Path, url: str, gt: np.ndarray | None
    ) -> _Checked:
        """Stream ``url`` into a temporary file, validate it, and rename it to ``dest``."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Closed by `with tmp` below; removed in `finally` unless it became `dest`.
            # ".part" marks it unfinished; the real extension after it picks the reader
            tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115
                dir=dest.parent,
                prefix=f".{dest.name}.",
                suffix=f".part{dest.suffix}",
                delete=False,
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
                received, content_type = self._stream(role, url, dest, tmp)
                try:
                    tmp.flush()
                    os.fsync(tmp.fileno())
                except OSError as exc:
                    raise self._write_error(tmp_path, exc) from exc
            try:
                checked = self._validate(role, tmp_path, gt)
            except SceneFileError as exc:
                sent = f"{received} bytes" + (f" of {content_type}" if content_type else "")
                raise self._error(
                    role,
                    dest,
                    url,
                    f"the server sent {sent}, which is not a valid {_ROLE_WORDS[role]} file "
                    f"for the scene ({exc})",
                    f"check that {url} serves the file itself and not a web page; retry; "
                    f"or pass --mirror URL (which must serve URL/{spec.file}); or download the "
                    f"file by hand and save it as '{dest}'.",
                ) from exc
            try:
                os.chmod(tmp_path, _file_mode())
                os.replace(tmp_path, dest)
            except OSError as exc:
                raise DownloadError(
                    f"Downloaded and validated '{spec.file}' but could not move it from "
                    f"'{tmp_path}' to '{dest}': {exc}. Fix: make '{dest}' writable (or remove "
                    "whatever is in its place) and run the download again."
                ) from exc
            saved = True
        finally:
            if not saved:
                tmp_path.unlink(missing_ok=True)
        return checked

    def _stream(self, role: str, url: str, dest: Path, out: IO[bytes]) -> tuple[int, str]:
        """Copy the body at ``url`` into ``out``.

        Returns:
            The number of bytes received and the Content-Type ("" when not given).

        Raises:
            DownloadError: any failure, described in words, including a body shorter
                than its Content-Length.
        """
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        received = 0
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                expected = _content_length(response.headers.get("Content-Length"))
                content_type = response.headers.get("Content-Type", "")
                with tqdm(
                    total=expected,
                    desc=dest.name,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=sys.stderr,
                    disable=not self.progress,
                ) as bar:
                    while chunk := response.read(_CHUNK):
                        try:
                            out.write(chunk)
                        except OSError as exc:
                            raise self._write_error(Path(out.name), exc) from exc
                        received += len(chunk)
                        bar.update(len(chunk))
        except DownloadError:
            raise
        except urllib.error.HTTPError as exc:
            exc.close()
            fix = ""
            if exc.code in (404, 410):
                fix = (
                    f"correct the url in [{role}] of the scene file; or pass --mirror URL (which "
                    f"must serve URL/{self._spec(role).file}); or download the file by hand and "
                    f"save it as '{dest}'."
                )
            raise self._error(
                role, dest, url, f"the server answered HTTP {exc.code} {exc.reason}", fix
            ) from exc
        except urllib.error.URLError as exc:
            raise self._network_error(role, dest, url, exc.reason, received) from exc
        except ValueError as exc:  # no scheme, bad port: urllib and http.client raise ValueError
            raise self._error(
                role,
                dest,
                url,
                f"it is not a valid URL ({exc})",
                "correct the url in the scene file, or pass --mirror URL.",
            ) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise self._network_error(role, dest, url, exc, received) from exc
        if expected is not None and received < expected:
            raise self._error(
                role,
                dest,
                url,
                f"the connection closed after {received} of the {expected} bytes announced "
                "(a truncated body)",
            )
        return received, content_type

    def _network_error(
        self, role: str, dest: Path, url: str, reason: object, received: int
    ) -> DownloadError:
        after = f" after {received} bytes" if received else ""
        if isinstance(reason, TimeoutError):
            return self._error(
                role,
                dest,
                url,
                f"the server sent nothing for {self.timeout:g} s, the timeout{after}",
                f"retry with a longer --timeout S; or pass --mirror URL; or download {url} "
                f"by hand and save it as '{dest}'.",
            )
        if isinstance(reason, ConnectionRefusedError):
            return self._error(role, dest, url, "the connection was refused (no server there)")
        if isinstance(reason, BaseException):
            reason = f"{type(reason).__name__}: {reason}"
        return self._error(role, dest, url, f"the network failed{after} ({reason})")

    def _write_error(self, path: Path, exc: OSError) -> DownloadError:
        return DownloadError(
            f"Cannot write the temporary file '{path}': {exc}. Nothing was kept. "
            "Fix: free disk space, or pass --data-dir a folder on another disk."
        )


def _public_copy_note(kind: str, actual: str, known: str) -> str:
    """How a file compares with the checksum of a public copy that was never checked
    against the original: a report, never a reason to refuse the file."""
    if actual == known.lower():
        return "matches the known public copy"
    return (
        f"differs from the known public copy ({kind} {actual}, known {known}); validated by content"
    )


def _content_length(value: str | None) -> int | None:
    """The Content-Length header as an int; None when absent or malformed."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _file_mode() -> int:
    """The permissions a new file gets under the current umask (temp files start at 0o600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
