"""The registry scenes known from public copies -- Pavia University, Pavia Centre,
Kennedy Space Center and Botswana -- through ``python -m harness.run`` on real Ray
(the session Ray of conftest.py: ``harness.run.main`` joins it).

Their cubes are not on these machines: the suites run on surrogates built from the
package's own ground truths (smoke: 32 x 32 crops; quick: 64 x 64 crops holding
the most classes). The smoke suite and the quick suite each run once over the
four, with Random Forest and a tiny deep model for two epochs.
"""

from __future__ import annotations

import pytest

import datasets
import models
from harness import run as run_cli
from harness.store import ResultStore

SCENES = ("pavia_university", "pavia_centre", "ksc", "botswana")


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = run_cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _check_trials(db, expected: set[tuple[str, str]], window: int) -> list[dict]:
    """Every (scene, model) of ``expected`` completed once on a surrogate crop of
    ``window`` x ``window`` pixels, with a metric and a per-class row for each class."""
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
        assert {(r["scene"], r["model"]) for r in rows} == expected and len(rows) == len(expected)
        details = []
        for row in rows:
            assert (row["status"], row["source"], row["attempt"]) == ("completed", "surrogate", 1)
            trial = store.trial(row["id"])
            info = datasets.get_scene_info(row["scene"])
            assert info.shape is not None
            r0, r1, c0, c1 = trial["spec"]["crop"]
            assert (r1 - r0, c1 - c0) == (window, window)
            assert min(r0, c0) >= 0 and r1 <= info.shape[0] and c1 <= info.shape[1]
            assert store.artifact(row["id"], "class_map").shape == (window, window)
            assert [c["label"] for c in trial["per_class"]] == list(range(1, info.n_classes + 1))
            assert 0.0 <= trial["metrics"]["test"]["oa"] <= 1.0
            details.append(trial)
    return details


@pytest.mark.slow
def test_smoke_suite_runs_on_each_scene(ray_session, tmp_path, capsys):
    """One smoke run over the four scenes (``--scenes`` names them all): every tiny
    model on each scene's 32 x 32 surrogate crop."""
    db = tmp_path / "smoke.db"
    argv = ["--suite", "smoke", "--scenes", *SCENES, "--db", str(db)]
    code, out, err = _run([*argv, "--storage-path", str(tmp_path / "tune")], capsys)
    assert code == 0, out + err
    tiny = {n for n in models.list_models() if models.get_model_entry(n).tiny}
    assert len(tiny) == 6
    _check_trials(db, {(s, m) for s in SCENES for m in tiny}, 32)
    assert "24 trials planned, 0 already done, 24 completed, 0 failed" in out, out


@pytest.mark.slow
def test_quick_suite_runs_on_the_four_scenes(ray_session, tmp_path, capsys):
    db = tmp_path / "quick.db"
    chosen = ("random_forest", "hybridsn_tiny")
    argv = ["--suite", "quick", "--scenes", *SCENES, "--models", *chosen, "--epochs", "2"]
    code, out, err = _run(
        [*argv, "--db", str(db), "--storage-path", str(tmp_path / "tune")], capsys
    )
    assert code == 0, out + err
    trials = _check_trials(db, {(s, m) for s in SCENES for m in chosen}, 64)
    assert "8 trials planned, 0 already done, 8 completed, 0 failed" in out, out
    # no cube here: each scene said once that it is a surrogate, with its download command
    for name in SCENES:
        assert err.count(f"python -m datasets download {name} --data-dir DIR") == 1, err
    # quick's settings reached the trials: 80 training pixels per class, 2 epochs
    for trial in trials:
        assert trial["spec"]["max_train_per_class"] == 80
        if trial["spec"]["model"] == "hybridsn_tiny":
            assert trial["info"]["epochs_run"] <= 2
