"""Pair every cell with the baseline cells at its load point, in its run, without a join.

A load point is (requested_qps, connections, payload_bytes, protocol); "max" (null requested_qps)
is a value of its own and pairs with "max". When the cells carry run_id / run_date those are part of
the key, so a pairing never crosses runs.

Rather than a DataFrame merge (which treats NaN keys specially and copies every column), each key
column is factorized to integer codes, the codes are combined into one dense group number per row,
and per-group means of the baseline cells are computed with np.bincount and gathered back by group
number. That is a few linear passes over integer arrays.

Rules (see docs/meshmark.md):
- A mesh cell's baseline value is the mean over all baseline cells of its group (the repetitions of
  the baseline at that load point), each signal averaged over the cells where it is not null.
- A baseline cell is its own baseline: its baseline values are its own values (latency overhead 1,
  deltas 0), not the mean of its sibling repetitions — the mesh adds nothing to a no-mesh cell.
- Only scored cells (requests_total not 0) act as baselines: a failed test is no reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from meshmark_tasks.scoring.inputs import BoolArray
from meshmark_tasks.scoring.numeric import FloatArray, safe_divide

IntArray = npt.NDArray[np.int64]

# Combined codes stay below this so the mixed-radix product cannot overflow int64.
_CODE_LIMIT = 2**62


def factorize(values: Any) -> tuple[IntArray, int]:
    """Integer code per row and the number of distinct values; null is a value of its own.

    `values` is a numpy array or a pandas ExtensionArray (Arrow strings factorize in Arrow).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def group_numbers(key_columns: Sequence[Any]) -> tuple[IntArray, int]:
    """A group number per row for the combination of the key columns, and an upper bound on them.

    The numbers are mixed-radix combinations of the per-column codes. They are compacted with one
    more factorize only when their range is much larger than the row count (so that per-group
    arrays stay small); otherwise the range itself is the bound, and unused numbers cost nothing.
    """
    combined, size = factorize(key_columns[0])
    for column in key_columns[1:]:
        codes, count = factorize(column)
        if size * count >= _CODE_LIMIT:
            combined, size = factorize(combined)
        combined = combined * count + codes
        size *= count
    if size > 4 * len(combined) + 1024:
        return factorize(combined)
    return combined, size


def baseline_values(
    group: IntArray,
    n_groups: int,
    is_baseline: BoolArray,
    signals: dict[str, FloatArray],
) -> dict[str, FloatArray]:
    """For each signal, the value of each row's baseline (NaN where the row has none)."""
    out: dict[str, FloatArray] = {}
    baseline_group = group[is_baseline]
    for name, values in signals.items():
        baseline_vals = values[is_baseline]
        present = ~np.isnan(baseline_vals)
        sums = np.bincount(baseline_group[present], weights=baseline_vals[present], minlength=n_groups)
        counts = np.bincount(baseline_group[present], minlength=n_groups)
        per_row = safe_divide(sums.astype(np.float64, copy=False), counts.astype(np.float64))[group]
        # A baseline cell is its own reference.
        per_row[is_baseline] = baseline_vals
        out[name] = per_row
    return out
