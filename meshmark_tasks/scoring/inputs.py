"""Turn the `results`-shaped DataFrame into validated float64 arrays, one per input.

The engine computes on plain numpy arrays: whatever dtypes the caller's DataFrame has (numpy,
pandas nullable, Arrow-backed, object columns of Python numbers), every numeric input arrives here
once and leaves as float64 with NaN for null. That keeps the hot path free of pandas dispatch and
makes "null" mean exactly one thing downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from meshmark_tasks.schemas import RESOURCE_COLUMNS
from meshmark_tasks.scoring.errors import ScoringInputError
from meshmark_tasks.scoring.numeric import FloatArray

BoolArray = npt.NDArray[np.bool_]

# Identity and load-point columns: needed to name a cell and to pair it with its baseline.
REQUIRED_KEY_COLUMNS = (
    "cell_id",
    "mesh",
    "is_baseline",
    "requested_qps",
    "connections",
    "payload_bytes",
    "protocol",
)
# Measurements every scored cell has (a null value is allowed and makes the MUEs it feeds null).
REQUIRED_MEASUREMENT_COLUMNS = (
    "actual_qps",
    "requests_total",
    "errors_total",
    "latency_ms_p50",
    "latency_ms_p99",
    "slo_p99_ms",
)
REQUIRED_COLUMNS = REQUIRED_KEY_COLUMNS + REQUIRED_MEASUREMENT_COLUMNS

# Resource metrics may be missing altogether (a backend without a metrics source); a missing column
# is the same as a column of nulls: the compute and memory classes are then left out.
RESOURCE_INPUTS = tuple(RESOURCE_COLUMNS)
NUMERIC_INPUTS = (
    "requested_qps",
    "connections",
    "payload_bytes",
    *REQUIRED_MEASUREMENT_COLUMNS,
    *RESOURCE_INPUTS,
)


@dataclass(frozen=True)
class CellInputs:
    """All inputs of all rows as arrays (float64, NaN = null), before any row is dropped."""

    numbers: dict[str, FloatArray]
    is_baseline: BoolArray

    def take(self, rows: BoolArray) -> CellInputs:
        return CellInputs(
            numbers={name: values[rows] for name, values in self.numbers.items()},
            is_baseline=self.is_baseline[rows],
        )


def check_required_columns(cells: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in cells.columns]
    if missing:
        raise ScoringInputError(
            f"cells: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )


def _first_cell(cells: pd.DataFrame, rows: BoolArray) -> str:
    position = int(np.flatnonzero(rows)[0])
    return str(cells["cell_id"].iloc[position])


def _as_float(cells: pd.DataFrame, column: str) -> FloatArray:
    if column not in cells.columns:
        return np.full(len(cells), np.nan)
    series = cells[column]
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ScoringInputError(f"cells: column {column}: expected numbers, got booleans")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    # Object or string columns: Python numbers and None are fine, and the literal "max" in
    # requested_qps is the profile's spelling of "unthrottled", i.e. null.
    if column == "requested_qps":
        is_max = (series.astype("string") == "max").fillna(False).to_numpy(dtype=np.bool_)
        series = series.mask(is_max)
    try:
        converted = pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ScoringInputError(f"cells: column {column}: expected numbers ({exc})") from None
    if pd.api.types.is_bool_dtype(converted.dtype):
        raise ScoringInputError(f"cells: column {column}: expected numbers, got booleans")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_bool(cells: pd.DataFrame, column: str) -> BoolArray:
    series = cells[column]
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        return series.to_numpy(dtype=np.bool_)
    nulls = series.isna().to_numpy()
    if nulls.any():
        raise ScoringInputError(
            f"cells: cell {_first_cell(cells, nulls)}: {column}: null, expected true/false"
        )
    if pd.api.types.infer_dtype(series, skipna=False) != "boolean":
        raise ScoringInputError(f"cells: column {column}: expected true/false values")
    return series.to_numpy(dtype=np.bool_)


def read_inputs(cells: pd.DataFrame) -> CellInputs:
    """Validate and convert; raises ScoringInputError naming the column (and cell) at fault."""
    check_required_columns(cells)
    numbers = {column: _as_float(cells, column) for column in NUMERIC_INPUTS}
    for column, values in numbers.items():
        # Negative counts, rates, latencies or resources are not measurements; inf is not either.
        # Two NaN-skipping reductions per column find out cheaply whether any row is bad at all.
        if not len(values) or (np.fmin.reduce(values) >= 0 and np.fmax.reduce(values) < np.inf):
            continue
        bad = (values < 0) | np.isinf(values)
        if bad.any():
            raise ScoringInputError(
                f"cells: cell {_first_cell(cells, bad)}: {column}: "
                f"{float(values[bad][0])!r} is not a finite non-negative number"
            )
    too_many_errors = numbers["errors_total"] > numbers["requests_total"]
    if too_many_errors.any():
        raise ScoringInputError(
            f"cells: cell {_first_cell(cells, too_many_errors)}: errors_total exceeds requests_total"
        )
    return CellInputs(numbers=numbers, is_baseline=_as_bool(cells, "is_baseline"))
