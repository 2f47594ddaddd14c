"""wrk2 `--latency` text output, and the original wrk's (`wrk --latency`, e.g. Debian's package).

The two print the same summary; they differ in the latency section:
- wrk2: "Latency Distribution (HdrHistogram - Recorded Latency)", percentiles "50.000%", a blank
  line, then the "Detailed Percentile spectrum" and "#[Mean = ...]" lines. load_generator "wrk2".
- wrk: "Latency Distribution", percentiles 50/75/90/99 printed as "50%", and the next line is
  already "N requests in ..." (no blank line, no spectrum). load_generator "wrk". With no latency
  sample at all (every response came after --timeout) wrk prints 0.00us everywhere and a "nan%"
  Thread Stats column: the latencies are then None, not 0.

Lines read (units us, ms, s, m, h are converted to ms in decimal arithmetic, so "6.67ms" is
exactly 6.67):

- "Latency Distribution (HdrHistogram - Recorded Latency)" then lines "50.000%    6.67ms" ->
  latency_ms_p50/p75/p90/p99/p999 (percentiles 50, 75, 90, 99, 99.9; others ignored). Required.
- latency_ms_max is the "100.000%" line; without it "#[Max = 12.496, ..." (HdrHistogram summary,
  ms), then the "Thread Stats / Latency" Max column. latency_ms_mean is "#[Mean = 6.602, ...", else
  the Thread Stats Avg. latency_ms_min is the 0.000000 row of the "Detailed Percentile spectrum"
  (ms), None without the spectrum. Max/min never cross a printed percentile (those are rounded
  to 2 decimals, the spectrum to 3).
- "N requests in 30.00s, ..." -> the completed responses and duration_s; "Requests/sec:" ->
  actual_qps; "2 threads and 100 connections" -> connections.
- "Non-2xx or 3xx responses: N" and "Socket errors: connect A, read B, write C, timeout D" appear
  only when non-zero. Both count a response with status > 399 among the completed ones; a
  connect/read/write error ends an attempt without a response. wrk2:
  requests_total = completed + A + B + C + D and errors_total = N + A + B + C + D. The original
  wrk counts D for responses that completed after --timeout (already among the completed), so
  requests_total = completed + A + B + C and errors_total = min(N + D, completed) + A + B + C.
- wrk2 prints neither its version nor the requested rate (-R): pass them as hints.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from meshmark_tasks.adapters._common import Hints, Reader, build_result
from meshmark_tasks.result import LATENCY_FIELDS, NormalizedResult

DISTRIBUTION_HEADING = "Latency Distribution"
# Only wrk2 names its histogram in the heading; the original wrk prints the bare heading.
WRK2_HEADING_MARK = "HdrHistogram"
PERCENTILE_FIELDS: dict[Decimal, str] = {
    Decimal(50): "latency_ms_p50",
    Decimal(75): "latency_ms_p75",
    Decimal(90): "latency_ms_p90",
    Decimal(99): "latency_ms_p99",
    Decimal("99.9"): "latency_ms_p999",
}
# Exact factors to milliseconds for wrk's time units (format_time_us / format_time_s).
_UNIT_TO_MS: dict[str, Decimal] = {
    "us": Decimal("0.001"),
    "ms": Decimal(1),
    "s": Decimal(1000),
    "m": Decimal(60_000),
    "h": Decimal(3_600_000),
}
_NUMBER = r"\d+(?:\.\d+)?"
_TIME = re.compile(rf"^({_NUMBER})([a-z]+)$")
_PERCENTILE_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$")
_THREADS = re.compile(r"^\s*(\d{1,9}) threads and (\d{1,9}) connections\s*$", re.MULTILINE)
_REQUESTS_IN = re.compile(r"^\s*(\d{1,18}) requests in (\S+?),", re.MULTILINE)
_REQUESTS_PER_SEC = re.compile(r"^\s*Requests/sec:\s*(\S+)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\S+)\s*$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"^\s*Socket errors: connect (\d{1,18}), read (\d{1,18}), write (\d{1,18}), timeout (\d{1,18})\s*$",
    re.MULTILINE,
)
_HDR_MEAN = re.compile(rf"^#\[Mean\s*=\s*({_NUMBER}),", re.MULTILINE)
_HDR_MAX = re.compile(rf"^#\[Max\s*=\s*({_NUMBER}),", re.MULTILINE)
_THREAD_LATENCY = re.compile(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)%\s*$", re.MULTILINE)
_SPECTRUM_ROW = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s+(\d+)\s+(?:{_NUMBER}|inf)\s*$")


def parse_wrk2(text: str, reader: Reader, hints: Hints) -> NormalizedResult:
    if not text.strip():
        reader.fail("empty output")
    requests_match = _REQUESTS_IN.search(text)
    if requests_match is None:
        reader.fail("no 'N requests in T' line")
    completed = int(requests_match.group(1))
    duration_s = float(_to_ms(requests_match.group(2), "the 'requests in' duration", reader) / 1000)

    rate_match = _REQUESTS_PER_SEC.search(text)
    if rate_match is None:
        reader.fail("no 'Requests/sec:' line")
    actual_qps = reader.number(rate_match.group(1), "Requests/sec", allow_str=True)

    non_2xx = 0
    non_2xx_match = _NON_2XX.search(text)
    if non_2xx_match is not None:
        non_2xx = reader.count(non_2xx_match.group(1), "Non-2xx or 3xx responses", allow_str=True)
    connect = read = write = timeout = 0
    socket_match = _SOCKET_ERRORS.search(text)
    if socket_match is not None:
        connect, read, write, timeout = (int(group) for group in socket_match.groups())
    elif "Socket errors:" in text:
        reader.fail("cannot read the 'Socket errors:' line")

    is_wrk2 = _is_wrk2(text)
    unanswered = connect + read + write
    if is_wrk2:
        requests, errors = completed + unanswered + timeout, non_2xx + unanswered + timeout
    else:
        # The original wrk counts a timeout when a response completes later than --timeout
        # (response_complete: stats_record fails): those responses are among the completed ones,
        # and a late 4xx/5xx is in both counts, hence the cap.
        requests, errors = completed + unanswered, min(non_2xx + timeout, completed) + unanswered
    threads_match = _THREADS.search(text)
    fields: dict[str, Any] = {
        "load_generator": "wrk2" if is_wrk2 else "wrk",
        "protocol": "http",
        "actual_qps": actual_qps,
        "connections": None if threads_match is None else int(threads_match.group(2)),
        "duration_s": duration_s,
        "requests_total": requests,
        "errors_total": errors,
    }
    fields.update(_latency(text, reader))
    return build_result(reader, fields, hints)


def _is_wrk2(text: str) -> bool:
    heading = next((line for line in text.splitlines() if line.strip().startswith(DISTRIBUTION_HEADING)), "")
    return WRK2_HEADING_MARK in heading


def _latency(text: str, reader: Reader) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys(PERCENTILE_FIELDS.values())
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(DISTRIBUTION_HEADING)), None)
    if start is None:
        reader.fail("no 'Latency Distribution' section (was wrk/wrk2 run with --latency?)")
    printed: list[float] = []
    top: float | None = None
    for line in lines[start + 1 :]:
        # wrk2 ends the section with a blank line; the original wrk goes straight on with the
        # "N requests in" summary line.
        if not line.strip() or _REQUESTS_IN.match(line):
            break
        match = _PERCENTILE_LINE.match(line)
        if match is None:
            reader.fail(f"cannot read latency distribution line {line.strip()!r}")
        percentile = Decimal(match.group(1))
        value = float(_to_ms(match.group(2), f"the {match.group(1)}% latency", reader))
        printed.append(value)
        field = PERCENTILE_FIELDS.get(percentile)
        if field is not None:
            out[field] = value
        if percentile == 100:
            top = value
    if not printed:
        reader.fail("the latency distribution section is empty")

    thread_latency = _THREAD_LATENCY.search(text)
    if thread_latency is not None and _no_samples(thread_latency.group(4), printed):
        # wrk with every response past --timeout: nothing was recorded, the zeros are placeholders.
        return dict.fromkeys(LATENCY_FIELDS)
    mean_match = _HDR_MEAN.search(text)
    max_match = _HDR_MAX.search(text)
    if mean_match is not None:
        out["latency_ms_mean"] = float(Decimal(mean_match.group(1)))
    elif thread_latency is not None:
        out["latency_ms_mean"] = float(
            _to_ms(thread_latency.group(1), "the Thread Stats latency Avg", reader)
        )
    # The max and min must sit on the same scale as the printed (2-decimal) percentiles, or
    # rounding alone could put p99.9 above the max: prefer the "100.000%" line, and never let the
    # finer-grained spectrum values cross a printed percentile.
    if top is not None:
        out["latency_ms_max"] = top
    elif max_match is not None:
        out["latency_ms_max"] = max(float(Decimal(max_match.group(1))), max(printed))
    elif thread_latency is not None:
        thread_max = float(_to_ms(thread_latency.group(3), "the Thread Stats latency Max", reader))
        out["latency_ms_max"] = max(thread_max, max(printed))
    spectrum_min = _spectrum_min(lines)
    out["latency_ms_min"] = None if spectrum_min is None else min(spectrum_min, min(printed))
    return out


def _no_samples(within_stdev: str, printed: list[float]) -> bool:
    """wrk's "+/- Stdev" column is 0/0 = nan exactly when no latency was recorded."""
    return within_stdev.strip().lstrip("+-").lower() == "nan" and not any(printed)


def _spectrum_min(lines: list[str]) -> float | None:
    """The value of the 0th-percentile row of the detailed spectrum (already in ms)."""
    heading = next(
        (i for i, line in enumerate(lines) if line.strip().startswith("Detailed Percentile spectrum")), None
    )
    if heading is None:
        return None
    for line in lines[heading + 1 :]:
        match = _SPECTRUM_ROW.match(line)
        if match is not None:
            return float(Decimal(match.group(1))) if Decimal(match.group(2)) == 0 else None
    return None


def _to_ms(token: str, what: str, reader: Reader) -> Decimal:
    match = _TIME.match(token.strip())
    if match is None:
        reader.fail(f"cannot read {what} {token!r} (expected a number with a unit us, ms, s, m or h)")
    factor = _UNIT_TO_MS.get(match.group(2))
    if factor is None:
        reader.fail(f"unknown time unit {match.group(2)!r} in {what} {token!r} (expected us, ms, s, m or h)")
    try:
        return Decimal(match.group(1)) * factor
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid decimals
        reader.fail(f"cannot read {what} {token!r}")
