"""Mirror a run's trials to MLflow (``python -m harness.run --track mlflow``).

Imported only when a run tracks (:attr:`harness.execute.RunOptions.track`), and
``mlflow`` only then: it is an optional extra (``pip install -e '.[mlflow]'``).

The results database stays the source of truth; MLflow gets a copy. Each Tune
trial becomes one MLflow run (one per attempt when Tune retries a failed trial),
logged from the driver by Ray Tune's own ``MLflowLoggerCallback``, subclassed so
that the run holds:

- its name ``{model}-{scene}-s{seed}-{spec_hash[:8]}`` and the tags ``hsi.spec_hash``,
  ``hsi.db`` (the database, its password hidden), ``hsi.run_id`` (the harness's run),
  then ``hsi.trial_id``, ``hsi.attempt`` (the stored trial's id and attempt) and
  ``hsi.status``; a trial that is not a result (it predicts one class, or does no
  better than the majority class) also gets ``hsi.not_a_result`` (why) and the run
  description "NOT A RESULT: ...";
- the trial's parameters: the spec, flattened (``hparams.emb_dim``, ``training.lr``...)
  with ``spec_hash`` and ``config_hash``; never the Tune config itself (a JSON
  ``spec`` string and the resource table of the whole grid);
- the per-epoch metrics the trial reports to Tune, with step = epoch;
- when the trial is stored: its metrics as the database holds them (``test_oa``,
  ``val_kappa``... as ``{split}_{name}``; ``fit_seconds``, ``epochs_run``) and its
  saved model's files under ``model/`` (``model.safetensors``,
  ``preprocessing.skops``, ``manifest.json``...; each checked against the sha256 of
  its row first) with ``model/files.json``, the rows themselves.

A failed trial's run ends FAILED (with the stored error as the tag ``hsi.error``),
one stopped early by the scheduler or by Ctrl-C ends KILLED. An MLflow error never
stops the trials: the hook that met it prints a line and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..saved_model import SUFFIXES
from ..spec import TrialSpec
from .keys import DONE_KEY, STORED_TRIAL_KEY, spec_of
from .options import OptionError, RunOptions, RunView

#: The trackers ``--track`` knows.
TRACKERS = ("mlflow",)
INSTALL_FIX = "pip install -e '.[mlflow]'"
#: MLflow refuses longer parameter values (6000 characters; 500 before MLflow 2.x).
MAX_PARAM_CHARS = 500
#: Result keys Tune fills in itself, on top of those the trainable reports.
_TUNE_KEYS = frozenset(
    {
        "done",
        "trial_id",
        "experiment_tag",
        "experiment_id",
        "should_checkpoint",
        "__duplicate__",
        "timesteps_this_iter",
        "episodes_this_iter",
    }
)
#: Numbers of a stored trial's ``info`` that are logged as metrics too.
_INFO_METRICS = ("fit_seconds", "epochs_run")


def require_mlflow() -> Any:
    """``import mlflow``, or the error that says how to install it.

    Raises:
        OptionError: mlflow cannot be imported (names ``--track`` and the fix).
    """
    try:
        import mlflow
    except ImportError as exc:
        raise OptionError(
            f"--track mlflow needs the mlflow package, which cannot be imported here ({exc}). "
            f"Fix: {INSTALL_FIX} (MLflow's client, mlflow-skinny), or leave --track out."
        ) from None
    return mlflow


def _is_file_store(uri: str | None) -> bool:
    if uri is None:
        return False
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a path, or a Windows drive


def open_experiment(options: RunOptions) -> tuple[str, str]:
    """Check, before any training, that the run can be tracked: mlflow imports, the
    tracking store opens and the experiment is there (created when missing).

    A ``file:`` (or plain path) tracking URI names MLflow's file store, which
    MLflow 3 keeps in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``: naming one
    with ``--tracking-uri`` opts in (unless that variable is already set).

    Returns:
        The tracking URI in use (MLflow's default when ``options.tracking_uri`` is
        None) and the experiment's id.

    Raises:
        OptionError: mlflow is not installed, the store cannot be opened, or the
            experiment is deleted (each message names its flag and the fix).
    """
    mlflow = require_mlflow()
    from mlflow.tracking import MlflowClient

    if _is_file_store(options.tracking_uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    name = options.experiment_name
    where = options.tracking_uri or "MLflow's default"
    try:
        client = MlflowClient(tracking_uri=options.tracking_uri)
        uri = options.tracking_uri or mlflow.get_tracking_uri()
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = client.create_experiment(name)
        elif experiment.lifecycle_stage != "active":
            raise OptionError(
                f"--experiment {name}: the experiment is deleted in the tracking store {uri}. "
                f"Fix: restore it (mlflow experiments restore --experiment-id "
                f"{experiment.experiment_id}) or pass another --experiment."
            )
        else:
            experiment_id = experiment.experiment_id
    except OptionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store error, told with its flag
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(
            f"--tracking-uri {where}: MLflow cannot use this tracking store ({text}). Fix: "
            "pass --tracking-uri a reachable tracking server (http://HOST:PORT), a database "
            "(sqlite:///mlflow.db) or a folder (file:///abs/path/mlruns)."
        ) from exc
    return uri, experiment_id


def spec_params(spec: TrialSpec) -> dict[str, str]:
    """The spec as MLflow parameters: nested fields flattened with ".", every value a
    short string (``str()`` of it, cut at :data:`MAX_PARAM_CHARS`), empty tables left out.
    """
    out: dict[str, str] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), item)
            return
        text = value if isinstance(value, str) else str(value)
        out[prefix] = text[:MAX_PARAM_CHARS]

    add("", asdict(spec))
    out["spec_hash"] = spec.spec_hash
    out["config_hash"] = spec.config_hash
    return out


def run_name(spec: TrialSpec) -> str:
    """A trial's MLflow run name: ``{model}-{scene}-s{seed}-{spec_hash[:8]}``."""
    return f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:8]}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def mlflow_callback(ctx: RunView, pruner: Any = None) -> Any:
    """The Tune callback that mirrors the trials of ``ctx`` (a :class:`RunView`) to the
    MLflow experiment of its options (checked first by :func:`open_experiment`).

    Args:
        ctx: the run: its options (tracking URI, experiment), its store (read for
            the stored metrics and model files) and its output stream.
        pruner: the Tuner's scheduler that stops trials early (a search), or None.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.result import AUTO_RESULT_KEYS

    skip = _TUNE_KEYS | set(AUTO_RESULT_KEYS) | {"epoch", DONE_KEY, STORED_TRIAL_KEY}

    class HarnessMLflowCallback(MLflowLoggerCallback):
        """Ray Tune's MLflow callback, fed from the spec and the results database."""

        def __init__(self, ctx: Any, pruner: Any) -> None:
            options: RunOptions = ctx.options
            super().__init__(
                tracking_uri=options.tracking_uri,
                experiment_name=options.experiment_name,
                tags={"hsi.db": ctx.store.location, "hsi.run_id": str(ctx.summary.run_id)},
                save_artifact=False,
            )
            self.ctx = ctx
            self.pruner = pruner
            self.client: Any = None
            #: Tune trial -> the database id of what it stored, from its last report.
            self.stored: dict[Any, int] = {}
            self.reused: set[Any] = set()
            self.warned: set[str] = set()

        def __getstate__(self) -> dict[str, Any]:
            # Tune pickles its callbacks with the experiment state; the run context
            # (database engine, actor handle) and the client stay with the driver.
            return {**self.__dict__, "ctx": None, "client": None, "pruner": None}

        # helpers ---------------------------------------------------------------
        def warn(self, hook: str, trial: Any, exc: BaseException) -> None:
            """Say once per hook that MLflow missed something; the trials go on."""
            if hook in self.warned or self.ctx is None or self.ctx.out is None:
                return
            self.warned.add(hook)
            text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            print(
                f"tracking: MLflow {hook} of trial {trial} not mirrored "
                f"({type(exc).__name__}: {text}); the results database has it all, the "
                "trials go on (further such errors of this kind are not shown)",
                file=self.ctx.out,
                flush=True,
            )

        def setup(self, *args: Any, **kwargs: Any) -> None:
            self._trial_runs: dict[Any, str] = {}
            try:
                super().setup(*args, **kwargs)
                import mlflow

                self.client = MlflowClient(tracking_uri=mlflow.get_tracking_uri())
            except Exception as exc:  # noqa: BLE001 - MLflow only mirrors
                self.client = None
                self.warn("setup", "(every trial)", exc)

        def log_batch(
            self,
            run_id: str,
            metrics: list[Any] | None = None,
            params: list[Any] | None = None,
            tags: list[Any] | None = None,
        ) -> None:
            # MLflow takes at most 1000 metrics, 100 params and 100 tags per batch
            metrics, params, tags = metrics or [], params or [], tags or []
            while metrics or params or tags:
                self.client.log_batch(
                    run_id, metrics=metrics[:1000], params=params[:100], tags=tags[:100]
                )
                metrics, params, tags = metrics[1000:], params[100:], tags[100:]

        # Tune's hooks ----------------------------------------------------------
        def log_trial_start(self, trial: Any) -> None:
            if self.client is None or trial in self._trial_runs:
                return
            try:
                spec = spec_of(trial)
                tags = {
                    **(self.tags or {}),
                    "trial_name": str(trial),
                    "hsi.spec_hash": spec.spec_hash,
                }
                run = self.mlflow_util.start_run(tags=tags, run_name=run_name(spec))
                self._trial_runs[trial] = run.info.run_id
                self.log_batch(
                    run.info.run_id,
                    params=[Param(k, v) for k, v in spec_params(spec).items()],
                )
            except Exception as exc:  # noqa: BLE001 - MLflow only mirrors
                self.warn("start", trial, exc)

        def log_trial_restore(self, trial: Any) -> None:
            self.log_trial_start(trial)

        def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
            run_id = self._trial_runs.get(trial)
            if run_id is None:
                return
            if DONE_KEY in result:
                if result.get(STORED_TRIAL_KEY) is not None:
                    self.stored[trial] = int(result[STORED_TRIAL_KEY])
                if result.get("reused"):
                    self.reused.add(trial)
                return
            if "epoch" not in result:
                return
            try:
                step = int(result["epoch"])
                now = int(time.time() * 1000)
                metrics = [
                    Metric(key, value, now, step)
                    for key, raw in result.items()
                    if key not in skip and (value := _number(raw)) is not None
                ]
                self.log_batch(run_id, metrics=metrics)
            except Exception as exc:  # noqa: BLE001
                self.warn("epoch metrics", trial, exc)

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            # Tune retries the trial: this attempt failed (stored as such); the retry
            # gets a run of its own when it starts
            self.log_trial_end(trial, failed=True)

        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            run_id = self._trial_runs.pop(trial, None)
            if run_id is None:
                return
            status = "FAILED" if failed else "FINISHED"
            try:
                if failed:
                    self.mirror_failure(run_id, trial)
                elif trial in self.stored:
                    self.mirror_stored(run_id, self.stored.pop(trial))
                elif trial in self.reused:
                    self.reused.discard(trial)
                    self.client.set_tag(run_id, "hsi.status", "reused")
                else:
                    status = "KILLED"
                    stopped = self.pruner is not None and trial.trial_id in getattr(
                        self.pruner, "stopped", ()
                    )
                    self.client.set_tag(
                        run_id, "hsi.status", "pruned" if stopped else "interrupted"
                    )
            except Exception as exc:  # noqa: BLE001
                self.warn("end", trial, exc)
            try:
                self.mlflow_util.end_run(run_id=run_id, status=status)
            except Exception as exc:  # noqa: BLE001
                self.warn("end", trial, exc)

        # what the database holds -----------------------------------------------
        def mirror_failure(self, run_id: str, trial: Any) -> None:
            stored = self.ctx.stored_failure(spec_of(trial)) if self.ctx is not None else None
            tags = [RunTag("hsi.status", "failed")]
            if stored is not None:
                tags.append(RunTag("hsi.trial_id", str(stored.trial_id)))
                tags.append(RunTag("hsi.attempt", str(stored.attempt)))
                if stored.error:
                    tags.append(RunTag("hsi.error", stored.error[:5000]))
            self.log_batch(run_id, tags=tags)

        def mirror_stored(self, run_id: str, trial_id: int) -> None:
            """The stored trial's metrics, info numbers and model files."""
            store = self.ctx.store
            trial = store.trial(trial_id)
            now = int(time.time() * 1000)
            metrics = [
                Metric(f"{split}_{name}", value, now, 0)
                for split, values in (trial.get("metrics") or {}).items()
                for name, raw in values.items()
                if (value := _number(raw)) is not None
            ]
            info = trial.get("info") or {}
            metrics += [
                Metric(key, value, now, 0)
                for key in _INFO_METRICS
                if (value := _number(info.get(key))) is not None
            ]
            tags = [
                RunTag("hsi.trial_id", str(trial_id)),
                RunTag("hsi.status", str(trial.get("status"))),
                RunTag("hsi.attempt", str(trial.get("attempt"))),
            ]
            from ..metrics import trial_note

            if note := trial_note(trial):
                # the tag to filter on, and the run's description MLflow's UI shows
                tags.append(RunTag("hsi.not_a_result", note))
                tags.append(RunTag("mlflow.note.content", f"NOT A RESULT: {note}"))
            self.log_batch(run_id, metrics=metrics, tags=tags)
            self.log_model_files(run_id, store.model_files(trial_id))

        def log_model_files(self, run_id: str, files: list[dict[str, Any]]) -> None:
            """The saved model's files under ``model/``, named by kind, each checked
            against its row's sha256 first; and the rows as ``model/files.json``."""
            if not files:
                return
            with tempfile.TemporaryDirectory(prefix="hsi-mlflow-") as tmp:
                rows = []
                for f in files:
                    if not f.get("file"):
                        continue
                    source = Path(f["file"])
                    digest = hashlib.sha256()
                    with source.open("rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            digest.update(block)
                    if digest.hexdigest() != f["sha256"]:
                        raise ValueError(
                            f"{source} does not match its sha256 in the database; not logged"
                        )
                    name = f"{f['kind']}{SUFFIXES.get(f['format'], Path(f['path']).suffix)}"
                    staged = Path(tmp) / name
                    try:
                        staged.symlink_to(source)
                    except OSError:
                        import shutil

                        shutil.copyfile(source, staged)
                    self.client.log_artifact(run_id, str(staged), "model")
                    rows.append({**{k: v for k, v in f.items() if k != "file"}, "name": name})
                listing = Path(tmp) / "files.json"
                listing.write_text(json.dumps(rows, indent=1))
                self.client.log_artifact(run_id, str(listing), "model")

    return HarnessMLflowCallback(ctx, pruner)
