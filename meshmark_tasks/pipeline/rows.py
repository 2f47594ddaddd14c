"""Turn backend measurements into rows of the `results` and `quarantine` tables."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.profile import Profile
from meshmark_tasks.schemas import RESOURCE_COLUMNS


def results_row(
    profile: Profile,
    measurement: CellMeasurement,
    *,
    backend: str,
    raw_path: str | None,
) -> dict[str, Any]:
    """One `results` row: the cell, what the load generator saw, what the components used."""
    if measurement.result is None:
        raise ValueError(f"cell {measurement.cell.cell_id}: no result to turn into a row")
    cell = measurement.cell
    mesh = profile.mesh(cell.mesh)
    result = measurement.result.model_dump()
    resources = measurement.resources.as_dict() if measurement.resources else {}
    row: dict[str, Any] = {
        "profile": profile.name,
        "backend": backend,
        "cell_id": cell.cell_id,
        "mesh": cell.mesh,
        "mesh_kind": cell.mesh_kind,
        "is_baseline": cell.is_baseline,
        "network_functions": ",".join(sorted(cell.network_functions)),
        # The cell's load point is what was planned; the generator's own view is kept in actual_qps.
        "requested_qps": cell.requested_qps,
        "connections": cell.connections,
        "payload_bytes": cell.payload_bytes,
        "protocol": cell.protocol,
        "repetition": cell.repetition,
        "load_generator": result["load_generator"],
        "load_generator_version": result["load_generator_version"],
        "start_time": result["start_time"],
        "end_time": result["end_time"],
        "duration_s": result["duration_s"],
        "actual_qps": result["actual_qps"],
        "requests_total": result["requests_total"],
        "errors_total": result["errors_total"],
        "cpu_cores_assigned": mesh.cpu_cores_assigned or None,
        "mem_bytes_assigned": mesh.mem_bytes_assigned or None,
        "slo_p99_ms": profile.slo.p99_ms,
        "error_budget": profile.slo.error_budget,
        "saturated": measurement.saturated,
        "raw_path": raw_path,
        # Every mesh runs round r of a load point back to back with the baseline's round r.
        "round": cell.repetition,
        "sequence": cell.sequence,
    }
    for name, value in result.items():
        if name.startswith("latency_ms_"):
            row[name] = value
    for name in RESOURCE_COLUMNS:
        if name not in ("cpu_cores_assigned", "mem_bytes_assigned"):
            row[name] = resources.get(name)
    return row


def failed_test_row(measurement: CellMeasurement, *, raw_path: str | None) -> dict[str, Any]:
    """A `quarantine` row for a load test that produced no usable measurement."""
    return {
        "cell_id": measurement.cell.cell_id,
        "mesh": measurement.cell.mesh,
        "stage": "run",
        "reasons": [measurement.failure or "no result"],
        "row_json": json.dumps(measurement.to_json_dict(), sort_keys=True, default=str),
        "raw_path": raw_path,
    }


def run_date_of(logical_date: datetime | date | str | None) -> date:
    """The partition date of a run: its logical date's UTC day, or today (UTC) for runs without one."""
    if logical_date is None:
        return datetime.now(UTC).date()
    if isinstance(logical_date, str):
        logical_date = datetime.fromisoformat(logical_date)
    if isinstance(logical_date, datetime):
        if logical_date.tzinfo is not None:
            logical_date = logical_date.astimezone(UTC)
        return logical_date.date()
    return logical_date
