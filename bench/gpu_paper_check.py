"""One prepared GPU run: the throughput benchmarks and the paper's CLAReSNet trial on real
Indian Pines, every figure in one folder.

For a single-GPU machine with this repository, torch with CUDA and no network. Ray is
not needed (the trial runs in this process, as ``harness.trial.run_trial``); the real
cube is needed, and the script says where it looked and how to bring it:

- the project's ``data/`` (``scripts/setup.sh`` or ``python -m datasets download
  indian_pines --from pypi`` put it there), ``--data-dir DIR``, or the other data
  folders a load searches;
- or ``--wheel FILE``: the tensorly 0.10.0 wheel copied onto the machine, from which
  the cube is checked and saved into ``--data-dir`` (default ``data/``).

What it does, in order, writing into ``--out`` (default ``gpu_check/``):

1. ``environment.json``: the GPU, torch, CUDA, the code version, the cube's record;
2. ``cost.json``: the paper trial's FLOPs, measured with ``torch.utils.flop_counter``
   on one batch of the paper's CLAReSNet (a training step counted as three forwards), the
   throughput of 20 timed training steps on this GPU, and from them the trial's
   expected time (40 epochs of the 7,379 training pixels, a validation pass per
   epoch, the 2,050 test pixels and the 21,025-pixel map); printed before the trial
   starts. ``--max-minutes`` stops here when the estimate exceeds it;
3. ``throughput_*.md``: ``bench/train_throughput.py --device cuda`` (the harness's
   training path against the reference style, with the fast-path switches) and
   ``bench/model_costs.py`` (every model's parameters, FLOPs and step time), unless
   ``--skip-benchmarks``;
4. the trial: the paper protocol (72/8/20, PCA 30 on the scene, 11 x 11, 40 epochs,
   the unified recipe, seed 0) stored in ``results.db`` (report with ``python -m
   harness.report --db gpu_check/results.db``), its curves in ``curves.csv``, its
   metrics in ``metrics.json``;
5. ``summary.md``: the test OA against Table III's 99.71 ± 0.11 % with its bootstrap
   interval, the epochs, the measured time against the estimate.

    python bench/gpu_paper_check.py [--out gpu_check] [--data-dir DIR | --wheel FILE]

``--device cpu --model claresnet_tiny --epochs 1 --crop 32`` runs the same steps on a
crop with the tiny model (what the project's tests do).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Table III's CLAReSNet OA on Indian Pines (mean ± std over the paper's seeds, %).
PAPER_OA = (99.71, 0.11)
TIMED_STEPS = 20


def _need(message: str) -> None:
    print(f"gpu_paper_check: {message}", file=sys.stderr)
    sys.exit(2)


def _scene(args: argparse.Namespace):
    import datasets

    data_dir = args.data_dir
    if args.wheel is not None:
        from datasets.pypi import download_from_pypi

        target = data_dir or str(ROOT / "data")
        for r in download_from_pypi(
            datasets.get_scene_info("indian_pines"), target, wheel=args.wheel, progress=False
        ):
            print(f"cube: {r.status} {r.path} ({r.note})")
        data_dir = target
    try:
        return datasets.load_scene("indian_pines", source="real", data_dir=data_dir)
    except datasets.DatasetNotFoundError as exc:
        _need(
            f"the real Indian Pines cube is needed.\n{exc}\nBring it with one of: "
            "`python -m datasets download indian_pines --from pypi` on a machine with pip "
            "access, then copy data/Indian_pines_corrected.npy here (or pass --data-dir); or "
            "copy the tensorly-0.10.0-py3-none-any.whl file here and pass --wheel FILE."
        )


def _forward_flops(model, x) -> int:
    """Forward FLOPs of one batch: ``torch.utils.flop_counter`` plus the LSTM/GRU matrix
    products it does not see (``bench/model_costs.py``)."""
    from model_costs import forward_flops

    model.eval()
    return int(forward_flops(model, x))


def cost(spec, data, device) -> dict:
    """FLOPs of the trial from one measured step, the GPU's measured rate, the estimate."""
    import torch

    import models
    from harness.trial.data import device_patches
    from harness.trial.optim import make_optimizer

    model = models.build_model(
        spec.model, n_bands=data.image.shape[2], n_classes=data.n_classes,
        patch_size=spec.patch_size, **spec.hparams,
    ).to(device)  # fmt: skip
    cfg = spec.training
    idx = data.train[: cfg.batch_size * (TIMED_STEPS + 3)]
    batch = device_patches(spec, data, idx, device)
    x_all, y_all = batch.x, batch.y
    b = cfg.batch_size
    eval_flops = _forward_flops(model, x_all[:b])
    # a training step: the forward, and a backward of about twice its cost
    train_flops = 3 * eval_flops
    optimizer = make_optimizer(model, cfg)
    model.train()

    def step(i: int) -> None:
        x, y = x_all[i * b : (i + 1) * b], y_all[i * b : (i + 1) * b]
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    for i in range(3):  # warm-up
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for i in range(TIMED_STEPS):
        step(i % max(1, len(idx) // b))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - t0) / TIMED_STEPS
    h, w = data.gt.shape
    steps = -(-data.train.size // b) * cfg.epochs
    eval_samples = data.val.size * cfg.epochs + data.test.size + h * w
    total = steps * train_flops + eval_samples / b * eval_flops
    rate = train_flops / seconds
    expected = steps * seconds + eval_samples / b * eval_flops / rate
    return {
        "model": spec.model,
        "batch_size": b,
        "epochs": cfg.epochs,
        "train_pixels": int(data.train.size),
        "val_pixels": int(data.val.size),
        "test_pixels": int(data.test.size),
        "map_pixels": int(h * w),
        "flops_per_training_step": train_flops,
        "flops_per_inference_batch": eval_flops,
        "training_steps": steps,
        "trial_tflops": total / 1e12,
        "seconds_per_training_step": seconds,
        "measured_tflops_per_second": rate / 1e12,
        "expected_minutes": expected / 60,
    }


def _benchmarks(out: Path, device: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, argv in (
        ("throughput_train", ["bench/train_throughput.py", "--device", device,
                              "--write", str(out / "throughput_train.md")]),
        ("throughput_model_costs", ["bench/model_costs.py",
                                    "--write", str(out / "throughput_model_costs.md")]),
    ):  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *argv, "--max-other-load", "1.0"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        (out / f"{name}.log").write_text(done.stdout + done.stderr)
        print(f"{name}: exit {done.returncode} after {time.perf_counter() - t0:.0f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("gpu_check"), help="the folder of figures")
    ap.add_argument("--data-dir", default=None, metavar="DIR", help="folder with the real cube")
    ap.add_argument("--wheel", type=Path, metavar="FILE", help="the tensorly 0.10.0 wheel")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--model", default="claresnet", help="the model (default: the paper's)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's 40)")
    ap.add_argument("--crop", type=int, default=None, metavar="N", help="an N x N crop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-minutes", type=float, default=None, help="stop before the trial above this estimate"
    )
    ap.add_argument("--skip-benchmarks", action="store_true", help="no throughput benchmarks")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        _need(
            f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU. Fix: run on "
            "the GPU machine with a CUDA build of torch (or pass --device cpu to try the steps)."
        )
    device = torch.device(args.device)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = _scene(args)
    if args.crop:
        scene = scene.crop_to(0, args.crop, 0, args.crop)

    from harness.provenance import collect_provenance, gpu_info
    from harness.spec import make_spec
    from harness.trial.data import prepare_data
    from harness.trial.flow import run_trial

    training = {"epochs": args.epochs} if args.epochs else None
    spec = make_spec(args.model, scene, seed=args.seed, training=training)
    environment = {
        "device": str(device),
        "gpu": gpu_info() if device.type == "cuda" else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "provenance": collect_provenance(),
        "scene_files": [f.provenance() for f in scene.files],
        "scene_fingerprint": scene.fingerprint,
        "spec_hash": spec.spec_hash,
        "ray_installed": _has("ray"),
    }
    (out / "environment.json").write_text(json.dumps(environment, indent=2, default=str))
    data = prepare_data(spec, scene=scene)
    estimate = cost(spec, data, device)
    (out / "cost.json").write_text(json.dumps(estimate, indent=2))
    print(
        f"expected time of the trial: {estimate['expected_minutes']:.1f} min "
        f"({estimate['trial_tflops']:.1f} TFLOP at the measured "
        f"{estimate['measured_tflops_per_second']:.2f} TFLOP/s)",
        flush=True,
    )
    if args.max_minutes is not None and estimate["expected_minutes"] > args.max_minutes:
        print(f"stopping: above --max-minutes {args.max_minutes}; see {out / 'cost.json'}")
        return 3
    if not args.skip_benchmarks:
        _benchmarks(out, device.type)
    t0 = time.perf_counter()
    result = run_trial(spec, scene=scene, device=str(device))
    wall = time.perf_counter() - t0
    from harness.store import ResultStore

    with ResultStore(out / "results.db", artifacts=out / "results.artifacts") as store:
        run_id = store.start_run(" ".join(sys.argv), "gpu-check", collect_provenance())
        store.write(result, run_id)
        store.finish_run(run_id, "completed" if result.status == "completed" else "failed")
    if result.status != "completed":
        (out / "summary.md").write_text(f"# GPU check\n\nThe trial failed: {result.error}\n")
        print(result.error, file=sys.stderr)
        return 1
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
    with open(out / "curves.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        names = list(result.curves)
        writer.writerow(["epoch", *names])
        for i in range(len(result.curves[names[0]]) if names else 0):
            writer.writerow([i + 1, *(result.curves[n][i] for n in names)])
    test = result.metrics["test"]
    oa = 100 * test["oa"]
    low, high = (
        100 * test.get("oa_ci_low", float("nan")),
        100 * test.get("oa_ci_high", float("nan")),
    )
    inside = "yes" if low <= PAPER_OA[0] <= high else "no"
    from harness.metrics import one_class_note

    flag = one_class_note(
        test.get("oa"), test.get("majority_rate"), test.get("top_prediction_share")
    )
    lines = [
        "# GPU check: CLAReSNet, paper protocol, real Indian Pines",
        "",
        f"- model {spec.model}, recipe {spec.recipe}, seed {spec.seed}, "
        f"{result.info.get('epochs_run')} epochs (best {result.info.get('best_epoch')}), "
        f"device {result.info.get('device')}",
        f"- test OA {oa:.2f} % [bootstrap 95 %: {low:.2f}, {high:.2f}]; Table III: "
        f"{PAPER_OA[0]} ± {PAPER_OA[1]} %; the paper's mean inside the interval: {inside}",
        f"- AA {100 * test.get('ba', float('nan')):.2f} %, kappa {test.get('kappa', float('nan')):.4f}",
        *([f"- NOT A RESULT: the model {flag}"] if flag else []),
        f"- wall time {wall / 60:.1f} min against the estimate "
        f"{estimate['expected_minutes']:.1f} min (cost.json)",
        "- one trial, one seed: not a result on its own; the paper's mean is over its seeds"
        + (" (a crop or a shortened schedule: not the paper's configuration)"
           if args.crop or args.epochs or args.model != "claresnet" else ""),
        "",
    ]  # fmt: skip
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
