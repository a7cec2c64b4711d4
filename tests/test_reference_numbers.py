"""The reference table (``dashboard/reference_numbers.csv``): made exactly from a database
by ``bench/reference_numbers.py``, shown beside the paper and the user's run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import reference_numbers as ref
from harness.analysis import seeds
from harness.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "reference_numbers.py"


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory) -> Path:
    from make_results_db import write_results_db

    return write_results_db(tmp_path_factory.mktemp("synthetic") / "results.db", 160)


def _script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_the_table_is_regenerated_exactly_from_its_database(synthetic_db, tmp_path):
    out = tmp_path / "reference.csv"
    done = _script("--db", synthetic_db, "--out", out)
    assert done.returncode == 0, done.stderr
    first = out.read_bytes()
    assert _script("--db", synthetic_db, "--out", out, "--check").returncode == 0
    assert _script("--db", synthetic_db, "--out", out).returncode == 0
    assert out.read_bytes() == first  # the same database, the same bytes
    edited = first.decode().splitlines()
    last = edited[-1].split(",")
    last[8] = f"{float(last[8]) + 1e-4:.6f}"  # one mean off by 0.01 points
    out.write_text("\n".join([*edited[:-1], ",".join(last)]) + "\n")
    check = _script("--db", synthetic_db, "--out", out, "--check")
    assert check.returncode == 1 and "differs from the database" in check.stdout

    rows = ref.parse_csv(first.decode())
    with ResultStore(synthetic_db, readonly=True) as store:
        board = seeds.leaderboard(store, source="real", metrics=ref.METRICS)
    assert len(rows) == len(board) * len(ref.METRICS)
    by_key = {(r.config_hash, r.metric): r for r in rows}
    for row in board:
        for metric in ref.METRICS:
            r = by_key[(row["config_hash"], metric)]
            assert r.seeds == tuple(row["seeds"]) and r.n == row["metrics"][metric]["n"]
            assert r.mean == pytest.approx(row["metrics"][metric]["mean"], abs=1e-6)
            assert r.std == pytest.approx(row["metrics"][metric]["std"], abs=1e-6)
            assert ref.consistent(r)
            if r.n >= 2:  # a t-interval around the mean
                assert r.ci_low < np.mean(r.values) < r.ci_high
            else:
                assert r.std is None and r.ci_low is None and r.ci_high is None


def test_the_report_shows_paper_reference_and_this_run(synthetic_db, tmp_path, monkeypatch, capsys):
    from harness import report
    from harness.analysis import cells

    table = tmp_path / "reference.csv"
    with ResultStore(synthetic_db, readonly=True) as store:
        table.write_text(ref.render_csv(ref.rows_from_store(store, scene="indian_pines")))
    argv = ["--db", str(synthetic_db), "--scene", "indian_pines", "--protocol", "paper",
            "--recipe", "unified", "--pca-fit", "scene", "--table", "summary"]  # fmt: skip
    monkeypatch.setattr(ref, "REFERENCE_NUMBERS", tmp_path / "absent.csv")
    assert report.main(argv) == 0
    assert cells.REFERENCE_TITLE not in capsys.readouterr().out
    monkeypatch.setattr(ref, "REFERENCE_NUMBERS", table)
    assert report.main(argv) == 0
    out = capsys.readouterr().out
    assert f"### {cells.REFERENCE_TITLE}" in out
    lines = [line for line in out.splitlines() if line.startswith("| claresnet | OA (%)")]
    assert len(lines) == 1
    _, _, _, paper, reference, mine, _ = lines[0].split("|")
    assert paper.strip() == "99.71 ± 0.11"  # Table III
    # the same database made the reference: its numbers are this run's, with the interval
    assert reference.strip().startswith(mine.strip().split(" (n=")[0] + " [")


def test_the_checked_in_table_is_consistent_and_current(real_ip_dir):
    """Every row's aggregates are those of its per-seed values, and every configuration
    is one the suites make today on the real scene (the same config hash): a change of
    the specs' identity would leave the reference numbers matching nothing."""
    from harness.spec import config_hash
    from harness.suites import SuiteOptions, get_suite

    rows = ref.load()
    assert rows, "dashboard/reference_numbers.csv holds no row"
    assert all(ref.consistent(r) for r in rows)
    assert {r.source for r in rows} == {"real"}
    made = set()
    for suite in ("paper", "published", "leakage"):
        opts = SuiteOptions(scenes=("indian_pines",), data_dir=str(real_ip_dir), source="real")
        made |= {config_hash(spec) for spec in get_suite(suite).build(opts)}
    missing = sorted(
        {(r.model, r.recipe, r.protocol, r.pca_fit) for r in rows if r.config_hash not in made}
    )
    assert not missing, missing


ARCHIVE = ROOT / "bench" / "results" / "real_indian_pines.db.xz"


def test_the_checked_in_table_is_regenerated_exactly_from_the_archived_database(tmp_path):
    """The reference table is what the script makes of the database behind it, byte for
    byte: the database is kept, compressed, beside the code (``--archive``)."""
    import lzma

    db = tmp_path / "real_indian_pines.db"
    db.write_bytes(lzma.decompress(ARCHIVE.read_bytes()))
    done = _script("--db", db, "--out", ref.REFERENCE_NUMBERS, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    with ResultStore(db, readonly=True) as store:
        trials = store.trials(status="completed")
        assert trials and {t["source"] for t in trials} == {"real"}
        assert not any(store.model_files(t["id"]) for t in trials[:5])  # results only


def test_the_results_page_is_what_the_archived_database_gives(tmp_path):
    """docs/RESULTS.md's generated sections (Table III, the per-class and interval
    tables, the leakage table) are current with the archived database, each group once."""
    import lzma

    db = tmp_path / "real_indian_pines.db"
    db.write_bytes(lzma.decompress(ARCHIVE.read_bytes()))
    page = ROOT / "docs" / "RESULTS.md"
    done = _script("--db", db, "--out", ref.REFERENCE_NUMBERS, "--results", page, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    text = page.read_text()
    details = text[text.index("<!-- details:start -->") : text.index("<!-- details:end -->")]
    titles = [line for line in details.splitlines() if line.startswith("### Scene ")]
    assert titles and len(titles) == len(set(titles))
