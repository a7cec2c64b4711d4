"""The paper-style report: tables, paired comparisons, formats and the CLI."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness import report
from harness.analysis import csv_tables, markdown, render, tables
from harness.analysis import paired as paired_stats
from harness.result import TrialResult
from harness.spec import TrainingConfig, TrialSpec
from harness.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent

#: Hand-made per-seed test OA: CLAReSNet, two baselines and a tree model.
OA = {
    "claresnet": {0: 0.95, 1: 0.96, 2: 0.94, 3: 0.97, 4: 0.955},
    "hybridsn": {0: 0.91, 1: 0.93, 2: 0.92, 3: 0.90, 4: 0.925, 7: 0.5},
    "random_forest": {0: 0.80, 1: 0.82},
}


def spec_for(
    model: str,
    seed: int,
    *,
    scene: str = "indian_pines",
    source: str = "surrogate",
    pca_fit: str = "scene",
):
    return TrialSpec(
        model=model,
        recipe="unified",
        hparams={},
        scene=scene,
        source=source,
        scene_fingerprint=f"{scene}-{source}",
        protocol="paper",
        protocol_params={},
        seed=seed,
        n_components=30,
        pca_fit=pca_fit,
        scale="standard",
        whiten=False,
        patch_size=11,
        pad_mode="reflect",
        training=TrainingConfig(epochs=1),
        family=model.removesuffix("_tiny"),  # as make_spec takes it from the registry
    )


def result_for(model: str, seed: int, oa: float, **kw) -> TrialResult:
    tree = model == "random_forest"
    metrics = {
        "oa": oa,
        "ba": oa - 0.02,
        "kappa": oa - 0.05,
        "mcc": oa - 0.04,
        "ari": oa - 0.2,
        "centroid_distance": None if tree else 4.0 + seed,
    }
    return TrialResult(spec=spec_for(model, seed, **kw), metrics={"test": metrics})


@pytest.fixture(scope="module")
def populated_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "bench.db"
    with ResultStore(path) as store:
        for model, values in OA.items():
            for seed, oa in values.items():
                store.write(result_for(model, seed, oa))
        store.write(result_for("ssrn", 0, 0.88, scene="salinas", source="real"))
    return path


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("empty") / "empty.db"
    ResultStore(path).close()
    return path


# --------------------------------------------------------------------------- statistics


def test_paired_comparison_matches_scipy():
    ref, base = OA["claresnet"], OA["hybridsn"]
    paired = paired_stats.paired_comparison(ref, base, names=("claresnet", "hybridsn"))
    seeds = [0, 1, 2, 3, 4]  # seed 7 has no CLAReSNet result
    a = [ref[s] for s in seeds]
    b = [base[s] for s in seeds]
    assert paired.seeds == tuple(seeds) and paired.n == 5
    assert paired.mean_diff == pytest.approx(np.mean(np.subtract(a, b)))
    assert paired.t_p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert paired.wilcoxon_p == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert paired.wilcoxon_p == pytest.approx(0.0625)  # all five differences positive
    assert paired.min_p == 0.0625 and paired.note == ""


def test_paired_comparison_with_mixed_signs_and_a_zero_difference():
    ref = {0: 0.90, 1: 0.80, 2: 0.85, 3: 0.70, 4: 0.75, 5: 0.60}
    base = {0: 0.85, 1: 0.82, 2: 0.80, 3: 0.70, 4: 0.71, 5: 0.50}
    paired = paired_stats.paired_comparison(ref, base)
    a, b = list(ref.values()), list(base.values())
    assert paired.t_p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert paired.wilcoxon_p == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert paired.n == 6 and paired.n_nonzero == 5 and paired.min_p == 0.0625


def test_fewer_than_three_common_seeds_is_too_small():
    paired = paired_stats.paired_comparison(OA["claresnet"], OA["random_forest"])
    assert paired.n == 2 and paired.note == "n too small"
    assert paired.t_p is None and paired.wilcoxon_p is None
    assert paired.mean_diff == pytest.approx(((0.95 - 0.80) + (0.96 - 0.82)) / 2)
    none = paired_stats.paired_comparison({0: 0.9}, {1: 0.8})
    assert none.n == 0 and none.mean_diff is None and none.note == "n too small"


def test_identical_models_give_no_test_instead_of_a_crash():
    same = {0: 0.9, 1: 0.8, 2: 0.7}
    paired = paired_stats.paired_comparison(same, dict(same))
    assert paired.mean_diff == 0 and paired.wilcoxon_p is None and paired.t_p is None
    assert paired.note == "all differences are zero"
    group = tables.Group(
        "s", "p", "r", "real", "scene", rows=[], comparisons=[paired], references=[""]
    )
    assert "– (all differences are zero)" in markdown.render_markdown([group])


@pytest.mark.parametrize(("n", "floor"), [(3, 0.25), (5, 0.0625), (6, 0.03125), (0, 1.0)])
def test_minimum_attainable_wilcoxon_p(n, floor):
    assert paired_stats.min_wilcoxon_p(n) == floor
    if n >= 3:  # scipy's exact test reaches the floor when every sign agrees
        assert stats.wilcoxon(np.arange(1, n + 1)).pvalue == pytest.approx(floor)


# --------------------------------------------------------------------------- rendering


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = report.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_markdown_tables_and_paired_comparison(populated_db, capsys):
    code, out, err = run_main(capsys, "--db", str(populated_db))
    assert code == 0 and err == ""
    heading = "Scene {} · protocol paper · recipe unified · source {} · PCA fit on scene\n"
    assert "## " + heading.format("indian_pines", "surrogate") in out
    assert "SURROGATE: not comparable to published numbers" in out
    assert "## " + heading.format("salinas", "real") in out
    assert out.count("SURROGATE") == 1  # the real-data table carries no such note
    header = "| Model | OA (%) | BA (%) | Kappa | MCC | ARI | Avg. Dist. |"
    assert out.count(header) == 2

    clares = np.array(list(OA["claresnet"].values()))
    row = next(line for line in out.splitlines() if line.startswith("| claresnet |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"{clares.mean() * 100:.2f} ± {clares.std(ddof=1) * 100:.2f} (n=5)"
    assert cells[3] == f"{(clares - 0.05).mean():.4f} ± {(clares - 0.05).std(ddof=1):.4f} (n=5)"
    assert cells[6] == "6.00 ± 1.58 (n=5)"  # centroid distances 4..8
    forest = next(line for line in out.splitlines() if line.startswith("| random_forest |"))
    assert forest.rstrip().endswith("| – |")  # no centroid distance for a tree model
    assert "81.00 ± 1.41 (n=2)" in forest
    # Baselines first, CLAReSNet last (the paper's order).
    lines = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [line.split("|")[1].strip() for line in lines][:4] == [
        "Model",
        "hybridsn",
        "random_forest",
        "claresnet",
    ]

    assert "### Paired comparison vs claresnet" in out
    hyb = next(line for line in out.splitlines() if line.startswith("| hybridsn | 0,1,2,3,4 |"))
    a = [OA["claresnet"][s] for s in range(5)]
    b = [OA["hybridsn"][s] for s in range(5)]
    cells = [c.strip() for c in hyb.strip("|").split("|")]
    assert cells[2] == "5"
    assert cells[3] == f"{np.mean(np.subtract(a, b)) * 100:+.2f}"
    assert cells[4] == f"{stats.ttest_rel(a, b).pvalue:.4f}"
    assert cells[5] == "0.0625" and cells[6] == "0.0625"
    rf = next(line for line in out.splitlines() if line.startswith("| random_forest | 0,1 |"))
    assert rf.count("n too small") == 2
    assert "with 5 seeds a two-sided Wilcoxon signed-rank p cannot go below 0.0625" in out
    assert "cannot reach 0.05" in out
    # The salinas group has no CLAReSNet: said, not hidden.
    assert "No CLAReSNet results in this group" in out


def test_latex_uses_tabular_and_pm(populated_db, capsys):
    code, out, _ = run_main(capsys, "--db", str(populated_db), "--format", "latex")
    assert code == 0
    assert out.count(r"\begin{tabular}") == 3  # two tables and one paired comparison
    assert out.count(r"\begin{tabular}") == out.count(r"\end{tabular}")
    assert r"$95.50 \pm 1.12$ (5)" in out
    assert r"random\_forest" in out and "random_forest" not in out.replace(r"random\_forest", "")
    assert r"OA (\%)" in out and r"$\kappa$" in out
    assert "SURROGATE: not comparable to published numbers" in out
    assert "0.0625 (= $2/2^{5}$)" in out
    assert out.count("source surrogate, PCA fit on scene} \\\\") == 1
    heading = "% Scene salinas · protocol paper · recipe unified · source real · PCA fit on scene"
    assert out.count(heading + "\n") == 1
    assert "±" not in out


def test_csv_has_one_row_per_model_and_metric(populated_db, capsys):
    code, out, _ = run_main(capsys, "--db", str(populated_db), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 * len(tables.COLUMNS)  # four models (three + salinas' ssrn)
    assert set(rows[0]) == set(csv_tables.CSV_FIELDS)
    assert out.startswith("scene,protocol,recipe,source,pca_fit,model,label,config_hash,metric,")
    assert {r["pca_fit"] for r in rows} == {"scene"}
    oa = next(r for r in rows if r["model"] == "claresnet" and r["metric"] == "oa")
    values = list(OA["claresnet"].values())
    assert float(oa["mean"]) == pytest.approx(np.mean(values))  # stored units, not percent
    assert float(oa["std"]) == pytest.approx(np.std(values, ddof=1))
    assert oa["n"] == "5"
    dist = next(
        r for r in rows if r["model"] == "random_forest" and r["metric"] == "centroid_distance"
    )
    assert dist["mean"] == "" and dist["std"] == "" and dist["n"] == "0"


def test_two_pca_fits_are_two_tables(tmp_path, capsys):
    """PCA fitted on the scene or on the training pixels: one table and one paired
    comparison each, never a leak-free row beside the paper's setting."""
    path = tmp_path / "fits.db"
    with ResultStore(path) as store:
        for seed in range(3):
            for fit, drop in (("scene", 0.0), ("train", 0.05)):
                oa = 0.95 - drop + 0.01 * seed
                store.write(result_for("claresnet", seed, oa, pca_fit=fit))
                store.write(result_for("hybridsn", seed, 0.90 - 2 * drop, pca_fit=fit))
        groups = tables.collect(store)
        (train,) = tables.collect(store, pca_fit="train")
    assert [g.pca_fit for g in groups] == ["scene", "train"]
    assert train.title == groups[1].title
    for g, diff in zip(groups, (0.06, 0.11), strict=True):
        assert g.title.endswith(f"source surrogate · PCA fit on {g.pca_fit}")
        assert [r["label"] for r in g.rows] == ["hybridsn", "claresnet"]
        assert {r["pca_fit"] for r in g.rows} == {g.pca_fit}
        (c,) = g.comparisons
        assert c.n == 3 and c.mean_diff == pytest.approx(diff)

    code, out, err = run_main(capsys, "--db", str(path))
    assert code == 0 and err == "" and out.count("## Scene ") == 2
    assert out.count("### Paired comparison vs claresnet") == 2
    assert out.index("PCA fit on scene\n") < out.index("PCA fit on train\n")
    code, out, _ = run_main(capsys, "--db", str(path), "--pca-fit", "train", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert (
        code == 0
        and len(rows) == 2 * len(tables.COLUMNS)
        and {r["pca_fit"] for r in rows} == {"train"}
    )
    oa = next(r for r in rows if r["model"] == "claresnet" and r["metric"] == "oa")
    assert float(oa["mean"]) == pytest.approx(0.91)


def test_scene_filter(populated_db, capsys):
    code, out, _ = run_main(capsys, "--db", str(populated_db), "--scene", "salinas")
    assert code == 0 and "indian_pines" not in out and "ssrn" in out
    code, out, err = run_main(capsys, "--db", str(populated_db), "--scene", "pavia")
    assert code == 2 and out == ""
    assert "--scene pavia matches no completed trial" in err
    assert "indian_pines, salinas" in err
    code, out, err = run_main(capsys, "--db", str(populated_db), "--pca-fit", "train")
    assert code == 2 and out == ""
    assert "--pca-fit train matches no completed trial" in err
    assert "pca_fits with completed trials: scene" in err


@pytest.mark.parametrize("fmt", render.FORMATS)
def test_an_empty_database(empty_db, capsys, fmt):
    code, out, err = run_main(capsys, "--db", str(empty_db), "--format", fmt)
    assert code == 0
    message = tables.EMPTY_MESSAGE
    assert message.startswith("no completed trials yet — run ")
    assert message.endswith("python -m harness.run --suite quick")
    if fmt == "csv":
        assert out.strip() == ",".join(csv_tables.CSV_FIELDS) and message in err
    else:
        assert message in out


def test_a_missing_database(tmp_path, capsys):
    path = tmp_path / "missing.db"
    code, out, err = run_main(capsys, "--db", str(path))
    assert code == 2 and out == ""
    assert err.startswith("error: No results database at") and str(path) in err
    assert not path.exists()  # the report never creates a database


def test_claresnet_family_variants_are_the_reference(tmp_path):
    with ResultStore(tmp_path / "tiny.db") as store:
        for seed in range(3):
            store.write(result_for("claresnet_tiny", seed, 0.9 + 0.01 * seed))
            store.write(result_for("ssrn_tiny", seed, 0.8))
        (group,) = tables.collect(store)
    assert group.references == ["claresnet_tiny"]
    (comparison,) = group.comparisons
    assert comparison.baseline == "ssrn_tiny" and comparison.n == 3


# --------------------------------------------------------------------------- the CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exit_codes_and_no_tracebacks(populated_db, empty_db, tmp_path):
    done = cli("--db", str(populated_db), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert "| claresnet |" in done.stdout and "Traceback" not in done.stderr

    done = cli("--db", str(empty_db))
    assert done.returncode == 0 and "no completed trials yet" in done.stdout

    done = cli("--db", str(tmp_path / "nowhere" / "missing.db"))
    assert done.returncode == 2 and done.stdout == ""
    assert "error:" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- detail tables

#: Accuracy of each model's synthetic predictions, and the classes of the detail database
#: (class 4 never has a test pixel).
DETAIL_ACCURACY = {"claresnet": 0.9, "hybridsn": 0.8, "random_forest": 0.84}
DETAIL_CLASSES = ["Alfalfa", "Corn", "Oats", "Wheat"]


def detail_result(model: str, seed: int, *, keep_predictions: bool = True, keep_ci: bool = True):
    """A trial as harness.trial assembles it, from synthetic predictions of one seed's
    test set (the same pixels for every model of that seed)."""
    from harness import metrics as M
    from harness.trial.evaluate import sha256_of_test_set

    split = np.random.default_rng(seed)
    index = np.sort(split.choice(2000, 400, replace=False))
    truth = split.integers(0, 3, index.size)  # classes 1-3; class 4 is never tested
    noise = np.random.default_rng([seed, len(model)])
    wrong = (truth + noise.integers(1, 4, truth.size)) % 4
    pred = np.where(noise.random(truth.size) < DETAIL_ACCURACY[model] - 0.02 * seed, truth, wrong)
    out = M.evaluate(truth, np.eye(4)[pred], 4, DETAIL_CLASSES, seed=seed, tsne_max=0)
    metrics = dict(out["metrics"])
    if keep_ci:
        metrics.update(out["intervals"])
    return TrialResult(
        spec=spec_for(model, seed),
        metrics={"test": metrics},
        per_class=out["per_class"],
        confusion=out["confusion"],
        test_predictions={"index": index, "truth": truth + 1, "pred": pred + 1}
        if keep_predictions
        else None,
        info={"test_set_sha256": sha256_of_test_set(index, (40, 50))} if keep_predictions else {},
    )


@pytest.fixture(scope="module")
def detail_db(tmp_path_factory) -> tuple[Path, dict[tuple[str, int], TrialResult]]:
    path = tmp_path_factory.mktemp("details") / "details.db"
    results = {}
    with ResultStore(path) as store:
        for model in DETAIL_ACCURACY:
            for seed in range(3):
                old = model == "random_forest" and seed == 2  # stored before the new fields
                result = detail_result(model, seed, keep_predictions=not old, keep_ci=not old)
                store.write(result)
                results[(model, seed)] = result
    return path, results


def _csv(capsys, path, *args):
    code, out, err = run_main(capsys, "--db", str(path), "--format", "csv", *args)
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def test_per_class_table_is_mean_and_std_over_seeds_with_the_best_marked(detail_db, capsys):
    path, results = detail_db
    rows = _csv(capsys, path, "--table", "per-class")
    assert len(rows) == 3 * 4  # three models x four classes
    for model in DETAIL_ACCURACY:
        for label in (1, 2, 3):
            recalls = [results[(model, s)].per_class[label - 1]["recall"] for s in range(3)]
            (row,) = [r for r in rows if r["model"] == model and r["class_label"] == str(label)]
            assert float(row["mean"]) == pytest.approx(np.mean(recalls))
            assert float(row["std"]) == pytest.approx(np.std(recalls, ddof=1))
            assert row["n"] == "3" and row["class_name"] == DETAIL_CLASSES[label - 1]
    for label in (1, 2, 3):
        mine = [r for r in rows if r["class_label"] == str(label)]
        best = max(mine, key=lambda r: float(r["mean"]))
        assert [r["best"] for r in mine].count("True") == 1 and best["best"] == "True"
    wheat = [r for r in rows if r["class_label"] == "4"]
    assert all(r["mean"] == "" and r["seeds_without_test_pixels"] == "3" for r in wheat)
    f1 = _csv(capsys, path, "--table", "per-class", "--class-metric", "f1")
    got = next(r for r in f1 if r["model"] == "hybridsn" and r["class_label"] == "2")
    assert float(got["mean"]) == pytest.approx(
        np.mean([results[("hybridsn", s)].per_class[1]["f1"] for s in range(3)])
    )

    code, out, _ = run_main(capsys, "--db", str(path), "--table", "per-class")
    assert code == 0 and "### Per-class accuracy (recall, %)" in out
    assert "| 4 Wheat | no test pixel | no test pixel | no test pixel |" in out
    assert "OA (%)" not in out.split("### Per-class")[0]  # --table per-class: no summary
    aa_line = next(line for line in out.splitlines() if line.startswith("| AA (%) |"))
    aa = [results[("claresnet", s)].metrics["test"]["aa"] for s in range(3)]
    assert f"{100 * np.mean(aa):.2f} ± {100 * np.std(aa, ddof=1):.2f}" in aa_line
    assert out.count("**") >= 2 * 3  # a best cell per tested class


def test_mcnemar_pairs_seeds_on_the_same_pixels_and_combines_them(detail_db, capsys):
    from scipy.stats import combine_pvalues
    from statsmodels.stats.contingency_tables import mcnemar

    path, results = detail_db
    rows = _csv(capsys, path, "--table", "mcnemar")
    hyb = [r for r in rows if r["baseline"] == "hybridsn"]
    assert [r["seed"] for r in hyb] == ["0", "1", "2"]
    for r in hyb:
        ref = results[("claresnet", int(r["seed"]))].test_predictions
        base = results[("hybridsn", int(r["seed"]))].test_predictions
        a, b = ref["pred"] == ref["truth"], base["pred"] == base["truth"]
        table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
        assert float(r["p"]) == pytest.approx(mcnemar(table, exact=True).pvalue)
        assert int(r["reference_only_correct"]) == table[0][1]
        assert int(r["test_pixels"]) == 400
    fisher = combine_pvalues([float(r["p"]) for r in hyb], method="fisher").pvalue
    assert float(hyb[0]["combined_p"]) == pytest.approx(fisher)
    rf = [r for r in rows if r["baseline"] == "random_forest"]
    assert [r["seed"] for r in rf] == ["0", "1"]  # seed 2 was stored without predictions

    code, out, _ = run_main(capsys, "--db", str(path))
    assert code == 0 and "### McNemar's test vs claresnet" in out
    line = next(x for x in out.splitlines() if x.startswith("| hybridsn | 3 |"))
    n_sig = sum(float(r["p"]) < 0.05 for r in hyb)
    assert f"| {n_sig} of 3 |" in line
    assert "random_forest: seed(s) 2 have no stored test predictions" in out


def test_bootstrap_intervals_per_trial_also_for_trials_stored_without_them(detail_db, capsys):
    from harness import metrics as M

    path, results = detail_db
    rows = _csv(capsys, path, "--table", "intervals")
    assert len(rows) == 9 * 3  # nine trials x OA, AA, kappa
    for r in rows:
        result = results[(r["model"], int(r["seed"]))]
        expected = M.bootstrap_intervals(result.confusion, int(r["seed"]))  # also seed 2's RF
        assert float(r["ci_low"]) == pytest.approx(expected[f"{r['metric']}_ci_low"])
        assert float(r["ci_high"]) == pytest.approx(expected[f"{r['metric']}_ci_high"])
        assert float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"])
    code, out, _ = run_main(capsys, "--db", str(path))
    assert "### Bootstrap 95 % intervals per trial" in out
    oa = results[("claresnet", 0)].metrics["test"]
    assert f"| claresnet | 0 | {100 * oa['oa']:.2f} [{100 * oa['oa_ci_low']:.2f}, " in out


def test_detail_tables_in_latex_and_the_csv_table_choice(detail_db, capsys):
    path, _ = detail_db
    code, out, _ = run_main(capsys, "--db", str(path), "--format", "latex")
    assert code == 0 and out.count(r"\begin{tabular}") == out.count(r"\end{tabular}") == 5
    assert r"\textbf{" in out and r"$\pm$" in out and "±" not in out and "–" not in out
    with pytest.raises(SystemExit) as exit_:
        report.main(["--db", str(path), "--format", "csv", "--table", "all"])
    assert exit_.value.code == 2 and "--format csv writes one table" in capsys.readouterr().err
    summary = _csv(capsys, path)  # CSV without --table: the summary, as before
    assert set(summary[0]) == set(csv_tables.CSV_FIELDS)


def test_a_trial_that_is_not_a_result_is_marked_in_every_format(tmp_path, capsys):
    """A model that predicts one class is marked NOT A RESULT in the Markdown, LaTeX and
    CSV reports; a model that learned is not."""
    db = tmp_path / "collapsed.db"
    with ResultStore(db) as store:
        for seed in (0, 1):
            learned = result_for("hybridsn", seed, 0.9)
            learned.metrics["test"] |= {"majority_rate": 0.25, "top_prediction_share": 0.3}
            store.write(learned)
            collapsed = result_for("claresnet_tiny", seed, 0.26)
            collapsed.metrics["test"] |= {"majority_rate": 0.25, "top_prediction_share": 0.97}
            store.write(collapsed)
    outputs = {}
    for fmt in ("markdown", "latex", "csv"):
        assert report.main(["--db", str(db), "--format", fmt]) == 0
        outputs[fmt] = capsys.readouterr().out
    marked = [line for line in outputs["markdown"].splitlines() if "NOT A RESULT" in line]
    assert any(line.startswith("| claresnet_tiny **(NOT A RESULT: predicts one class)**")
               for line in marked), marked  # fmt: skip
    assert not any("hybridsn" in line for line in marked)
    assert tables.NOT_A_RESULT_NOTE in outputs["markdown"]
    assert r"claresnet\_tiny \textbf{(NOT A RESULT: predicts one class)}" in outputs["latex"]
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    notes = {(r["model"], r["note"]) for r in rows}
    assert notes == {("claresnet_tiny", "NOT A RESULT: predicts one class"), ("hybridsn", "")}


def test_a_seed_that_is_not_a_result_is_left_out_of_the_means(tmp_path, capsys):
    """One collapsed seed of three: the means, std and n are over the other two, each
    format names the seed left out, and ``include_not_results`` keeps it."""
    from harness.analysis import seeds

    db = tmp_path / "one_seed_collapsed.db"
    with ResultStore(db) as store:
        for seed, oa in ((0, 0.90), (1, 0.80), (2, 0.26)):
            result = result_for("hybridsn", seed, oa)
            share = 0.97 if seed == 2 else 0.3
            result.metrics["test"] |= {"majority_rate": 0.25, "top_prediction_share": share}
            store.write(result)
    with ResultStore(db, readonly=True) as store:
        (row,) = seeds.leaderboard(store)
        (everything,) = seeds.leaderboard(store, include_not_results=True)
    assert row["metrics"]["oa"]["n"] == 2 and row["metrics"]["oa"]["mean"] == pytest.approx(0.85)
    assert row["left_out"] == {2: "predicts one class"} and row["not_a_result"] is None
    assert sorted(row["per_seed"]["oa"]) == [0, 1] and row["seeds"] == row["trial_seeds"] == [0, 1]
    assert len(row["trial_ids"]) == 2 and len(row["left_out_trial_ids"]) == 1  # per-class too
    assert everything["metrics"]["oa"]["n"] == 3 and everything["left_out"] == {}
    assert everything["metrics"]["oa"]["mean"] == pytest.approx((0.90 + 0.80 + 0.26) / 3)
    assert tables.not_a_result(row) is None  # the row is a result: two seeds learned
    from harness import run_output  # the run's summary says so too

    assert run_output.shown_oa([row]) == (
        "0.8500 (seed 2 left out of the means (NOT A RESULT: predicts one class))"
    )

    note = "seed 2 left out of the means (NOT A RESULT: predicts one class)"
    outputs = {}
    for fmt in ("markdown", "latex", "csv"):
        assert report.main(["--db", str(db), "--format", fmt]) == 0
        outputs[fmt] = capsys.readouterr().out
    assert f"- hybridsn: {note}" in outputs["markdown"]
    assert "| hybridsn | 85.00 ± 7.07 (n=2) |" in outputs["markdown"]
    assert f"hybridsn: {note}" in outputs["latex"]
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert {r["note"] for r in rows} == {note}
    assert {r["n"] for r in rows if r["metric"] == "oa"} == {"2"}
    assert report.main(["--db", str(db), "--format", "csv", "--include-not-results"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["n"] for r in rows if r["metric"] == "oa"} == {"3"} and {r["note"] for r in rows} == {
        ""
    }


def test_a_model_that_is_not_a_result_is_never_a_class_best():
    """A collapsed model has 100 % recall on the one class it predicts: shown, never bold."""
    from harness.analysis.significance import class_table

    rows = [
        {"label": "hybridsn", "trial_ids": [1], "metrics": {}, "not_a_result": None},
        {"label": "claresnet_tiny", "trial_ids": [2], "metrics": {},
         "not_a_result": "predicts one class"},
    ]  # fmt: skip
    class_rows = [
        {"trial_id": 1, "label": 1, "name": "Corn", "recall": 0.7, "f1": 0.7, "support": 10},
        {"trial_id": 1, "label": 2, "name": "Soy", "recall": 0.8, "f1": 0.8, "support": 10},
        {"trial_id": 2, "label": 1, "name": "Corn", "recall": 1.0, "f1": 0.6, "support": 10},
        {"trial_id": 2, "label": 2, "name": "Soy", "recall": 0.0, "f1": 0.0, "support": 10},
    ]
    table = class_table(rows, class_rows)
    assert table.cells[(1, "claresnet_tiny")].mean == 1.0  # shown
    assert table.best == {1: {"hybridsn"}, 2: {"hybridsn"}}  # never the best
