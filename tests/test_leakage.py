"""The leakage table (harness/analysis/leakage.py) and block_cv results in the store and the report,
on the hand-made leakage database of tests/data/make_leakage_db.py."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

import numpy as np
import pytest
from make_leakage_db import OA, spec_for, write, write_leakage_db
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from harness import report
from harness.analysis import leakage, seeds
from harness.spec import TrainingConfig
from harness.store import ResultStore


@pytest.fixture(scope="module")
def leak_db(tmp_path_factory) -> Path:
    return write_leakage_db(tmp_path_factory.mktemp("leakage") / "leak.db")


def repetitions(key: tuple[str, str, str]) -> dict[int, float]:
    """The hand-made OA of each seed (a block_cv seed: the mean over its folds)."""
    return {
        seed: statistics.fmean(v) if isinstance(v, list) else float(v)
        for seed, v in OA[key].items()
    }


# --------------------------------------------------------------------------- the store


def test_a_block_cv_configuration_is_one_leaderboard_row(leak_db):
    with ResultStore(leak_db, readonly=True) as store:
        (row,) = seeds.leaderboard(store, protocol="block_cv", pca_fit="train", metrics=("oa",))
        per_seed = seeds.per_seed(
            store, "indian_pines", "block_cv", "unified", "real", pca_fit="train"
        )
        board = seeds.leaderboard(store, scene="indian_pines", protocol="paper", pca_fit="scene")
    (paper,) = [r for r in board if r["model"] == "claresnet"]
    expected = repetitions(("claresnet", "block_cv", "train"))
    assert row["label"] == "claresnet" and row["n_trials"] == 10 and row["seeds"] == [0, 1]
    oa = row["metrics"]["oa"]
    assert oa["n"] == 2  # seeds (repetitions), not trials
    assert oa["mean"] == pytest.approx(statistics.fmean(expected.values()))
    assert oa["std"] == pytest.approx(statistics.stdev(expected.values()))
    assert per_seed == {"claresnet": pytest.approx(expected)}
    # one trial per seed elsewhere: the same numbers as before folds existed
    values = list(OA[("claresnet", "paper", "scene")].values())
    assert paper["n_trials"] == 3 and paper["seeds"] == [0, 1, 2]
    assert paper["metrics"]["oa"]["mean"] == statistics.fmean(values)


# --------------------------------------------------------------------------- the gap


def test_leakage_gap_is_welchs_interval():
    a, b = [0.982, 0.986, 0.979], [0.78, 0.84, 0.80]
    gap = leakage.leakage_gap(a, b)
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
        alpha=0.05, usevar="unequal"
    )
    assert gap.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert (gap.low, gap.high) == pytest.approx((low, high))
    assert gap.low < gap.estimate < gap.high and (gap.n_a, gap.n_b) == (3, 3)
    wider = leakage.leakage_gap(a, b, confidence=0.99)
    assert wider.low < gap.low and wider.high > gap.high


@pytest.mark.parametrize(
    ("a", "b", "note"),
    [
        ([0.9], [0.8, 0.7], "needs 2 seeds per side"),
        ([0.9, 0.9], [0.8, 0.8], "no spread over seeds"),
        ([], [0.8, 0.7], "no seeds on one side"),
    ],
)
def test_leakage_gap_without_an_interval(a, b, note):
    gap = leakage.leakage_gap(a, b)
    assert gap.low is None and gap.high is None and gap.note == note
    assert leakage.fmt_gap(gap).endswith(f"({note})") or gap.estimate is None


# --------------------------------------------------------------------------- the table


def test_leakage_table_on_a_small_database(leak_db):
    with ResultStore(leak_db, readonly=True) as store:
        tables = leakage.collect(store)
    (table,) = tables  # Salinas holds the paper's setting only: no leakage study
    assert (table.scene, table.recipe, table.source) == ("indian_pines", "unified", "real")
    assert [s.key for s in table.settings] == [s.key for s in leakage.SETTINGS]
    assert [r.label for r in table.rows] == ["random_forest", "claresnet"]  # the paper's order
    forest, clares = table.rows
    for row in table.rows:
        for key, cell in row.cells.items():
            assert cell.per_seed == pytest.approx(repetitions((row.model, *key)))
    assert clares.cells[("block_cv", "train")].n_trials == 10
    assert ("block_cv", "scene") not in clares.cells and ("disjoint", "scene") not in forest.cells

    # the gap: random minus disjoint split, PCA on training pixels, against statsmodels
    a = list(OA[("claresnet", "paper", "train")].values())
    b = list(OA[("claresnet", "disjoint", "train")].values())
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
    assert clares.gap.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert (clares.gap.low, clares.gap.high) == pytest.approx((low, high))
    a = list(OA[("random_forest", "paper", "train")].values())
    b = list(OA[("random_forest", "disjoint", "train")].values())
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
    assert (forest.gap.low, forest.gap.high) == pytest.approx((low, high))
    # Δ: the paper's setting minus the leak-free one
    leaky = statistics.fmean(OA[("claresnet", "paper", "scene")].values())
    clean = statistics.fmean(OA[("claresnet", "disjoint", "train")].values())
    assert clares.delta == pytest.approx(leaky - clean)

    cells = dict(zip(leakage._header(table.settings), leakage.table_cells(table)[1], strict=True))
    cv = list(repetitions(("claresnet", "block_cv", "train")).values())
    assert cells["block CV, PCA on train (leak-free)"] == (
        f"{100 * np.mean(cv):.2f} ± {100 * np.std(cv, ddof=1):.2f} (n=2, 10 trials)"
    )
    assert cells["block CV, PCA on scene"] == "–"
    a = list(OA[("claresnet", "paper", "train")].values())
    b = list(OA[("claresnet", "disjoint", "train")].values())
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
    assert cells[leakage.GAP_HEADER] == (
        f"{100 * (np.mean(a) - np.mean(b)):+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
    )


def test_configurations_of_one_model_are_rows_of_their_own(tmp_path):
    path = tmp_path / "two.db"
    with ResultStore(path) as store:
        for epochs in (1, 2):
            for seed in (0, 1):
                training = TrainingConfig(epochs=epochs)
                for protocol, fit in (("paper", "scene"), ("disjoint", "train")):
                    spec = spec_for("claresnet", protocol, fit, seed, training=training)
                    write(store, spec, 0.9 - 0.1 * (protocol == "disjoint") + 0.01 * epochs)
        tables = leakage.collect(store)
    (table,) = tables
    labels = [r.label for r in table.rows]
    assert len(labels) == 2 and all(label.startswith("claresnet [") for label in labels)
    assert all(set(r.cells) == {("paper", "scene"), ("disjoint", "train")} for r in table.rows)
    assert [s.key for s in table.settings] == [s.key for s in leakage.SETTINGS[:4]]
    assert {round(r.delta, 6) for r in table.rows} == {0.1}


def test_two_parameter_sets_of_one_protocol_are_two_rows(tmp_path):
    """block_cv with k = 5 and with k = 3 for one model: the rows never mix them."""
    path = tmp_path / "k.db"
    with ResultStore(path) as store:
        for seed in (0, 1):
            write(store, spec_for("claresnet", "paper", "train", seed), 0.95 + 0.01 * seed)
            for k, oa in ((5, 0.8), (3, 0.7)):
                for fold in range(k):
                    spec = spec_for("claresnet", "block_cv", "train", seed, fold=fold)
                    spec = spec.with_(protocol_params={**spec.protocol_params, "k": k})
                    write(store, spec, oa)
        (table,) = leakage.collect(store)
    means = sorted(
        (
            r.label,
            round(r.cells[("block_cv", "train")].mean, 6),
            r.cells[("block_cv", "train")].n_trials,
        )
        for r in table.rows
        if ("block_cv", "train") in r.cells
    )
    assert [m[1:] for m in sorted(means, key=lambda m: m[2])] == [(0.7, 6), (0.8, 10)]
    assert len({r.label for r in table.rows}) == 2 == len(table.rows)
    assert sum(("paper", "train") in r.cells for r in table.rows) == 1


def test_no_leakage_study_no_table(tmp_path):
    path = tmp_path / "paper.db"
    with ResultStore(path) as store:
        write(store, spec_for("claresnet", "paper", "scene", 0), 0.99)
        assert leakage.collect(store) == []


# --------------------------------------------------------------------------- the report


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = report.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_appends_the_leakage_tables(leak_db, capsys):
    code, out, err = run_main(capsys, "--db", str(leak_db))
    assert code == 0 and err == ""
    results, _, leak = out.partition("# Leakage:")
    assert "## Scene indian_pines · protocol block_cv" in results  # a results table too
    assert "## Leakage · scene indian_pines · recipe unified · source real" in leak
    assert "salinas" not in leak
    header = next(line for line in leak.splitlines() if line.startswith("| Model |"))
    assert header.count("|") == 1 + len(leakage.SETTINGS) + 3
    assert "block CV, PCA on train (leak-free)" in header and leakage.GAP_HEADER in header
    assert "Welch's interval" in leak and "mean over the folds" in leak

    code, out, _ = run_main(capsys, "--db", str(leak_db), "--format", "latex")
    leak = out.partition("% Leakage tables")[2]
    assert code == 0 and r"$\pm$" in leak and r"$\Delta$ OA (pp)" in leak
    assert not [line for line in leak.splitlines() if "Δ" in line and not line.startswith("%")]
    code, out, _ = run_main(capsys, "--db", str(leak_db), "--protocol", "paper")
    assert code == 0 and "# Leakage:" not in out  # one protocol: no leakage table
    code, out, _ = run_main(capsys, "--db", str(leak_db), "--format", "csv")
    assert code == 0 and "gap" not in out  # the results CSV alone


def test_report_leakage_csv(leak_db, capsys):
    code, out, err = run_main(capsys, "--db", str(leak_db), "--table", "leakage", "--format", "csv")
    assert code == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == leakage.CSV_FIELDS
    (cv,) = [r for r in rows if r["model"] == "claresnet" and r["protocol"] == "block_cv"]
    assert (cv["quantity"], cv["pca_fit"], cv["n"], cv["n_trials"]) == ("oa", "train", "2", "10")
    assert float(cv["mean"]) == pytest.approx(
        statistics.fmean(repetitions(("claresnet", "block_cv", "train")).values())
    )
    (gap,) = [r for r in rows if r["model"] == "claresnet" and r["quantity"] == "gap"]
    a = list(OA[("claresnet", "paper", "train")].values())
    b = list(OA[("claresnet", "disjoint", "train")].values())
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
    assert (gap["protocol"], gap["pca_fit"]) == ("paper-disjoint", "train")
    assert (float(gap["ci_low"]), float(gap["ci_high"])) == pytest.approx((low, high))

    code, out, err = run_main(
        capsys, "--db", str(leak_db), "--table", "leakage", "--pca-fit", "train"
    )
    assert code == 2 and "--table leakage spans the protocols" in err
    code, out, _ = run_main(
        capsys, "--db", str(leak_db), "--table", "leakage", "--scene", "salinas"
    )
    assert code == 0 and out.startswith("no leakage study")
