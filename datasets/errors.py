"""Exceptions raised by the data layer.

Every message names the offending value (file, key, scene, parameter), what was
expected, and how to fix it. The CLIs print the message and exit non-zero
instead of showing a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class DatasetError(Exception):
    """Base class of every error the data layer raises on bad input."""


class UnknownSceneError(DatasetError, KeyError):
    """A scene name that is neither registered nor a scene file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A scene file that is not in any of the searched folders."""

    def __init__(
        self,
        scene: str,
        filename: str,
        searched: Iterable[Path],
        download_hint: str | None = None,
    ) -> None:
        self.scene = scene
        self.filename = filename
        self.searched = [Path(p) for p in searched]
        lines = [f"Scene '{scene}': file '{filename}' was not found. Folders searched, in order:"]
        lines += [f"  - {p}" for p in self.searched] or ["  (none)"]
        lines.append(
            "Fix: put the file in one of these folders, pass --data-dir DIR, or set $HSI_DATA_DIR."
        )
        if download_hint:
            lines.append(f"To fetch the real files: {download_hint}")
        super().__init__("\n".join(lines))

    def __str__(self) -> str:
        return str(self.args[0])


class SceneFileError(DatasetError, ValueError):
    """A scene file that exists but cannot be used (wrong key, shape, values, format)."""


class SceneSpecError(DatasetError, ValueError):
    """A scene description (built-in or --scene-file TOML) that is invalid."""


class ProtocolError(DatasetError, ValueError):
    """An unknown split protocol or invalid protocol parameters."""


class SplitFileError(DatasetError, ValueError):
    """A label-map file of a fixed split that cannot be used (overlap, labels, shape, key,
    checksum)."""


class PreprocessingError(DatasetError, ValueError):
    """Invalid preprocessing configuration."""


class DownloadError(DatasetError, OSError):
    """A download that failed; nothing is left in the target folder."""
