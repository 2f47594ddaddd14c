"""Per mesh configuration and run: MESHMARK.md "Aggregates".

Equal weight per load point: the repetitions of a load point are first averaged into one MeshMark
for that load point, then
- meshmark_mean = mean over the load points,
- meshmark_min  = the worst load point (minimum of those per-load-point means),
- cells_scored  = number of cells with a MeshMark (repetitions counted individually).
Cells whose MeshMark is null (no class could be scored) do not enter the means.
"""

from __future__ import annotations

import pandas as pd

from meshmark_tasks import schemas
from meshmark_tasks.scoring.errors import ScoringInputError

LOAD_POINT = ["requested_qps", "connections", "payload_bytes", "protocol"]


def aggregate_by_config(scored: pd.DataFrame) -> pd.DataFrame:
    """Columns of schemas.MESHMARK_CONFIG (run_id / run_date only when `scored` has them)."""
    run_keys = [c for c in ("run_id", "run_date") if c in scored.columns]
    config_keys = [*run_keys, "mesh"]
    needed = [*config_keys, *LOAD_POINT, "meshmark"]
    missing = [c for c in needed if c not in scored.columns]
    if missing:
        raise ScoringInputError(
            f"scored cells: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    columns = [
        c
        for c in schemas.MESHMARK_CONFIG.names
        if c in config_keys or c not in ("run_id", "run_date", "mesh")
    ]
    frame = scored[needed]
    if frame.empty:
        empty = {c: pd.Series(dtype=scored[c].dtype if c in scored else "float64") for c in columns}
        empty["cells_scored"] = pd.Series(dtype="int64")
        return pd.DataFrame(empty)
    # dropna=False: an unthrottled load point has requested_qps NaN and is a group of its own.
    per_point = frame.groupby([*config_keys, *LOAD_POINT], dropna=False, sort=False).agg(
        point_mark=("meshmark", "mean"), point_cells=("meshmark", "count")
    )
    per_config = per_point.groupby(level=config_keys, dropna=False, sort=True).agg(
        meshmark_mean=("point_mark", "mean"),
        meshmark_min=("point_mark", "min"),
        cells_scored=("point_cells", "sum"),
    )
    result = per_config.reset_index()
    result["cells_scored"] = result["cells_scored"].astype("int64")
    return result[columns]
