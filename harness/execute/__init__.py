"""Running trials on Ray Tune: the options and the shared result keys at the bottom
(:mod:`~harness.execute.options`, :mod:`~harness.execute.keys`), the single database
writer (:mod:`~harness.execute.writer`), the trainables, the driver's callbacks with the
terminal progress (:mod:`~harness.execute.callbacks`, :mod:`~harness.execute.progress`),
cluster resources, the run context with :func:`run_specs`
(:mod:`~harness.execute.context`), the search loop with :func:`run_search`
(:mod:`~harness.execute.search_loop`) and the MLflow mirror
(:mod:`~harness.execute.tracking`)."""

from .context import run_specs
from .options import OptionError, RunOptions, RunSummary
from .search_loop import run_search

__all__ = ["OptionError", "RunOptions", "RunSummary", "run_search", "run_specs"]
