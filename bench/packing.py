"""Packing: a suite's wall time with and without several trials sharing a device.

On a GPU machine, deep trials share a GPU through Ray's fractional GPUs
(``RunOptions.gpus_per_trial`` < 1 in :func:`harness.execute.run_specs`; the default
is 0.5) while the Random Forest and XGBoost trials ask for CPUs only. Unpacked is
``gpus_per_trial=1``: one deep trial per GPU at a time. This benchmark builds the
specs of a suite (default ``paper`` on surrogate scenes, ``--epochs`` to shorten
it), runs them through ``run_specs`` once per ``--gpus-per-trial`` value into a
fresh temporary SQLite file each (nothing is written to your results), and
reports per configuration the wall time, the trials completed and failed, the
sum of the trials' fit times, the ratio of the wall time to the unpacked one,
the most trials that ran at once and how long tree and deep trials ran side by
side (from the trials' stored start and end times), and the GPU the deep trials
ran on. Any failed trial stops the benchmark with its error.

Without a GPU (Ray sees none) the measurement is CPU packing only: one trial at
a time (``max_concurrent=1``) against the default concurrency (one trial per
CPU); the section says so and gives the GPU command.

Ray is started fresh before each configuration and shut down after it; its
start-up is not in the wall time. The CPU time of the Ray processes this
benchmark starts (daemons, trial workers) counts as its own, not as "other
processes", so ``--max-other-load`` measures what else ran on the machine.

    python bench/packing.py [--suite paper] [--epochs N] [--seeds N] [--scenes S ...]
        [--models M ...] [--gpus-per-trial 1 0.5 0.25] [--write docs/BENCHMARKS.md]
    python bench/packing.py --suite smoke --models random_forest_tiny hybridsn_tiny
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BusyGuard,
    MachineBusy,
    OtherLoad,
    add_common_options,
    code_version,
    context_lines,
    machine_info,
    report,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "packing"
DEFAULT_FRACTIONS = (1.0, 0.5, 0.25)


# ----------------------------------------------------------------------------- load meter


class OwnTreeLoad(OtherLoad):
    """:class:`_common.OtherLoad` that counts this process's descendants as its own.

    ``ray.init()`` starts the Ray daemons as children of the driver and the raylet
    starts the trial workers as its children, so the whole Ray session is this
    process's tree. A thread reads their CPU times from ``/proc`` every
    ``interval`` seconds (a process that exits keeps its last reading), so what is
    left as "other" is what the rest of the machine did.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self._seen: dict[tuple[int, int], float] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._lock = threading.Lock()
        super().__init__()
        threading.Thread(target=self._loop, args=(interval,), daemon=True).start()

    def _loop(self, interval: float) -> None:
        event = threading.Event()
        while not event.wait(interval):
            self._poll()

    def _poll(self) -> None:
        procs: dict[int, tuple[int, int, float]] = {}  # pid -> (ppid, start, cpu seconds)
        try:
            entries = [e for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return
        for entry in entries:
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                rest = stat.rsplit(")", 1)[1].split()  # the name may hold spaces and ")"
                cpu = (int(rest[11]) + int(rest[12])) / self._tick  # utime + stime
                procs[int(entry)] = (int(rest[1]), int(rest[19]), cpu)
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(children.get(os.getpid(), []))
        with self._lock:
            while todo:
                pid = todo.pop()
                _, start, cpu = procs[pid]
                self._seen[(pid, start)] = cpu
                todo += children.get(pid, [])

    def _sample(self) -> tuple[float, float, float] | None:
        self._poll()
        base = OtherLoad._sample()
        if base is None:
            return None
        wall, busy, _ = base
        with self._lock:
            tree = sum(self._seen.values())
        return wall, busy, sum(os.times()[:2]) + tree  # own user + system, then the tree


# ----------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Config:
    """One way of running the suite."""

    label: str
    gpus_per_trial: float | None
    max_concurrent: int | None
    unpacked: bool


@dataclass
class Measured:
    config: Config
    wall: float
    done: int
    failed: int
    fit_deep: float
    fit_tree: float
    #: Sum of the trials' own times (from ``mark_running`` to the stored result).
    trial_time: float
    peak: int
    side_by_side: float
    devices: list[str] = field(default_factory=list)

    @property
    def fit(self) -> float:
        return self.fit_deep + self.fit_tree


def configurations(fractions: list[float], total: dict[str, float]) -> list[Config]:
    """The configurations this machine can compare (GPU fractions, or CPU concurrency)."""
    gpus, cpus = float(total.get("GPU", 0)), int(total.get("CPU", 1))
    if gpus > 0:
        return [
            Config(
                f"{f:g} GPU per deep trial (up to {min(math.floor(gpus / f + 1e-9), cpus)} "
                "deep trial(s) at once)",
                f,
                None,
                f == 1.0,
            )
            for f in fractions
        ]
    return [
        Config("1 trial at a time (`max_concurrent=1`)", None, 1, True),
        Config(f"default concurrency (up to {cpus} trials at once, 1 CPU each)", None, None, False),
    ]


# ----------------------------------------------------------------------------- the runs


def build_specs(args: argparse.Namespace):
    import datasets
    from harness.suites import SuiteOptions, get_suite

    opts = SuiteOptions(
        scenes=tuple(args.scenes) if args.scenes else None,
        models=tuple(args.models) if args.models else None,
        seeds=args.seeds,
        source=args.source,
        source_given=True,
        data_dir=args.data_dir,
        epochs=args.epochs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        return get_suite(args.suite).build(opts)


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _overlap(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> float:
    """Seconds during which at least one interval of each list was open."""
    return sum(max(0.0, min(b, d) - max(a, c)) for a, b in _merge(xs) for c, d in _merge(ys))


def _peak(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    peak = now = 0
    for _, step in events:  # at equal times the end (-1) sorts first
        now += step
        peak = max(peak, now)
    return peak


def run_config(
    specs, config: Config, db: Path, folder: Path, data_dir: str | None, suite: str, command: str
) -> Measured:
    import ray

    import models
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.execute.resources import cluster_resources
    from harness.store import ResultStore

    if not ray.is_initialized():
        cluster_resources(None)  # outside the timed run: every configuration starts alike
    try:
        options = RunOptions(
            db=str(db),
            command=command,
            suite=suite,
            gpus_per_trial=config.gpus_per_trial,
            max_concurrent=config.max_concurrent,
            data_dir=data_dir,
            max_failures=0,  # a retry would hide a failure and lengthen the wall time
            storage_path=str(folder / "tune"),
        )
        summary = run_specs(specs, options)
    finally:
        ray.shutdown()
    with ResultStore(db, readonly=True) as store:
        rows = [r for r in store.trials() if r["run_id"] == summary.run_id]
    expected = len({s.spec_hash for s in specs})
    done = [r for r in rows if r["status"] == "completed"]
    failed = [r for r in rows if r["status"] != "completed"]
    if summary.interrupted or failed or summary.failed or len(done) != expected:
        lines = [
            f"packing: configuration '{config.label}': {len(done)} of {expected} trials "
            f"completed{' (interrupted)' if summary.interrupted else ''}; every trial must "
            "complete for the wall times to compare."
        ]
        for r in failed:
            error = (r["error"] or "no error stored").strip()
            lines.append(
                f"  {r['status']}: {r['model']} {r['scene']} seed {r['seed']} "
                f"({r['spec_hash'][:12]}): {error}"
            )
        for spec_hash, error in summary.failed.items():
            if not any(r["spec_hash"] == spec_hash for r in failed):
                lines.append(f"  failed {spec_hash[:12]}: {error}")
        raise SystemExit("\n".join(lines))
    deep = [r for r in done if models.get_model_entry(r["model"]).kind == "torch"]
    tree = [r for r in done if models.get_model_entry(r["model"]).kind != "torch"]
    if config.gpus_per_trial is not None:
        on_cpu = [r for r in deep if str(r["device"] or "cpu").startswith("cpu")]
        if on_cpu:
            r = on_cpu[0]
            raise SystemExit(
                f"packing: configuration '{config.label}': {len(on_cpu)} deep trial(s) ran on "
                f"the CPU although given {config.gpus_per_trial:g} GPU (first: {r['model']} "
                f"{r['scene']} seed {r['seed']}, device {r['device']!r}); the GPU figures would "
                "be wrong. Check that the trial workers see CUDA (torch.cuda.is_available())."
            )
    t0 = min(r["started_at"] for r in done)

    def spans(rs):
        return [
            ((r["started_at"] - t0).total_seconds(), (r["finished_at"] - t0).total_seconds())
            for r in rs
        ]

    return Measured(
        config=config,
        wall=summary.wall_seconds,
        done=len(done),
        failed=len(failed),
        fit_deep=sum(r["fit_seconds"] or 0.0 for r in deep),
        fit_tree=sum(r["fit_seconds"] or 0.0 for r in tree),
        trial_time=sum(b - a for a, b in spans(done)),
        peak=_peak(spans(done)),
        side_by_side=_overlap(spans(deep), spans(tree)),
        devices=sorted({str(r["device"]) for r in deep if r["device"]})
        if config.gpus_per_trial is not None
        else [],
    )


# ----------------------------------------------------------------------------- the section


def _trial_summary(specs) -> str:
    from collections import Counter

    by_model = Counter(s.model for s in specs)
    scenes = sorted({f"{s.scene} ({s.source})" for s in specs})
    seeds = sorted({s.seed for s in specs})
    return (
        f"{len(specs)} trials: {', '.join(f'{m} x {n}' for m, n in by_model.items())} on "
        f"{', '.join(scenes)}, seeds {', '.join(map(str, seeds))}"
    )


def _epochs(specs) -> str:
    import models

    epochs = sorted(
        {s.training.epochs for s in specs if models.get_model_entry(s.model).kind == "torch"}
    )
    return ", ".join(map(str, epochs)) or "-"


def gpu_command(args: argparse.Namespace) -> str:
    parts = ["python", "bench/packing.py", "--suite", args.suite]
    if args.epochs is not None:
        parts += ["--epochs", str(args.epochs)]
    if args.seeds is not None:
        parts += ["--seeds", str(args.seeds)]
    if args.scenes:
        parts += ["--scene", *args.scenes]
    if args.models:
        parts += ["--models", *args.models]
    if args.source != "surrogate":
        parts += ["--source", args.source]
    parts += ["--gpus-per-trial", *(f"{f:g}" for f in DEFAULT_FRACTIONS)]
    return shlex.join([*parts, "--write", "docs/BENCHMARKS.md"])


def render(
    results: list[Measured],
    specs,
    args: argparse.Namespace,
    total: dict[str, float],
    command: str,
    other_load: float | None,
) -> str:
    import ray

    gpus = float(total.get("GPU", 0))
    cpus = int(total.get("CPU", 1))
    unpacked = next(m for m in results if m.config.unpacked)
    devices = sorted({d for m in results for d in m.devices})
    where = f"GPU: {', '.join(devices) or 'unknown'}" if gpus else "CPU only"
    lines = [
        f"## Packing: the `{args.suite}` suite with and without sharing ({where})",
        "",
        f"`bench/packing.py`: the `{args.suite}` suite ({_trial_summary(specs)}; deep models "
        f"{_epochs(specs)} epoch(s)) through `run_specs` into a fresh SQLite file per "
        "configuration, local Ray started before each configuration (its start-up is not in "
        "the wall time) and shut down after it. The wall time runs from opening the database "
        "to the end of the run: the writer actor, Tune scheduling, every trial, the writes. "
        "Every trial asks for 1 CPU (the runner's default) and no trial is retried. From the "
        "stored trials: Σ trial time, the sum of each trial's own time (from `mark_running` to "
        "its stored result: data preparation, fit, inference, metrics, t-SNE, maps); Σ fit, "
        "the sum of the training times the trials recorded (longer when trials contend for "
        "a device); trials at once, Σ trial time / wall (mean) and the most that ran "
        "together; tree ∥ deep, the seconds during which a tree trial and a deep trial ran "
        "side by side.",
        "",
    ]
    if gpus:
        lines += [
            f"Ray sees {gpus:g} GPU(s) and {cpus} CPUs. Deep trials ask for a fraction of a GPU "
            "(`gpus_per_trial`; 1 is unpacked, one deep trial per GPU at a time; 0.5 lets two "
            "share a GPU, 0.25 four); Random Forest and XGBoost trials ask for CPUs only. The "
            "runner runs each resource shape as its own Tune experiment, one after the other, "
            "so tree trials run beside deep trials only if 'tree ∥ deep' says so.",
            "",
        ]
    else:
        lines += [
            f"**CPU packing only**: Ray sees no GPU on this machine ({cpus} CPUs), so what is "
            "compared is one trial at a time (`max_concurrent=1`) against the default "
            "concurrency (one trial per CPU). Each trial trains with 1 torch thread "
            "(its 1 CPU) in both. GPU packing (deep trials sharing a GPU) is measured by one "
            f"command on a GPU machine: `{gpu_command(args)}`.",
            "",
        ]
    lines += [
        "| configuration | done | failed | wall (s) | wall / unpacked | Σ trial time (s) | "
        "Σ fit (s): all / deep / trees | trials at once: mean / most | tree ∥ deep (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        ratio = "1.00 (reference)" if m is unpacked else f"{m.wall / unpacked.wall:.2f}"
        lines.append(
            f"| {m.config.label} | {m.done} | {m.failed} | {m.wall:.1f} | {ratio} | "
            f"{m.trial_time:.1f} | {m.fit:.1f} / {m.fit_deep:.1f} / {m.fit_tree:.1f} | "
            f"{m.trial_time / m.wall:.2f} / {m.peak} | {m.side_by_side:.1f} |"
        )
    lines.append("")
    if len(results) > 1:
        order = ", ".join(m.config.label.split(" (")[0] for m in results)
        lines += [
            f"The configurations ran in this order, each on a fresh Ray instance: {order} "
            "(a later one may gain from files the first left in the page cache).",
            "",
        ]
    context = context_lines(
        machine_info(),
        code_version(["bench", "harness", "models", "datasets"]),
        other_load,
        command,
    )
    context.insert(2, f"- Ray: {ray.__version__}, {cpus} CPUs, {gpus:g} GPUs")
    if devices:
        context.insert(3, f"- GPU(s) the deep trials ran on: {', '.join(devices)}")
    lines += context
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _fractions(ap: argparse.ArgumentParser, values: list[float]) -> list[float]:
    for f in values:
        if not math.isfinite(f):
            ap.error(
                f"--gpus-per-trial {f}: not a finite number. Fix: fractions in (0, 1], e.g. 0.5."
            )
        if f <= 0:
            ap.error(
                f"--gpus-per-trial {f:g}: a deep trial with no GPU share trains on the CPU, "
                "which is not packing. Fix: fractions in (0, 1], e.g. --gpus-per-trial 1 0.5 0.25."
            )
        if f > 1:
            ap.error(
                f"--gpus-per-trial {f:g}: a trial uses one device, so more than 1 GPU per trial "
                "only holds GPUs idle. Fix: 1 for unpacked, fractions below 1 for packed."
            )
    chosen = list(dict.fromkeys(values))
    if 1.0 not in chosen:
        print(
            "note: --gpus-per-trial has no 1; adding it first, as the unpacked reference.",
            file=sys.stderr,
        )
        chosen.insert(0, 1.0)
    return chosen


def main(argv: list[str] | None = None) -> None:
    from harness.suites import SUITES

    grid_suites = sorted(n for n, s in SUITES.items() if s.kind == "grid")
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--suite", default="paper", choices=grid_suites, help="the suite to run (default paper)"
    )
    ap.add_argument(
        "--epochs", type=int, metavar="N", help="epochs of the deep models (default: the suite's)"
    )
    ap.add_argument(
        "--seeds", type=int, metavar="N", help="number of seeds, 0..N-1 (default: the suite's)"
    )
    ap.add_argument("--scenes", nargs="+", metavar="SCENE", help="scenes (default: the suite's)")
    ap.add_argument("--models", nargs="+", metavar="MODEL", help="models (default: the suite's)")
    ap.add_argument(
        "--source",
        choices=("real", "surrogate", "auto"),
        default="surrogate",
        help="real files, surrogates or auto (default surrogate; the smoke suite is always "
        "surrogate)",
    )
    ap.add_argument("--data-dir", metavar="DIR", help="folder searched first for the scene files")
    ap.add_argument(
        "--gpus-per-trial",
        type=float,
        nargs="+",
        metavar="F",
        help="GPU fractions per deep trial, one run each; 1 is the unpacked reference "
        "(default 1 0.5 0.25; unused without a GPU)",
    )
    add_common_options(ap)
    args = ap.parse_args(argv)
    for flag, value in (("--epochs", args.epochs), ("--seeds", args.seeds)):
        if value is not None and value < 1:
            ap.error(f"{flag} {value} must be >= 1. Fix: e.g. {flag} 2.")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        ap.error(
            f"--data-dir {args.data_dir!r} is not a folder. Fix: the folder of the .mat files."
        )
    fractions = _fractions(ap, args.gpus_per_trial or list(DEFAULT_FRACTIONS))
    command = shlex.join(["python", *(sys.argv if argv is None else ["bench/packing.py", *argv])])

    import datasets
    import models
    from harness.suites import SuiteError

    try:
        specs = build_specs(args)
    except (
        SuiteError,
        datasets.DatasetError,
        models.HyperparameterError,
        models.UnknownModelError,
    ) as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        sys.exit(2)

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.pop("RAY_ADDRESS", None)  # a local measurement: this machine's Ray
    guard = BusyGuard(args.max_other_load if args.write else None)
    guard.load = OwnTreeLoad()  # the Ray session this benchmark starts is its own load

    import ray

    from harness.execute.resources import cluster_resources

    total = cluster_resources(None)
    configs = configurations(fractions, total)
    if not total.get("GPU") and args.gpus_per_trial:
        print(
            "note: Ray sees no GPU; --gpus-per-trial is not used, the CPU configurations run.",
            file=sys.stderr,
        )
    print(
        f"packing: {len(specs)} trials of the {args.suite} suite, {len(configs)} configurations",
        file=sys.stderr,
        flush=True,
    )
    results: list[Measured] = []
    try:
        guard.check()
        with tempfile.TemporaryDirectory(prefix="hsi-packing-") as tmp:
            folder = Path(tmp)
            for i, config in enumerate(configs):
                m = run_config(
                    specs,
                    config,
                    folder / f"packing-{i}.db",
                    folder,
                    args.data_dir,
                    args.suite,
                    command,
                )
                results.append(m)
                print(
                    f"{config.label}: {m.wall:.1f} s wall, {m.done} done, Σ fit {m.fit:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                guard.check()
    except MachineBusy as exc:
        sys.exit(f"{exc}")
    finally:
        if ray.is_initialized():
            ray.shutdown()
    share = guard.load.share()
    report(
        render(results, specs, args, total, command, share),
        NAME,
        share,
        args.write,
        args.max_other_load,
    )


if __name__ == "__main__":
    main()
