"""Progress inside the long phases of a trial: the batches of an epoch and the pixels
of the map phase.

An epoch of CLAReSNet on a CPU can take a quarter of an hour, and the map phase of a
big scene (every pixel's window through the model) longer still; the epoch reports
come only at the end of an epoch. A :class:`Ticker` says where such a phase stands at
most every ``interval`` seconds: it hands a :class:`PhaseProgress` to the trial's
``on_phase`` callback (the runner forwards it to the driver, which prints it with the
run's ETA; :mod:`harness.execute.progress`). Its time comes from an injectable
``clock`` (:func:`time.monotonic` by default), so tests drive it.

The phases:

``train``
    the training steps of one epoch: batches done of the epoch's batches, and the
    training samples they held.
``map``
    everything the trial predicts after its fit: the test pixels (with their
    embeddings), the validation pixels and the map's pixels (the whole scene, its
    labelled pixels, or none: the run's ``--maps``), in that order.

A ticker only reads the clock and calls the callback: it never waits for the device
(a step loop on a GPU stays free of host reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

Clock = Callable[[], float]

#: Default seconds between two progress reports of one phase of a trial.
PHASE_INTERVAL = 30.0

#: What the map phase classifies besides the test and validation pixels (``--maps``).
MAP_MODES = ("scene", "labelled", "none")


@dataclass(frozen=True)
class PhaseProgress:
    """Where a long phase of a trial stands.

    Attributes:
        phase: "train" (the steps of an epoch) or "map" (the predictions after the fit).
        done: batches (train) or pixels (map) done.
        total: batches (train) or pixels (map) of the whole phase.
        samples: training samples (train) or pixels (map) done.
        seconds: since the phase started.
        epoch: the epoch (train; 0 for the map phase).
        parts: the map phase's pixels by what they are, in the order they are
            predicted: ``(("test", n), ("val", n), ("scene" | "labelled", n))``.
    """

    phase: str
    done: int
    total: int
    samples: int
    seconds: float
    epoch: int = 0
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def rate(self) -> float | None:
        """Samples (train) or pixels (map) per second so far, None before any time passed."""
        return self.samples / self.seconds if self.seconds > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for sending to the driver."""
        return {**asdict(self), "parts": [list(p) for p in self.parts]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseProgress:
        """The inverse of :meth:`as_dict`."""
        return cls(
            phase=str(data["phase"]),
            done=int(data["done"]),
            total=int(data["total"]),
            samples=int(data["samples"]),
            seconds=float(data["seconds"]),
            epoch=int(data.get("epoch", 0)),
            parts=tuple((str(k), int(n)) for k, n in data.get("parts", ())),
        )


PhaseCallback = Callable[[PhaseProgress], None]


class Ticker:
    """Reports one phase's progress at most every ``interval`` seconds.

    Args:
        emit: called with the progress (None: the ticker does nothing).
        phase: "train" or "map".
        total: batches or pixels of the phase.
        clock: the time source.
        interval: seconds between two reports.
        epoch: the epoch (train).
        parts: the map phase's pixels by what they are.
    """

    def __init__(
        self,
        emit: PhaseCallback | None,
        phase: str,
        total: int,
        *,
        clock: Clock = time.monotonic,
        interval: float = PHASE_INTERVAL,
        epoch: int = 0,
        parts: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.emit = emit
        self.phase = phase
        self.total = int(total)
        self.clock = clock
        self.interval = interval
        self.epoch = epoch
        self.parts = parts
        self.started = clock() if emit is not None else 0.0
        self._last = self.started

    def update(self, done: int, samples: int | None = None) -> None:
        """``done`` batches or pixels of the phase are done (``samples``: the training
        samples they held; default ``done``); reports when ``interval`` has passed."""
        if self.emit is None:
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self.emit(
            PhaseProgress(
                phase=self.phase,
                done=int(done),
                total=self.total,
                samples=int(done if samples is None else samples),
                seconds=now - self.started,
                epoch=self.epoch,
                parts=self.parts,
            )
        )


@dataclass(frozen=True)
class PhaseReporter:
    """How a trial reports its long phases: the callback, the clock and the interval.

    Attributes:
        emit: the trial's ``on_phase`` callback, or None (no reports).
        clock: the time source of the tickers (and of the validation pace the epoch
            reports carry).
        interval: seconds between two reports of one phase.
    """

    emit: PhaseCallback | None = None
    clock: Clock = time.monotonic
    interval: float = PHASE_INTERVAL

    def ticker(self, phase: str, total: int, **kwargs: Any) -> Ticker:
        """A :class:`Ticker` of one phase."""
        return Ticker(self.emit, phase, total, clock=self.clock, interval=self.interval, **kwargs)
