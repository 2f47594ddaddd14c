"""The one error type of the scoring engine."""

from __future__ import annotations

from meshmark_tasks.errors import MeshmarkError


class ScoringInputError(MeshmarkError):
    """The cells or weights handed to the scoring engine are unusable; the message names the column,
    weight or cell at fault."""
