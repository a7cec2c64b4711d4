"""Export real-data results into the reference table and the tables of docs/RESULTS.md.

From a results database (``bench/real_indian_pines.py`` fills one) this writes

- ``dashboard/reference_numbers.csv``: per real-data configuration and metric (OA, BA,
  kappa) the mean, sample std and 95 % t-interval over seeds, the seeds, their values
  and the commits (:mod:`harness.analysis.reference_numbers`); the report and the Paper tables
  page show it beside the paper's numbers and the user's own run when the
  configuration (model, recipe, protocol, preprocessing, data) is the same;
- with ``--results docs/RESULTS.md``: its generated sections (between ``<!-- NAME:start
  -->`` and ``<!-- NAME:end -->`` markers), Table III side by side (paper, this
  project, difference, whether the paper's mean is inside the interval), the
  per-class tables and McNemar's tests of each group, every trial's bootstrap
  intervals, and the leakage table.

The output is a function of the database alone (no dates, no paths): running it again
on the same database writes the same bytes, which ``--check`` verifies.

    python bench/reference_numbers.py --db real_indian_pines.db [--results docs/RESULTS.md]
        [--archive bench/results/real_indian_pines.db.xz]
    python bench/reference_numbers.py --db real_indian_pines.db --check

``--archive`` keeps the database itself, compressed, beside the code: the test
suite regenerates the reference table from it byte for byte, and ``xz -dk`` gives
a database that ``bench/real_indian_pines.py --db`` continues.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.analysis import reference_numbers as ref  # noqa: E402
from harness.analysis import seeds  # noqa: E402

HEADER = (
    "Reference numbers of this project, measured on real data (docs/RESULTS.md).",
    "One row per configuration (config_hash: model, recipe, protocol, preprocessing,",
    "training and data) and metric; mean, sample std and the 95 % t-interval of the",
    "mean over the seeds, as fractions; values: the seeds' values, in the order of seeds;",
    "commits: the code that ran them. Regenerate: python bench/reference_numbers.py --db DB",
)
PP = 100.0


def table3(rows: list[ref.ReferenceRow], families: dict[str, str]) -> str:
    """Table III side by side: per recipe and model, OA / BA / kappa against the paper."""
    paper = ref.paper_cells()
    lines = [
        "| recipe | model | seeds | metric | paper (mean ± std) | this project (mean ± std) "
        "| 95 % interval of the mean | difference | paper's mean in the interval |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    chosen = [
        r
        for r in rows
        if r.scene == "indian_pines" and r.protocol == "paper" and r.pca_fit == "scene"
    ]
    for r in sorted(chosen, key=lambda r: (r.recipe, _order(r.model), ref.METRICS.index(r.metric))):
        scale = PP if r.metric in ("oa", "ba") else 1.0
        digits = 2 if scale == PP else 4
        cell = paper.get((r.scene, families.get(r.model, r.model), r.metric))

        def fmt(mean: float | None, std: float | None, scale=scale, digits=digits) -> str:
            if mean is None:
                return "–"
            text = f"{scale * mean:.{digits}f}"
            return text if std is None else f"{text} ± {scale * std:.{digits}f}"

        interval = (
            "–"
            if r.ci_low is None or r.ci_high is None
            else f"[{scale * r.ci_low:.{digits}f}, {scale * r.ci_high:.{digits}f}]"
        )
        if cell is None:
            theirs, diff, inside = "–", "–", "–"
        else:
            theirs = fmt(*cell)
            diff = f"{scale * (r.mean - cell[0]):+.{digits}f}"
            inside = (
                "–"
                if r.ci_low is None or r.ci_high is None
                else ("yes" if r.ci_low <= cell[0] <= r.ci_high else "no")
            )
        lines.append(
            f"| {r.recipe} | {r.model} | {r.n} | {r.metric} | {theirs} | {fmt(r.mean, r.std)} "
            f"| {interval} | {diff} | {inside} |"
        )
    return "\n".join(lines) + "\n"


def _order(model: str) -> int:
    from harness.suites import PAPER_MODELS

    return PAPER_MODELS.index(model) if model in PAPER_MODELS else len(PAPER_MODELS)


def _demoted(markdown: str) -> str:
    """The report's Markdown one heading level down (the page has its own title)."""
    return "\n".join(
        ("#" + line) if line.startswith("#") else line for line in markdown.split("\n")
    )


def details(store) -> str:
    """The report's per-class tables, McNemar's tests and intervals of the real-data
    paper-protocol groups."""
    from harness.analysis import render, tables

    groups = tables.collect(store, source="real", protocol="paper")
    for group in groups:
        tables.add_details(group, store, ("per-class", "mcnemar", "intervals"), "recall")
    # a detail table's Markdown holds every detail table the groups were filled with
    return _demoted(render.render(groups, "markdown", "per-class"))


def leakage(store) -> str:
    from harness.analysis import leakage as leak

    tables = leak.collect(store, source="real")
    return _demoted(leak.render(tables, "markdown")) if tables else leak.EMPTY_MESSAGE


def with_section(text: str, name: str, body: str) -> str:
    """``text`` with its generated section ``name`` (between ``<!-- name:start -->`` and
    ``<!-- name:end -->``) replaced by ``body``, or appended when it has none."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    i, j = text.find(start), text.find(end)
    if i != -1 and j > i:
        return text[:i] + block + text[j + len(end) :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def results_page(path: Path, store, rows) -> str:
    """The page at ``path`` with its generated sections made from ``store``."""
    text = path.read_text() if path.exists() else "# Results on real data\n"
    families = {r["model"]: r["family"] for r in seeds.leaderboard(store, source="real")}
    text = with_section(text, "table3", table3(rows, families))
    text = with_section(text, "details", details(store))
    return with_section(text, "leakage", leakage(store))


def archive(db: str, dest: Path) -> None:
    """A compressed copy of a SQLite results database that the reference table can be
    regenerated from (``--check``) and a run can resume from (``xz -dk FILE.xz``).

    The copy is taken with SQLite's backup API (consistent while a run writes), its
    ``model_files`` rows are dropped (the files are not in the copy, so no reader
    reports them missing) and it is vacuumed, then xz-compressed into a temporary file
    renamed into place.
    """
    import lzma
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        with target:
            source.backup(target)
        source.close()
        target.execute("DELETE FROM model_files")
        target.commit()
        target.execute("VACUUM")
        target.close()
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")
        with lzma.open(part, "wb", preset=9) as out:
            out.write(copy.read_bytes())
        os.replace(part, dest)


def _atomic_write(path: Path, text: str) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(text)
    os.replace(part, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", required=True, help="the results database")
    ap.add_argument(
        "--out", type=Path, default=ref.REFERENCE_NUMBERS, help="the reference table to write"
    )
    ap.add_argument("--results", type=Path, help="also write the generated sections of this page")
    ap.add_argument(
        "--archive",
        type=Path,
        metavar="FILE.xz",
        help="also keep a compressed copy of the database here (its results without the "
        "saved-model rows: the trained models stay in the database's own artifact folder)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="write nothing: exit 1 unless --out (and --results) are exactly what the "
        "database gives",
    )
    args = ap.parse_args(argv)
    from harness.store import ResultStore

    with ResultStore(args.db, readonly=True) as store:
        rows = ref.rows_from_store(store)
        text = ref.render_csv(rows, HEADER)
        page = results_page(args.results, store, rows) if args.results else None
        if args.check:
            stale = [p for p, new in ((args.out, text), (args.results, page)) if p and new
                     and not (p.is_file() and p.read_text() == new)]  # fmt: skip
            for path in (args.out, args.results):
                if path:
                    state = "differs from the database" if path in stale else "up to date"
                    print(f"{path}: {state}")
            return 1 if stale else 0
        _atomic_write(args.out, text)
        print(f"wrote {args.out} ({len(rows)} rows)")
        if args.archive:
            archive(args.db, args.archive)
            print(f"wrote {args.archive}")
        if args.results and page is not None:
            _atomic_write(args.results, page)
            print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
