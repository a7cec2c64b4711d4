"""The results store: one SQL database (SQLite file or any SQLAlchemy URL) for every trial.

One writer: trials never open the database; the driver hands each
:class:`~harness.result.TrialResult` to :meth:`ResultStore.write`, which stores it in
one transaction (trial row, metrics, per-class rows, artifacts), so a crash never
leaves half a trial. Readers (the report, the dashboard) use the read API, which
returns plain dicts and lists.

    store = ResultStore("results/bench.db")                 # a path, or a URL
    run_id = store.start_run("python -m harness.run --suite quick", "quick",
                             collect_provenance())
    tid = store.mark_running(spec, run_id)                  # optional: resumable status
    store.write(result, run_id)                             # completes that row
    store.finish_run(run_id, "completed")
    store.seed_values(scene="indian_pines")                # analysis.seeds.leaderboard: stats

Identity: a trial is its ``spec_hash``; each run of a spec is an *attempt*
(``attempt`` 1, 2, ...). Writing a completed result for a spec that already has a
completed attempt stores nothing and returns the existing id; a new attempt comes
only from ``mark_running(spec, fresh=True)``. The read API counts the latest
completed attempt of each spec.

Saved models: a result's ``model_files`` (the trial's fitted model, preprocessing and
manifest) are kept in the artifact folder (:mod:`harness.store.artifact_store`;
``NAME.artifacts`` beside a SQLite file ``NAME.db``, or ``artifacts=DIR``) and listed
in ``model_files`` rows, in the trial's transaction: staged before it, published after
its commit, discarded if it fails. A store with no artifact folder (a server
database without ``artifacts=``) keeps no model files.

The package, one job a module: :mod:`~harness.store.facade` (:class:`ResultStore`),
:mod:`~harness.store.engine` (URLs, SQLite checks, sessions, error wording),
:mod:`~harness.store.schema` (the tables), :mod:`~harness.store.migrate` (revisions,
upgrade, the schema gate; the Alembic scripts in ``migrations/``),
:mod:`~harness.store.writer` (attempts, the one-transaction write),
:mod:`~harness.store.runs`, :mod:`~harness.store.studies`,
:mod:`~harness.store.queries` (leaderboard, per-seed values, best trial, timings),
:mod:`~harness.store.reads` (rows and artifacts), :mod:`~harness.store.files` (saved
models), :mod:`~harness.store.artifact_store` (the folder) and
:mod:`~harness.store.artifact_codec` (the npz codec).
"""

from .errors import ArtifactWarning, StoreError
from .facade import ResultStore
from .writer import Stored

__all__ = ["ArtifactWarning", "ResultStore", "StoreError", "Stored"]
