"""fortio `load -json` results (and Nighthawk's fortio-compatible output, which shares the shape).

Fields read (all durations in the file are SECONDS except ActualDuration, which is nanoseconds):

- DurationHistogram.Percentiles[{Percentile, Value}] -> latency_ms_p50/p75/p90/p99/p999 (only the
  exact percentiles 50, 75, 90, 99, 99.9; others are ignored, missing ones stay None);
  DurationHistogram.Min/Avg/Max -> latency_ms_min/mean/max; seconds -> ms in decimal arithmetic.
- ActualQPS -> actual_qps; RequestedQPS (a string, "max" = unthrottled -> None) -> requested_qps;
  ActualDuration (ns) -> duration_s; NumThreads (fortio's -c, the connection count) -> connections;
  Version -> load_generator_version (verbatim, even "X.Y.Z"); StartTime -> start_time and
  end_time = start_time + ActualDuration; RunType "HTTP" -> protocol "http", "GRPC ..." -> "grpc",
  "TCP ..." -> "tcp".

Requests and errors (fortio flavour):
- RetCodes present: requests_total = sum of all counts. For HTTP runs an error is any code outside
  200-399, including "-1" (connection/socket errors) and keys that are not integers. For gRPC/TCP
  runs the success keys are "SERVING" and "1" (grpc.health.v1 SERVING, written as its enum number
  by fortio before 1.x) and "OK" (TCP); every other key is an error.
- No RetCodes: requests_total = DurationHistogram.Count and errors_total =
  ErrorsDurationHistogram.Count; without either of those the file cannot say how many calls
  failed and is rejected.

Nighthawk flavour (its fortio formatter; see nighthawk's output_formatter_impl.cc): ActualQPS is
upstream_rq_total / ActualDuration and RetCodes holds only {"200": benchmark.http_2xx}, so
requests_total = round(ActualQPS × ActualDuration) and errors_total = requests_total − RetCodes["200"]
(3xx, 4xx, 5xx, resets and requests still in flight at the end all count as errors).
DurationHistogram.Count (completed request_to_response samples) can be smaller than that.
Nighthawk's default fortio format writes Count and RetCodes values as strings (proto3 uint64);
those are accepted in this flavour only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from meshmark_tasks.adapters._common import Hints, Reader, build_result, scale, seconds_to_ms
from meshmark_tasks.result import NormalizedResult

Flavour = Literal["fortio", "nighthawk"]

PERCENTILE_FIELDS: dict[float, str] = {
    50.0: "latency_ms_p50",
    75.0: "latency_ms_p75",
    90.0: "latency_ms_p90",
    99.0: "latency_ms_p99",
    99.9: "latency_ms_p999",
}
NON_HTTP_SUCCESS_CODES = frozenset({"SERVING", "1", "OK"})


def parse_fortio(doc: dict[str, Any], reader: Reader, hints: Hints) -> NormalizedResult:
    return build_result(reader, fortio_fields(doc, reader, flavour="fortio"), hints)


def fortio_fields(doc: dict[str, Any], reader: Reader, *, flavour: Flavour) -> dict[str, Any]:
    """The NormalizedResult fields of a fortio-shaped document (before hints are applied)."""
    run_type = doc.get("RunType", "HTTP")
    if not isinstance(run_type, str):
        reader.fail(f"RunType must be a string, got {run_type!r}")
    protocol = _protocol(run_type)
    histogram = reader.obj(doc, "DurationHistogram", "")
    histogram_where = "DurationHistogram"
    # Nighthawk's default fortio format writes uint64 fields (Count, status-code counts) as JSON
    # strings, a proto3 habit; only its experimental_fortio_pedantic format makes them numbers.
    uint64_strings = flavour == "nighthawk"
    sample_count = reader.count(
        reader.required(histogram, "Count", histogram_where),
        "DurationHistogram.Count",
        allow_str=uint64_strings,
    )
    actual_qps = reader.number(reader.required(doc, "ActualQPS", ""), "ActualQPS")
    duration_ns = reader.count(reader.required(doc, "ActualDuration", ""), "ActualDuration")
    duration_s = scale(Decimal(duration_ns), -9)

    if flavour == "nighthawk":
        requests, errors = _nighthawk_counts(doc, reader, actual_qps, duration_s)
    else:
        requests, errors = _fortio_counts(doc, reader, histogram, sample_count, protocol)

    fields: dict[str, Any] = {
        "load_generator": flavour,
        "load_generator_version": _optional_str(doc, "Version", reader),
        "protocol": protocol,
        "requested_qps": _requested_qps(doc, reader),
        "actual_qps": actual_qps,
        "connections": _connections(doc, reader),
        "duration_s": duration_s,
        "requests_total": requests,
        "errors_total": errors,
    }
    fields.update(_latency(histogram, reader, sample_count))
    start = _start_time(doc, reader)
    if start is not None:
        fields["start_time"] = start
        try:
            fields["end_time"] = start + timedelta(microseconds=duration_ns // 1000)
        except OverflowError:
            reader.fail(f"StartTime + ActualDuration ({duration_ns} ns) is out of the calendar's range")
    return fields


def _protocol(run_type: str) -> str:
    head = run_type.split(maxsplit=1)[0].lower() if run_type.strip() else "http"
    return {"http": "http", "grpc": "grpc", "tcp": "tcp", "udp": "udp"}.get(head, head)


def _fortio_counts(
    doc: dict[str, Any], reader: Reader, histogram: dict[str, Any], sample_count: int, protocol: str
) -> tuple[int, int]:
    ret_codes = doc.get("RetCodes")
    if ret_codes is not None:
        if not isinstance(ret_codes, dict):
            reader.fail(f"RetCodes must be an object mapping status code to count, got {ret_codes!r}")
        requests = errors = 0
        for code, raw in ret_codes.items():
            n = reader.count(raw, f"RetCodes[{code!r}]")
            requests += n
            if not _is_success(code, protocol):
                errors += n
        return requests, errors
    errors_histogram = doc.get("ErrorsDurationHistogram")
    if isinstance(errors_histogram, dict) and "Count" in errors_histogram:
        errors = reader.count(errors_histogram["Count"], "ErrorsDurationHistogram.Count")
        return sample_count, errors
    reader.fail("neither RetCodes nor ErrorsDurationHistogram.Count is present, so errors cannot be counted")


def _is_success(code: str, protocol: str) -> bool:
    if protocol != "http":
        return code in NON_HTTP_SUCCESS_CODES
    try:
        status = int(code)
    except ValueError:
        return False
    return 200 <= status <= 399


def _nighthawk_counts(
    doc: dict[str, Any], reader: Reader, actual_qps: float, duration_s: float
) -> tuple[int, int]:
    product = actual_qps * duration_s
    requests = round(product)
    # Nighthawk computed ActualQPS as upstream_rq_total / duration; the product recovers the count.
    if abs(product - requests) > 0.01:
        reader.fail(f"ActualQPS × ActualDuration = {product!r} is not a whole request count")
    ret_codes = reader.obj(doc, "RetCodes", "")
    ok = reader.count(ret_codes.get("200", 0), "RetCodes['200']", allow_str=True)
    if ok > requests:
        reader.fail(
            f"RetCodes['200'] ({ok}) exceeds the requests implied by ActualQPS × ActualDuration ({requests})"
        )
    return requests, requests - ok


def _latency(histogram: dict[str, Any], reader: Reader, sample_count: int) -> dict[str, float | None]:
    where = "DurationHistogram"
    out: dict[str, float | None] = dict.fromkeys(PERCENTILE_FIELDS.values())
    percentiles = histogram.get("Percentiles")
    if percentiles is None and sample_count == 0:
        percentiles = []  # fortio writes null percentiles for an empty histogram
    elif percentiles is None:
        reader.fail(f"{where}.Percentiles is missing")
    if not isinstance(percentiles, list):
        reader.fail(f"{where}.Percentiles must be an array, got {percentiles!r}")
    for i, entry in enumerate(percentiles):
        if not isinstance(entry, dict):
            reader.fail(f"{where}.Percentiles[{i}] must be an object, got {entry!r}")
        p = reader.number(
            reader.required(entry, "Percentile", f"{where}.Percentiles[{i}]"),
            f"{where}.Percentiles[{i}].Percentile",
        )
        value = reader.number(
            reader.required(entry, "Value", f"{where}.Percentiles[{i}]"), f"{where}.Percentiles[{i}].Value"
        )
        field = PERCENTILE_FIELDS.get(p)
        if field is not None:
            out[field] = seconds_to_ms(value)
    for key, field in (("Min", "latency_ms_min"), ("Avg", "latency_ms_mean"), ("Max", "latency_ms_max")):
        if sample_count == 0 and histogram.get(key) is None:
            out[field] = None
            continue
        out[field] = seconds_to_ms(reader.number(reader.required(histogram, key, where), f"{where}.{key}"))
    return out


def _requested_qps(doc: dict[str, Any], reader: Reader) -> float | None:
    raw = doc.get("RequestedQPS")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("max", "")):
        return None
    value = reader.number(raw, "RequestedQPS", allow_str=True)
    # fortio's -qps 0 means "as fast as possible", the same as "max".
    return None if value == 0 else value


def _connections(doc: dict[str, Any], reader: Reader) -> int | None:
    raw = doc.get("NumThreads")
    return None if raw is None else reader.count(raw, "NumThreads")


def _optional_str(doc: dict[str, Any], key: str, reader: Reader) -> str | None:
    raw = doc.get(key)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        reader.fail(f"{key} must be a string, got {raw!r}")
    return raw


def _start_time(doc: dict[str, Any], reader: Reader) -> datetime | None:
    raw = doc.get("StartTime")
    if raw is None:
        return None
    return parse_timestamp(raw, "StartTime", reader)


def parse_timestamp(raw: Any, field: str, reader: Reader) -> datetime:
    """An RFC 3339 timestamp with offset; digits beyond microseconds are truncated."""
    if not isinstance(raw, str):
        reader.fail(f"{field} must be an RFC 3339 timestamp string, got {raw!r}")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        reader.fail(f"{field} is not an RFC 3339 timestamp: {raw!r}")
    if value.tzinfo is None:
        reader.fail(f"{field} has no UTC offset: {raw!r}")
    return value
