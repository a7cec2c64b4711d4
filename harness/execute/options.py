"""What a run is asked to do (:class:`RunOptions`) and what it did (:class:`RunSummary`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from ..spec import TrialSpec
from ..store import ResultStore, Stored
from ..trial.ticker import MAP_MODES

#: Default ``out`` of :func:`run_specs` and :func:`run_search`: ``sys.stderr`` as it
#: is when the run starts (a default bound at import would keep a stream that a test
#: harness or a caller swapped and closed since).
STDERR: Any = object()


class OptionError(ValueError):
    """A run option that cannot be used (the message names its command-line flag)."""


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite's trials: one object from the command line to the runner.

    ``python -m harness.run`` builds it once from its flags
    (:func:`harness.run_flags.config_from_args`); :func:`run_specs` and :func:`run_search`
    take it as it is. Each attribute names its flag.

    Attributes:
        db: the results database, a SQLite path or a SQLAlchemy URL (``--db``);
            opened first, so that a bad one fails before any training.
        command: the command line, recorded with the run.
        suite: the suite's name, recorded with the run (``--suite``; "" in
            :func:`run_search` records "search").
        address: an existing Ray cluster, "auto" or "HOST:PORT" (``--address``);
            None starts a local Ray.
        gpus_per_trial: GPU fraction per deep trial (``--gpus-per-trial``); None:
            0.5 when the cluster has GPUs.
        cpus_per_trial: CPUs per trial (``--cpus-per-trial``); None: 1.
        max_concurrent: at most this many trials at once (``--max-concurrent``);
            None: as many as the resources allow.
        max_failures: Tune's retries of a failed trial (``--max-failures``).
        fresh: re-run completed trials as new attempts (``--fresh``).
        data_dir: a folder searched first for scene files, on the driver, for specs
            whose scene this process has not resolved (``--data-dir``; trials never
            open scene files).
        storage_path: Tune's experiment folder (``--storage-path``; shared storage
            on a cluster of several nodes); None: ``~/ray_results``.
        artifacts: the folder of the saved models (``--artifacts``); None:
            ``NAME.artifacts`` beside a SQLite database ``NAME.db``, none for a server
            database. Only the driver's node writes it: the files travel with each
            trial's result bundle.
        save_models: keep each completed trial's model and preprocessing
            (``--no-save-models`` turns it off).
        track: mirror each trial to an experiment tracker (``--track``): "mlflow"
            (:mod:`harness.execute.tracking`; the optional extra ``mlflow``), or None. The
            database stays the source of truth.
        tracking_uri: the tracker's store (``--tracking-uri``): an MLflow tracking
            URI; None: MLflow's default (``MLFLOW_TRACKING_URI``, else MLflow 3's
            ``sqlite:///mlflow.db`` in the working directory).
        experiment: the tracker's experiment (``--experiment``); None: ``hsi-SUITE``
            (see :attr:`experiment_name`).
        verbose: let Ray and Tune print their own log lines (``--verbose``); by default
            only their errors show, beside the runner's progress lines.
        maps: what each trial classifies after its fit besides the test and validation
            pixels (``--maps``): "scene", every pixel (the class and entropy maps of the
            paper's figures); "labelled", the labelled pixels only; "none", no map (the
            map phase of a big scene on a CPU can take longer than the training). Not
            part of the trial's spec (its metrics do not depend on it): each trial
            records it as ``info["maps"]``.

    Raises:
        OptionError: a value out of range (the message names the flag).
    """

    db: str
    command: str = ""
    suite: str = ""
    address: str | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: int | None = None
    max_concurrent: int | None = None
    max_failures: int = 1
    fresh: bool = False
    data_dir: str | None = None
    storage_path: str | None = None
    artifacts: str | None = None
    save_models: bool = True
    track: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    verbose: bool = False
    maps: str = "scene"

    @property
    def experiment_name(self) -> str:
        """The tracker's experiment: ``experiment``, or ``hsi-SUITE``."""
        return self.experiment or f"hsi-{self.suite or 'run'}"

    def __post_init__(self) -> None:
        if self.maps not in MAP_MODES:
            raise OptionError(
                f"--maps {self.maps!r} is not a map mode; choose from {', '.join(MAP_MODES)}."
            )
        if self.track is not None and self.track != "mlflow":
            raise OptionError(f"--track {self.track!r} is not a tracker; choose from mlflow.")
        for option, given in (
            ("--tracking-uri", self.tracking_uri),
            ("--experiment", self.experiment),
        ):
            if given is not None and self.track is None:
                raise OptionError(
                    f"{option} {given!r} applies with --track mlflow only. Fix: add --track "
                    f"mlflow, or drop {option}."
                )
            if given is not None and not given.strip():
                raise OptionError(
                    f"{option} '' is empty. Fix: give a value, or leave {option} out."
                )
        for flag, value, low in (
            ("--cpus-per-trial", self.cpus_per_trial, 1),
            ("--max-concurrent", self.max_concurrent, 1),
            ("--max-failures", self.max_failures, 0),
        ):
            if value is not None and value < low:
                raise OptionError(f"{flag} {value} must be >= {low}.")
        if self.gpus_per_trial is not None and not 0 <= self.gpus_per_trial <= 8:
            raise OptionError(
                f"--gpus-per-trial {self.gpus_per_trial} must be between 0 and 8 "
                "(fractions share a GPU)."
            )


@dataclass
class RunSummary:
    """What a suite run did."""

    run_id: int
    planned: int
    skipped: int
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0
    #: Seconds from the run's start until Ray answered (0 when no trial ran).
    ray_start_seconds: float = 0.0
    #: The scenes handed to the trials through Ray's object store, their arrays'
    #: bytes (one copy per node that runs their trials) and the driver's seconds
    #: spent resolving and putting them.
    scenes: list[str] = field(default_factory=list)
    scene_bytes: int = 0
    scene_seconds: float = 0.0
    #: The studies of a search run: {name: {"best_trial_id", "best_value", "best_params"}}.
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class RunView(Protocol):
    """What the callbacks and the tracker read of a run in progress
    (:class:`~harness.execute.context.RunContext` is one): its store, summary, options
    and output, its writer's actor name, the failure its writer stored, and the record
    of a pruned trial."""

    store: ResultStore
    writer_name: str
    summary: RunSummary
    options: RunOptions
    out: TextIO | None

    def stored_failure(self, spec: TrialSpec) -> Stored | None: ...

    def write_pruned(self, spec: TrialSpec, epochs: list[dict[str, Any]]) -> None: ...
