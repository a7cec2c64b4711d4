"""The map phase of a big scene: it reports its progress, the ETA counts it, and
``--maps`` chooses what it classifies (scene, labelled pixels, none).

A 349 x 1905 scene (Houston 2013's size) with 4 bands and three labelled blocks is
written as the user's own scene; a fake clock (one second per reading) drives every
progress report and the ETA, so the lines are the same on every run.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

import datasets
from harness import run as run_cli
from harness import run_flags
from harness.execute.options import OptionError, RunOptions
from harness.execute.progress import PRIOR_SETUP_SECONDS, EtaEstimator, phase_event
from harness.maps import PixelProgress
from harness.spec import make_spec
from harness.store.artifact_codec import artifact_arrays
from harness.trial.flow import run_trial
from harness.trial.ticker import PhaseProgress

pytestmark = pytest.mark.usefixtures("one_thread")

H, W, B = 349, 1905, 4
SCENE_TOML = """\
name = "wide"
title = "A scene of Houston 2013's size"
shape = [349, 1905]
n_bands = 4
class_names = ["roof", "grass", "road"]
class_counts = [256, 256, 256]
[cube]
file = "wide_cube.npy"
[gt]
file = "wide_gt.npy"
"""


class TickClock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture(scope="module")
def wide_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    gt = np.zeros((H, W), dtype=np.int16)
    for label, (r, c) in enumerate([(20, 100), (150, 900), (300, 1700)], start=1):
        gt[r : r + 16, c : c + 16] = label
    cube = (rng.normal(size=(H, W, B)) * 0.1 + gt[..., None] * 0.5).astype(np.float32)
    np.save(out / "wide_cube.npy", cube)
    np.save(out / "wide_gt.npy", gt)
    (out / "wide.toml").write_text(SCENE_TOML, encoding="utf-8")
    return out


@pytest.fixture
def wide(wide_dir):
    datasets.register_scene_file(wide_dir / "wide.toml")
    scene = datasets.load_scene("wide", source="real", data_dir=wide_dir)
    spec = make_spec(
        "spectralformer_tiny", scene, seed=0, training={"epochs": 2, "eval_batch_size": 1024}
    )
    # 4 bands: 4 components; one-pixel windows keep the 665k-pixel map phase short
    return scene, dataclasses.replace(spec, n_components=4, patch_size=1)


def test_map_phase_reports_progress_and_the_eta_counts_it(wide):
    scene, spec = wide
    clock = TickClock()
    eta = EtaEstimator(priors={}, clock=clock)
    eta.plan([spec])
    eta.start("t1", spec)
    lines: list[str] = []
    after_fit: list[float] = []
    during_map: list[tuple[float, float]] = []

    def on_epoch(epoch: int, stats: dict) -> None:
        eta.epoch("t1", epoch, spec.training.epochs, stats)
        if epoch == spec.training.epochs:
            after_fit.append(eta.eta().seconds)
            assert stats["map_pixels"] > H * W  # test + val + every pixel of the scene

    def on_phase(progress: PhaseProgress) -> None:
        data = progress.as_dict()
        eta.phase("t1", data)
        lines.append(phase_event("wide seed 0", data, spec.training.epochs))
        if progress.phase == "map":
            during_map.append(((progress.total - progress.done) / progress.rate, eta.eta().seconds))

    result = run_trial(
        spec, scene=scene, progress=on_epoch, on_phase=on_phase, clock=clock, save_model=False
    )
    assert result.status == "completed" and result.info["maps"] == "scene"
    assert result.class_map.shape == (H, W) and result.class_map.min() >= 1
    map_lines = [line for line in lines if line.startswith("map phase")]
    assert len(map_lines) >= 3
    first = map_lines[0]
    assert "pixels (test " in first and f"scene {H * W:,})" in first and "pixels/s" in first
    # the last epoch's ETA already holds the map phase: its pixels at the trial's own
    # validation pace, not the "2s" a count of epochs alone would say
    n_val = result.info["n_val"]
    assert after_fit and after_fit[0] > H * W / n_val  # one fake second per validation pass
    # during the map phase: the pixels left at the phase's pace, and the rest
    for left, shown in during_map:
        assert shown == pytest.approx(left + PRIOR_SETUP_SECONDS, abs=3.0)
    assert during_map[0][1] > during_map[-1][1] > 0


def test_maps_none_skips_the_map_phase_and_labelled_maps_the_labelled_pixels(wide):
    scene, spec = wide
    phases: list[PhaseProgress] = []
    none = run_trial(
        spec, scene=scene, on_phase=phases.append, clock=TickClock(), save_model=False, maps="none"
    )
    assert none.status == "completed" and none.info["maps"] == "none"
    assert none.class_map is None and none.entropy_map is None
    assert "class_map" not in artifact_arrays(none) and "entropy_map" not in artifact_arrays(none)
    assert {p.phase for p in phases} <= {"train", "map"}
    assert all(dict(p.parts).keys() == {"test", "val"} for p in phases if p.phase == "map")
    labelled = run_trial(spec, scene=scene, save_model=False, maps="labelled")
    assert labelled.info["maps"] == "labelled"
    mask = np.asarray(scene.gt) > 0
    assert labelled.class_map.shape == (H, W)
    assert np.all(labelled.class_map[~mask] == 0) and np.all(labelled.class_map[mask] >= 1)
    assert np.all(np.isnan(labelled.entropy_map[~mask]))
    assert np.all(np.isfinite(labelled.entropy_map[mask]))
    # the same model, the same metrics: the map is not part of them
    assert labelled.metrics["test"]["oa"] == none.metrics["test"]["oa"]
    with pytest.raises(ValueError, match="maps='all' is not a map mode"):
        run_trial(spec, scene=scene, maps="all")


def test_maps_is_a_run_option_not_part_of_the_spec(tmp_path, capsys, shared_data):
    shown = {}
    for maps in ("scene", "labelled", "none"):
        argv = ["--suite", "smoke", "--maps", maps, "--dry-run", "--db", str(tmp_path / "r.db")]
        cfg = run_flags.config_from_args(run_flags.parser().parse_args(argv))
        assert cfg.run.maps == maps
        assert run_cli.main(argv) == 0
        shown[maps] = capsys.readouterr().out
    assert shown["scene"] == shown["labelled"] == shown["none"]  # the same spec hashes
    assert "spec_hash" in shown["scene"]
    assert RunOptions(db="r.db").maps == "scene"
    with pytest.raises(OptionError, match="--maps 'all' is not a map mode; choose from"):
        RunOptions(db="r.db", maps="all")


def test_predict_progress_is_a_line_every_interval_off_a_terminal():
    clock = TickClock()
    out = io.StringIO()
    bar = PixelProgress(H * W, file=out, interval=10.0, clock=clock)
    for done in range(0, H * W, 20_000):
        bar(done, H * W)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # 34 updates, one second apart: a line every 10 s
    assert lines[0].startswith("predict:") and "pixels" in lines[0] and "px/s" in lines[0]
