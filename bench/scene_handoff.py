"""Scenes handed to the trials through Ray's object store: memory and driver time.

The driver resolves every scene of a run once and puts it in Ray's object store
(harness/scenes.py); each trial reads it from there. For the ``paper`` suite on
Salinas (a surrogate here, in the real file's int16 units) this measures:

1. the driver's time to resolve the suite's scenes (building the specs: loading
   the ground truth and generating the surrogate, from a cold cache) and to put
   them in the object store;
2. the object store's memory after the put, and again after ``--readers`` Ray
   tasks (as many as the suite has trials) have each read the scene and summed
   its cube: one copy per node, whatever the number of readers;
3. what each trial would have spent loading the scene itself (one surrogate
   build in a fresh worker), for comparison.

    python bench/scene_handoff.py [--readers 30] [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from pathlib import Path

from _common import add_common_options, code_version, context_lines, machine_info, report

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "scene-handoff"


def _plasma_mib() -> float | None:
    """MiB of shared memory in use (/dev/shm, where Ray's local object store maps its
    memory): what the object store has touched, on this node."""
    import shutil

    try:
        return shutil.disk_usage("/dev/shm").used / 2**20
    except OSError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--readers", type=int, default=30, help="tasks reading the scene (default 30)")
    # the reader tasks run in Ray's worker processes, which the load meter counts as
    # other processes (they are not this process's waited-for children)
    add_common_options(ap, default_max_other_load=0.6)
    args = ap.parse_args()

    import ray
    from _common import OtherLoad

    import datasets
    from datasets.scene import _surrogate_arrays
    from harness.scenes import SceneRefs, forget_all
    from harness.suites import SuiteOptions, get_suite

    load = OtherLoad()
    _surrogate_arrays.cache_clear()
    forget_all()
    opts = SuiteOptions(scenes=("salinas",), source="surrogate", source_given=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        specs = get_suite("paper").build(opts)
    build = time.perf_counter() - t0

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        before = _plasma_mib()
        refs = SceneRefs()
        needed = refs.add(specs)
        put = refs.seconds
        after_put = _plasma_mib()

        @ray.remote(num_cpus=1)
        def read(scenes: dict, fingerprint: str) -> tuple[float, float]:
            t = time.perf_counter()
            scene = ray.get(scenes[fingerprint])
            return float(scene.cube.sum(dtype="float64")), time.perf_counter() - t

        fp = specs[0].scene_fingerprint
        reads = ray.get([read.remote(needed, fp) for _ in range(args.readers)])
        after_reads = _plasma_mib()
        assert len({r[0] for r in reads}) == 1, "every reader saw the same cube"

        @ray.remote(num_cpus=1)
        def load_itself() -> float:
            import warnings as w

            import datasets as d

            t = time.perf_counter()
            with w.catch_warnings():
                w.simplefilter("ignore")
                d.load_scene("salinas", source="surrogate")
            return time.perf_counter() - t

        own = ray.get(load_itself.remote())
    finally:
        ray.shutdown()
    other = load.share()

    scene_mib = refs.nbytes / 2**20
    read_ms = sorted(1000 * r[1] for r in reads)[len(reads) // 2]
    lines = [
        "## Scenes through Ray's object store: the `paper` suite on Salinas (CPU)",
        "",
        f"The `paper` suite on Salinas (`--source surrogate`): {len(specs)} trials, "
        f"{len(refs.refs)} distinct scene ({', '.join(refs.names)}), cube "
        f"{' x '.join(map(str, datasets.get_scene_info('salinas').shape or ()))} x 204 in "
        f"{datasets.get_scene_info('salinas').surrogate.dtype}.",
        "",
        "| what | measured |",
        "| --- | ---: |",
        f"| driver: resolving the suite's scenes (spec building, cold cache) | {build:.2f} s |",
        f"| driver: putting them in the object store | {put:.2f} s |",
        f"| scene arrays put (cube + label map) | {scene_mib:.1f} MiB |",
        f"| shared memory in use (/dev/shm) before / after the put | {before or 0:.1f} / {after_put or 0:.1f} MiB |",
        f"| shared memory in use after {args.readers} tasks read the scene | {after_reads or 0:.1f} MiB |",
        f"| one task's read of the scene (median) | {read_ms:.1f} ms |",
        f"| a trial building the scene itself instead (one fresh worker) | {own:.2f} s |",
        "",
        f"One copy per node: {args.readers} readers leave the object store where the put left "
        "it (they map the same shared memory, read-only). Before this design every trial "
        f"built or loaded its scene itself: about {own:.1f} s and its own copy of the cube per "
        "trial process.",
        "",
        *context_lines(
            machine_info(),
            code_version(["harness", "datasets"]),
            other,
            "python bench/scene_handoff.py " + shlex.join(sys.argv[1:]),
        ),
        "",
    ]
    report("\n".join(lines), NAME, other, args.write, args.max_other_load)


if __name__ == "__main__":
    main()
