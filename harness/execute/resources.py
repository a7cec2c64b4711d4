"""Ray's cluster and the resources of one trial."""

from __future__ import annotations

import logging
import os
from typing import Any


def cluster_resources(address: str | None, verbose: bool = False) -> dict[str, float]:
    """Start (or join) Ray and return what the cluster has; Ray's own log lines (its
    connection and authentication notes) show only with ``verbose``, else its errors."""
    import ray

    # Tune's own console output stays off: the runner prints its progress lines.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.INFO if verbose else logging.ERROR,
        }
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    return dict(ray.cluster_resources())


def trial_resources(
    entry_kind: str,
    total: dict[str, float],
    gpus_per_trial: float | None,
    cpus_per_trial: int | None,
) -> dict[str, float]:
    """Resources of one trial, never more than the cluster has (nothing waits forever)."""
    cpus_total = max(1.0, float(total.get("CPU", 1)))
    gpus_total = float(total.get("GPU", 0))
    cpus = float(min(cpus_per_trial or 1, cpus_total))
    gpus = 0.0
    if entry_kind == "torch" and gpus_total > 0:
        gpus = float(min(gpus_per_trial if gpus_per_trial is not None else 0.5, gpus_total))
    return {"cpu": cpus, "gpu": gpus}
