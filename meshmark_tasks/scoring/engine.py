"""score_cells: the MeshMark of every cell of a `results`-shaped table, column-wise.

The pipeline is: validate and convert the inputs to float64 arrays (inputs.py), drop cells that did
not run (requests_total 0: a failed test, not a bad score; a null count is a figure the source did
not report, which only leaves mue_success out, as MESHMARK.md says of missing inputs), pair each cell with its
baseline (pairing.py), then compute MUEs, classes, MeshMark, overheads and cost as whole-column
array expressions. No step loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from meshmark_tasks import schemas
from meshmark_tasks.profile import PriceConfig
from meshmark_tasks.scoring.classes import (
    class_scores,
    meshmark,
    scored_class_labels,
    scored_class_masks,
    validate_weights,
)
from meshmark_tasks.scoring.cost import mesh_cost_per_million_requests
from meshmark_tasks.scoring.errors import ScoringInputError
from meshmark_tasks.scoring.inputs import BoolArray, read_inputs
from meshmark_tasks.scoring.mues import compute_mues, cpu_used, mem_used
from meshmark_tasks.scoring.numeric import FloatArray
from meshmark_tasks.scoring.overhead import overhead_signals
from meshmark_tasks.scoring.pairing import baseline_values, group_numbers

RUN_COLUMNS = ("run_id", "run_date")
# Output columns copied from the input (minus the run columns, which are only kept when given).
_CARRIED = ("cell_id", "mesh", "mesh_kind", "network_functions", "connections", "payload_bytes", "protocol")

_STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
# Integer columns carried from the input; null when the input lacks them (round and sequence: the
# execution order, which imported results do not have).
_INTEGER_CARRIED = ("repetition", "round", "sequence")


def output_columns(cells_columns: pd.Index | list[str]) -> list[str]:
    """schemas.MESHMARK's column order, without run_id / run_date when the input lacks them and
    without the run-level columns the pipeline sets (schemas.RUN_LEVEL_COLUMNS)."""
    present = set(cells_columns)
    return [
        name
        for name in schemas.MESHMARK.names
        if (name not in RUN_COLUMNS or name in present) and name not in schemas.RUN_LEVEL_COLUMNS
    ]


def _carry(cells: pd.DataFrame, column: str, rows: BoolArray | None, n_out: int) -> Any:
    """The input column restricted to the scored rows, or nulls when the input lacks it."""
    if column not in cells.columns:
        if column in _INTEGER_CARRIED:
            return pd.arrays.IntegerArray(np.zeros(n_out, dtype=np.int32), np.ones(n_out, dtype=np.bool_))
        return pd.array(pa.nulls(n_out, type=pa.large_string()), dtype=_STRING_DTYPE)
    values = cells[column].array
    return values if rows is None else values[rows]


def _empty_output(cells_columns: pd.Index) -> pd.DataFrame:
    names = output_columns(cells_columns)
    schema = pa.schema([schemas.MESHMARK.field(name) for name in names])
    return schema.empty_table().to_pandas()


def _integer_key(column: pd.Series, as_float: FloatArray) -> Any:
    # Integer columns hash faster than their float copies; other dtypes use the float copy.
    if column.dtype.kind in "iu":
        return column.to_numpy()
    return as_float


def _labels(masks: np.ndarray) -> pd.arrays.ArrowStringArray:
    # Arrow `take` from the 16 possible labels: far cheaper than building a million Python strings.
    taken = pa.array(scored_class_labels(), type=pa.large_string()).take(pa.array(masks))
    return pd.array(taken, dtype=_STRING_DTYPE)


def score_cells(
    cells: pd.DataFrame,
    *,
    weights: Mapping[str, float] | None = None,
    prices: PriceConfig | None = None,
) -> pd.DataFrame:
    """One row per scored cell with the columns of schemas.MESHMARK (see docs/meshmark.md).

    Cells with requests_total 0 are left out (a failed test); a null requests_total (not reported,
    e.g. an imported SMP result) is scored without mue_success. run_id / run_date are part of the pairing key
    and of the output only when the input has them. Raises ScoringInputError on a missing required
    column, a non-numeric or negative value, or a weight outside [-0.5, 0.5].
    """
    checked_weights = validate_weights(weights)
    if prices is None:
        prices = PriceConfig()
    elif not isinstance(prices, PriceConfig):
        raise ScoringInputError(f"prices: expected a PriceConfig, got {type(prices).__name__}")

    if len(cells) == 0:
        # Nothing to score (e.g. every cell of a run failed): no column can be wrong either.
        return _empty_output(cells.columns)
    all_inputs = read_inputs(cells)
    requests = all_inputs.numbers["requests_total"]
    # Only a count of 0 says the test did not run; NaN (not reported) compares False and is scored.
    scored_mask = ~(requests <= 0)
    rows: BoolArray | None = None if scored_mask.all() else scored_mask
    inputs = all_inputs if rows is None else all_inputs.take(rows)
    numbers = inputs.numbers
    n_out = len(inputs.is_baseline)

    key_columns: list[Any] = [cells[c].array for c in RUN_COLUMNS if c in cells.columns]
    key_columns += [
        all_inputs.numbers["requested_qps"],  # "max" already mapped to NaN
        _integer_key(cells["connections"], all_inputs.numbers["connections"]),
        _integer_key(cells["payload_bytes"], all_inputs.numbers["payload_bytes"]),
        cells["protocol"].array,
    ]
    group, n_groups = group_numbers(key_columns)
    if rows is not None:
        group = group[rows]

    cpu = cpu_used(numbers)
    mem = mem_used(numbers)
    baseline = baseline_values(
        group,
        n_groups,
        inputs.is_baseline,
        {"p50": numbers["latency_ms_p50"], "p99": numbers["latency_ms_p99"], "cpu": cpu, "mem": mem},
    )
    mues = compute_mues(numbers, cpu, mem, baseline["p50"])
    classes = class_scores(mues, checked_weights)

    out: dict[str, Any] = {}
    for column in RUN_COLUMNS:
        if column in cells.columns:
            out[column] = _carry(cells, column, rows, n_out)
    for column in _CARRIED:
        out[column] = _carry(cells, column, rows, n_out)
    out["is_baseline"] = inputs.is_baseline
    out["requested_qps"] = numbers["requested_qps"]
    out["repetition"] = _carry(cells, "repetition", rows, n_out)
    out.update(mues)
    out.update({f"class_{name}": score for name, score in classes.items()})
    out["scored_classes"] = _labels(scored_class_masks(classes))
    out["meshmark"] = meshmark(classes)
    out.update(overhead_signals(numbers, cpu, mem, baseline))
    out["mesh_cost_per_million_requests"] = mesh_cost_per_million_requests(numbers, prices)
    out["round"] = _carry(cells, "round", rows, n_out)
    out["sequence"] = _carry(cells, "sequence", rows, n_out)
    return pd.DataFrame(out, copy=False)[output_columns(cells.columns)]
