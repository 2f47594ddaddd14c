"""Meshery performance results → one `ImportedRun` per result.

Shapes read (Meshery's `MesheryResult` / `PerformanceResult` models, see docs/import-export.md):
- one result: {"meshery_id", "name", "mesh", "performance_profile", "test_start_time",
  "runner_results": {fortio's result JSON + "load-generator"}, "server_metrics", …};
- an array of results; or a page of Meshery's results API: {"page", …, "results": [...]}.
Keys may be snake_case (Meshery server) or camelCase (`mesheryId`, `runnerResults`,
`testStartTime`, `performanceProfile`: mesheryctl and Meshery's remote provider), not both.

`runner_results` is one fortio result (Meshery converts wrk2 and Nighthawk output into fortio's
JSON before storing it; "load-generator" says which tool ran); an array of fortio results is also
read, one cell each. A result is a run: run id `meshery-<meshery_id>` (a digest of the result when
it has no id, so importing the same file twice gives the same runs), run date = the UTC day of
`test_start_time`. `mesh` null, absent, "" or "none"/"no mesh" = the no-mesh baseline.

The envelope (ids, times, mesh, the presence of runner_results) must be right or the file is
refused. A runner result the fortio adapter cannot read is quarantined (stage "parse"), one whose
requests all failed (e.g. RetCodes {"-1": N}: connection errors) or made none is quarantined
(stage "run"); the other results of the file are imported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meshmark_tasks.adapters import parse_text
from meshmark_tasks.errors import ResultParseError
from meshmark_tasks.importers._cells import NO_MESH_NAMES, mesh_slug, repetitions
from meshmark_tasks.importers._io import Fields, decode_text, json_type, load_json, path_of
from meshmark_tasks.importers.model import ImportedRun, RawOutput, quarantine_row, results_row
from meshmark_tasks.matrix import cell_id_for
from meshmark_tasks.result import NormalizedResult

BACKEND = "import:meshery"
# Meshery's "load-generator" → the adapter format its runner_results are in.
LOAD_GENERATOR_FORMATS = {"fortio": "fortio", "wrk2": "fortio", "nighthawk": "nighthawk"}
BASELINE_MESH = "baseline"
# Field → its spellings: Meshery's Go models (snake_case) and mesheryctl / remote provider (camelCase).
SPELLINGS: dict[str, tuple[str, ...]] = {
    "meshery_id": ("meshery_id", "mesheryId"),
    "name": ("name",),
    "mesh": ("mesh",),
    "performance_profile": ("performance_profile", "performanceProfile"),
    "test_start_time": ("test_start_time", "testStartTime"),
    "runner_results": ("runner_results", "runnerResults"),
}
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def parse_meshery(
    data: bytes, *, source: str, slo_p99_ms: float | None = None, error_budget: float | None = None
) -> list[ImportedRun]:
    """Every result in a Meshery export, as runs. `slo_p99_ms`/`error_budget` fill those columns."""
    fields = Fields(source)
    doc = load_json(decode_text(data, source), source)
    runs: list[ImportedRun] = []
    seen: dict[str, str] = {}
    for path, item in _results(doc, fields):
        run = _run(item, path, fields, slo_p99_ms=slo_p99_ms, error_budget=error_budget)
        if run.run_id in seen:
            fields.fail(
                path,
                f"duplicate result: run id {run.run_id!r} is also the result at"
                f" {seen[run.run_id] or 'top level'}",
            )
        seen[run.run_id] = path
        runs.append(run)
    return runs


def _results(doc: Any, fields: Fields) -> list[tuple[str, Any]]:
    if isinstance(doc, list):
        if not doc:
            fields.fail("", "no performance results: the array is empty")
        return [(f"[{i}]", item) for i, item in enumerate(doc)]
    if isinstance(doc, dict):
        if any(key in doc for key in SPELLINGS["runner_results"]):
            return [("", doc)]
        if "results" in doc:
            results = fields.array(doc["results"], "results")
            if not results:
                fields.fail("results", "no performance results: the array is empty")
            return [(f"results[{i}]", item) for i, item in enumerate(results)]
        keys = ", ".join(sorted(doc)[:8]) or "none"
        fields.fail("", f"not a Meshery performance result: no runner_results (keys: {keys})")
    fields.fail("", f"expected a Meshery result object or an array of them, got {json_type(doc)}")


def _get(result: dict[str, Any], name: str, path: str, fields: Fields) -> Any:
    present = [key for key in SPELLINGS[name] if key in result]
    if len(present) > 1:
        fields.fail(path_of(path, present[1]), f"both {present[0]!r} and {present[1]!r} are present")
    return result[present[0]] if present else None


@dataclass(frozen=True)
class _Mesh:
    name: str
    kind: str
    is_baseline: bool


@dataclass(frozen=True)
class _Entry:
    path: str
    doc: dict[str, Any]
    load_generator: str


def _run(
    item: Any, path: str, fields: Fields, *, slo_p99_ms: float | None, error_budget: float | None
) -> ImportedRun:
    result = fields.obj(item, path)
    meshery_id = fields.optional_string(_get(result, "meshery_id", path, fields), path_of(path, "meshery_id"))
    if meshery_id is not None and not _SAFE_ID.fullmatch(meshery_id):
        fields.fail(
            path_of(path, "meshery_id"), f"not an id (letters, digits, '.', '_', '-'): {meshery_id!r}"
        )
    name = fields.optional_string(_get(result, "name", path, fields), path_of(path, "name"))
    profile = fields.optional_string(
        _get(result, "performance_profile", path, fields), path_of(path, "performance_profile")
    )
    mesh = _mesh(_get(result, "mesh", path, fields), path_of(path, "mesh"), fields)
    entries = _entries(_get(result, "runner_results", path, fields), path_of(path, "runner_results"), fields)
    start = _start(result, path, entries, fields)
    digest = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()[:16]
    run_id = f"meshery-{meshery_id or digest}"

    parsed: list[tuple[_Entry, NormalizedResult, int]] = []
    quarantine: list[dict[str, Any]] = []
    raw: dict[str, RawOutput] = {}
    for j, entry in enumerate(entries):
        outcome = _read(entry, fields.source)
        if isinstance(outcome, str):
            cell = f"{mesh.name}-unread{j}"
            raw[cell] = _raw(entry.doc)
            quarantine.append(
                quarantine_row(
                    cell_id=cell,
                    mesh=mesh.name,
                    stage="parse",
                    reasons=[outcome],
                    row_json=json.dumps(entry.doc, sort_keys=True),
                )
            )
            continue
        parsed.append((entry, *outcome))

    reps = repetitions([(r.requested_qps, r.connections, payload, r.protocol) for _, r, payload in parsed])
    rows: list[dict[str, Any]] = []
    for (entry, r, payload), rep in zip(parsed, reps, strict=True):
        assert r.connections is not None  # _read quarantines results without NumThreads
        cell = cell_id_for(mesh.name, r.requested_qps, r.connections, payload, r.protocol, rep)
        raw[cell] = _raw(entry.doc)
        row = results_row(
            {
                **r.model_dump(),
                "profile": profile,
                "backend": BACKEND,
                "cell_id": cell,
                "mesh": mesh.name,
                "mesh_kind": mesh.kind,
                "is_baseline": mesh.is_baseline,
                "payload_bytes": payload,
                "repetition": rep,
                "slo_p99_ms": slo_p99_ms,
                "error_budget": error_budget,
            }
        )
        failure = _failed_test(r, entry)
        if failure is None:
            rows.append(row)
        else:
            quarantine.append(
                quarantine_row(
                    cell_id=cell,
                    mesh=mesh.name,
                    stage="run",
                    reasons=[failure],
                    row_json=json.dumps(row, sort_keys=True, default=str),
                )
            )
    return ImportedRun(
        run_id=run_id,
        run_date=start.date(),
        profile=profile,
        backend=BACKEND,
        source=fields.source,
        results=rows,
        quarantine=quarantine,
        raw=raw,
        name=name,
    )


def _mesh(value: Any, field: str, fields: Fields) -> _Mesh:
    if value is None or (isinstance(value, str) and value.strip().lower() in NO_MESH_NAMES):
        return _Mesh(BASELINE_MESH, "baseline", True)
    slug = mesh_slug(fields.string(value, field))
    if slug is None:
        fields.fail(field, f"cannot make a mesh name of {value!r}")
    return _Mesh(slug, slug, False)


def _entries(value: Any, field: str, fields: Fields) -> list[_Entry]:
    if value is None:
        fields.fail(field, "runner_results is missing: the result holds no measurement")
    items = [(field, value)] if isinstance(value, dict) else None
    if items is None:
        array = fields.array(value, field)
        if not array:
            fields.fail(field, "runner_results is an empty array")
        items = [(f"{field}[{j}]", entry) for j, entry in enumerate(array)]
    out = []
    for path, entry in items:
        doc = fields.obj(entry, path)
        generator = doc.get("load-generator") or "fortio"
        generator = fields.string(generator, path_of(path, "load-generator")).strip().lower() or "fortio"
        out.append(_Entry(path, doc, generator))
    return out


def _start(result: dict[str, Any], path: str, entries: list[_Entry], fields: Fields) -> datetime:
    value = _get(result, "test_start_time", path, fields)
    if value is not None:
        return fields.timestamp(value, path_of(path, "test_start_time"))
    first = entries[0]
    if first.doc.get("StartTime") is not None:
        return fields.timestamp(first.doc["StartTime"], path_of(first.path, "StartTime"))
    fields.fail(path, "neither test_start_time nor runner_results.StartTime: the run date is unknown")


def _read(entry: _Entry, source: str) -> tuple[NormalizedResult, int] | str:
    """The entry's measurement and request payload size, or why it cannot be read."""
    fmt = LOAD_GENERATOR_FORMATS.get(entry.load_generator)
    if fmt is None:
        known = ", ".join(LOAD_GENERATOR_FORMATS)
        return f"{entry.path}: unknown load-generator {entry.load_generator!r} (expected {known})"
    try:
        result = parse_text(json.dumps(entry.doc), fmt, source=f"{source} {entry.path}")
    except ResultParseError as exc:
        return f"{entry.path}: {exc.problem}"
    if result.connections is None:
        return f"{entry.path}: NumThreads is missing, so the load point (connections) is unknown"
    payload = _payload(entry.doc.get("Payload"), result.protocol)
    if isinstance(payload, str):
        return f"{entry.path}.Payload: {payload}"
    return result.model_copy(update={"load_generator": entry.load_generator}), payload


def _payload(value: Any, protocol: str) -> int | str:
    """Request body size: fortio writes HTTP payloads base64-encoded (Go []byte), gRPC ones as text."""
    if value is None or value == "":
        return 0
    if not isinstance(value, str):
        return f"expected a string, got {json_type(value)}"
    if protocol != "http":
        return len(value.encode())
    try:
        return len(base64.b64decode(value, validate=True))
    except binascii.Error:
        return "not base64 (fortio writes the HTTP payload base64-encoded)"


def _failed_test(result: NormalizedResult, entry: _Entry) -> str | None:
    if result.requests_total == 0:
        return f"{entry.path}: no request was made"
    if result.errors_total < result.requests_total:
        return None
    codes = entry.doc.get("RetCodes")
    detail = f"RetCodes {json.dumps(codes, sort_keys=True)}" if isinstance(codes, dict) else "errors only"
    hint = "; -1 counts connection/socket errors" if isinstance(codes, dict) and "-1" in codes else ""
    return f"{entry.path}: all {result.requests_total} requests failed ({detail}{hint})"


def _raw(doc: dict[str, Any]) -> RawOutput:
    return RawOutput(json.dumps(doc, indent=2, ensure_ascii=False).encode(), "json")
