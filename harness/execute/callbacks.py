"""Tune callbacks and schedulers on the driver: the progress lines with their ETA and
the pruned trials' records, and ASHA that remembers what it stopped.

Epoch reports reach the driver through ``tune.report`` (they are Tune's results: the
scheduler and the searcher read them). The progress within a long phase of a trial
(the batches of an epoch, the pixels of the map phase: :mod:`harness.trial.ticker`)
must not be a Tune result, which would count as a training iteration (ASHA's time
unit) and lack the searcher's metric; it travels through the run's progress board
instead, a small Ray actor that the trials post to and the driver's callback reads
at every step of Tune's loop.
"""

from __future__ import annotations

import time
from typing import Any

from ..spec import TrialSpec
from .keys import DONE_KEY, describe, spec_of
from .options import RunView
from .progress import (
    EpochLines,
    EtaEstimator,
    epoch_event,
    history_from_store,
    phase_event,
    status_line,
)

#: Seconds between two reads of the progress board by the driver.
BOARD_POLL_SECONDS = 1.0


def board_name(writer_name: str) -> str:
    """The name of a run's progress board (beside its writer, ``hsi-result-writer-ID``)."""
    return f"{writer_name}-progress"


def progress_board(writer_name: str) -> Any:
    """The run's progress board (a Ray actor), created on first use.

    Trials post ``(Tune trial id, progress dict)`` with ``post``; the driver takes
    what was posted with ``take``.
    """
    import ray

    @ray.remote(num_cpus=0)
    class ProgressBoard:
        """Phase progress posted by the trials, until the driver takes it."""

        def __init__(self) -> None:
            self.posted: list[tuple[str, dict[str, Any]]] = []

        def post(self, trial_id: str, progress: dict[str, Any]) -> None:
            self.posted.append((trial_id, progress))

        def take(self) -> list[tuple[str, dict[str, Any]]]:
            posted, self.posted = self.posted, []
            return posted

    actor: Any = ProgressBoard
    return actor.options(name=board_name(writer_name), get_if_exists=True).remote()


def progress_callback_class():
    from ray import tune

    class Progress(tune.Callback):
        """Driver-side view of the trials: a progress line per event and per epoch
        (throttled), an ETA from the expected cost of the trials left, and the
        "pruned" record of trials that the scheduler stopped early. The logic lives
        in :mod:`harness.execute.progress`; this adapter feeds it Tune's events.

        Args:
            ctx: the run.
            total: trials of this Tuner.
            label: the Tuner's label in the lines.
            pruner: the scheduler that stops trials early (search), or None.
            param_space: the Tuner's param space (the planned specs: a grid's
                ``spec`` list, or ``total`` times a study's ``base`` spec).
        """

        def __init__(
            self,
            ctx: RunView,
            total: int,
            label: str,
            pruner: Any = None,
            param_space: dict[str, Any] | None = None,
        ) -> None:
            self.ctx = ctx
            self.pruner = pruner
            self.total = total
            self.label = label
            self.t0 = time.perf_counter()
            self.running: set[str] = set()
            self.ended: dict[str, str] = {}
            self.history: dict[str, list[dict[str, Any]]] = {}
            self.specs: dict[str, TrialSpec] = {}
            # one query: the completed trials' timings in the database
            self.eta = EtaEstimator(
                history_from_store(ctx.store),
                concurrency=ctx.options.max_concurrent,
                maps=ctx.options.maps,
            )
            self.eta.plan(self.planned(param_space or {}, total))
            self.epoch_lines = EpochLines()
            self.board = progress_board(ctx.writer_name) if ctx.writer_name else None
            self.polled = 0.0

        @staticmethod
        def planned(param_space: dict[str, Any], total: int) -> list[TrialSpec]:
            grid = param_space.get("spec")
            if isinstance(grid, dict) and "grid_search" in grid:
                return [TrialSpec.from_json(s) for s in grid["grid_search"]]
            if "base" in param_space:
                return [TrialSpec.from_json(param_space["base"])] * total
            return []

        def __getstate__(self) -> dict[str, Any]:
            # Tune pickles its callbacks with the experiment state; the run context
            # (database engine, actor handle) stays with the driver.
            return {**self.__dict__, "ctx": None}

        # counts ----------------------------------------------------------------
        def counts(self) -> dict[str, int]:
            ended = list(self.ended.values())
            return {
                "done": ended.count("completed"),
                "pruned": ended.count("pruned"),
                "failed": ended.count("failed"),
                "running": len(self.running),
                "remaining": max(0, self.total - len(self.ended) - len(self.running)),
            }

        def line(self, event: str) -> str:
            counts = {**self.counts(), "finished": len(self.ended)}
            elapsed = time.perf_counter() - self.t0
            return status_line(
                self.label, self.total, counts, elapsed, self.eta.eta().text(), event
            )

        def say(self, event: str | None) -> None:
            if self.ctx.out is not None and event is not None:
                print(self.line(event), file=self.ctx.out, flush=True)

        def spec(self, trial: Any) -> TrialSpec:
            if trial.trial_id not in self.specs:
                self.specs[trial.trial_id] = spec_of(trial)
            return self.specs[trial.trial_id]

        def poll(self, force: bool = False) -> None:
            """Show the phase progress the trials posted (at most every
            :data:`BOARD_POLL_SECONDS`, or now with ``force``)."""
            import ray

            now = time.monotonic()
            if self.board is None or (not force and now - self.polled < BOARD_POLL_SECONDS):
                return
            self.polled = now
            try:
                posted = ray.get(self.board.take.remote(), timeout=10)
            except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
                return  # progress lines are a view: a run never fails for them
            for trial_id, progress in posted:
                spec = self.specs.get(trial_id)
                if spec is None or trial_id not in self.running:
                    continue  # a trial that ended meanwhile
                self.eta.phase(trial_id, progress)
                self.say(phase_event(describe(spec), progress, spec.training.epochs))

        def ended_trial(self, trial: Any, fit_seconds: float | None = None) -> None:
            """Forget a trial that ended; show its held-back last epoch first."""
            self.poll(force=True)
            self.say(self.epoch_lines.flush(trial.trial_id))
            self.eta.finish(trial.trial_id, fit_seconds)
            self.specs.pop(trial.trial_id, None)

        # Tune events -----------------------------------------------------------
        def on_step_end(self, iteration, trials, **info):
            self.poll()

        def on_trial_start(self, iteration, trials, trial, **info):
            self.running.add(trial.trial_id)
            self.history.setdefault(trial.trial_id, [])
            self.eta.start(trial.trial_id, self.spec(trial))
            self.say(f"started  {describe(self.spec(trial))}")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if DONE_KEY in result:
                return
            self.history.setdefault(trial.trial_id, []).append(dict(result))
            if "epoch" not in result:
                return
            spec, epoch = self.spec(trial), int(result["epoch"])
            self.eta.epoch(trial.trial_id, epoch, spec.training.epochs, result)
            text = epoch_event(describe(spec), result, spec.training.epochs)
            self.say(self.epoch_lines.offer(trial.trial_id, epoch, spec.training.epochs, text))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            spec = self.spec(trial)
            last = trial.last_result or {}
            learn = last.get(DONE_KEY) and not last.get("reused")
            self.ended_trial(trial, float(last.get("fit_seconds") or 0.0) if learn else None)
            if last.get(DONE_KEY):
                self.ended[trial.trial_id] = "completed"
                self.ctx.summary.completed.append(spec.spec_hash)
                detail = (
                    f"val OA {last.get('val_acc', 0):.3f} (stored before)"
                    if last.get("reused")
                    else f"test OA {last.get('test_oa', 0):.3f}, fit {last.get('fit_seconds', 0):.1f} s"
                )
                if not last.get("reused") and (note := _done_note(last)):
                    detail += f" (NOT A RESULT: {note})"
                self.say(f"done     {describe(spec)}: {detail}")
            elif self.pruner is None or trial.trial_id not in self.pruner.stopped:
                self.ended[trial.trial_id] = "interrupted"  # stopped by Ctrl-C, not pruned
            else:
                self.ended[trial.trial_id] = "pruned"
                self.ctx.summary.pruned.append(spec.spec_hash)
                epochs = self.history.get(trial.trial_id, [])
                self.ctx.write_pruned(spec, epochs)
                best = max((e.get("val_acc", 0.0) for e in epochs), default=0.0)
                self.say(
                    f"pruned   {describe(spec)} after {len(epochs)} epoch(s), val OA {best:.3f}"
                )

        def on_trial_error(self, iteration, trials, trial, **info):
            self.running.discard(trial.trial_id)
            spec = self.spec(trial)
            self.ended_trial(trial)
            self.ended[trial.trial_id] = "failed"
            # the error as the writer stored it (none when the trial died before its write)
            stored = self.ctx.stored_failure(spec)
            error = (
                stored.error
                if stored is not None and stored.error
                else "error (see Tune's log of the trial)"
            )
            self.ctx.summary.failed[spec.spec_hash] = error.strip().splitlines()[-1][:300]
            self.say(f"FAILED   {describe(spec)} (error stored in the database)")

    return Progress


def pruning_asha(**kwargs: Any) -> Any:
    """Tune's ASHA scheduler, remembering which trials it stopped (they were pruned).

    A trial that has trained all its epochs is never stopped: ASHA's top rung can
    equal ``max_t``, and a stop there would drop the test evaluation of a trial
    that finished (it goes on to store its result instead).
    """
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class PruningASHA(ASHAScheduler):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.stopped: set[str] = set()

        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == TrialScheduler.STOP and DONE_KEY not in result:
                if result.get(self._time_attr, 0) >= self._max_t:
                    return TrialScheduler.CONTINUE  # trained every epoch: not pruned
                self.stopped.add(trial.trial_id)
            return decision

    return PruningASHA(**kwargs)


def _done_note(last: dict[str, Any]) -> str | None:
    """Why a trial that just finished is not a result, or None (its final report's test
    OA and collapse diagnostics: :func:`harness.metrics.one_class_note`)."""
    if "test_majority_rate" not in last:  # a trainable that does not report them
        return None
    from ..metrics import one_class_note

    return one_class_note(
        last.get("test_oa"), last.get("test_majority_rate"), last.get("test_top_prediction_share")
    )
