"""The trial's error: a trial that cannot run as specified."""

from __future__ import annotations


class TrialError(RuntimeError):
    """A trial that cannot run as specified (the message names the cause and the fix)."""
