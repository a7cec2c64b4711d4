"""Write the data files that ship inside the ``datasets`` package (``datasets/data/``).

A fresh clone must be able to build every registry scene's surrogate with nothing
beside it, so the package carries what surrogates need, and nothing more:

- the real ground-truth maps of the registry scenes, byte for byte: the GIC
  group's files for Indian Pines and Salinas (checked against the TOML's
  ``gt.sha256``) and public copies for the others (checked against its
  ``gt.known_sha256``). These are the project's own shipped copies, so a file that
  differs stops the script; a user's download is only told that it differs;
- the Indian Pines class signatures reduced to what the surrogate uses: the 17
  per-label spectra (label 0 = background) of the "simulated Indian Pines" image
  ``Indian_pines_class_spectra_224.mat`` (key ``Ori_H``, 145 x 145 x 224), with
  the 24 water-absorption bands 104-108, 150-163 and 220-224 (1-based) removed:
  a (17, 200) float64 ``.npy`` file of 27 KB instead of the 0.76 MB image.

The real cubes are never shipped (``python -m datasets download``).

    python scripts/make_package_data.py --from ../shared/data   # rewrites datasets/data/

The output is deterministic: running it again gives the same bytes, and
``datasets/data/SHA256SUMS`` lists them.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets.matio import read_mat, sha256_file  # noqa: E402
from datasets.surrogate import select_bands, signatures_from_image  # noqa: E402

OUT = ROOT / "datasets" / "data"
IMAGE = "Indian_pines_class_spectra_224.mat"
IMAGE_KEY = "Ori_H"
IMAGE_SHA256 = "eb5a724025a443acb42336772d263dd8fab9eb7307b0a269b54ee23ec1cba2c0"
WATER_BANDS = ((104, 108), (150, 163), (220, 224))
SIGNATURES = "Indian_pines_class_signatures_200.npy"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for toml in sorted((ROOT / "datasets" / "scenes").glob("*.toml")):
        gt = tomllib.loads(toml.read_text(encoding="utf-8"))["gt"]
        src = args.src / gt["file"]
        key = "sha256" if "sha256" in gt else "known_sha256"
        if key not in gt:
            sys.exit(
                f"{toml.name}: [gt] gives neither sha256 nor known_sha256, so the copy of "
                f"{gt['file']} to ship cannot be checked. Fix: add the file's sha256 to [gt]."
            )
        digest = sha256_file(src)
        if digest != gt[key]:
            sys.exit(
                f"{src}: sha256 {digest} differs from {toml.name}'s gt.{key} {gt[key]}; not "
                "copied. Fix: pass --from a folder holding the file the TOML describes."
            )
        shutil.copyfile(src, OUT / gt["file"])
        written.append(OUT / gt["file"])
    image_path = args.src / IMAGE
    if sha256_file(image_path) != IMAGE_SHA256:
        sys.exit(f"{image_path}: sha256 is not the known {IMAGE_SHA256}.")
    image = np.asarray(read_mat(image_path, IMAGE_KEY), dtype=np.float64)
    labels = read_mat(args.src / "Indian_pines_gt.mat", "indian_pines_gt")
    spectra = select_bands(signatures_from_image(image, labels), WATER_BANDS)
    np.save(OUT / SIGNATURES, np.ascontiguousarray(spectra), allow_pickle=False)
    written.append(OUT / SIGNATURES)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(written)]
    (OUT / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
