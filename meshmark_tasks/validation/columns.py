"""Computed columns added to the results before validation (and dropped again afterwards).

Expectations compare columns with constants or with one other column, so quantities that combine
several columns are computed here, vectorised, once:

- `row_number`: position of the row; with cell_id it identifies a failing row even when cell_ids repeat;
- `error_rate` = errors_total / requests_total (null when requests_total is 0 or null);
- `qps_ratio` = actual_qps / requested_qps (null when the run was unthrottled);
- `cpu_cores_used`, `mem_bytes_used` = app + dataplane + controlplane (null when any part is missing);
- `saturated_reported`: the row says whether the generator saturated (`saturated` not null; the
  import suite applies the lower QPS bound only then);
- `made_no_request`: requests_total is known and not above 0 (a null count is "not reported",
  which the import suite does not take for a failed test).

Run-dependent parameters come from columns of the row (`error_budget`, `saturated`,
`requested_qps`, `is_baseline`) or, for the QPS tolerance and the planned cells, from GX suite
parameters (`qps_ratio_min`, `qps_ratio_max`, `planned_cell_ids`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROW_NUMBER = "row_number"


def _as_float(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num, den = _as_float(numerator), _as_float(denominator)
    return num.div(den.where(den != 0, np.nan))


def _sum_all_present(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].apply(_as_float).sum(axis=1, min_count=len(columns))


def with_computed_columns(results: pd.DataFrame) -> pd.DataFrame:
    """A copy of `results` with a RangeIndex and the computed columns appended."""
    frame = results.reset_index(drop=True).copy()
    frame[ROW_NUMBER] = np.arange(len(frame), dtype="int64")
    frame["error_rate"] = _ratio(frame["errors_total"], frame["requests_total"])
    frame["qps_ratio"] = _ratio(frame["actual_qps"], frame["requested_qps"])
    frame["cpu_cores_used"] = _sum_all_present(
        frame, ["cpu_cores_app", "cpu_cores_dataplane", "cpu_cores_controlplane"]
    )
    frame["mem_bytes_used"] = _sum_all_present(
        frame, ["mem_bytes_app", "mem_bytes_dataplane", "mem_bytes_controlplane"]
    )
    frame["saturated_reported"] = frame["saturated"].notna().to_numpy(dtype=bool)
    frame["made_no_request"] = (_as_float(frame["requests_total"]) <= 0).to_numpy(dtype=bool)
    # Row conditions compare these with False; a missing flag means "not known to be saturated"
    # for the QPS check and "not a baseline" for the resource checks (the stricter reading).
    frame["saturated"] = frame["saturated"].astype("boolean").fillna(False).astype(bool)
    frame["is_baseline"] = frame["is_baseline"].astype("boolean").fillna(False).astype(bool)
    return frame
