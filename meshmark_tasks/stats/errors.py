"""The one error type of the statistics package."""

from __future__ import annotations

from meshmark_tasks.errors import MeshmarkError


class StatsInputError(MeshmarkError):
    """Values handed to a statistic are unusable (infinite, empty, non-positive on a log scale, ...);
    the message names the argument or series at fault."""
