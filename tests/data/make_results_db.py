"""A results database of seeded synthetic trials, written through ``ResultStore.write``.

For the dashboard's tests and its leaderboard benchmark: no training, no scene
files. The six paper models on Indian Pines and Salinas, both recipes, the
``paper`` and ``disjoint`` protocols with PCA fitted on the scene or on the
training pixels (a leakage study), as many seeds as it takes to reach
``n_trials``; a few failed trials; optionally a hyperparameter search (when the
store records studies). Metric values scatter around the CLAReSNet paper's
published numbers, lower for the leak-free settings.

    python tests/data/make_results_db.py /tmp/synthetic.db --trials 5000
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.result import TrialResult
from harness.spec import TrainingConfig, TrialSpec
from harness.store import ResultStore

MODELS = ("random_forest", "xgboost", "hybridsn", "ssrn", "spectralformer", "claresnet")
TREES = ("random_forest", "xgboost")
SCENES = ("indian_pines", "salinas")
#: Approximate published test OA (fraction) and Avg. Dist. per model (Tables III/IV).
BASE_OA = {
    "random_forest": 0.90,
    "xgboost": 0.93,
    "hybridsn": 0.97,
    "ssrn": 0.975,
    "spectralformer": 0.80,
    "claresnet": 0.995,
}
BASE_DIST = {"hybridsn": 7.5, "ssrn": 12.0, "spectralformer": 19.0, "claresnet": 21.0}
#: OA lost in each leak-free setting (the leakage study's effect).
LEAK_DROP = {("paper", "scene"): 0.0, ("paper", "train"): 0.01, ("disjoint", "scene"): 0.08,
             ("disjoint", "train"): 0.10}  # fmt: skip
N_CLASSES = 16
MAP_SIZE = 24
STUDY = "claresnet-ip-lr-dilations"


def class_names(scene: str) -> tuple[str, ...]:
    import datasets

    return tuple(datasets.get_scene_info(scene).class_names)


def make_spec(
    model: str,
    scene: str,
    seed: int,
    *,
    recipe: str = "unified",
    protocol: str = "paper",
    pca_fit: str = "scene",
    source: str = "real",
    study: str = "",
    hparams: dict[str, Any] | None = None,
    lr: float = 1e-4,
) -> TrialSpec:
    """A resolved spec built by hand (no scene files needed)."""
    return TrialSpec(
        model=model,
        recipe=recipe,
        hparams=hparams or {},
        scene=scene,
        source=source,
        scene_fingerprint=f"synthetic-{scene}-{source}",
        protocol=protocol,
        protocol_params={"train": 0.72} if protocol == "paper" else {"block": 8},
        seed=seed,
        n_components=30,
        pca_fit=pca_fit,
        scale="standard",
        whiten=False,
        patch_size=11,
        pad_mode="reflect",
        training=TrainingConfig(epochs=3, lr=lr),
        crop=(0, MAP_SIZE, 0, MAP_SIZE),
        study=study,
    )


def make_result(spec: TrialSpec, oa: float, rng: np.random.Generator) -> TrialResult:
    """A completed result with every artifact, small and seeded."""
    deep = spec.model not in TREES
    names = class_names(spec.scene)
    oa = float(np.clip(oa, 0.05, 1.0))
    support = rng.integers(5, 60, size=N_CLASSES)
    confusion = np.diag(np.round(support * oa)).astype(np.int64)
    confusion += rng.binomial(1, 1 - oa, size=(N_CLASSES, N_CLASSES))
    per_class = []
    pr_curves = {}
    for k in range(N_CLASSES):
        recall = float(np.clip(oa + rng.normal(0, 0.03), 0, 1))
        precision = float(np.clip(oa + rng.normal(0, 0.03), 0, 1))
        per_class.append(
            {
                "label": k + 1,
                "name": names[k],
                "precision": precision,
                "recall": recall,
                "f1": 2 * precision * recall / max(precision + recall, 1e-9),
                "ap": float(np.clip(oa + rng.normal(0, 0.02), 0, 1)),
                "support": int(support[k]),
            }
        )
        grid = np.linspace(1, 0, 12, dtype=np.float32)
        pr_curves[k + 1] = (np.clip(oa + (1 - oa) * grid * 0.5 + 0.0, 0, 1), grid)
    gt = rng.integers(0, N_CLASSES + 1, size=(MAP_SIZE, MAP_SIZE))
    wrong = rng.random((MAP_SIZE, MAP_SIZE)) > oa
    class_map = np.where(wrong, rng.integers(1, N_CLASSES + 1, size=gt.shape), np.maximum(gt, 1))
    result = TrialResult(
        spec=spec,
        metrics={
            "test": {
                "oa": oa,
                "ba": float(np.clip(oa - abs(rng.normal(0, 0.01)), 0, 1)),
                "kappa": float(np.clip(oa - 0.02 + rng.normal(0, 0.005), 0, 1)),
                "mcc": float(np.clip(oa - 0.02 + rng.normal(0, 0.005), 0, 1)),
                "ari": float(np.clip(oa - 0.04 + rng.normal(0, 0.008), 0, 1)),
                "macro_f1": oa - 0.01,
                "aa": oa - 0.01,
                "centroid_distance": float(BASE_DIST[spec.model] + rng.normal(0, 1.0))
                if deep
                else None,
            },
            "val": {"oa": float(np.clip(oa + rng.normal(0, 0.01), 0, 1))},
        },
        per_class=per_class,
        confusion=confusion,
        pr_curves=pr_curves,
        class_map=class_map.astype(np.int16),
        entropy_map=(rng.random((MAP_SIZE, MAP_SIZE)) * (1 - oa) * 2).astype(np.float16),
        info={
            "fit_seconds": float(rng.uniform(1, 100)),
            "inference_seconds": float(rng.uniform(0.1, 5)),
            "n_parameters": 17_330_000 if spec.model == "claresnet" else 500_000,
            "device": "cpu",
            "epochs_run": 3 if deep else None,
            "best_epoch": 3 if deep else None,
            "n_train": 500,
            "n_val": 60,
            "n_test": int(confusion.sum()),
        },
        split_counts=rng.integers(0, 30, size=(N_CLASSES, 4)).astype(np.int64),
    )
    _add_test_set(result, spec, oa)
    if deep:
        labels = rng.integers(1, N_CLASSES + 1, size=200)
        centres = rng.normal(0, 10, size=(N_CLASSES + 1, 2))
        result.embedding_2d = (centres[labels] + rng.normal(0, 1.5, size=(200, 2))).astype(
            np.float32
        )
        result.embedding_labels = labels
        result.curves = {
            "train_loss": [2.0, 1.0, 0.5],
            "val_loss": [2.1, 1.2, 0.7],
            "train_acc": [0.4, 0.7, oa],
            "val_acc": [0.35, 0.65, oa - 0.01],
            "lr": [1e-4, 1e-4, 1e-4],
        }
    return result


def _add_test_set(result: TrialResult, spec: TrialSpec, oa: float) -> None:
    """The test set pixel by pixel (shared by the models of one scene, protocol and
    seed, so McNemar's test pairs them), the bootstrap intervals (here the normal
    approximation, a synthetic stand-in) and the silhouette, from their own seeded
    generators, so that the other values of a trial do not change with them."""
    from harness.trial.evaluate import sha256_of_test_set

    split = np.random.default_rng(
        [spec.seed, SCENES.index(spec.scene), ("paper", "disjoint").index(spec.protocol)]
    )
    index = np.sort(split.choice(MAP_SIZE * MAP_SIZE, 300, replace=False))
    truth = split.integers(1, N_CLASSES + 1, index.size)
    noise = np.random.default_rng(int(spec.spec_hash[:12], 16))
    pred = np.where(noise.random(index.size) < oa, truth, noise.integers(1, N_CLASSES + 1, 300))
    result.test_predictions = {"index": index, "truth": truth, "pred": pred}
    result.info["test_set_sha256"] = sha256_of_test_set(index, (MAP_SIZE, MAP_SIZE))
    test = result.metrics["test"]
    for name in ("oa", "aa", "kappa"):
        half = 1.96 * math.sqrt(max(test[name] * (1 - test[name]), 0.0) / index.size)
        test[f"{name}_ci_low"], test[f"{name}_ci_high"] = test[name] - half, test[name] + half
    if spec.model not in TREES:
        test["silhouette"] = float(np.clip(0.7 * oa - 0.2 + noise.normal(0, 0.03), -1, 1))


def configs() -> list[dict[str, str]]:
    return [
        {"scene": s, "model": m, "recipe": r, "protocol": p, "pca_fit": f}
        for s in SCENES
        for r in ("unified", "published")
        for p in ("paper", "disjoint")
        for f in ("scene", "train")
        for m in MODELS
    ]


def write_results_db(
    path: str | Path,  # a SQLite file path, or a database URL
    n_trials: int = 60,
    *,
    seed: int = 0,
    n_failed: int = 3,
    study: bool = True,
    n_runs: int = 1,
) -> Path:
    """Write ``n_trials`` completed synthetic trials (plus failures and a study) to ``path``.

    Trials are spread over :func:`configs` seed by seed (every configuration gets
    seed 0 before any gets seed 1), so a small ``n_trials`` still covers all of them;
    with ``n_runs`` > 1 the seeds are shared out among that many runs in order (the
    failures and the study go to the last run).
    """
    if "://" not in str(path):
        path = Path(path)
    rng = np.random.default_rng(seed)
    store = ResultStore(path)
    run_ids = [
        store.start_run(
            f"python tests/data/make_results_db.py {path} --trials {n_trials}",
            "synthetic",
            {
                "git_commit": f"{k:040d}",
                "git_dirty": k > 0,
                "packages": {"numpy": np.__version__},
                "host": "synthetic",
                "cpu": "synthetic CPU",
                "python_version": "3.11",
            },
        )  # fmt: skip
        for k in range(n_runs)
    ]
    run_id = run_ids[-1]
    grid = configs()
    n_seeds = math.ceil(n_trials / len(grid))
    written = 0
    for s in range(n_seeds):
        for config in grid:
            if written >= n_trials:
                break
            spec = make_spec(config["model"], config["scene"], s, recipe=config["recipe"],
                             protocol=config["protocol"], pca_fit=config["pca_fit"])  # fmt: skip
            drop = LEAK_DROP[(config["protocol"], config["pca_fit"])]
            oa = BASE_OA[config["model"]] - drop + rng.normal(0, 0.005)
            store.write(make_result(spec, oa, rng), run_ids[s * n_runs // n_seeds])
            written += 1
    for k in range(n_failed):
        spec = make_spec("hybridsn", "indian_pines", 1000 + k)
        error = RuntimeError(f"CUDA out of memory (synthetic failure {k})")
        store.write(TrialResult.failed(spec, error, f"Traceback (synthetic):\n  {error}\n"), run_id)
    if study and hasattr(store, "start_study"):
        _write_study(store, run_id, rng)
    for k in run_ids:
        store.finish_run(k, "completed")
    store.close()
    return path


def _write_study(store: ResultStore, run_id: int, rng: np.random.Generator) -> None:
    space = {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True, "target": "training"},
        "depth": {"type": "int", "low": 1, "high": 4, "log": False, "target": "hparams"},
        "dilations": {
            "type": "categorical",
            "choices": ["1-2-3-4", "1-1-1-1", "1-2-4-8"],
            "target": "hparams",
            "encoding": "dash-tuple",
        },
    }
    base = make_spec("claresnet", "indian_pines", 0, study=STUDY)
    store.start_study(
        STUDY,
        run_id=run_id,
        base_spec=base,
        metric="val_oa",
        mode="max",
        n_trials=8,
        seed=0,
        sampler={"name": "TPESampler", "seed": 0, "multivariate": True},
        scheduler={"name": "ASHAScheduler", "grace_period": 1},
        search_space=space,
    )
    best = None
    for number in range(8):
        lr = float(10 ** rng.uniform(-5, -2))
        depth = int(rng.integers(1, 5))
        dilations = [[1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 4, 8]][number % 3]
        spec = make_spec("claresnet", "indian_pines", 0, study=STUDY, lr=lr,
                         hparams={"depth": depth, "dilations": dilations})  # fmt: skip
        oa = 0.9 - 2 * abs(math.log10(lr) + 3.3) / 10 + 0.01 * depth
        status = "pruned" if number == 5 else "completed"
        result = make_result(spec, oa, rng)
        result.status = status
        trial_id = store.write(result, run_id).trial_id
        value = result.metrics["val"]["oa"]
        if status == "completed" and (best is None or value > best[1]):
            params = {"lr": lr, "depth": depth, "dilations": "-".join(map(str, dilations))}
            best = (trial_id, value, params)
    store.finish_study(
        STUDY, "completed", best_trial_id=best[0], best_value=best[1], best_params=best[2]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_results_db(args.db, args.trials, seed=args.seed)
    print(f"wrote {args.db}")


if __name__ == "__main__":
    main()
