"""The structural suite: a broken table fails the task instead of quarantining every row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.validation.suites import expectation_info

_MAX_CELLS_NAMED = 10


class ValidationStructureError(MeshmarkError):
    """The results table is structurally broken (missing columns, wrong types)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("results failed structural validation: " + "; ".join(problems))
        self.problems = problems


def booleans_as_text(frame: pd.DataFrame, numeric_columns: Sequence[str]) -> pd.DataFrame:
    """`frame` with every boolean in a mixed numeric column turned into its text (a copy if any).

    GX's type-list check tests values of an object column with isinstance, and isinstance(True, int)
    holds: a JSON `"connections": true` among integers would pass as a number. As text it fails
    the check and the error names the column and the cells. (A column of booleans only has dtype
    bool and fails without this.)
    """
    shown = frame
    for column in numeric_columns:
        if column not in frame.columns or frame[column].dtype != object:
            continue  # typed columns (every frame the pipeline builds) cost nothing here
        values = frame[column]
        is_bool = values.map(lambda v: isinstance(v, bool | np.bool_)).astype(bool)
        if is_bool.any():
            if shown is frame:
                shown = frame.copy()
            shown[column] = values.where(~is_bool, values.astype(str))
    return shown


def _cells_named(frame: pd.DataFrame, row_numbers: list[int]) -> str:
    if "cell_id" not in frame.columns:
        return f"rows {row_numbers[:_MAX_CELLS_NAMED]}"
    cells = [str(c) for c in frame["cell_id"].iloc[row_numbers[:_MAX_CELLS_NAMED]]]
    more = f" and {len(row_numbers) - len(cells)} more" if len(row_numbers) > len(cells) else ""
    return "cells " + ", ".join(cells) + more


def describe_structure_failures(result: Any, frame: pd.DataFrame) -> list[str]:
    """One message per failed structural expectation, naming the expectation, columns and cells."""
    problems = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        info = expectation_info(config.meta, config.type)
        details = item.result or {}
        if config.type == "expect_table_columns_to_match_set":
            present = set(frame.columns)
            missing = [c for c in config.kwargs["column_set"] if c not in present]
            problems.append(f"{info.type}: {info.phrase}; missing columns: {', '.join(missing)}")
            continue
        column = config.kwargs.get("column")
        if column is not None and column not in frame.columns:
            continue  # already reported by the column-set expectation
        observed = details.get("observed_value")
        where = f"column {column}"
        if observed is not None:  # an aggregate dtype check: the whole column is wrong
            everyone = _cells_named(frame, list(range(len(frame))))
            where += f" has type {observed} (all {len(frame)} rows, {everyone})"
        else:
            rows = [
                int(r["row_number"]) for r in details.get("unexpected_index_list") or [] if "row_number" in r
            ]
            where += f" holds values of the wrong type in {_cells_named(frame, rows)}"
        problems.append(f"{info.reason}; {where}")
    return problems
