"""What the pieces of a run share: the keys of Tune's results, the writer's name, and
how a Tune trial names its spec."""

from __future__ import annotations

import hashlib
from typing import Any

from ..search import apply_params
from ..spec import TrialSpec

WRITER_PREFIX = "hsi-result-writer"


#: Key of the last report of a trial that finished and stored its result (a trial
#: stopped by the scheduler before it never sends it: it was pruned).
DONE_KEY = "harness_done"


#: Key of the stored trial's database id in that last report. (Not "trial_id": Tune
#: fills that key of every result with its own trial id, over the trainable's.)
STORED_TRIAL_KEY = "stored_trial_id"


def search_spec(config: dict[str, Any]) -> TrialSpec:
    space = config["space"]
    params = {k: config[k] for k in space if k in config}
    return apply_params(TrialSpec.from_json(config["base"]), params, space, config["study"])


def spec_of(trial: Any) -> TrialSpec:
    return (
        TrialSpec.from_json(trial.config["spec"])
        if "spec" in trial.config
        else search_spec(trial.config)
    )


def trial_dirname(trial: Any) -> str:
    spec = spec_of(trial)
    return f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:12]}"


def describe(spec: TrialSpec) -> str:
    return f"{spec.model} {spec.scene} seed {spec.seed} {spec.spec_hash[:8]}"


def experiment_folder(location: str, run_id: int, tuner: int) -> str:
    """The name of a Tuner's folder in Tune's storage: ``hsi-DIGEST-run-ID-N``, the
    digest that of the database's location, so that the first runs of two databases
    (both run 1) never share a folder."""
    digest = hashlib.sha256(location.encode()).hexdigest()[:8]
    return f"hsi-{digest}-run-{run_id}-{tuner}"
