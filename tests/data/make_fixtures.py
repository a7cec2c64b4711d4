"""Write the small, seeded scene fixtures the tests use.

    python tests/data/make_fixtures.py OUT_DIR

Writes a 24 x 20 pixel, 12-band, 3-class scene ``tiny``:

- ``tiny_cube.mat`` (MAT v5, key ``cube``) and ``tiny_gt.mat`` (key ``gt``);
- ``tiny_cube_v73.mat`` (MAT v7.3 = HDF5, key ``cube``), the same cube, written
  column-major as MATLAB does (axes reversed on disk);
- ``tiny.toml``, the scene file describing them (cube = the v5 file).

and, with :func:`write_field_scene`, a user scene ``field`` large enough for every
suite's recipes (48 x 40 pixels, 40 bands in sensor units: uint16 digital numbers
in the thousands, 4 classes in rectangular fields; PCA to 30 components and 11 x
11 windows fit): ``field_cube.mat``, ``field_gt.mat`` and ``field.toml``.

The label map has three rectangular fields and an unlabelled border; spectra are
class means plus seeded noise, so the arrays are the same on every machine (the
files' bytes are not: MAT headers carry a creation time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

H, W, B = 24, 20, 12
CLASS_NAMES = ("Meadow", "Forest", "Water")


def make_arrays(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The fixture's (cube float64 H x W x B, gt uint8 H x W)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((H, W), dtype=np.uint8)
    gt[2:12, 2:9] = 1
    gt[2:12, 11:18] = 2
    gt[14:22, 3:17] = 3
    means = rng.uniform(0.1, 0.9, size=(4, B))
    cube = means[gt] + 0.02 * rng.standard_normal((H, W, B))
    return cube, gt


TOML = """\
name = "tiny"
title = "Tiny test scene"
description = "24 x 20 pixels, 12 bands, 3 classes; written by tests/data/make_fixtures.py"
shape = [24, 20]
n_bands = 12
rgb_bands = [8, 4, 1]
class_names = ["Meadow", "Forest", "Water"]
class_counts = [70, 70, 112]

[cube]
file = "tiny_cube.mat"
key = "cube"
url = "{base}tiny_cube.mat"

[gt]
file = "tiny_gt.mat"
key = "gt"
url = "{base}tiny_gt.mat"
"""


def write_fixtures(out: Path, base_url: str = "http://127.0.0.1:1/") -> dict[str, Path]:
    """Write all fixture files into ``out``; returns their paths by short name."""
    import h5py
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = make_arrays()
    paths = {
        "cube": out / "tiny_cube.mat",
        "gt": out / "tiny_gt.mat",
        "cube_v73": out / "tiny_cube_v73.mat",
        "toml": out / "tiny.toml",
    }
    scipy.io.savemat(paths["cube"], {"cube": cube}, do_compression=True)
    scipy.io.savemat(paths["gt"], {"gt": gt})
    with h5py.File(paths["cube_v73"], "w", userblock_size=512) as f:
        f.create_dataset("cube", data=cube.T)  # MATLAB writes column-major: axes reversed
    with open(paths["cube_v73"], "r+b") as f:  # the MAT 7.3 text header in the user block
        f.write(
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fixture HDF5 schema 1.00 .".ljust(
                116
            )
        )
    paths["toml"].write_text(TOML.format(base=base_url), encoding="utf-8")
    return paths


FIELD_TOML = """\
name = "field"
title = "Field test scene"
description = "48 x 40 pixels, 40 bands (uint16 DN), 4 classes; written by tests/data/make_fixtures.py"
shape = [48, 40]
n_bands = 40
class_names = ["Wheat", "Maize", "Fallow", "Orchard"]

[cube]
file = "field_cube.mat"
key = "radiance"

[gt]
file = "field_gt.mat"
key = "labels"
"""


def field_arrays(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """The ``field`` scene's (cube uint16 48 x 40 x 40, gt uint8 48 x 40)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((48, 40), dtype=np.uint8)
    gt[1:23, 1:19] = 1
    gt[1:23, 21:39] = 2
    gt[25:47, 1:19] = 3
    gt[25:47, 21:39] = 4
    bands = np.linspace(0.0, 1.0, 40)
    means = 2500 + 1500 * np.sin(np.outer(rng.uniform(1, 4, size=5), bands) * np.pi)
    cube = means[gt] * (1 + 0.08 * rng.standard_normal((48, 40, 1)))
    cube += 120 * rng.standard_normal((48, 40, 40))
    return np.clip(np.rint(cube), 0, 65535).astype(np.uint16), gt


def write_field_scene(out: Path) -> dict[str, Path]:
    """Write the ``field`` user scene (two MAT files and its TOML) into ``out``."""
    import scipy.io

    out.mkdir(parents=True, exist_ok=True)
    cube, gt = field_arrays()
    paths = {"cube": out / "field_cube.mat", "gt": out / "field_gt.mat", "toml": out / "field.toml"}
    scipy.io.savemat(paths["cube"], {"radiance": cube}, do_compression=True)
    scipy.io.savemat(paths["gt"], {"labels": gt})
    paths["toml"].write_text(FIELD_TOML, encoding="utf-8")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/make_fixtures.py OUT_DIR")
    for name, path in write_fixtures(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
