"""``bench/saved_models.py``: its timers, its child-process peak and its report, on tiny inputs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sm():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import saved_models

        yield saved_models
    finally:
        sys.path.remove(str(ROOT / "bench"))


@pytest.mark.usefixtures("one_thread")
def test_predict_split_adds_up_and_the_report_renders(sm):
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = datasets.load_scene("indian_pines", source="surrogate")
        crop = sm.labelled_crop(scene, 8)
        saved, files, _ = sm.deep_saved("ssrn_tiny", crop)
    assert {f.kind for f in files} == set(sm.KINDS)
    cube = np.asarray(crop.cube)
    row = sm.measure_predict("ssrn_tiny", saved, cube, 1, sm.BusyGuard(None))
    assert row.pixels == 64 and row.region == (8, 8)
    assert 0 < row.pre + row.model_s <= row.seconds
    assert saved.model.__class__.__name__ != "TimedModel"  # restored after measuring
    res = sm.Results(predict=[row], salinas_scene=(8, 8, cube.shape[2]))
    res.disk = [("claresnet", "salinas", 5, 69_400_000), ("ssrn", "salinas", 5, 400_000)]
    args = SimpleNamespace(quick=True, tree_train=None, repeats=1, steps=1)
    text = sm.render(res, args, "python bench/saved_models.py --quick", None)
    assert "| ssrn_tiny | 8 x 8 (64) | 1 |" in text
    assert (
        "**0.35 GB**" in text
        and "README sentence: Saved models take about 0.3 GB for 10 trials" in text
    )


def test_child_peak_is_the_child_s_own(sm, tmp_path):
    small = sm.child_peak(["-c", "pass"], tmp_path / "a.log")[0]
    big = sm.child_peak(["-c", "b = bytearray(300 * 2**20); print(len(b))"], tmp_path / "b.log")
    assert str(300 * 2**20) in big[2]
    assert big[0] - small >= 250 * 2**20 > small
