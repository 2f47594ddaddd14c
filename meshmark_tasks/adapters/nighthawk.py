"""Nighthawk output: its native JSON (`--output-format json`) or its fortio-compatible format.

`parse_nighthawk` tells the two apart by shape: a top-level `results` array is native output, a
top-level `DurationHistogram` is the fortio format (read by the fortio adapter's code with the
Nighthawk counting rule, see `fortio.py`).

Native output (proto3 JSON: uint64 values are strings, durations are strings like "0.002s"):

- The result named "global" is used (one entry per worker plus "global"; with one worker only
  "global"). Worker count = len(results) - 1, or 1 when there is a single result.
- Latency: statistic `benchmark_http_client.request_to_response`. Percentile p is the first entry
  whose `percentile` fraction is >= p (Nighthawk's own console and fortio formatters read the HDR
  percentile list the same way); an empty list leaves the percentiles None. min/max come from the
  `min`/`max` fields, or from the 0 and 1 entries when an output lacks them; mean from `mean`.
- Counters missing from the list are 0: Nighthawk writes only counters that were incremented,
  and its own formatters read absent counters as 0.
- requests_total = `upstream_rq_total` (requests handed to a connection). errors_total =
  requests_total - `benchmark.http_2xx` - `benchmark.http_3xx`: 4xx/5xx answers, stream resets,
  connection failures and requests still unanswered at the end all count. Requests that never left
  Nighthawk (`benchmark.pool_overflow`, its sign of saturation) are not requests here.
- duration_s = global `execution_duration`; outputs written before that field existed (e.g. the
  2019 "medium" sample) fall back to the requested `options.duration`.
- actual_qps = requests_total / duration_s (Nighthawk's fortio formatter does the same).
- requested_qps = options.requests_per_second × workers and connections = options.connections ×
  workers (with `h2` and without `experimental_h2_use_multiple_connections`, one connection per
  worker): Nighthawk applies both options per worker.
- load_generator_version = version.version "major.minor.patch"; start_time = global
  `execution_start`, else the top-level `timestamp` (what Nighthawk reports as fortio StartTime);
  end_time = start_time + duration_s.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from meshmark_tasks.adapters._common import Hints, Reader, build_result, scale
from meshmark_tasks.adapters.fortio import fortio_fields, parse_timestamp
from meshmark_tasks.result import NormalizedResult

LATENCY_STATISTIC = "benchmark_http_client.request_to_response"
PERCENTILE_FIELDS: dict[float, str] = {
    0.5: "latency_ms_p50",
    0.75: "latency_ms_p75",
    0.9: "latency_ms_p90",
    0.99: "latency_ms_p99",
    0.999: "latency_ms_p999",
}
# proto3 JSON writes google.protobuf.Duration as decimal seconds with an "s" suffix. It never
# writes an exponent, but "1.5e-05s" is unambiguous, so it is accepted too.
_DURATION = re.compile(r"^(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)s$")


def parse_nighthawk(doc: dict[str, Any], reader: Reader, hints: Hints) -> NormalizedResult:
    if "results" in doc:
        return build_result(reader, native_fields(doc, reader), hints)
    if "DurationHistogram" in doc:
        return build_result(reader, fortio_fields(doc, reader, flavour="nighthawk"), hints)
    reader.fail("neither native output (no 'results') nor fortio format (no 'DurationHistogram')")


def native_fields(doc: dict[str, Any], reader: Reader) -> dict[str, Any]:
    results = reader.array(doc, "results", "")
    if not results:
        reader.fail("results is empty")
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            reader.fail(f"results[{i}] must be an object, got {result!r}")
    global_result = next((r for r in results if r.get("name") == "global"), None)
    if global_result is None:
        names = ", ".join(repr(r.get("name")) for r in results)
        reader.fail(f"no result named 'global' in results (found {names})")
    workers = 1 if len(results) == 1 else len(results) - 1

    counters = _counters(global_result, reader)
    requests = counters.get("upstream_rq_total", 0)
    answered_ok = counters.get("benchmark.http_2xx", 0) + counters.get("benchmark.http_3xx", 0)
    if answered_ok > requests:
        reader.fail(
            f"global counters: benchmark.http_2xx + benchmark.http_3xx ({answered_ok}) exceed "
            f"upstream_rq_total ({requests})"
        )
    duration_s = _duration_s(doc, global_result, reader)
    raw_options = doc.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}

    fields: dict[str, Any] = {
        "load_generator": "nighthawk",
        "load_generator_version": _version(doc, reader),
        "protocol": "http",
        "requested_qps": _per_worker_option(options, "requests_per_second", workers, reader),
        "actual_qps": requests / duration_s if duration_s > 0 else 0.0,
        "connections": _connections(options, workers, reader),
        "duration_s": duration_s,
        "requests_total": requests,
        "errors_total": requests - answered_ok,
    }
    fields.update(_latency(global_result, reader))
    start = _start_time(doc, global_result, reader)
    if start is not None:
        fields["start_time"] = start
        try:
            fields["end_time"] = start + timedelta(seconds=duration_s)
        except OverflowError:
            reader.fail(f"start time + duration ({duration_s} s) is out of the calendar's range")
    return fields


def parse_duration(raw: Any, field: str, reader: Reader) -> float:
    """A proto3 JSON duration ("0.002s") in seconds, exactly."""
    if not isinstance(raw, str):
        reader.fail(f"{field} must be a duration string like '0.002s', got {raw!r}")
    match = _DURATION.match(raw.strip())
    if match is None:
        reader.fail(f"{field} is not a duration like '0.002s': {raw!r}")
    try:
        return scale(Decimal(match.group(1)), 0)
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid decimals
        reader.fail(f"{field} is not a duration like '0.002s': {raw!r}")


def _counters(result: dict[str, Any], reader: Reader) -> dict[str, int]:
    raw = result.get("counters", [])
    if not isinstance(raw, list):
        reader.fail(f"global counters must be an array, got {raw!r}")
    counters: dict[str, int] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            reader.fail(f"global counters[{i}] must be an object with a name, got {entry!r}")
        name = entry["name"]
        counters[name] = reader.count(
            reader.required(entry, "value", f"global counters[{name!r}]"),
            f"global counter {name}",
            allow_str=True,
        )
    return counters


def _latency(result: dict[str, Any], reader: Reader) -> dict[str, float | None]:
    statistics = result.get("statistics")
    if not isinstance(statistics, list):
        reader.fail(f"global statistics must be an array, got {statistics!r}")
    stat = next((s for s in statistics if isinstance(s, dict) and s.get("id") == LATENCY_STATISTIC), None)
    if stat is None:
        ids = ", ".join(repr(s.get("id")) for s in statistics if isinstance(s, dict))
        reader.fail(f"global result has no statistic {LATENCY_STATISTIC!r} (it has {ids or 'none'})")
    where = f"statistic {LATENCY_STATISTIC}"
    if reader.count(stat.get("count", 0), f"{where}.count", allow_str=True) == 0:
        # No samples: Nighthawk still writes a placeholder 1.0 entry of "0s"; that is not a latency.
        return dict.fromkeys(
            (*PERCENTILE_FIELDS.values(), "latency_ms_mean", "latency_ms_min", "latency_ms_max")
        )
    percentiles = stat.get("percentiles", [])
    if not isinstance(percentiles, list):
        reader.fail(f"{where}.percentiles must be an array, got {percentiles!r}")
    points: list[tuple[float, float]] = []
    for i, entry in enumerate(percentiles):
        if not isinstance(entry, dict):
            reader.fail(f"{where}.percentiles[{i}] must be an object, got {entry!r}")
        fraction = reader.number(
            reader.required(entry, "percentile", f"{where}.percentiles[{i}]"),
            f"{where}.percentiles[{i}].percentile",
        )
        if fraction > 1:
            reader.fail(f"{where}.percentiles[{i}].percentile must be a fraction in [0, 1], got {fraction!r}")
        seconds = parse_duration(
            reader.required(entry, "duration", f"{where}.percentiles[{i}]"),
            f"{where}.percentiles[{i}].duration",
            reader,
        )
        points.append((fraction, seconds))
    points.sort(key=lambda point: point[0])

    out: dict[str, float | None] = {}
    for target, field in PERCENTILE_FIELDS.items():
        out[field] = next((_ms(s) for p, s in points if p >= target), None)
    out["latency_ms_mean"] = _optional_duration_ms(stat, "mean", where, reader)
    out["latency_ms_min"] = _optional_duration_ms(stat, "min", where, reader)
    out["latency_ms_max"] = _optional_duration_ms(stat, "max", where, reader)
    if out["latency_ms_min"] is None and points and points[0][0] == 0:
        out["latency_ms_min"] = _ms(points[0][1])
    if out["latency_ms_max"] is None and points and points[-1][0] == 1:
        out["latency_ms_max"] = _ms(points[-1][1])
    return out


def _optional_duration_ms(stat: dict[str, Any], key: str, where: str, reader: Reader) -> float | None:
    raw = stat.get(key)
    return None if raw is None else _ms(parse_duration(raw, f"{where}.{key}", reader))


def _ms(seconds: float) -> float:
    return scale(seconds, 3)


def _duration_s(doc: dict[str, Any], result: dict[str, Any], reader: Reader) -> float:
    if result.get("execution_duration") is not None:
        return parse_duration(result["execution_duration"], "global execution_duration", reader)
    options = doc.get("options")
    if isinstance(options, dict) and options.get("duration") is not None:
        return parse_duration(options["duration"], "options.duration", reader)
    reader.fail("global execution_duration is missing (and options.duration too)")


def _per_worker_option(options: dict[str, Any], key: str, workers: int, reader: Reader) -> float | None:
    raw = _unwrap(options.get(key))
    if raw is None:
        return None
    return reader.number(raw, f"options.{key}", allow_str=True) * workers


def _connections(options: dict[str, Any], workers: int, reader: Reader) -> int | None:
    raw = _unwrap(options.get("connections"))
    if raw is None:
        return None
    per_worker = reader.count(raw, "options.connections", allow_str=True)
    if (
        _unwrap(options.get("h2")) is True
        and _unwrap(options.get("experimental_h2_use_multiple_connections")) is not True
    ):
        per_worker = 1  # the stock h2 pool opens one connection per worker
    return per_worker * workers


def _unwrap(value: Any) -> Any:
    """Wrapper types (UInt32Value...) print as their value; tolerate the {"value": x} object form."""
    if isinstance(value, dict) and set(value) == {"value"}:
        return value["value"]
    return value


def _version(doc: dict[str, Any], reader: Reader) -> str | None:
    outer = doc.get("version")
    inner = outer.get("version") if isinstance(outer, dict) else None
    if not isinstance(inner, dict):
        return None
    parts = []
    for key in ("major_number", "minor_number", "patch"):
        parts.append(str(reader.count(inner.get(key, 0), f"version.version.{key}", allow_str=True)))
    return ".".join(parts)


def _start_time(doc: dict[str, Any], result: dict[str, Any], reader: Reader) -> datetime | None:
    if result.get("execution_start") is not None:
        return parse_timestamp(result["execution_start"], "global execution_start", reader)
    if doc.get("timestamp") is not None:
        return parse_timestamp(doc["timestamp"], "timestamp", reader)
    return None
