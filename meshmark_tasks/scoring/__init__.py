"""The MeshMark scoring engine (rules: /work/shared/MESHMARK.md, as implemented: docs/meshmark.md).

score_cells(cells, weights=..., prices=...)  -> one row per scored cell (schemas.MESHMARK)
aggregate_by_config(scored)                  -> one row per run and mesh (schemas.MESHMARK_CONFIG)
"""

from __future__ import annotations

from meshmark_tasks.scoring.aggregate import aggregate_by_config
from meshmark_tasks.scoring.classes import CLASS_MUES, CLASS_NAMES, validate_weights
from meshmark_tasks.scoring.engine import score_cells
from meshmark_tasks.scoring.errors import ScoringInputError

__all__ = [
    "CLASS_MUES",
    "CLASS_NAMES",
    "ScoringInputError",
    "aggregate_by_config",
    "score_cells",
    "validate_weights",
]
