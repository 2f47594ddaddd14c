"""Rows of one run (tables `results`, `meshmark`, `meshmark_config`) → an SMP document, JSON or YAML.

Pure functions of the rows: the export command reads a run's tables from the store and hands
them here. `parse_smp` (smp_import.py) reads the document back into the same `results` rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import yaml

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.importers.model import RESULT_COLUMNS
from meshmark_tasks.importers.smp_spec import (
    DOCUMENT_KIND,
    EXTENSION_KEY,
    EXTENSION_VERSION,
    FIELD_COLUMNS,
    LABEL_COLUMNS,
    LABEL_PREFIX,
    LATENCY_COLUMNS,
    MESH_TYPES,
    PROTOCOLS,
    SMP_VERSION,
    UNTHROTTLED,
)
from meshmark_tasks.schemas import CLASS_COLUMNS, MUE_COLUMNS, OVERHEAD_COLUMNS

TableLike: TypeAlias = pd.DataFrame | pa.Table
SCORE_COLUMNS = (*MUE_COLUMNS, *CLASS_COLUMNS, "scored_classes", "meshmark", *OVERHEAD_COLUMNS)
CONFIG_SCORE_COLUMNS = ("mesh", "meshmark_mean", "meshmark_min", "cells_scored")
# results columns the extension carries: all but those SMP fields and labels hold.
EXTENSION_COLUMNS = tuple(c for c in RESULT_COLUMNS if c not in LABEL_COLUMNS and c not in FIELD_COLUMNS)


class SmpExportError(MeshmarkError):
    """The rows handed to the export are not one run's rows."""


def smp_document(
    results: TableLike, meshmark: TableLike | None = None, meshmark_config: TableLike | None = None
) -> dict[str, Any]:
    """The SMP document of one run: its config, each mesh's config, one result per cell, extension."""
    rows = _records(results, "results")
    if not rows:
        raise SmpExportError("results: no rows to export")
    run_id, run_date = _one_run(rows, "results")
    result_ids = {row["cell_id"]: f"{run_id}/{row['cell_id']}" for row in rows}
    if len(result_ids) != len(rows):
        raise SmpExportError(f"results of run {run_id}: cell ids are not unique")
    scores: list[dict[str, Any]] = _records(meshmark, "meshmark") if meshmark is not None else []
    configs: list[dict[str, Any]] = (
        _records(meshmark_config, "meshmark_config") if meshmark_config is not None else []
    )
    for table, other in (("meshmark", scores), ("meshmark_config", configs)):
        if other and _one_run(other, table)[0] != run_id:
            raise SmpExportError(f"{table}: rows of run {other[0]['run_id']!r}, results of run {run_id!r}")
    unknown = [s["cell_id"] for s in scores if s["cell_id"] not in result_ids]
    if unknown:
        raise SmpExportError(f"meshmark: cell {unknown[0]!r} has no results row")
    return {
        "kind": DOCUMENT_KIND,
        "smp_version": SMP_VERSION,
        "performance_test_config": _test_config(rows, run_id, run_date),
        "service_mesh_configs": _mesh_configs(rows),
        "performance_test_results": [_test_result(row, result_ids[row["cell_id"]], run_id) for row in rows],
        EXTENSION_KEY: {
            "version": EXTENSION_VERSION,
            "run": {
                "run_id": run_id,
                "run_date": run_date.isoformat(),
                "profile": _single(rows, "profile"),
                "backend": _single(rows, "backend"),
            },
            "results": {result_ids[row["cell_id"]]: _extension_row(row) for row in rows},
            "meshmark": {
                result_ids[s["cell_id"]]: {c: _json_value(s.get(c)) for c in SCORE_COLUMNS} for s in scores
            },
            "meshmark_config": [
                {c: _json_value(c_row.get(c)) for c in CONFIG_SCORE_COLUMNS} for c_row in configs
            ],
        },
    }


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


# -- rows -------------------------------------------------------------------------------------------


def _records(table: TableLike, name: str) -> list[dict[str, Any]]:
    """Python values per row; NaN (pandas' null for floats) becomes None."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if not isinstance(table, pa.Table):
        raise SmpExportError(
            f"{name}: expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}"
        )
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
    if rows and "cell_id" not in rows[0] and name != "meshmark_config":
        raise SmpExportError(f"{name}: column cell_id is missing")
    return rows


def _one_run(rows: list[dict[str, Any]], name: str) -> tuple[str, date]:
    for column in ("run_id", "run_date"):
        if column not in rows[0]:
            raise SmpExportError(f"{name}: column {column} is missing (read the table with its partitioning)")
    runs = {(row["run_id"], row["run_date"]) for row in rows}
    if len(runs) != 1:
        shown = ", ".join(sorted(str(run_id) for run_id, _ in runs)[:3])
        raise SmpExportError(f"{name}: rows of {len(runs)} runs ({shown}); export one run at a time")
    run_id, run_date = runs.pop()
    if isinstance(run_date, datetime):
        run_date = run_date.date()
    if not isinstance(run_date, date):
        run_date = date.fromisoformat(str(run_date))
    return str(run_id), run_date


def _single(rows: list[dict[str, Any]], column: str) -> Any:
    values = {row.get(column) for row in rows}
    return values.pop() if len(values) == 1 else None


# -- SMP messages -----------------------------------------------------------------------------------


def _test_result(row: dict[str, Any], result_id: str, run_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"smp_version": SMP_VERSION, "id": result_id, "labels": _labels(row)}
    for field in ("start_time", "end_time"):
        if row.get(field) is not None:
            message[field] = _timestamp(row[field])
    latencies = {smp: row[column] for column, smp in LATENCY_COLUMNS.items() if row.get(column) is not None}
    if latencies:
        message["latencies_ms"] = latencies
    if row.get("actual_qps") is not None:
        message["actual_qps"] = row["actual_qps"]
    message["test_id"] = run_id
    message["mesh_config_id"] = row["mesh"]
    return message


def _labels(row: dict[str, Any]) -> dict[str, str]:
    labels = {}
    for column in LABEL_COLUMNS:
        value = row.get(column)
        if column == "requested_qps" and value is None:
            value = UNTHROTTLED
        if value is not None:
            labels[LABEL_PREFIX + column] = value if isinstance(value, str) else repr(value)
    return labels


def _test_config(rows: list[dict[str, Any]], run_id: str, run_date: date) -> dict[str, Any]:
    message: dict[str, Any] = {"smp_version": SMP_VERSION, "id": run_id}
    profile = _single(rows, "profile")
    if profile is not None:
        message["name"] = profile
    message["labels"] = {f"{LABEL_PREFIX}run_id": run_id, f"{LABEL_PREFIX}run_date": run_date.isoformat()}
    backend = _single(rows, "backend")
    if backend is not None:
        message["labels"][f"{LABEL_PREFIX}backend"] = backend
    message["clients"] = _clients(rows)
    seconds = {round(row["duration_s"]) for row in rows if row.get("duration_s") is not None}
    if len(seconds) == 1:
        message["duration"] = f"{seconds.pop()}s"
    return message


def _clients(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One Client per distinct (generator, protocol, connections, rate): the run's load points."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (
            row.get("load_generator"),
            row.get("protocol"),
            row.get("connections"),
            row.get("requested_qps"),
        )
        if key in seen:
            continue
        client: dict[str, Any] = {}
        generator, protocol, connections, qps = key
        if generator is not None:
            client["load_generator"] = generator
        if protocol in PROTOCOLS:
            client["protocol"] = PROTOCOLS[protocol]
        if connections is not None:
            client["connections"] = connections
        if qps is not None and float(qps).is_integer():
            client["rps"] = str(int(qps))  # int64: a string in proto3 JSON; 0/absent = unthrottled
        seen[key] = client

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:
        generator, protocol, connections, qps = key
        return (str(generator), str(protocol), connections or 0, qps if qps is not None else math.inf)

    return [seen[key] for key in sorted(seen, key=order)]


def _mesh_configs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["mesh"], row)
    return [_mesh_config(mesh, row) for mesh, row in first.items()]


def _mesh_config(mesh: str, row: dict[str, Any]) -> dict[str, Any]:
    labels = {f"{LABEL_PREFIX}mesh": mesh}
    if row.get("mesh_kind") is not None:
        labels[f"{LABEL_PREFIX}mesh_kind"] = row["mesh_kind"]
    if row.get("is_baseline") is not None:
        labels[f"{LABEL_PREFIX}is_baseline"] = "true" if row["is_baseline"] else "false"
    if row.get("network_functions") is not None:
        labels[f"{LABEL_PREFIX}network_functions"] = row["network_functions"]
    message: dict[str, Any] = {"smp_version": SMP_VERSION, "id": mesh, "labels": labels}
    functions = row.get("network_functions")
    if functions is not None:
        present = set(functions.split(",")) if functions else set()
        message["mtls_enabled"] = "mtls" in present
        message["mesh_telemetry_enabled"] = "telemetry" in present
    mesh_type = MESH_TYPES.get(str(row.get("mesh_kind") or ""))
    if mesh_type is not None:
        message["mesh_type"] = {"type": mesh_type}
    return message


def _extension_row(row: dict[str, Any]) -> dict[str, Any]:
    return {column: _json_value(row.get(column)) for column in EXTENSION_COLUMNS}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with "Z" (a naive time stamp is UTC, as in the store)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
