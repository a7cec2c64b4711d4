"""Split protocols: property tests on random label maps and checks on the real ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter

import datasets
from datasets import ProtocolError, SplitWarning, split
from datasets.matio import read_mat


def blocky_gt(seed: int, h: int = 40, w: int = 36, n_classes: int = 5) -> np.ndarray:
    """A random label map of rectangular fields (every class at least 12 pixels) plus background."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), dtype=np.int64)
    for k in range(1, n_classes + 1):
        for _ in range(rng.integers(1, 4)):
            r, c = rng.integers(0, h - 6), rng.integers(0, w - 6)
            gt[r : r + rng.integers(3, 9), c : c + rng.integers(4, 9)] = k
    for k in range(1, n_classes + 1):  # guarantee presence
        gt[k * 2, 0:12] = k
    return gt


PARAMS = {
    "paper": {},
    "fraction": {"train": 0.3, "val": 0.1},
    "per_class": {"n": 5},
    "disjoint": {"patch_size": 3, "block_size": 6},
    "block_cv": {"patch_size": 3, "block_size": 6, "k": 3, "fold": 1},
}


def check_basic(gt: np.ndarray, sp: datasets.Split) -> None:
    flat = gt.ravel()
    sets = [sp.train, sp.val, sp.test]
    for s in sets:
        assert s.dtype == np.int64 and np.all(np.diff(s) > 0)  # sorted, unique
        assert np.all(flat[s] > 0), "only labelled pixels"
    assert not np.intersect1d(sp.train, sp.val).size
    assert not np.intersect1d(sp.train, sp.test).size
    assert not np.intersect1d(sp.val, sp.test).size
    assert sp.counts.sum() == np.count_nonzero(flat)
    for j, s in enumerate(sets):
        assert np.array_equal(sp.counts[:, j], np.bincount(flat[s], minlength=gt.max() + 1)[1:])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    map_seed=st.integers(0, 10_000),
    seed=st.integers(0, 2**31 - 1),
    protocol=st.sampled_from(sorted(PARAMS)),
)
def test_split_properties(map_seed, seed, protocol):
    gt = blocky_gt(map_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        a = split(gt, protocol, seed=seed, **PARAMS[protocol])
        b = split(gt, protocol, seed=seed, **PARAMS[protocol])
        c = split(gt, protocol, seed=seed + 1, **PARAMS[protocol])
    check_basic(gt, a)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y), "same seed, same split"
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True)), (
        "another seed, another split"
    )
    assert a.params == {**datasets.protocol_params(protocol), **PARAMS[protocol]}


@settings(max_examples=25, deadline=None)
@given(map_seed=st.integers(0, 10_000), seed=st.integers(0, 1000))
def test_stratified_counts_within_one_pixel(map_seed, seed):
    gt = blocky_gt(map_seed)
    n = np.bincount(gt.ravel())[1:]
    sp = split(gt, "paper", seed=seed)
    test = sp.counts[:, 2]
    assert np.all(np.abs(test - 0.2 * n) <= 1)
    val = sp.counts[:, 1]
    assert np.all(np.abs(val - 0.1 * (n - test)) <= 1)
    fr = split(gt, "fraction", seed=seed, train=0.3, val=0.1)
    assert np.all(np.abs(fr.counts[:, 0] - 0.3 * n) <= 1)
    assert np.all(np.abs(fr.counts[:, 1] - 0.1 * n) <= 1)


@settings(max_examples=25, deadline=None)
@given(map_seed=st.integers(0, 10_000), seed=st.integers(0, 1000), n=st.integers(1, 40))
def test_per_class_takes_n_but_never_more_than_half(map_seed, seed, n):
    gt = blocky_gt(map_seed)
    sizes = np.bincount(gt.ravel())[1:]
    sp = split(gt, "per_class", seed=seed, n=n)
    expected_train = np.minimum(n, sizes // 2)
    assert np.array_equal(sp.counts[:, 0], expected_train)
    assert np.array_equal(sp.counts[:, 1], np.minimum(n // 2, (sizes - expected_train) // 2))
    assert np.all(sp.counts[:, 0] <= sizes / 2)


def windows_touch(gt_shape, a: np.ndarray, b: np.ndarray, patch: int) -> bool:
    """Does any patch x patch window centred on a pixel of ``a`` contain a pixel of ``b``?"""
    mask = np.zeros(gt_shape[0] * gt_shape[1], dtype=np.uint8)
    mask[b] = 1
    near = maximum_filter(mask.reshape(gt_shape), size=patch, mode="constant").ravel()
    return bool(near[a].any())


@settings(max_examples=25, deadline=None)
@given(
    map_seed=st.integers(0, 10_000), seed=st.integers(0, 1000), patch=st.sampled_from([1, 3, 5, 7])
)
def test_disjoint_windows_never_touch_another_set(map_seed, seed, patch):
    gt = blocky_gt(map_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        sp = split(gt, "disjoint", seed=seed, patch_size=patch, block_size=8)
    check_basic(gt, sp)
    for a, b in [(sp.test, sp.train), (sp.train, sp.test), (sp.val, sp.train), (sp.val, sp.test)]:
        assert not windows_touch(gt.shape, a, b, patch)


def test_disjoint_on_indian_pines_spreads_classes_and_reports_gaps(shared_data):
    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt").astype(np.int64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SplitWarning)
        sp = split(gt, "disjoint", seed=0, patch_size=11)
    check_basic(gt, sp)
    assert not windows_touch(gt.shape, sp.test, sp.train, 11)
    assert not windows_touch(gt.shape, sp.train, sp.test, 11)
    kept = sp.counts[:, :3].sum()
    frac_train = sp.counts[:, 0].sum() / kept
    assert 0.5 < frac_train < 0.9, frac_train
    # most classes appear in both train and test; any gap is reported, not hidden
    both = ((sp.counts[:, 0] > 0) & (sp.counts[:, 2] > 0)).sum()
    assert both >= 11  # the one-field classes (Alfalfa, Oats, ...) cannot be on both sides
    for name in ("train", "test"):
        gaps = sp.missing.get(name, [])
        assert all(sp.counts[k - 1, ("train", "val", "test").index(name)] == 0 for k in gaps)
        if gaps:
            assert any(str(gaps) in str(w.message) for w in caught)
    rows = sp.summary(datasets.get_scene_info("indian_pines").class_names)
    assert (
        rows[8]["name"] == "Oats" and sum(r["dropped"] for r in rows) == sp.counts[:, 3].sum() > 0
    )


def cv_folds(gt: np.ndarray, seed: int, **params) -> list[datasets.Split]:
    """The k splits of one repetition of ``block_cv`` (warnings about classes that miss a
    fold silenced: a field of one block is in one fold only)."""
    k = params.get("k", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        return [split(gt, "block_cv", seed=seed, fold=f, **params) for f in range(k)]


def block_of(gt_shape, seed: int, block_size: int) -> np.ndarray:
    """The block of every pixel in ``block_cv``'s (and ``disjoint``'s) seeded grid."""
    from datasets.protocols import _block_grid

    gt = np.ones(gt_shape, dtype=np.int64)
    idx = np.arange(gt.size)
    return _block_grid(gt, idx, gt.ravel(), seed, block_size)[0]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    map_seed=st.integers(0, 10_000),
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(2, 5),
    patch=st.sampled_from([1, 3, 5, 7]),
    val=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_block_cv_tests_every_labelled_pixel_exactly_once(map_seed, seed, k, patch, val):
    """The k folds of one seed: test sets disjoint and covering every labelled pixel (a
    pixel *survives the buffer* when it is in the test set of its block's fold, and in
    block_cv every labelled pixel does: the buffer takes training and validation pixels
    only); each fold's sets disjoint, and no P x P window of one set holding a pixel of
    another."""
    gt = blocky_gt(map_seed)
    params = {"k": k, "patch_size": patch, "block_size": 8, "val": val}
    folds = cv_folds(gt, seed, **params)
    labelled = np.flatnonzero(gt.ravel() > 0)
    tested = np.concatenate([sp.test for sp in folds])
    assert np.array_equal(np.sort(tested), labelled), "each labelled pixel tested exactly once"
    block = block_of(gt.shape, seed, 8)
    for f, sp in enumerate(folds):
        check_basic(gt, sp)
        assert sp.params == {**params, "fold": f}
        # whole blocks: a test block's labelled pixels are all in this fold's test set
        test_blocks = np.unique(block[sp.test])
        assert np.array_equal(sp.test, labelled[np.isin(block[labelled], test_blocks)])
        for a, b in [(sp.test, sp.train), (sp.train, sp.test), (sp.val, sp.train),
                     (sp.train, sp.val), (sp.val, sp.test), (sp.test, sp.val)]:  # fmt: skip
            assert not windows_touch(gt.shape, a, b, patch)
        # the training blocks of the other folds give the training and validation pixels
        assert not np.isin(block[np.concatenate([sp.train, sp.val])], test_blocks).any()
        if val == 0:
            assert sp.val.size == 0
    again = cv_folds(gt, seed, **params)
    for x, y in zip(folds, again, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(x, y, strict=True)), "same seed, same folds"
    other = cv_folds(gt, seed + 1, **params)
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(folds, other, strict=True)), (
        "another seed, other folds"
    )


@settings(max_examples=10, deadline=None)
@given(map_seed=st.integers(0, 10_000), seed=st.integers(0, 1000))
def test_block_cv_test_fold_does_not_depend_on_the_validation_share(map_seed, seed):
    """The seed fixes the folds; ``val`` only moves training blocks to validation."""
    gt = blocky_gt(map_seed)
    for f in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SplitWarning)
            a = split(gt, "block_cv", seed=seed, k=3, fold=f, patch_size=3, block_size=8, val=0.0)
            b = split(gt, "block_cv", seed=seed, k=3, fold=f, patch_size=3, block_size=8, val=0.3)
        assert np.array_equal(a.test, b.test)
        assert a.val.size == 0 and np.isin(b.train, a.train).all()  # val takes, never adds


@pytest.mark.parametrize(
    ("name", "key"),
    [("Indian_pines_gt.mat", "indian_pines_gt"), ("Salinas_gt.mat", "salinas_gt")],
)
def test_block_cv_on_real_ground_truths(name, key):
    """The shipped ground truths: every labelled pixel tested once per seed, windows never
    touch, the validation share near its target, the training set what the buffer leaves."""
    gt = read_mat(Path(datasets.__file__).parent / "data" / name, key).astype(np.int64)
    labelled = np.count_nonzero(gt)
    for seed in (0, 1):
        folds = cv_folds(gt, seed, patch_size=11)
        assert sum(len(sp.test) for sp in folds) == labelled
        assert len(np.unique(np.concatenate([sp.test for sp in folds]))) == labelled
        for sp in folds[:2]:
            check_basic(gt, sp)
            for a, b in [(sp.test, sp.train), (sp.val, sp.train), (sp.val, sp.test)]:
                assert not windows_touch(gt.shape, a, b, 11)
            share = len(sp.val) / (len(sp.val) + len(sp.train))
            assert 0.06 < share < 0.14, share  # val=0.1 of the kept training blocks' pixels
            assert 0.38 < len(sp.train) / labelled < 0.6  # 4 of 5 folds, less the buffer


def test_block_cv_spreads_indian_pines_classes_over_the_folds(shared_data):
    """Class counts balanced across the 5 folds as far as the blocks allow. For the
    classes that lie in 10 blocks or more, each fold's share of the class is on average
    within 0.07 of the even 0.2 (a random assignment of the blocks: 0.10 over 20 seeds,
    this one 0.045) and never below 0.05; the folds' sizes within a factor 1.5 (random
    blocks: up to 2.35)."""
    from datasets.protocols import _block_grid, _labelled

    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt").astype(np.int64)
    idx, y, _ = _labelled(gt)
    for seed in range(5):
        counts = np.array([sp.counts[:, 2] for sp in cv_folds(gt, seed)])  # folds x classes
        per_block = _block_grid(gt, idx, y, seed, 16)[1]
        spread = (per_block > 0).sum(axis=0) >= 10
        assert spread.sum() >= 5, spread  # the large classes
        share = counts[:, spread] / counts[:, spread].sum(axis=0)
        assert np.abs(share - 0.2).mean() < 0.07, (seed, np.round(share, 2))
        assert share.min() >= 0.05, (seed, np.round(share, 2))
        sizes = counts.sum(axis=1)
        assert sizes.max() / sizes.min() < 1.5, sizes


def test_repetition_lists_the_folds():
    assert datasets.repetition("paper") == [{}]
    assert datasets.repetition("block_cv") == [{"fold": f} for f in range(5)]
    assert datasets.repetition("block_cv", {"k": 3}) == [{"fold": 0}, {"fold": 1}, {"fold": 2}]
    assert datasets.FOLD_PARAMS == {"block_cv": "fold"}
    with pytest.raises(ProtocolError, match="k=1 must be an integer >= 2"):
        datasets.repetition("block_cv", {"k": 1})


def test_paper_split_on_indian_pines_is_72_8_20(shared_data):
    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt").astype(np.int64)
    sp = split(gt, "paper", seed=0)
    n = 10249
    assert abs(len(sp.test) - 0.2 * n) <= 1
    assert abs(len(sp.val) - 0.08 * n) <= 16
    assert len(sp.train) + len(sp.val) + len(sp.test) == n
    assert sp.counts[8].tolist()[:3] == [14, 2, 4]  # Oats: 20 pixels


@pytest.mark.parametrize(
    ("protocol", "params", "needle"),
    [
        (
            "random",
            {},
            "Unknown protocol 'random'. Available: paper, fraction, per_class, disjoint, block_cv",
        ),
        ("papr", {}, "Did you mean 'paper'"),
        ("paper", {"train": 0.5}, "has no parameter(s) ['train']"),
        ("fraction", {"train": 0.8, "val": 0.3}, "train + val = 1.1 must be below 1"),
        ("fraction", {"train": 1.5}, "train=1.5 must be a number strictly between 0.0 and 1.0"),
        ("per_class", {"n": 0}, "n=0 must be a positive integer"),
        ("disjoint", {"patch_size": 0}, "patch_size=0 must be a positive integer"),
        ("disjoint", {"block_size": 1}, "block_size=1 must be an integer >= 2"),
        ("block_cv", {"fold": 5}, "fold=5 must be an integer from 0 to 4 (the test fold of k=5"),
        ("block_cv", {"fold": -1}, "Fix: pass a fold in 0..4, or a larger k"),
        ("block_cv", {"k": 3, "fold": 3}, "fold=3 must be an integer from 0 to 2"),
        ("block_cv", {"k": 1}, "k=1 must be an integer >= 2 (the number of folds)"),
        ("block_cv", {"k": 2.5}, "k=2.5 must be an integer >= 2"),
        ("block_cv", {"val": 1.0}, "val=1.0 must be a number in [0, 1)"),
        ("block_cv", {"patch_size": 0}, "patch_size=0 must be a positive integer"),
        ("block_cv", {"block_size": 1}, "block_size=1 must be an integer >= 2"),
        ("block_cv", {"k": 40, "block_size": 16}, "k=40 folds, but only"),
    ],
)
def test_bad_protocol_input(protocol, params, needle):
    with pytest.raises(ProtocolError) as err:
        split(blocky_gt(0), protocol, seed=0, **params)
    assert needle in str(err.value)


def test_bad_label_maps():
    with pytest.raises(ProtocolError, match="no labelled pixel"):
        split(np.zeros((5, 5), dtype=int), "paper")
    with pytest.raises(ProtocolError, match="2-D label map"):
        split(np.ones(5, dtype=int), "paper")
    with pytest.raises(ProtocolError, match="integer labels"):
        split(np.ones((5, 5)), "paper")
    with pytest.raises(ProtocolError, match="seed=0.5 must be an integer"):
        split(blocky_gt(0), "paper", seed=0.5)
    tiny = np.zeros((6, 6), dtype=int)
    tiny[0, :5] = 1
    tiny[3, 3] = 2  # a class of one pixel cannot be stratified
    with pytest.raises(ProtocolError, match=r"label\(s\) \[2\] have fewer than 2 pixels"):
        split(tiny, "paper")


def test_split_unpacks_and_warns_on_missing_classes():
    gt = np.zeros((10, 10), dtype=int)
    gt[:, :5] = 1
    gt[0, 9] = 2  # two pixels of class 2; per_class puts one in train, one in test
    gt[1, 9] = 2
    train, val, test = split(gt, "per_class", seed=0, n=3)
    assert len(train) == 4
    with pytest.warns(SplitWarning, match=r"label\(s\) \[2\] have no train pixel"):
        gt1 = gt.copy()
        gt1[1, 9] = 0
        sp = split(gt1, "per_class", seed=0, n=3)
    assert sp.missing["train"] == [2]


def test_cli_split_reports_counts_and_gaps(shared_data):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "datasets", "split", "indian_pines", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    out = cli("--protocol", "disjoint", "--param", "patch_size=11", "--json")
    assert out.returncode == 0, out.stderr
    desc = json.loads(out.stdout)
    gt = read_mat(shared_data / "Indian_pines_gt.mat", "indian_pines_gt").astype(np.int64)
    with pytest.warns(SplitWarning):
        sp = split(gt, "disjoint", seed=0, patch_size=11)
    assert "no test pixel" in out.stderr
    assert [c["test"] for c in desc["classes"]] == sp.counts[:, 2].tolist()
    assert desc["params"]["patch_size"] == 11 and desc["missing"] == sp.missing
    table = cli("--protocol", "per_class", "--param", "n=10")
    assert table.returncode == 0 and "Oats" in table.stdout and "total" in table.stdout
    bad = cli("--param", "train")
    assert bad.returncode == 2 and "is not NAME=VALUE" in bad.stderr
    bad = cli("--protocol", "paper", "--param", "train=0.5")
    assert bad.returncode == 2 and "has no parameter(s) ['train']" in bad.stderr
