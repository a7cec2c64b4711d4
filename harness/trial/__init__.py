"""One trial, from its spec to its result: the flow (:mod:`~harness.trial.flow`), its data
(:mod:`~harness.trial.data`), device and precision (:mod:`~harness.trial.device`), the
optimiser and scheduler factories (:mod:`~harness.trial.optim`), the training step
(:mod:`~harness.trial.steps`), the fit loop with its checkpoint
(:mod:`~harness.trial.fit`) and the evaluation (:mod:`~harness.trial.evaluate`)."""

from .errors import TrialError
from .flow import run_trial, run_trial_safely

__all__ = ["TrialError", "run_trial", "run_trial_safely"]
