"""`validate_results`: run the suites over a results table, split good rows from quarantined ones."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from meshmark_tasks.schemas import RESULTS, RUN_FIELDS
from meshmark_tasks.validation.columns import ROW_NUMBER, with_computed_columns
from meshmark_tasks.validation.context import gx_validators
from meshmark_tasks.validation.structure import (
    ValidationStructureError,
    booleans_as_text,
    describe_structure_failures,
)
from meshmark_tasks.validation.suites import ExpectationInfo, expectation_info, suite_version

Status = Literal["passed", "passed_with_quarantine", "failed"]

QUARANTINE_COLUMNS = ["cell_id", "mesh", "stage", "reasons", "row_json", "raw_path"]
STAGE = "validation"
REQUIRED_COLUMNS = [f.name for f in RESULTS if f.name not in {r.name for r in RUN_FIELDS}]
NUMERIC_COLUMNS = [f.name for f in RESULTS if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)]
_CELLS_IN_SUMMARY = 50  # per expectation; the quarantine table has them all
# matrix.cell_id_for: "<mesh>-q<qps>-c<connections>-b<payload>-<protocol>-r<repetition>"
_CELL_ID = re.compile(r"^(?P<mesh>.+)-q[^-]+-c\d+-b\d+-[^-]+-r\d+$")


@dataclass
class ValidationOutcome:
    good: pd.DataFrame  # rows that pass, same columns as the input
    quarantine: pd.DataFrame  # QUARANTINE columns except run_id/run_date
    status: Status
    summary: dict[str, Any]  # JSON-safe
    validation_result: Any  # the GX ExpectationSuiteValidationResult of the results suite
    structure_result: Any = field(default=None)  # the GX result of the structure suite
    plan_result: Any = field(default=None)  # the GX result of the planned-cells suite (None: no plan given)


def _result_format() -> dict[str, Any]:
    return {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_NUMBER, "cell_id"]}


def _prepared(results: pd.DataFrame) -> pd.DataFrame:
    """The input with a RangeIndex, ready for the structure suite.

    Two shapes that are not broken get normalised first: a run with no result rows at all (the
    pipeline builds `pd.DataFrame([])`, which has no columns) gets the schema's columns, and a
    numeric column that is entirely null (a tool that never reports p99.9) is typed as float.
    """
    frame = results.reset_index(drop=True)
    if len(frame) == 0:
        frame = frame.reindex(columns=list(dict.fromkeys([*frame.columns, *REQUIRED_COLUMNS])))
    numeric = [c for c in NUMERIC_COLUMNS if c in frame.columns]
    all_null = [c for c in numeric if frame[c].dtype == object and frame[c].isna().all()]
    if all_null:
        frame = frame.astype(dict.fromkeys(all_null, "float64"))
    return frame


def _check_structure(results: pd.DataFrame) -> Any:
    validators = gx_validators()
    frame = booleans_as_text(results.reset_index(drop=True), NUMERIC_COLUMNS).assign(
        **{ROW_NUMBER: np.arange(len(results), dtype="int64")}
    )
    if "cell_id" not in frame.columns:  # named in the error by the column-set expectation
        frame["cell_id"] = None
    outcome = validators.structure.run(batch_parameters={"dataframe": frame}, result_format=_result_format())
    problems = describe_structure_failures(outcome, results.reset_index(drop=True))
    if problems:
        raise ValidationStructureError(problems)
    return outcome


def _failing_rows(item: Any) -> list[int]:
    return [int(r[ROW_NUMBER]) for r in (item.result or {}).get("unexpected_index_list") or []]


def mesh_of_cell_id(cell_id: str) -> str | None:
    match = _CELL_ID.match(cell_id)
    return match.group("mesh") if match else None


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _row_json(record: dict[Any, Any]) -> str:
    """The whole rejected row as JSON (NaN as null, timestamps ISO 8601), so nothing is lost."""
    return json.dumps({str(k): _json_value(v) for k, v in record.items()}, default=str, sort_keys=True)


def _optional_str(value: Any) -> str | None:
    value = _json_value(value)
    return None if value is None else str(value)


def _check_plan(
    original: pd.DataFrame, planned_cell_ids: Sequence[str] | None
) -> tuple[Any, list[str], dict[str, Any] | None]:
    """Validate the plan against the results: (GX result, missing cell ids, summary entry)."""
    if planned_cell_ids is None:
        return None, [], None
    planned = list(dict.fromkeys(str(c) for c in planned_cell_ids))
    present = set(original["cell_id"].dropna().astype(str).unique())
    plan = pd.DataFrame(
        {
            ROW_NUMBER: np.arange(len(planned), dtype="int64"),
            "cell_id": pd.array(planned, dtype="str"),
            "mesh": pd.Series(planned, dtype="str").str.extract(_CELL_ID)["mesh"].array,
            "has_result": np.array([c in present for c in planned], dtype=bool),
        }
    )
    validators = gx_validators()
    result = validators.plan.run(batch_parameters={"dataframe": plan}, result_format=_result_format())
    missing: list[str] = []
    entry: dict[str, Any] | None = None
    for item in result.results:
        info = expectation_info(item.expectation_config.meta, item.expectation_config.type)
        missing = [planned[r] for r in _failing_rows(item)]
        entry = {
            "expectation": info.type,
            "check": info.check,
            "reason": info.phrase,
            "success": bool(item.success),
            "failing_rows": len(missing),
            "cells": missing[:_CELLS_IN_SUMMARY],
        }
    return result, missing, entry


def run_status(good_rows: int, quarantined_rows: int) -> Status:
    """A run's data-quality status, the one place it is decided: failed when nothing survived,
    passed_with_quarantine when something was quarantined (at any stage), else passed."""
    if good_rows == 0:
        return "failed"
    return "passed_with_quarantine" if quarantined_rows else "passed"


def _quarantine_records(frame: pd.DataFrame | Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    records = frame.to_dict("records") if isinstance(frame, pd.DataFrame) else list(frame)
    return [{column: record.get(column) for column in QUARANTINE_COLUMNS} for record in records]


def validate_results(
    results: pd.DataFrame,
    *,
    planned_cell_ids: Sequence[str] | None = None,
    qps_tolerance: float = 0.05,
    quarantined: pd.DataFrame | Sequence[dict[str, Any]] | None = None,
    imported: bool = False,
) -> ValidationOutcome:
    """Validate normalized result rows; raise ValidationStructureError if the table itself is broken.

    `imported`: the rows come from another tool's results (`meshmark import`), so the import
    variant of the results suite applies: resource metrics optional, an unreported request count
    not a failed test, the QPS bound two-sided only where saturation is reported
    (docs/validation.md, "Imported runs").
    `quarantined`: rows an earlier stage already quarantined (QUARANTINE_COLUMNS, e.g. failed load
    tests, stage "run"). Their cells count as accounted for in the planned-cells check, and they
    join the outcome's quarantine table, status and per-mesh summary, so the outcome describes the
    whole run and its status is the run's status.
    """
    if not 0 <= qps_tolerance < 1:
        raise ValueError(f"qps_tolerance must be in [0, 1), got {qps_tolerance}")
    validators = gx_validators()
    original = _prepared(results)
    structure_result = _check_structure(original)
    frame = with_computed_columns(original)
    parameters = {"qps_ratio_min": 1 - qps_tolerance, "qps_ratio_max": 1 + qps_tolerance}
    rows, rows_suite = (
        (validators.rows_import, validators.rows_import_suite)
        if imported
        else (validators.rows, validators.rows_suite)
    )
    gx_result = rows.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters,
        result_format=_result_format(),
    )

    reasons: dict[int, list[str]] = defaultdict(list)
    expectations_summary = []
    first_copy = ~original["cell_id"].duplicated(keep="first") if len(original) else pd.Series([], dtype=bool)
    for item in gx_result.results:
        config = item.expectation_config
        info: ExpectationInfo = expectation_info(config.meta, config.type)
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise ValidationStructureError(
                [f"{info.reason}: GX raised {item.exception_info.get('exception_message')}"]
            )
        rows = _failing_rows(item)
        if info.scope == "duplicates":
            rows = [r for r in rows if not first_copy.iloc[r]]
        for r in rows:
            reasons[r].append(info.reason)
        expectations_summary.append(
            {
                "expectation": info.type,
                "check": info.check,
                "reason": info.reason,
                "success": bool(item.success),
                "failing_rows": len(rows),
                "cells": [_optional_str(original["cell_id"].iloc[r]) for r in rows[:_CELLS_IN_SUMMARY]],
            }
        )

    earlier = _quarantine_records(quarantined)
    if planned_cell_ids is not None and earlier:
        accounted = {str(r["cell_id"]) for r in earlier}
        planned_cell_ids = [c for c in planned_cell_ids if str(c) not in accounted]
    plan_result, missing, planned_summary = _check_plan(original, planned_cell_ids)
    if planned_summary is not None:
        expectations_summary.append(planned_summary)

    bad_rows = sorted(reasons)
    good = original.drop(index=bad_rows)
    rejected = original.loc[bad_rows]
    quarantine_records = [
        {
            "cell_id": _optional_str(record.get("cell_id")),
            "mesh": _optional_str(record.get("mesh")),
            "stage": STAGE,
            "reasons": reasons[r],
            "row_json": _row_json(record),
            "raw_path": _optional_str(record.get("raw_path")),
        }
        for r, record in zip(bad_rows, rejected.to_dict("records"), strict=True)
    ]
    quarantine_records += [
        {
            "cell_id": cell_id,
            "mesh": mesh_of_cell_id(cell_id),
            "stage": STAGE,
            "reasons": [planned_summary["reason"] if planned_summary else ""],
            "row_json": None,
            "raw_path": None,
        }
        for cell_id in missing
    ]
    quarantine_records = earlier + quarantine_records
    quarantine = pd.DataFrame(quarantine_records, columns=QUARANTINE_COLUMNS)

    by_mesh: dict[str, list[str]] = defaultdict(list)
    for record in quarantine_records:
        by_mesh[str(record["mesh"])].append(str(record["cell_id"]))
    all_meshes = {str(m) for m in original["mesh"].dropna().unique()} | {
        str(r["mesh"]) for r in quarantine_records if r["mesh"] is not None
    }
    good_meshes = {str(m) for m in good["mesh"].dropna().unique()}
    status = run_status(len(good), len(quarantine_records))
    summary: dict[str, Any] = {
        "status": status,
        "suite": rows_suite["name"],
        "suite_version": suite_version(rows_suite),
        "structure_suite": validators.structure_suite["name"],
        "planned_cells_suite": validators.plan_suite["name"],
        "rows_total": len(original),
        "rows_good": len(good),
        "rows_quarantined": len(bad_rows),
        "cells_quarantined_before_validation": len(earlier),
        "planned_cells_checked": planned_cell_ids is not None,
        "planned_cells_missing": missing,
        "qps_tolerance": qps_tolerance,
        "expectations_failed": sum(1 for e in expectations_summary if not e["success"]),
        "expectations": expectations_summary,
        "quarantined_cells_by_mesh": dict(sorted(by_mesh.items())),
        "meshes_fully_quarantined": sorted(all_meshes - good_meshes),
    }
    return ValidationOutcome(
        good=good,
        quarantine=quarantine,
        status=status,
        summary=summary,
        validation_result=gx_result,
        structure_result=structure_result,
        plan_result=plan_result,
    )
