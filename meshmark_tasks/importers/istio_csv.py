"""The istio/tools `perf/benchmark` CSV (written by runner/fortio.py's `write_csv`) → one ImportedRun.

What the file is (istio/tools perf/benchmark/runner/fortio.py and prom.py, see docs/import-export.md):
- a header of the columns chosen with `fortio.py --csv …`, then one line per fortio result;
  `str(value)` joined by ",", "-" where the result has no such key;
- fortio keys: StartTime (RFC 3339), ActualDuration (whole seconds), Labels, NumThreads,
  ActualQPS and RequestedQPS (rounded to integers; "max" written as 99999999), RunType,
  min/max/p50/p75/p90/p99/p999 (µs, truncated to integers), errorPercent, Payload (mean response
  size);
- Prometheus figures `cpu_mili_{min,avg,max}_<group>` (mCPU) and `mem_Mi_…`/`mem_MB_…` (MiB:
  prom.py divides bytes by 1024²) per group: `istio_proxy_<pod>` (fortioclient, fortioserver,
  istio-ingressgateway) in current runners, `<deployment>_proxy`, `telemetry_mixer`,
  `policy_mixer`, `pilot_discovery` in older ones;
- Labels `[<proto>_]<run id>_qps_<qps>_c_<connections>_<size>[_<config>]_<mode>`, mode one of
  baseline (older: base), both, serveronly, clientonly, ingress.

Mapping: the whole file is one run (id `istio-csv-<digest of the bytes>` unless given); each
`<config>_<mode>` is a mesh configuration (`baseline`/`base` modes are baselines, paired with the
other modes at the same load point by the scoring); the load point comes from the label (qps "max"
or 99999999 → unthrottled); repetitions are rows of the same configuration and load point, in
start-time order. Latencies µs → ms; the `avg` proxy columns summed are the data plane (mCPU →
cores, MiB → bytes), mixer/discovery columns the control plane; min/max columns are read but
not used. The CSV has no request count: requests_total is ActualQPS × ActualDuration (both
already rounded by fortio.py, so an estimate) and errors_total comes from errorPercent, else null.
A line with no request or with every request failed is quarantined (stage "run").

Any unknown column, malformed label or value is an ImportParseError naming the line and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from meshmark_tasks.importers._cells import mesh_slug, repetitions
from meshmark_tasks.importers._io import decode_text, parse_timestamp
from meshmark_tasks.importers.model import (
    ImportedRun,
    ImportParseError,
    RawOutput,
    quarantine_row,
    results_row,
)
from meshmark_tasks.matrix import cell_id_for

BACKEND = "import:istio-csv"
REQUIRED_COLUMNS = ("StartTime", "ActualDuration", "Labels", "ActualQPS", "p50", "p99")
OPTIONAL_COLUMNS = (
    "NumThreads",
    "RequestedQPS",
    "RunType",
    "min",
    "max",
    "p75",
    "p90",
    "p999",
    "errorPercent",
    "Payload",
)
LATENCY_COLUMNS = {
    "min": "latency_ms_min",
    "p50": "latency_ms_p50",
    "p75": "latency_ms_p75",
    "p90": "latency_ms_p90",
    "p99": "latency_ms_p99",
    "p999": "latency_ms_p999",
    "max": "latency_ms_max",
}
BASELINE_MODES = frozenset({"baseline", "base"})
MODES = ("baseline", "base", "both", "serveronly", "clientonly", "ingress")
MISSING = "-"  # fortio.py's write_csv: str(gd.get(key, '-'))
MAX_QPS = Decimal(99999999)  # fortio.py's convert_data: RequestedQPS "max" → 99999999
_RESOURCE = re.compile(r"^(cpu_mili|mem_Mi|mem_MB)_(min|avg|max)_([A-Za-z0-9_.-]+)$")
_CONTROL_PLANE_GROUPS = ("_mixer", "_discovery")
_LABEL = re.compile(
    r"^(?:(?P<proto>http|grpc|tcp)_)?(?P<run>[A-Za-z0-9-]+)"
    r"_qps_(?P<qps>max|\d+(?:\.\d+)?)_c_(?P<conns>\d+)_(?P<size>\d+)"
    r"(?:_(?P<config>.+?))?_(?P<mode>[A-Za-z]+)$"
)
_PROTOCOLS = {"HTTP": "http", "GRPC": "grpc", "TCP": "tcp"}
_MIB = Decimal(2**20)


@dataclass(frozen=True)
class _Resource:
    column: str
    plane: str  # "dataplane" | "controlplane"
    kind: str  # "cpu" | "mem"


@dataclass(frozen=True)
class _Label:
    protocol: str | None
    qps: float | None
    connections: int
    payload: int
    mesh: str
    is_baseline: bool
    kind: str


def parse_istio_csv(
    data: bytes,
    *,
    source: str,
    run_id: str | None = None,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
) -> ImportedRun:
    """The CSV as one run. `run_id` overrides the digest-based id."""
    text = decode_text(data, source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ImportParseError(source, f"not CSV: {exc}", line=1) from None
    columns = _columns(header, source)
    parsed: list[tuple[int, list[str], dict[str, Any]]] = []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportParseError(source, f"not CSV: {exc}", line=reader.line_num) from None
        if not fields or fields == [""]:
            continue  # blank line
        line = reader.line_num
        if len(fields) != len(header):
            raise ImportParseError(
                source,
                f"expected {len(header)} fields as in the header, got {len(fields)}"
                " (a truncated or shifted line?)",
                line=line,
            )
        parsed.append((line, fields, _row(dict(zip(header, fields, strict=True)), columns, source, line)))
    if not parsed:
        raise ImportParseError(source, "no data lines after the header")

    parsed.sort(key=lambda item: (item[2]["start_time"], item[0]))
    keys = [
        (r["mesh"], r["requested_qps"], r["connections"], r["payload_bytes"], r["protocol"])
        for _, _, r in parsed
    ]
    rows: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    raw: dict[str, RawOutput] = {}
    for (line, fields, values), rep in zip(parsed, repetitions(keys), strict=True):
        cell = cell_id_for(
            values["mesh"],
            values["requested_qps"],
            values["connections"],
            values["payload_bytes"],
            values["protocol"],
            rep,
        )
        row = results_row(
            {
                **values,
                "backend": BACKEND,
                "cell_id": cell,
                "repetition": rep,
                "slo_p99_ms": slo_p99_ms,
                "error_budget": error_budget,
            }
        )
        raw[cell] = RawOutput(_csv_line(header) + _csv_line(fields), "csv")
        failure = _failed_test(row, line)
        if failure is None:
            rows.append(row)
        else:
            row_json = json.dumps(row, sort_keys=True, default=str)
            quarantine.append(
                quarantine_row(
                    cell_id=cell, mesh=row["mesh"], stage="run", reasons=[failure], row_json=row_json
                )
            )
    return ImportedRun(
        run_id=run_id or f"istio-csv-{hashlib.sha256(data).hexdigest()[:16]}",
        run_date=min(values["start_time"] for _, _, values in parsed).date(),
        profile=None,
        backend=BACKEND,
        source=source,
        results=rows,
        quarantine=quarantine,
        raw=raw,
    )


def _columns(header: list[str], source: str) -> list[_Resource]:
    if not header or header == [""]:
        raise ImportParseError(source, "empty header line", line=1)
    if header[0].lstrip().startswith(("{", "[")):
        raise ImportParseError(source, "this is JSON, not the istio/tools benchmark CSV", line=1)
    seen: set[str] = set()
    resources: list[_Resource] = []
    for name in header:
        if name in seen:
            raise ImportParseError(source, "column appears twice in the header", line=1, column=name)
        seen.add(name)
        if name in REQUIRED_COLUMNS or name in OPTIONAL_COLUMNS:
            continue
        resource = _resource(name, source)
        if resource is not None:
            resources.append(resource)
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise ImportParseError(
            source,
            f"not the istio/tools benchmark CSV header: missing column(s) {', '.join(missing)}",
            line=1,
        )
    return resources


def _resource(name: str, source: str) -> _Resource | None:
    """The resource a column measures; None for a column read but not used; unknown → error."""
    # fortio.py's default --csv lacks a comma after p999 ("p999cpu_mili_avg_…"): such a column is
    # never filled ("-" on every line) and is accepted as the runner's known slip.
    quirk = name.startswith("p999") and _RESOURCE.match(name[4:]) is not None
    match = _RESOURCE.match(name[4:] if quirk else name)
    if match is None:
        known = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        raise ImportParseError(
            source,
            f"unknown column (known: {known}, cpu_mili_*/mem_Mi_*/mem_MB_* Prometheus figures)",
            line=1,
            column=name,
        )
    metric, statistic, group = match.groups()
    if "proxy" in group:
        plane = "dataplane"
    elif group.endswith(_CONTROL_PLANE_GROUPS):
        plane = "controlplane"
    else:
        raise ImportParseError(
            source,
            f"unknown resource group {group!r}: neither a proxy (data plane)"
            " nor mixer/discovery (control plane)",
            line=1,
            column=name,
        )
    if quirk or statistic != "avg":
        return _Resource(name, plane, "unused")
    return _Resource(name, plane, "cpu" if metric == "cpu_mili" else "mem")


def _row(values: dict[str, str], resources: list[_Resource], source: str, line: int) -> dict[str, Any]:
    def fail(column: str, problem: str) -> NoReturn:
        raise ImportParseError(source, problem, line=line, column=column)

    def number(column: str, *, required: bool = False) -> Decimal | None:
        raw = values.get(column, MISSING).strip()
        if raw in (MISSING, ""):
            if required:
                fail(column, "value is missing ('-')")
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            fail(column, f"not a number: {raw!r}")
        if not value.is_finite():
            fail(column, f"not a finite number: {raw!r}")
        if value < 0:
            what = "negative duration" if column == "ActualDuration" else "negative value"
            fail(column, f"{what}: {raw}")
        return value

    label = _label(values["Labels"].strip(), values.get("RunType", MISSING).strip(), fail)
    start = parse_timestamp(values["StartTime"], lambda problem: fail("StartTime", problem))
    duration = number("ActualDuration", required=True)
    qps = number("ActualQPS", required=True)
    assert duration is not None and qps is not None
    for column in ("NumThreads", "RequestedQPS", "Payload"):
        number(column)  # read for their shape only: the label says what the runner asked for
    error_pct = number("errorPercent")
    if error_pct is not None and error_pct > 100:
        fail("errorPercent", f"more than 100 %: {error_pct}")
    requests = int((qps * duration).to_integral_value())
    row: dict[str, Any] = {
        "cell_id": None,
        "mesh": label.mesh,
        "mesh_kind": label.kind,
        "is_baseline": label.is_baseline,
        "requested_qps": label.qps,
        "connections": label.connections,
        "payload_bytes": label.payload,
        "protocol": label.protocol or "http",
        "start_time": start,
        "end_time": start + timedelta(seconds=float(duration)),
        "duration_s": float(duration),
        "actual_qps": float(qps),
        "requests_total": requests,
        "errors_total": None if error_pct is None else int((error_pct / 100 * requests).to_integral_value()),
    }
    for column, field in LATENCY_COLUMNS.items():
        value = number(column, required=column in REQUIRED_COLUMNS)
        row[field] = None if value is None else float(value.scaleb(-3))  # µs → ms, exact
    for plane in ("dataplane", "controlplane"):
        for kind, factor, field in (("cpu", Decimal("0.001"), "cpu_cores"), ("mem", _MIB, "mem_bytes")):
            figures = [number(r.column) for r in resources if r.plane == plane and r.kind == kind]
            present = [f for f in figures if f is not None]
            row[f"{field}_{plane}"] = float(sum(present, Decimal(0)) * factor) if present else None
    for resource in resources:
        quirk = resource.kind == "unused" and resource.column.startswith("p999")
        if quirk and values[resource.column].strip() not in (MISSING, ""):
            fail(resource.column, "a value in the column fortio.py never fills (missing comma after p999?)")
    return row


def _label(text: str, run_type: str, fail: Callable[[str, str], NoReturn]) -> _Label:
    if "_qps_" not in text:
        fail(
            "Labels",
            f"label {text!r} has no '_qps_<n>' part (expected <id>_qps_<n>_c_<n>_<size>_<config>_<mode>)",
        )
    match = _LABEL.match(text)
    if match is None:
        fail("Labels", f"cannot read label {text!r} (expected <id>_qps_<n>_c_<n>_<size>_<config>_<mode>)")
    mode = match["mode"]
    if mode not in MODES:
        fail("Labels", f"label {text!r} ends in unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    config = match["config"] or ""
    mesh = mesh_slug(f"{config}_{mode}" if config else mode)
    assert mesh is not None  # the mode alone is a valid name
    qps = None if match["qps"] == "max" or Decimal(match["qps"]) in (0, MAX_QPS) else float(match["qps"])
    protocol = match["proto"]
    if protocol is None and run_type not in (MISSING, ""):
        protocol = _PROTOCOLS.get(run_type.split()[0].upper())
        if protocol is None:
            fail("RunType", f"unknown RunType {run_type!r} (expected HTTP, GRPC or TCP)")
    is_baseline = mode in BASELINE_MODES
    kind = "baseline" if is_baseline else ("linkerd" if "linkerd" in config else "istio")
    return _Label(protocol, qps, int(match["conns"]), int(match["size"]), mesh, is_baseline, kind)


def _failed_test(row: dict[str, Any], line: int) -> str | None:
    if row["requests_total"] == 0:
        return f"line {line}: no request was made (ActualQPS × ActualDuration is 0)"
    if row["errors_total"] is not None and row["errors_total"] >= row["requests_total"]:
        return f"line {line}: all requests failed (errorPercent 100)"
    return None


def _csv_line(fields: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().encode()
