"""The single database writer: a Ray actor pinned to the driver's node, the only
process that opens the database."""

from __future__ import annotations

from ..result import TrialResult
from ..spec import TrialSpec
from ..store import ResultStore, Stored


def writer_class():
    import ray

    @ray.remote(num_cpus=0, max_restarts=-1)
    class ResultWriter:
        """The single database writer (a Ray actor on the driver's node)."""

        def __init__(self, url: str, run_id: int, artifacts: str | None) -> None:
            self.store = ResultStore(url, artifacts=artifacts)
            self.run_id = run_id
            #: The last failed result stored of each spec in this run (see failure()).
            self.failures: dict[str, Stored] = {}

        def mark_running(self, spec_json: str, fresh: bool) -> int:
            return self.store.mark_running(TrialSpec.from_json(spec_json), self.run_id, fresh=fresh)

        def write(self, result: TrialResult) -> Stored:
            # the result arrives as Ray serialised it (its NumPy arrays zero-copy, read-only)
            stored = self.store.write(result, self.run_id)
            if stored.status == "failed":
                self.failures[stored.spec_hash] = stored
            return stored

        def failure(self, spec_hash: str) -> Stored | None:
            """What the last failed attempt of ``spec_hash`` stored in this run, if any."""
            return self.failures.get(spec_hash)

        def completed_metric(self, spec_hash: str) -> tuple[int, float | None] | None:
            return self.store.completed_metric(spec_hash)

    return ResultWriter
