"""A small results database of a leakage study, written through ``ResultStore.write``.

Hand-made test OA (no training, no scene files): CLAReSNet and Random Forest on Indian
Pines under the paper's random split, the disjoint split and the 5-fold block CV
(``block_cv``: every fold of every seed a trial), with PCA fitted on the scene or on
the training pixels; Salinas under the paper's setting only (no leakage study there).
For tests/test_leakage.py and the dashboard's leakage table.

    python tests/data/make_leakage_db.py /tmp/leak.db
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.result import TrialResult
from harness.spec import TrainingConfig, TrialSpec
from harness.store import ResultStore

BLOCK_CV = {"k": 5, "patch_size": 11, "block_size": 16, "val": 0.1}
PARAMS = {
    "paper": {"test": 0.2, "val": 0.1},
    "disjoint": {"patch_size": 11, "block_size": 16, "train": 0.72, "val": 0.08},
}
#: Hand-made test OA per (model, protocol, PCA fit): {seed: OA} or, for block_cv,
#: {seed: [OA of fold 0..4]}.
OA: dict[tuple[str, str, str], dict[int, object]] = {
    ("claresnet", "paper", "scene"): {0: 0.991, 1: 0.993, 2: 0.990},
    ("claresnet", "paper", "train"): {0: 0.982, 1: 0.986, 2: 0.979},
    ("claresnet", "disjoint", "scene"): {0: 0.81, 1: 0.86, 2: 0.83},
    ("claresnet", "disjoint", "train"): {0: 0.78, 1: 0.84, 2: 0.80},
    ("claresnet", "block_cv", "train"): {
        0: [0.70, 0.75, 0.80, 0.78, 0.72],
        1: [0.74, 0.79, 0.77, 0.81, 0.69],
    },
    ("random_forest", "paper", "scene"): {0: 0.90, 1: 0.91, 2: 0.905, 3: 0.899},
    ("random_forest", "paper", "train"): {0: 0.89, 1: 0.905},
    ("random_forest", "disjoint", "train"): {0: 0.70, 1: 0.73, 2: 0.69},
    ("random_forest", "block_cv", "scene"): {0: [0.60, 0.62, 0.65, 0.61, 0.66]},
}


def spec_for(model: str, protocol: str, pca_fit: str, seed: int, **changes) -> TrialSpec:
    fold = changes.pop("fold", None)
    params = {**BLOCK_CV, "fold": fold} if protocol == "block_cv" else PARAMS[protocol]
    spec = TrialSpec(
        model=model,
        recipe="unified",
        hparams={},
        scene="indian_pines",
        source="real",
        scene_fingerprint="indian_pines-real",
        protocol=protocol,
        protocol_params=params,
        seed=seed,
        n_components=30,
        pca_fit=pca_fit,
        scale="standard",
        whiten=False,
        patch_size=11,
        pad_mode="reflect",
        training=TrainingConfig(epochs=1),
        family=model,
    )
    return spec.with_(**changes)


def write(store: ResultStore, spec: TrialSpec, oa: float) -> None:
    store.write(TrialResult(spec=spec, metrics={"test": {"oa": oa, "ba": oa - 0.01}}))


def write_leakage_db(path: str | Path) -> Path:
    """Write the trials of :data:`OA` (and two Salinas trials) to a new database."""
    with ResultStore(path) as store:
        for (model, protocol, fit), values in OA.items():
            for seed, value in values.items():
                if isinstance(value, list):
                    for fold, oa in enumerate(value):
                        write(store, spec_for(model, protocol, fit, seed, fold=fold), oa)
                else:
                    write(store, spec_for(model, protocol, fit, seed), float(value))
        for seed, oa in enumerate((0.95, 0.96)):  # a scene with the paper's setting only
            write(store, spec_for("claresnet", "paper", "scene", seed, scene="salinas"), oa)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    args = parser.parse_args()
    print(f"wrote {write_leakage_db(args.db)}")


if __name__ == "__main__":
    main()
