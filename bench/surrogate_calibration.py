"""Calibrate the surrogate scenes: how hard is the task they pose?

For each scene and surrogate seed: a Random Forest (scikit-learn, 200 trees) on
centre-pixel spectra (all bands) under the paper protocol (72/8/20, split seed
0), and the same on the mean spectrum of the 5 x 5 neighbourhood, which shows
how much spatial context carries. The issue's target: the first in 60-90 % OA
on the Indian Pines surrogate.

    python bench/surrogate_calibration.py [--scenes indian_pines salinas] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.ndimage import uniform_filter
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

import datasets


def rf_oa(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> float:
    rf = RandomForestClassifier(n_estimators=200, n_jobs=-1, random_state=seed)
    rf.fit(x[train], y[train])
    return float(accuracy_score(y[test], rf.predict(x[test])))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenes", nargs="+", default=["indian_pines", "salinas"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = ap.parse_args()
    print("| scene | surrogate seed | RF OA, centre pixel | RF OA, 5 x 5 mean | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.scenes:
        for seed in args.seeds:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", datasets.SurrogateWarning)
                scene = datasets.load_scene(name, source="surrogate", surrogate_seed=seed)
            h, w, b = scene.cube.shape
            y = scene.gt.ravel()
            train, _val, test = datasets.split(scene.gt, "paper", seed=0)
            cube = scene.cube.astype(np.float32)  # digital numbers: average in floats
            centre = cube.reshape(-1, b)
            mean5 = uniform_filter(cube, size=(5, 5, 1), mode="reflect").reshape(-1, b)
            oa_c = rf_oa(centre, y, train, test, seed)
            oa_m = rf_oa(mean5, y, train, test, seed)
            dt = time.perf_counter() - t0
            print(
                f"| {name} | {seed} | {100 * oa_c:.2f} % | {100 * oa_m:.2f} % | {dt:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
