"""Reading MATLAB files (v4/v5/v7 through SciPy, v7.3 through h5py) and file checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .cli_options import python_command
from .errors import SceneFileError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def git_blob_id(path: str | Path) -> str:
    """Return the id git gives the file's content (``git hash-object FILE``)."""
    p = Path(path)
    h = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _is_hdf5(path: Path) -> bool:
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False


def mat_keys(path: str | Path) -> list[str]:
    """List the variable names stored in a MAT file (any version) without loading them."""
    p = Path(path)
    if _is_hdf5(p):
        import h5py

        with h5py.File(p, "r") as f:
            return sorted(k for k in f if not k.startswith("#"))
    import scipy.io

    try:
        return [name for name, _shape, _cls in scipy.io.whosmat(p)]
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, struct.error...
        raise _unreadable(p, exc) from exc


def _unreadable(path: Path, exc: Exception) -> SceneFileError:
    size = path.stat().st_size if path.exists() else 0
    return SceneFileError(
        f"File '{path}' ({size} bytes) is not a readable MATLAB file: {type(exc).__name__}: {exc}. "
        "Expected a MAT-file v5/v7 (SciPy) or v7.3 (HDF5). It may be truncated or not a MAT-file "
        "at all (e.g. an HTML error page saved by a failed download). Fix: delete it and fetch it "
        f"again with `{python_command('datasets download SCENE --data-dir DIR')}`."
    )


def read_mat(path: str | Path, key: str) -> np.ndarray:
    """Read one variable from a MAT file.

    v7.3 files are HDF5, which stores MATLAB's column-major arrays with their axes
    reversed; they are transposed back so both versions give the same array.

    Args:
        path: the file.
        key: the variable name.

    Returns:
        The array, in the file's dtype.

    Raises:
        SceneFileError: unreadable/truncated file, or ``key`` absent (the message
            lists the keys that are present).
    """
    p = Path(path)
    if _is_hdf5(p):
        import h5py

        try:
            with h5py.File(p, "r") as f:
                if key not in f:
                    raise _missing_key(p, key, sorted(k for k in f if not k.startswith("#")))
                return np.asarray(f[key][()]).T
        except SceneFileError:
            raise
        except Exception as exc:
            raise _unreadable(p, exc) from exc
    import scipy.io

    keys = mat_keys(p)
    if key not in keys:
        raise _missing_key(p, key, keys)
    try:
        data = scipy.io.loadmat(p, variable_names=[key])
    except Exception as exc:
        raise _unreadable(p, exc) from exc
    if key not in data:  # whosmat listed it but it did not load: a truncated file
        raise _unreadable(p, KeyError(key))
    return np.asarray(data[key])


def _missing_key(path: Path, key: str, keys: list[str]) -> SceneFileError:
    present = ", ".join(repr(k) for k in keys) or "(no variables)"
    return SceneFileError(
        f"File '{path}' has no variable '{key}'. Variables present: {present}. "
        "Fix: pass the right key in the scene file (cube.key / gt.key), or use the file "
        "distributed for this scene."
    )
