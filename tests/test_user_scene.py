"""A user's own scene (a TOML and its files) through every suite, on real Ray.

The driver resolves each scene once and hands it to the trials through Ray's
object store (harness/scenes.py): the trials of a user scene complete even when
its files and TOML are gone by the time they run, and the Ray workers never had
the scene registered. The two-node variant is in tests/test_run.py.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from make_fixtures import write_field_scene

import datasets
from harness import run as run_cli
from harness import scenes as scene_cache
from harness.spec import make_spec
from harness.store import ResultStore
from harness.suites import SuiteOptions, get_suite

GRID_SUITES = ("smoke", "quick", "paper", "published", "leakage")


@pytest.mark.slow
def test_user_scene_runs_in_every_suite_with_its_files_gone(ray_session, tmp_path):
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.execute.search_loop import run_search

    paths = write_field_scene(tmp_path / "mine")
    datasets.register_scene_file(paths["toml"])
    opts = SuiteOptions(
        scenes=("field",), models=("random_forest_tiny", "hybridsn_tiny"), seeds=1, epochs=1
    )
    specs = {name: get_suite(name).build(opts) for name in GRID_SUITES}
    plans = get_suite("search").build(replace(opts, models=("claresnet_tiny",), trials=2))
    assert {s.source for s in specs["smoke"]} == {"surrogate"}
    assert all(s.source == "real" for name in GRID_SUITES[1:] for s in specs[name])
    # leakage: random and disjoint splits, and block CV's 5 folds, each with 2 PCA fits
    assert [len(specs[name]) for name in GRID_SUITES] == [2, 2, 2, 2, 4 * 2 + 10 * 2]

    shutil.rmtree(tmp_path / "mine")  # only the driver ever read them, before this line
    db = tmp_path / "results.db"
    # every trial but block CV's folds 1-4 (fold 0 shows that the protocol runs here)
    grid = [s for name in GRID_SUITES for s in specs[name] if not s.protocol_params.get("fold")]
    options = RunOptions(db=str(db), suite="user", storage_path=str(tmp_path / "tune"))
    summary = run_specs(grid, options, out=None)
    unique = {s.spec_hash for s in grid}  # leakage's paper/scene-PCA trials are paper's
    assert len(unique) == 14 + 4
    assert summary.failed == {} and sorted(summary.completed) == sorted(unique)
    # one object per scene: smoke's surrogate crop (float32: the TOML states no units),
    # quick's crop (the whole 48 x 40 here) and the scene of the others (uint16 DN)
    assert sorted(summary.scenes) == [
        "field (real)",
        "field (real, 48 x 40 crop)",
        "field (surrogate, 32 x 32 crop)",
    ]
    assert summary.scene_bytes == 2 * (48 * 40 * (40 * 2 + 8)) + 32 * 32 * (40 * 4 + 8)

    options = RunOptions(db=str(db), suite="search", storage_path=str(tmp_path / "tune"))
    search = run_search(plans, options, out=None)
    assert search.failed == {}, search.failed
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
    assert {r["scene"] for r in rows} == {"field"}
    assert {r["status"] for r in rows} == {"completed"}  # 1 epoch: nothing to prune
    assert sum(not r["study"] for r in rows) == len(unique) + 1  # + the best config, seed 0
    assert sum(bool(r["study"]) for r in rows) == 2


def test_missing_user_scene_files_fail_once_before_any_trial(tmp_path, capsys):
    paths = write_field_scene(tmp_path / "mine")
    paths["gt"].unlink()
    paths["cube"].unlink()
    db = tmp_path / "r.db"
    code = run_cli.main(
        [
            "--suite",
            "quick",
            "--scene-file",
            str(paths["toml"]),
            "--scenes",
            "field",
            "--db",
            str(db),
        ]
    )
    err = capsys.readouterr().err
    assert code == run_cli.EXIT_USAGE
    assert err.count("error:") == 1 and "field_gt.mat" in err and "was not found" in err
    with ResultStore(db, readonly=True) as store:
        assert store.trials() == []


def test_driver_resolves_a_spec_it_did_not_make(tmp_path):
    """Specs read back from JSON get their scene from the files, on the driver, and a
    scene whose data changed since is refused, naming the fix."""
    paths = write_field_scene(tmp_path / "mine")
    datasets.register_scene_file(paths["toml"])
    scene = datasets.load_scene("field", source="real")
    spec = make_spec("random_forest_tiny", scene.crop_to(4, 44, 0, 40))
    scene_cache.forget_all()
    again = scene_cache.resolve(type(spec).from_json(spec.to_json()))
    assert again.fingerprint == spec.scene_fingerprint and again.crop == (4, 44, 0, 40)
    assert scene_cache.resolve(spec) is again  # remembered from now on

    scene_cache.forget_all()
    cube = datasets.load_scene("field", source="real").cube
    import scipy.io

    scipy.io.savemat(paths["cube"], {"radiance": (cube[..., ::-1]).astype("uint16")})
    with pytest.raises(scene_cache.SceneMismatchError, match="re-run the suite"):
        scene_cache.resolve(spec)
