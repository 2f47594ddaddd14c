"""The MeshMark scoring engine (the rules as implemented: docs/meshmark.md).

    score_cells(cells, weights=..., prices=...)  -> one row per scored cell (schemas.MESHMARK)
    aggregate_by_config(scored)                  -> one row per run and mesh (schemas.MESHMARK_CONFIG)
    summarise_load_points(scored, results)       -> one row per run, mesh and load point: medians
                                                    with 95 % CIs, paired deltas vs the baseline
                                                    (schemas.MESHMARK_SUMMARY)

The names are loaded on first use (PEP 562) so that importing `meshmark_tasks.scoring.errors`, as the
CLI does at start-up, does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshmark_tasks.scoring.aggregate import aggregate_by_config
    from meshmark_tasks.scoring.classes import CLASS_MUES, CLASS_NAMES, validate_weights
    from meshmark_tasks.scoring.engine import score_cells
    from meshmark_tasks.scoring.errors import ScoringInputError
    from meshmark_tasks.scoring.uncertainty import summarise_load_points

_HOMES = {
    "aggregate_by_config": "meshmark_tasks.scoring.aggregate",
    "CLASS_MUES": "meshmark_tasks.scoring.classes",
    "CLASS_NAMES": "meshmark_tasks.scoring.classes",
    "validate_weights": "meshmark_tasks.scoring.classes",
    "score_cells": "meshmark_tasks.scoring.engine",
    "ScoringInputError": "meshmark_tasks.scoring.errors",
    "summarise_load_points": "meshmark_tasks.scoring.uncertainty",
}

__all__ = [
    "CLASS_MUES",
    "CLASS_NAMES",
    "ScoringInputError",
    "aggregate_by_config",
    "score_cells",
    "summarise_load_points",
    "validate_weights",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
