"""The ``fixed:NAME`` protocol: splits read from label-map files.

Fixtures (tests/data/make_fixtures.py, ``write_field_splits``): the ``field`` scene
(48 x 40, 4 classes) with a split ``stripes`` declared in its scene file, its cube
as ENVI, GeoTIFF or ``.npy`` and the split's maps as MATLAB (``TR``/``TE``),
GeoTIFF or ``.npy`` (with a validation map), plus broken maps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from make_fixtures import field_split_maps, write_field_splits

import datasets
from datasets import __main__ as datasets_cli
from datasets.registry import SplitFileSpec
from harness import run as run_cli
from harness import scenes as scene_cache
from harness.spec import SpecError, make_spec
from harness.store import ResultStore
from harness.trial.data import prepare_data

ROOT = Path(__file__).resolve().parent.parent
SCENES = ("field_envi_split", "field_tif_split", "field_npy_split")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_field_splits(tmp_path_factory.mktemp("splits"))


@pytest.fixture(autouse=True)
def _forget_scenes():
    """Specs remember their scene (and its splits) process-wide: start each test afresh."""
    scene_cache.forget_all()
    yield
    scene_cache.forget_all()


def _scene(files, name: str = "field_npy_split") -> datasets.Scene:
    return datasets.load_scene(str(files[name]), source="real")


def _other_maps(folder: Path, train_name: str = "train.npy") -> dict[str, Path]:
    """The split's train map less one pixel (another file: another checksum) and its
    test map, saved in ``folder``; ``{"train": path, "test": path}``."""
    train, _, test = field_split_maps()
    train[1, 1] = 0
    np.save(folder / train_name, train)
    np.save(folder / "test.npy", test)
    return {"train": folder / train_name, "test": folder / "test.npy"}


def _expected_counts(role: str) -> list[int]:
    train, val, test = field_split_maps()
    m = {"train": train, "val": val, "test": test}[role]
    return np.bincount(m.ravel(), minlength=5)[1:].tolist()


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", SCENES)
def test_declared_split_in_each_format(files, name):
    scene = _scene(files, name)
    fixed = datasets.load_split(scene, "stripes")
    assert scene.splits["stripes"] is fixed
    sp = datasets.split(scene.gt, "fixed:stripes", seed=0, fixed=fixed)
    train, val, test = field_split_maps()
    assert np.array_equal(sp.test, np.flatnonzero(test.ravel()))
    assert sp.counts[:, 2].tolist() == _expected_counts("test")
    assert "Stripes of 8 columns" in fixed.citation
    if name == "field_npy_split":  # its own validation map
        assert fixed.has_val and sp.params["val_fraction"] is None
        assert np.array_equal(sp.val, np.flatnonzero(val.ravel()))
        assert np.array_equal(sp.train, np.flatnonzero(train.ravel()))
    else:  # validation drawn from the training pixels: 10 % of each class, seeded
        assert not fixed.has_val and sp.params["val_fraction"] == 0.1
        assert np.union1d(sp.train, sp.val).tolist() == np.flatnonzero(train.ravel()).tolist()
        assert np.intersect1d(sp.train, sp.val).size == 0
        per_class = _expected_counts("train")
        assert sp.counts[:, 1].tolist() == [int(0.1 * n + 0.5) for n in per_class]
        again = datasets.split(scene.gt, "fixed:stripes", seed=0, fixed=fixed)
        other = datasets.split(scene.gt, "fixed:stripes", seed=1, fixed=fixed)
        assert np.array_equal(again.val, sp.val) and not np.array_equal(other.val, sp.val)


def test_identity_is_checksums_and_keys_not_paths(files, tmp_path):
    scene = _scene(files, "field_envi_split")
    fixed = datasets.load_split(scene, "stripes")
    digest = fixed.files[0].sha256
    assert fixed.identity() == {
        "train": {"sha256": digest, "key": "TR"},
        "test": {"sha256": digest, "key": "TE"},
    }
    # the same maps under other names and paths: the same identity
    shutil.copy(files["mat"], tmp_path / "renamed.mat")
    adhoc = datasets.load_split(
        _scene(files, "field_envi_split"),
        "mine",
        {
            "train": SplitFileSpec(str(tmp_path / "renamed.mat"), key="TR"),
            "test": SplitFileSpec(str(tmp_path / "renamed.mat"), key="TE"),
        },
    )
    assert adhoc.identity() == fixed.identity()


def test_a_class_without_training_pixels_is_a_warning(files, tmp_path):
    train, _, test = field_split_maps()
    np.save(tmp_path / "train.npy", np.where(train == 4, 0, train))
    np.save(tmp_path / "test.npy", test)
    scene = _scene(files)
    fixed = datasets.load_split(
        scene, "no4", {"train": tmp_path / "train.npy", "test": tmp_path / "test.npy"}
    )
    with pytest.warns(datasets.SplitWarning, match=r"label\(s\) \[4\] have no train pixel"):
        sp = datasets.split(scene.gt, "fixed:no4", seed=0, fixed=fixed)
    assert sp.missing == {"train": [4], "val": [4]}


def test_labels_that_differ_from_the_ground_truth_are_counted_and_warned(files, tmp_path):
    train, _, test = field_split_maps()
    swapped = train.copy()
    swapped[train == 1] = 2  # the split says Maize where the ground truth says Wheat
    np.save(tmp_path / "train.npy", swapped)
    np.save(tmp_path / "test.npy", test)
    scene = _scene(files)
    with pytest.warns(datasets.SplitFileWarning, match="label other than the scene's ground truth"):
        fixed = datasets.load_split(
            scene, "swapped", {"train": tmp_path / "train.npy", "test": tmp_path / "test.npy"}
        )
    assert fixed.disagreements == int((train == 1).sum())
    # the split's labels are the ones a trial uses (Wheat has no training pixel left)
    with pytest.warns(datasets.SplitWarning, match=r"label\(s\) \[1\] have no train pixel"):
        sp = datasets.split(scene.gt, "fixed:swapped", seed=0, fixed=fixed)
    assert sp.counts[0, 0] == 0 and sp.counts[1, 0] + sp.counts[1, 1] == int((swapped == 2).sum())


def test_a_crop_cuts_the_split_with_the_scene(files):
    scene = _scene(files)
    datasets.load_split(scene, "stripes")
    crop = scene.crop_to(8, 40, 4, 36)
    train, _, _ = field_split_maps()
    assert crop.full_shape == (48, 40) and crop.splits["stripes"].crop == (8, 40, 4, 36)
    assert np.array_equal(
        crop.splits["stripes"].labels[crop.splits["stripes"].roles == 1],
        train[8:40, 4:36][train[8:40, 4:36] > 0],
    )
    # a split read after the crop is cut the same way
    late = datasets.load_split(_scene(files).crop_to(8, 40, 4, 36), "stripes")
    assert np.array_equal(late.roles, crop.splits["stripes"].roles)


# --------------------------------------------------------------------------- errors


def _adhoc_error(files, train: Path, test: Path, **kw) -> str:
    with pytest.raises(datasets.SplitFileError) as info:
        datasets.load_split(_scene(files), "bad", {"train": train, "test": test}, **kw)
    return str(info.value)


def test_train_map_overlapping_the_test_map(files):
    msg = _adhoc_error(files, files["train_npy"], files["overlap_test"])
    assert "overlap_test.npy" in msg and "split_train.npy" in msg
    assert "both label 44 pixels (the first at row 1, col 1)" in msg and "Fix:" in msg


def test_labels_outside_the_scene_classes(files):
    msg = _adhoc_error(files, files["bad_labels_train"], files["test_npy"])
    assert "bad_labels_train.npy" in msg and "labels [7] (1 pixel) outside 0..4" in msg
    assert "4 classes" in msg and "Fix:" in msg


def test_shape_that_differs_from_the_scene(files):
    msg = _adhoc_error(files, files["small_train"], files["test_npy"])
    assert "small_train.npy" in msg and "is 40 x 40" in msg and "is 48 x 40" in msg
    assert "Fix:" in msg


def test_missing_key(files):
    msg = _adhoc_error(files, SplitFileSpec(str(files["other_keys"]), key="TR"), files["test_npy"])
    assert "split_other_keys.mat" in msg and "no variable 'TR'" in msg
    assert "'train_labels', 'TE'" in msg and "Fix:" in msg


def test_declared_sha256_that_does_not_match(files):
    scene = datasets.load_scene(str(files["field_bad_sha_split"]), source="real")
    with pytest.raises(datasets.SplitFileError) as info:
        datasets.load_split(scene, "stripes")
    msg = str(info.value)
    assert "split_test.npy" in msg and "0" * 64 in msg and "Fix:" in msg


def test_unknown_split_name(files):
    with pytest.raises(
        datasets.SplitFileError, match=r"declares no split 'nope' \(declared: stripes\)"
    ):
        datasets.load_split(_scene(files), "nope")


def test_protocol_without_a_name():
    with pytest.raises(datasets.SplitFileError, match="does not say which split"):
        datasets.protocol_params("fixed")


def test_specs_on_a_split_whose_files_were_replaced_are_refused_before_running(files, tmp_path):
    """Two specs name one split read from different files (the files were changed and the
    split read again in the same process): the older spec is refused when the run
    resolves its scene, before any trial starts."""
    scene = _scene(files)
    old = make_spec(
        "random_forest_tiny",
        scene,
        protocol="fixed:mine",
        split_files={"train": files["train_npy"], "test": files["test_npy"]},
    )
    new = make_spec(
        "random_forest_tiny", scene, protocol="fixed:mine", split_files=_other_maps(tmp_path)
    )
    assert scene_cache.resolve(new).splits["mine"].identity() == new.protocol_params["files"]
    with pytest.raises(scene_cache.SceneMismatchError, match="the split files changed"):
        scene_cache.resolve(old)


# --------------------------------------------------------------------------- --split-file forms


def test_split_file_forms(files):
    parse = datasets.split_files_from_args
    assert parse([str(files["mat"])]) == {
        "train": SplitFileSpec(str(files["mat"]), key="TR"),
        "test": SplitFileSpec(str(files["mat"]), key="TE"),
    }
    assert parse([str(files["npz"])])["test"].key == "TE"
    both = parse(
        [f"train={files['train_tif']}:1", f"test={files['test_npy']}", f"val={files['val_npy']}"]
    )
    assert both["train"] == SplitFileSpec(str(files["train_tif"]), band=1)
    assert set(both) == {"train", "val", "test"}
    assert (
        parse([f"train={files['other_keys']}:train_labels", f"test={files['mat']}:TE"])["train"].key
        == "train_labels"
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["train=missing.npy", "test=missing.npy"], "the file 'missing.npy' does not exist"),
        (["nope=X", "test=Y"], "'nope' is not a set"),
        (["{other_keys}"], "no train and test maps under the usual names"),
        (["train={train_npy}", "train={test_npy}"], "the train map is given twice"),
        (["train={train_npy}"], "gives no test map"),
        (["{train_npy}"], "a single file must be a .mat or .npz"),
    ],
)
def test_split_file_errors(files, values, expected):
    values = [v.format(**{k: str(p) for k, p in files.items()}) for v in values]
    with pytest.raises(datasets.SplitFileError, match="Fix:") as info:
        datasets.split_files_from_args(values)
    assert expected in str(info.value)


# --------------------------------------------------------------------------- the command line


def test_datasets_split_prints_per_class_counts(files, capsys):
    code = datasets_cli.main(
        ["split", "--scene-file", str(files["field_tif_split"]), "--protocol", "fixed:stripes"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "protocol 'fixed:stripes'" in out and "split_train.tif" in out and "split_test.tif" in out
    )
    assert "0.1 of each class's training pixels (seed 0)" in out
    rows = {
        line.split()[1]: line.split()[2:] for line in out.splitlines() if line.strip()[:1].isdigit()
    }
    train, test = _expected_counts("train"), _expected_counts("test")
    for k, name in enumerate(("Wheat", "Maize", "Fallow", "Orchard")):
        tr, va, te, dropped = (int(v) for v in rows[name])
        assert (tr + va, te, dropped) == (train[k], test[k], 0)


def test_datasets_split_with_split_files_as_json(files, capsys):
    code = datasets_cli.main(
        [
            "split",
            "--scene-file",
            str(files["field_npy_split"]),
            "--split-file",
            str(files["mat"]),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["protocol"] == "fixed:split_TR_TE"  # named after the file
    assert data["split"]["files"][0]["key"] == "TR"
    assert [c["test"] for c in data["classes"]] == _expected_counts("test")


def test_datasets_split_error_exits_2(files, capsys):
    code = datasets_cli.main(
        [
            "split",
            "--scene-file",
            str(files["field_npy_split"]),
            "--split-file",
            f"train={files['train_npy']}",
            "--split-file",
            f"test={files['overlap_test']}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Split 'split_train'") and "both label" in err


# --------------------------------------------------------------------------- specs and trials


def test_spec_records_the_split_files_and_its_hash_follows_them(files, tmp_path):
    scene = _scene(files, "field_envi_split")
    spec = make_spec("random_forest_tiny", scene, protocol="fixed:stripes")
    digest = scene.splits["stripes"].files[0].sha256
    assert spec.protocol == "fixed:stripes"
    assert spec.protocol_params == {
        "val_fraction": 0.1,
        "files": {
            "train": {"sha256": digest, "key": "TR"},
            "test": {"sha256": digest, "key": "TE"},
        },
    }
    more = make_spec(
        "random_forest_tiny", scene, protocol="fixed:stripes", protocol_params={"val_fraction": 0.2}
    )
    assert more.spec_hash != spec.spec_hash
    # another train map (one pixel less): another spec hash
    other = make_spec(
        "random_forest_tiny",
        _scene(files, "field_envi_split"),
        protocol="fixed:stripes",
        split_files=_other_maps(tmp_path),
    )
    assert other.spec_hash != spec.spec_hash
    assert other.protocol_params["files"]["train"]["sha256"] != digest


def test_val_fraction_with_a_validation_map_is_refused(files):
    with pytest.raises(SpecError, match="has its own validation map"):
        make_spec(
            "random_forest_tiny",
            _scene(files),
            protocol="fixed:stripes",
            protocol_params={"val_fraction": 0.2},
        )


def test_trial_uses_the_split_sets_and_labels(files):
    scene = _scene(files)
    spec = make_spec("random_forest_tiny", scene, protocol="fixed:stripes")
    data = prepare_data(spec, scene=scene)
    train, val, test = field_split_maps()
    assert np.array_equal(data.test, np.flatnonzero(test.ravel()))
    assert np.array_equal(data.val, np.flatnonzero(val.ravel()))
    assert data.split_counts[:, 2].tolist() == _expected_counts("test")
    # in-process, from the spec alone: the split the scene file declares is read again
    scene_cache.forget_all()
    again = prepare_data(type(spec).from_json(spec.to_json()))
    assert np.array_equal(again.train, data.train) and np.array_equal(again.test, data.test)


def test_a_scene_without_the_split_or_with_other_files_fails_the_trial(files, tmp_path):
    from harness.trial.errors import TrialError

    scene = _scene(files)
    spec = make_spec("random_forest_tiny", scene, protocol="fixed:stripes")
    bare = _scene(files)  # the same data, no split read
    with pytest.raises(TrialError, match="does not carry"):
        prepare_data(spec, scene=bare)
    datasets.load_split(bare, "stripes", _other_maps(tmp_path))
    with pytest.raises(TrialError, match="read from files"):
        prepare_data(spec, scene=bare)


def test_resolving_a_spec_whose_split_files_changed_is_refused(files, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(files["field_npy_split"].parent, folder)
    datasets.register_scene_file(folder / "field_npy_split.toml")
    spec = make_spec(
        "random_forest_tiny",
        datasets.load_scene("field_npy_split", source="real"),
        protocol="fixed:stripes",
    )
    scene_cache.forget_all()
    _other_maps(folder, "split_train.npy")  # the declared train map changes
    with pytest.raises(scene_cache.SceneMismatchError, match="the split files changed"):
        scene_cache.resolve(type(spec).from_json(spec.to_json()))


# --------------------------------------------------------------------------- through Ray


@pytest.mark.slow
def test_smoke_suite_on_envi_geotiff_and_npy_cubes_with_a_fixed_split(
    files, ray_session, tmp_path, capsys, monkeypatch
):
    """The three scene files with their real cubes (--source real) and the split they
    declare, through the command line and Ray; the report names the split."""
    from harness import report

    db = tmp_path / "r.db"
    argv = ["--suite", "smoke", "--source", "real", "--protocol", "fixed:stripes", "--db", str(db)]
    for name in SCENES:
        argv += ["--scene-file", str(files[name])]
    argv += ["--scenes", *SCENES, "--models", "random_forest_tiny", "hybridsn_tiny"]
    assert run_cli.main(argv) == 0, capsys.readouterr().err
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
        trials = [store.trial(r["id"]) for r in rows]
    assert sorted(r["scene"] for r in rows) == sorted(SCENES * 2)
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["protocol"] for r in rows} == {"fixed:stripes"}
    assert {r["source"] for r in rows} == {"real"}
    for t in trials:
        assert set(t["spec"]["protocol_params"]["files"]) >= {"train", "test"}
    capsys.readouterr()
    assert report.main(["--db", str(db), "--protocol", "fixed:stripes"]) == 0
    out = capsys.readouterr().out
    for name in SCENES:
        assert f"## Scene {name} · protocol fixed:stripes" in out
    # the dashboard's leaderboard offers the split by name, and shows its results
    from streamlit.testing.v1 import AppTest

    from dashboard import queries

    monkeypatch.setenv(queries.ENV_DB, str(db))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="lb_protocol").options == ["fixed:stripes"]
    assert at.selectbox(key="lb_protocol").value == "fixed:stripes"


@pytest.mark.slow
def test_split_file_on_the_command_line_through_ray(files, ray_session, tmp_path, capsys):
    db = tmp_path / "r.db"
    argv = [
        "--suite",
        "quick",
        "--scene-file",
        str(files["field_envi_split"]),
        "--scenes",
        "field_envi_split",
        "--models",
        "random_forest_tiny",
        "--split-file",
        f"train={files['train_npy']}",
        "--split-file",
        f"test={files['test_tif']}",
        "--db",
        str(db),
    ]
    assert run_cli.main(argv) == 0, capsys.readouterr().err
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
        spec = store.trial(rows[0]["id"])["spec"]
    assert len(rows) == 1 and rows[0]["protocol"] == "fixed:split_train"
    assert spec["protocol_params"]["val_fraction"] == 0.1
    assert set(spec["protocol_params"]["files"]) == {"train", "test"}


def test_split_file_flag_errors(files, tmp_path, capsys):
    base = ["--suite", "smoke", "--db", str(tmp_path / "r.db"), "--dry-run"]
    cases = [
        (["--split-file", str(files["mat"]), "--protocol", "paper"], "--protocol is 'paper'"),
        (
            ["--split-file", str(files["mat"]), "--scenes", "indian_pines", "salinas"],
            "split of one scene",
        ),
        (["--protocol", "fixed"], "does not say which split"),
        (
            ["--protocol", "fixed:stripes", "--scenes", "indian_pines"],
            "declares no split 'stripes'",
        ),
        (["--split-file", str(files["mat"]), "--suite", "leakage"], "runs its own protocols"),
        (["--protocol", "fixed:x", "--suite", "leakage"], "can only pick one of them"),
    ]
    for extra, expected in cases:
        assert run_cli.main(base + extra) == run_cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert expected in err and err.count("error:") == 1, err


# --------------------------------------------------------------------------- the Houston 2013 example

HOUSTON = ROOT / "docs" / "examples" / "houston2013.toml"


def test_houston_example_declares_its_official_split_and_ships_no_data():
    from datasets.registry import load_scene_file

    info = load_scene_file(HOUSTON)
    assert info.name == "houston2013" and info.shape == (349, 1905) and info.n_bands == 144
    assert info.n_classes == 15
    split = info.split_spec("official")
    assert (
        split is not None
        and split.val is None
        and "2013 GRSS Data Fusion Contest" in split.citation
    )
    # no download address anywhere, and no data file beside the example
    assert info.cube.url is None and info.gt.url is None
    assert "http" not in HOUSTON.read_text()
    assert sorted(p.name for p in HOUSTON.parent.iterdir()) == ["houston2013.toml"]
    with pytest.raises(datasets.DatasetNotFoundError, match="Samples_VA.tif. was not found"):
        datasets.load_scene(str(HOUSTON), source="real", data_dir=HOUSTON.parent)


def test_houston_example_split_counts_from_label_maps_of_its_size(tmp_path, capsys):
    """Label maps of the real size (written here: the real ones are not distributable)
    give the per-class counts of the split through the command line."""
    rng = np.random.default_rng(0)
    train = np.zeros((349, 1905), dtype=np.uint8)
    test = np.zeros_like(train)
    flat = rng.permutation(349 * 1905)
    train.ravel()[flat[:2832]] = np.arange(2832) % 15 + 1
    test.ravel()[flat[2832 : 2832 + 12197]] = np.arange(12197) % 15 + 1
    import rasterio
    from affine import Affine

    for name, arr in (("TR", train), ("VA", test)):
        with rasterio.open(
            tmp_path / f"2013_IEEE_GRSS_DF_Contest_Samples_{name}.tif",
            "w",
            driver="GTiff",
            height=349,
            width=1905,
            count=1,
            dtype="uint8",
            transform=Affine(2.5, 0.0, 0.0, 0.0, -2.5, 349 * 2.5),  # 2.5 m pixels
        ) as ds:
            ds.write(arr[None])
    argv = [
        "split",
        "--scene-file",
        str(HOUSTON),
        "--protocol",
        "fixed:official",
        "--data-dir",
        str(tmp_path),
    ]
    assert datasets_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "protocol 'fixed:official'" in out and "Running Track" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total")).split()
    train_n, val_n, test_n, dropped = (int(v) for v in total[1:])
    assert (train_n + val_n, test_n, dropped) == (2832, 12197, 0)


def test_datasets_info_lists_the_declared_splits(files, capsys):
    assert (
        datasets_cli.main(
            ["info", "--scene-file", str(files["field_npy_split"]), "--source", "real"]
        )
        == 0
    )
    assert "split      fixed:stripes  (Stripes of 8 columns" in capsys.readouterr().out


def test_search_suite_plans_on_a_fixed_split(files, capsys, tmp_path):
    argv = [
        "--suite",
        "search",
        "--scene-file",
        str(files["field_npy_split"]),
        "--scenes",
        "field_npy_split",
        "--protocol",
        "fixed:stripes",
        "--trials",
        "2",
        "--seeds",
        "2",
        "--db",
        str(tmp_path / "r.db"),
        "--dry-run",
    ]
    assert run_cli.main(argv) == 0, capsys.readouterr().err
    assert "fixed:stripes" in capsys.readouterr().out
