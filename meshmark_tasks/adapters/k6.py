"""k6 `run --summary-export FILE` output (checked against k6 v1.1.0).

The export is `{"root_group": {...}, "metrics": {name: {...}}}`; a metric appears only if it got
samples. Fields read:

- metrics.http_reqs {count, rate} -> requests_total, actual_qps; duration_s = count / rate (k6's
  rate is the count over the test run's duration). Required.
- metrics.http_req_duration (a trend, already in ms) -> min, avg (mean), med (p50, or "p(50)"),
  p(75), p(90), p(99), p(99.9), max. By default k6 exports only avg/min/med/max/p(90)/p(95); run it
  with `--summary-trend-stats "min,avg,med,max,p(75),p(90),p(99),p(99.9)"` to get the rest. Absent
  statistics stay None. Required.
- metrics.http_req_failed (a rate): in the export, `passes` counts samples whose value was true,
  i.e. FAILED requests, and `fails` the successful ones (verified against a server that answered a
  known number of 500s). errors_total = passes; passes + fails must equal http_reqs.count. Required
  (it is missing only when a script disables k6's response callback).
- metrics.dropped_iterations {count}: iterations the arrival-rate executor could not start for lack
  of VUs, k6's sign of saturation; see `k6_dropped_iterations`. Not part of the result.
- The export carries no k6 version, requested rate, connection count or timestamps: pass
  `load_generator_version` (see `k6_version_from_output`), `requested_qps` and `connections`.
"""

from __future__ import annotations

import re
from typing import Any

from meshmark_tasks.adapters._common import Hints, Reader, build_result
from meshmark_tasks.result import NormalizedResult

TREND_FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("min",), "latency_ms_min"),
    (("avg",), "latency_ms_mean"),
    (("med", "p(50)"), "latency_ms_p50"),
    (("p(75)",), "latency_ms_p75"),
    (("p(90)",), "latency_ms_p90"),
    (("p(99)",), "latency_ms_p99"),
    (("p(99.9)",), "latency_ms_p999"),
    (("max",), "latency_ms_max"),
)
_VERSION = re.compile(r"\bk6 v(\d+\.\d+\.\d+\S*)")


def parse_k6(doc: dict[str, Any], reader: Reader, hints: Hints) -> NormalizedResult:
    metrics = reader.obj(doc, "metrics", "summary")
    http_reqs = reader.obj(metrics, "http_reqs", "metrics")
    requests = reader.count(
        reader.required(http_reqs, "count", "metrics.http_reqs"), "metrics.http_reqs.count"
    )
    rate = reader.number(reader.required(http_reqs, "rate", "metrics.http_reqs"), "metrics.http_reqs.rate")
    if rate == 0 and requests > 0:
        reader.fail("metrics.http_reqs.rate is 0 although requests were made")
    duration_s = requests / rate if rate > 0 else 0.0

    failed = reader.obj(metrics, "http_req_failed", "metrics")
    errors = reader.count(
        reader.required(failed, "passes", "metrics.http_req_failed"), "metrics.http_req_failed.passes"
    )
    successes = reader.count(
        reader.required(failed, "fails", "metrics.http_req_failed"), "metrics.http_req_failed.fails"
    )
    if errors + successes != requests:
        reader.fail(
            f"metrics.http_req_failed passes + fails ({errors} + {successes}) "
            f"does not equal metrics.http_reqs.count ({requests})"
        )

    duration = reader.obj(metrics, "http_req_duration", "metrics")
    fields: dict[str, Any] = {
        "load_generator": "k6",
        "protocol": "http",
        "actual_qps": rate,
        "duration_s": duration_s,
        "requests_total": requests,
        "errors_total": errors,
    }
    for keys, field in TREND_FIELDS:
        key = next((k for k in keys if k in duration), None)
        fields[field] = (
            None if key is None else reader.number(duration[key], f"metrics.http_req_duration.{key}")
        )
    return build_result(reader, fields, hints)


def k6_dropped_iterations(summary: dict[str, Any], *, source: str = "<k6 summary>") -> int:
    """Iterations k6 dropped (0 when the metric is absent, as k6 omits metrics without samples).

    A non-zero count means the arrival-rate executor ran out of VUs: the requested rate was not
    offered, so the run is saturated on the generator side.
    """
    reader = Reader(source, "k6")
    if not isinstance(summary, dict):
        reader.fail(f"the summary must be a JSON object, got {type(summary).__name__}")
    metrics = reader.obj(summary, "metrics", "summary")
    dropped = metrics.get("dropped_iterations")
    if dropped is None:
        return 0
    if not isinstance(dropped, dict):
        reader.fail(f"metrics.dropped_iterations must be an object, got {dropped!r}")
    return reader.count(
        reader.required(dropped, "count", "metrics.dropped_iterations"), "metrics.dropped_iterations.count"
    )


def k6_version_from_output(text: str) -> str | None:
    """ "1.1.0" from the output of `k6 version` ("k6 v1.1.0 (commit/..., go1.24.4, linux/amd64)")."""
    match = _VERSION.search(text)
    return None if match is None else match.group(1)
