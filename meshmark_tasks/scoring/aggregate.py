"""Per mesh configuration and run: MESHMARK.md "Aggregates".

Equal weight per load point: the repetitions of a load point are first averaged into one MeshMark
for that load point, then
- meshmark_mean = mean over the load points,
- meshmark_min  = the worst load point (minimum of those per-load-point means),
- cells_scored  = number of cells with a MeshMark (repetitions counted individually),
- load_points_scored = number of load points with a MeshMark (the pipeline compares it with the
  load points it planned: fewer makes the row `partial`).
and the uncertainty columns of `uncertainty.config_uncertainty` (CI, difference from the baseline).
Cells whose MeshMark is null (no class could be scored) do not enter the means, and a load point
with no MeshMark at all is not a load point of the mean.

Computed like the pairing: group numbers from factorized keys, sums and counts with np.bincount,
so it costs a few passes over the scored cells however many configurations there are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from meshmark_tasks import schemas
from meshmark_tasks.scoring.errors import ScoringInputError
from meshmark_tasks.scoring.numeric import safe_divide
from meshmark_tasks.scoring.pairing import factorize, group_numbers
from meshmark_tasks.scoring.uncertainty import config_uncertainty

LOAD_POINT = ["requested_qps", "connections", "payload_bytes", "protocol"]


def aggregate_by_config(scored: pd.DataFrame) -> pd.DataFrame:
    """Columns of schemas.MESHMARK_CONFIG (run_id / run_date only when `scored` has them), sorted by
    run and mesh."""
    run_keys = [c for c in ("run_id", "run_date") if c in scored.columns]
    config_keys = [*run_keys, "mesh"]
    missing = [c for c in [*config_keys, *LOAD_POINT, "meshmark"] if c not in scored.columns]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ScoringInputError(f"scored cells: missing column{plural} {', '.join(missing)}")
    columns = [
        c
        for c in schemas.MESHMARK_CONFIG.names
        if (c in config_keys or c not in ("run_id", "run_date")) and c not in schemas.RUN_LEVEL_COLUMNS
    ]
    if scored.empty:
        empty = {c: pd.Series(dtype=scored[c].dtype if c in scored else "float64") for c in columns}
        empty["cells_scored"] = pd.Series(dtype="int64")
        empty["load_points_scored"] = pd.Series(dtype="int64")
        return pd.DataFrame(empty)

    n = len(scored)
    config_columns = [scored[c].array for c in config_keys]
    config, n_configs = factorize(group_numbers(config_columns)[0])  # dense: one output row each
    # A load point is a group of its own per configuration; null requested_qps ("max") included.
    point, n_points = factorize(group_numbers([config, *(scored[c].array for c in LOAD_POINT)])[0])

    marks = scored["meshmark"].to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(marks)
    point_sum = np.bincount(point[present], weights=marks[present], minlength=n_points)
    point_count = np.bincount(point[present], minlength=n_points)
    point_mean = safe_divide(point_sum.astype(np.float64), point_count.astype(np.float64))

    config_of_point = np.empty(n_points, dtype=np.int64)
    config_of_point[point] = config  # every row of a point has the same config
    scored_points = ~np.isnan(point_mean)
    owners = config_of_point[scored_points]
    values = point_mean[scored_points]
    mean_sum = np.bincount(owners, weights=values, minlength=n_configs).astype(np.float64)
    mean = safe_divide(mean_sum, np.bincount(owners, minlength=n_configs).astype(np.float64))
    worst = np.full(n_configs, np.inf)
    np.minimum.at(worst, owners, values)
    worst[np.isinf(worst)] = np.nan

    first_row = np.full(n_configs, n, dtype=np.int64)
    np.minimum.at(first_row, config, np.arange(n, dtype=np.int64))
    result = pd.DataFrame({c: scored[c].iloc[first_row].to_numpy() for c in config_keys})
    result["meshmark_mean"] = mean
    result["meshmark_min"] = worst
    result["cells_scored"] = np.bincount(config[present], minlength=n_configs).astype(np.int64)
    result["load_points_scored"] = np.bincount(owners, minlength=n_configs).astype(np.int64)
    result = result.merge(config_uncertainty(scored), on=config_keys, how="left")
    return result.sort_values(config_keys, kind="stable", ignore_index=True)[columns]
