"""The map phase per model: how long classifying every pixel of the largest registry
scene takes after training.

    python bench/map_phase.py [--threads 2] [--scene pavia_centre]

For each model (random_forest, xgboost, hybridsn, ssrn, spectralformer, claresnet at
the paper's sizes, unified recipe, and claresnet_tiny) the scene is prepared as its
trial would (the recipe's PCA and window), the model built (deep models untrained,
tree models fitted on 50 training pixels per class: the map's cost does not depend
on the training) and the trial's own map code (``harness.trial.evaluate``) times the
windows of a fixed number of pixels, or of the whole scene for the tree models. The
time of the whole scene is extrapolated from the pixels per second. The scene is a
surrogate when its real cube is not on this machine (the cost depends only on its
size). It prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
from harness.provenance import cpu_model  # noqa: E402
from harness.spec import make_spec  # noqa: E402
from harness.trial.data import prepare_data, seed_everything  # noqa: E402
from harness.trial.device import mixed_precision  # noqa: E402
from harness.trial.evaluate import _map_windows  # noqa: E402
from harness.trial.flow import _build_model, _fit_tree  # noqa: E402
from harness.trial.steps import predict_logits  # noqa: E402

#: (model, pixels timed; None: the whole scene).
MODELS = (
    ("random_forest", None),
    ("xgboost", None),
    ("hybridsn", 4096),
    ("ssrn", 4096),
    ("spectralformer", 4096),
    ("claresnet", 256),
    ("claresnet_tiny", 4096),
)


def time_map(name: str, n_pixels: int | None, scene: datasets.Scene) -> dict[str, object]:
    spec = make_spec(name, scene, seed=0, max_train_per_class=50, training={"epochs": 1})
    seed_everything(0)
    data = prepare_data(spec, None, scene=scene)
    built = _build_model(spec, data, "cpu")
    h, w = data.gt.shape
    total = h * w
    index = np.arange(total if n_pixels is None else min(n_pixels, total))
    if built.kind == "sklearn":
        _fit_tree(built.model, data)
        table = data.image.reshape(total, -1)[index]
        t0 = time.perf_counter()
        for s in range(0, len(table), 4096):
            built.model.predict_proba(table[s : s + 4096])
        seconds = time.perf_counter() - t0
    else:
        model = built.model.eval()
        amp = mixed_precision(spec.training, built.device).autocast
        batch = max(spec.training.eval_batch_size, 256)
        t0 = time.perf_counter()
        for _idx, patches in _map_windows(data.image, spec, 4096, index):
            predict_logits(model, torch.from_numpy(patches), batch, amp)
        seconds = time.perf_counter() - t0
    rate = len(index) / seconds
    return {
        "model": name,
        "window": f"{spec.patch_size} x {spec.patch_size} x {data.image.shape[2]}",
        "timed": "whole scene" if n_pixels is None else f"{len(index):,} pixels",
        "rate": rate,
        "scene_seconds": total / rate,
        "pixels": total,
    }


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/map_phase.py", description=__doc__)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--scene", default="pavia_centre", help="registry scene (default pavia_centre)")
    ap.add_argument(
        "--models", nargs="+", default=[m for m, _ in MODELS], help="models (default: all)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene(args.scene)
    sizes = dict(MODELS)
    rows = []
    for name in args.models:
        row = time_map(name, sizes.get(name, 4096), scene)
        rows.append(row)
        print(f"{name}: {row['rate']:,.0f} pixels/s", file=sys.stderr, flush=True)
    h, w = scene.gt.shape
    print(
        f"{scene.name} ({scene.source}), {h} x {w} = {h * w:,} pixels; {cpu_model()}, "
        f"torch threads {args.threads}, git {commit()}, {datetime.date.today()}\n"
    )
    print("| model | window (P x P x features) | timed | pixels/s | whole scene |")
    print("| --- | --- | --- | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['model']} | {r['window']} | {r['timed']} | {r['rate']:,.0f} | "
            f"{duration(float(r['scene_seconds']))} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
