"""The store's errors, at the bottom of its imports."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The results database cannot be used; the message names it, the problem and the fix."""


class ArtifactWarning(UserWarning):
    """A trial was stored without its model files (the artifact folder could not be written)."""
