"""The artifact folder: saved-model files named by their content, beside the database.

Layout (``results.artifacts/`` next to ``results.db`` by default, or ``--artifacts DIR``)::

    results.artifacts/
      3f/3f9a...e1.safetensors      # a file's name is its sha256 and its format's suffix
      a0/a07c...42.skops
      .staging/<host>-<pid>/        # files a writer has written but not yet published

Files are content-addressed: trials that produce the same bytes (the same fitted
preprocessing) share one file, and a file is never written twice. The database's
``model_files`` rows name them (:class:`harness.store.schema.ModelFileRow`).

How a writer stores a trial's files, so that a kill at any moment leaves neither
a half-written nor an orphaned file, and no trial row without its files:

1. :meth:`ArtifactStore.stage`: each file is written into the writer's own staging
   folder (a temporary name, flushed to disk, then renamed to ``<sha256><suffix>``).
   A file already in place is not staged again.
2. The database transaction adds the ``model_files`` rows with the trial.
3. :meth:`ArtifactStore.publish`: after the commit, each staged file is renamed into
   place (an atomic rename on one filesystem).

A writer killed before 2 leaves staged files that no row names; killed between 2
and 3, staged files that rows name. :meth:`ArtifactStore.recover`, run when a run
starts (``python -m harness.run``), settles the staging folders of writers that are
gone: a file a row names is published, any other file is deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..provenance import process_alive

__all__ = ["ArtifactError", "ArtifactStore", "StagedFile", "default_root"]

STAGING = ".staging"
_CHUNK = 1 << 20


class ArtifactError(RuntimeError):
    """An artifact file that cannot be written or read (the message names it and the fix)."""


def default_root(db_path: Path | None) -> Path | None:
    """The artifact folder of a SQLite database file: ``NAME.artifacts`` beside it
    (``results.db`` -> ``results.artifacts``); None for a server database."""
    if db_path is None:
        return None
    return db_path.with_name(db_path.stem + ".artifacts")


@dataclass(frozen=True)
class StagedFile:
    """A file written to the staging folder, waiting for its database row.

    Attributes:
        kind, format: what the file is (see :class:`harness.saved_model.ModelFile`).
        path: its place relative to the artifact folder (``ab/ab....suffix``).
        size, sha256: its size in bytes and its content's sha256.
        staged: the staged copy, or None when the file was already in place.
    """

    kind: str
    format: str
    path: str
    size: int
    sha256: str
    staged: Path | None


class ArtifactStore:
    """A folder of content-addressed files.

    Args:
        root: the folder (created on the first write).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    @staticmethod
    def relative_path(sha256: str, suffix: str) -> str:
        return f"{sha256[:2]}/{sha256}{suffix}"

    def path(self, relative: str) -> Path:
        return self.root / relative

    @property
    def staging(self) -> Path:
        """This process's staging folder."""
        return self.root / STAGING / f"{socket.gethostname()}-{os.getpid()}"

    # ------------------------------------------------------------------ writing

    def stage(self, files: Iterable[Any]) -> list[StagedFile]:
        """Write files (objects with ``kind``, ``format``, ``suffix``, ``data``) to the
        staging folder; a file whose content is already in place is not written.

        Raises:
            ArtifactError: the folder cannot be written (nothing is left staged).
        """
        staged: list[StagedFile] = []
        try:
            for f in files:
                sha = hashlib.sha256(f.data).hexdigest()
                rel = self.relative_path(sha, f.suffix)
                final = self.path(rel)
                if final.is_file() and final.stat().st_size == len(f.data):
                    staged.append(StagedFile(f.kind, f.format, rel, len(f.data), sha, None))
                    continue
                target = self.staging / final.name
                if not target.is_file():
                    _write_atomic(target, f.data)
                staged.append(StagedFile(f.kind, f.format, rel, len(f.data), sha, target))
        except OSError as exc:
            self.discard(staged)
            raise ArtifactError(
                f"Cannot write the model files to the artifact folder '{self.root}': {exc}. "
                "Fix: free disk space or choose a writable folder with --artifacts DIR, or "
                "run with --no-save-models."
            ) from exc
        return staged

    def publish(self, staged: Iterable[StagedFile]) -> None:
        """Move staged files into place (after their rows were committed)."""
        for s in staged:
            if s.staged is None:
                continue
            final = self.path(s.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            if s.staged.is_file():
                os.replace(s.staged, final)  # same content if it already exists
        _remove_empty(self.staging)
        _remove_empty(self.staging.parent)

    def discard(self, staged: Iterable[StagedFile]) -> None:
        """Delete staged files whose rows were not committed."""
        for s in staged:
            if s.staged is not None:
                s.staged.unlink(missing_ok=True)
        _remove_empty(self.staging)
        _remove_empty(self.staging.parent)

    def recover(self, referenced: Callable[[str], bool]) -> tuple[list[str], list[str]]:
        """Settle the staging folders of writers of this host that are gone.

        Args:
            referenced: whether a ``model_files`` row names a path (``ab/ab....suffix``).

        Returns:
            (paths published, staged files deleted).
        """
        published: list[str] = []
        deleted: list[str] = []
        base = self.root / STAGING
        if not base.is_dir():
            return published, deleted
        host = socket.gethostname()
        for folder in sorted(base.iterdir()):
            owner, _, pid = folder.name.rpartition("-")
            if owner != host or not pid.isdigit() or process_alive(int(pid)):
                continue  # another host's writer, or a live one
            for staged in sorted(folder.iterdir()):
                name = staged.name
                sha, dot, suffix = name.partition(".")
                rel = self.relative_path(sha, dot + suffix)
                if (
                    staged.is_file()
                    and not name.startswith(".")
                    and referenced(rel)
                    and _sha256(staged) == sha
                ):
                    final = self.path(rel)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, final)
                    published.append(rel)
                else:
                    if staged.is_dir():
                        shutil.rmtree(staged, ignore_errors=True)
                    else:
                        staged.unlink(missing_ok=True)
                    deleted.append(name)
            _remove_empty(folder)
        _remove_empty(base)
        return published, deleted

    # ------------------------------------------------------------------ reading

    def read(self, relative: str, sha256: str, what: str = "file") -> bytes:
        """A file's bytes, checked against the sha256 its row records.

        Raises:
            ArtifactError: the file is missing, or its content is not the recorded one.
        """
        path = self.path(relative)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(
                f"The {what} '{path}' is missing from the artifact folder '{self.root}'. "
                "Fix: point --artifacts at the folder the run wrote (by default NAME.artifacts "
                "beside the database NAME.db), or re-run the trial."
            ) from None
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise ArtifactError(
                f"The {what} '{path}' has sha256 {got[:12]}..., but the database records "
                f"{sha256[:12]}...: the file was changed or damaged. Fix: restore it from a "
                "copy, or re-run the trial with --fresh."
            )
        return data

    def files(self) -> list[str]:
        """Every published file, relative to the folder, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.glob("??/*")
            if p.is_file() and not p.name.startswith(".")
        )


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone
        folder.rmdir()
