"""Every real output parses to the numbers written in it (exact unit conversions)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from meshmark_tasks.adapters import (
    FORMATS,
    k6_dropped_iterations,
    k6_version_from_output,
    parse_file,
    parse_text,
)
from meshmark_tasks.errors import ResultParseError
from meshmark_tasks.result import NormalizedResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIXTURES / "upstream"
EXACT = 1e-12


def approx(value: float) -> object:
    return pytest.approx(value, rel=EXACT)


def test_formats_are_the_public_four() -> None:
    assert FORMATS == ("fortio", "nighthawk", "wrk2", "k6")


def test_fortio_http_result() -> None:
    r = parse_file(UPSTREAM / "fortio-http-result.json", "fortio")
    assert r.load_generator == "fortio"
    assert r.load_generator_version == "X.Y.Z"  # kept as written
    assert r.protocol == "http"
    assert r.requested_qps == 40.0
    assert r.actual_qps == 38.44836361217263
    assert r.connections == 2
    assert r.duration_s == 0.104035637  # 104035637 ns
    assert (r.requests_total, r.errors_total) == (4, 0)
    assert r.latency_ms_p50 == approx(0.4920823333333334)
    assert r.latency_ms_p75 == approx(0.7112446666666667)
    assert r.latency_ms_p90 == approx(0.8427420666666666)
    assert r.latency_ms_p99 == approx(0.9216405066666668)
    assert r.latency_ms_p999 == approx(0.9295303506666667)
    assert r.latency_ms_min == approx(0.27292)
    assert r.latency_ms_mean == approx(0.58301175)
    assert r.latency_ms_max == approx(0.930407)
    start = datetime.fromisoformat("2022-03-19T15:34:23.279389-07:00")
    assert r.start_time == start
    assert r.end_time == start + timedelta(microseconds=104035)


def test_fortio_conversion_is_decimal_exact() -> None:
    # Avg 0.00058301175 s: float × 1000 gives 0.5830117499999999; the decimal shift keeps the digits.
    r = parse_file(UPSTREAM / "fortio-http-result.json", "fortio")
    assert r.latency_ms_mean == 0.58301175
    assert r.latency_ms_p50 == 0.4920823333333334


def test_fortio_grpc_ping_result() -> None:
    r = parse_file(UPSTREAM / "fortio-grpc-ping-result.json", "fortio")
    assert r.protocol == "grpc"
    assert r.load_generator_version == "0.9.0"
    # RetCodes {"1": 40}: 1 is grpc.health.v1 SERVING, a success.
    assert (r.requests_total, r.errors_total) == (40, 0)
    assert r.requested_qps == 8.0
    assert r.actual_qps == 7.568383075162479
    assert r.connections == 8
    assert r.duration_s == 5.28514474
    assert r.latency_ms_p50 == approx(277.2881634102564)
    assert r.latency_ms_p75 == approx(278.94656520512817)
    assert r.latency_ms_p90 == approx(279.9416062820513)
    assert r.latency_ms_p99 == approx(280.53863092820513)
    assert r.latency_ms_p999 == approx(280.5983333928205)
    assert r.latency_ms_min == approx(274.1372)
    assert r.latency_ms_max == approx(280.604967)
    assert r.latency_ms_mean == approx(277.319444925)
    assert r.start_time == datetime.fromisoformat("2018-04-03T16:32:58.895472-07:00")


def _fortio_doc() -> dict:
    return json.loads((UPSTREAM / "fortio-http-result.json").read_text())


def test_fortio_counts_non_2xx_3xx_and_socket_errors() -> None:
    doc = _fortio_doc()
    doc["RetCodes"] = {"200": 90, "301": 3, "404": 2, "503": 4, "-1": 1}
    r = parse_text(json.dumps(doc), "fortio", source="mem.json")
    assert (r.requests_total, r.errors_total) == (100, 7)


def test_fortio_max_qps_and_grpc_failures() -> None:
    doc = _fortio_doc()
    doc["RequestedQPS"] = "max"
    assert parse_text(json.dumps(doc), "fortio", source="m").requested_qps is None
    grpc = json.loads((UPSTREAM / "fortio-grpc-ping-result.json").read_text())
    grpc["RetCodes"] = {"SERVING": 30, "1": 5, "UNAVAILABLE": 4, "-1": 1}
    r = parse_text(json.dumps(grpc), "fortio", source="g")
    assert (r.requests_total, r.errors_total) == (40, 5)


def test_fortio_without_retcodes_uses_the_errors_histogram() -> None:
    grpc = json.loads((UPSTREAM / "fortio-grpc-ping-result.json").read_text())
    del grpc["RetCodes"]
    grpc["ErrorsDurationHistogram"] = {"Count": 3}
    r = parse_text(json.dumps(grpc), "fortio", source="g")
    assert (r.requests_total, r.errors_total) == (40, 3)


def test_explicit_hints_win_and_absent_hints_fall_back() -> None:
    path = UPSTREAM / "fortio-http-result.json"
    hints = {"requested_qps": 45.0, "connections": 3, "protocol": "grpc", "load_generator_version": "1.69.4"}
    r = parse_file(path, "fortio", **hints)  # type: ignore[arg-type]
    assert r.model_dump(include=set(hints)) == hints
    r = parse_file(path, "fortio", requested_qps=None)
    assert r.requested_qps == 40.0


def test_nighthawk_fortio_format_is_detected() -> None:
    r = parse_file(UPSTREAM / "nighthawk-fortio-format.json", "nighthawk")
    assert r.load_generator == "nighthawk"
    assert r.load_generator_version == "0.0.0"
    assert r.requested_qps == 30.0
    assert r.actual_qps == 27.99999399400129
    assert r.connections == 300
    assert r.duration_s == 2.000000429
    # ActualQPS × ActualDuration = upstream_rq_total = 56, all of them 2xx (RetCodes["200"]).
    assert (r.requests_total, r.errors_total) == (56, 0)
    assert r.latency_ms_p50 == approx(65.077247)
    assert r.latency_ms_p75 == approx(74.465279)
    assert r.latency_ms_p90 == approx(85.045247)
    assert r.latency_ms_p99 is None  # the file lists 50, 75, 80, 90, 95 only
    assert r.latency_ms_p999 is None
    assert r.latency_ms_min == approx(53.798911)
    assert r.latency_ms_mean == approx(78.433106)
    assert r.latency_ms_max == approx(310.886399)
    assert r.start_time == datetime.fromisoformat("2020-01-11T12:47:57.259885+00:00")


def test_nighthawk_default_fortio_format_with_uint64_strings() -> None:
    # Nighthawk's `--output-format fortio` writes Count and status-code counts as JSON strings and
    # RequestedQPS as a number; its experimental_fortio_pedantic format (the upstream fixture)
    # rewrites them the way fortio does. Undo that rewrite and both must read the same.
    pedantic = (UPSTREAM / "nighthawk-fortio-format.json").read_text()
    default = re.sub(r'"(Count|[0-9]{3})": ([0-9]+)', r'"\1": "\2"', pedantic)
    default = re.sub(r'"RequestedQPS": "([0-9]+)"', r'"RequestedQPS": \1', default)
    assert '"Count": "53"' in default and '"200": "56"' in default and '"RequestedQPS": 30' in default
    assert parse_text(default, "nighthawk", source="nh") == parse_text(pedantic, "nighthawk", source="nh")


def test_nighthawk_and_fortio_rules_differ_only_in_counting() -> None:
    doc = json.loads((UPSTREAM / "nighthawk-fortio-format.json").read_text())
    doc["RetCodes"] = {"200": 50}
    as_nighthawk = parse_text(json.dumps(doc), "nighthawk", source="nh")
    as_fortio = parse_text(json.dumps(doc), "fortio", source="nh")
    assert (as_nighthawk.requests_total, as_nighthawk.errors_total) == (56, 6)
    assert (as_fortio.requests_total, as_fortio.errors_total) == (50, 0)
    assert as_nighthawk.latency_ms_p50 == as_fortio.latency_ms_p50


def test_nighthawk_native_real_run() -> None:
    r = parse_file(FIXTURES / "nighthawk" / "medium-global.json", "nighthawk")
    assert r.load_generator == "nighthawk"
    assert r.load_generator_version is None  # this 2019 output has no version field
    assert r.requested_qps == 12.0  # 1/s per worker × 12 workers
    assert r.connections == 12
    assert r.duration_s == 5.0  # no execution_duration: the requested options.duration
    assert (r.requests_total, r.errors_total) == (60, 0)
    assert r.actual_qps == 12.0
    assert r.latency_ms_p50 == approx(60.903423)
    assert r.latency_ms_p75 == approx(65.679359)
    assert r.latency_ms_p90 == approx(68.657151)
    assert r.latency_ms_p99 == approx(84.357119)  # first entry >= 0.99 is the 1.0 entry
    assert r.latency_ms_p999 == approx(84.357119)
    assert r.latency_ms_min == approx(55.568383)  # the percentile-0 entry (no min field)
    assert r.latency_ms_mean == approx(62.589845)
    assert r.latency_ms_max == approx(84.357119)
    assert r.start_time == datetime.fromisoformat("2019-10-16T00:30:12.911078+00:00")
    assert r.end_time == r.start_time + timedelta(seconds=5)


def test_nighthawk_native_counts_errors_and_reads_newer_fields() -> None:
    doc = json.loads((FIXTURES / "nighthawk" / "medium-global.json").read_text())
    glob = doc["results"][-1]
    counters = {c["name"]: c for c in glob["counters"]}
    counters["benchmark.http_2xx"]["value"] = "50"
    glob["counters"] += [
        {"name": "benchmark.http_3xx", "value": "2"},
        {"name": "benchmark.http_5xx", "value": "5"},
        {"name": "benchmark.pool_overflow", "value": "9"},  # never sent: not a request
    ]
    glob["execution_duration"] = "4.000000250s"
    glob["execution_start"] = "2023-05-01T10:00:00.5Z"
    glob["statistics"][1]["min"] = "0.055s"
    glob["statistics"][1]["max"] = "0.09s"
    doc["version"] = {"version": {"major_number": 0, "minor_number": 5, "patch": 1}}
    r = parse_text(json.dumps(doc), "nighthawk", source="nh.json")
    # 60 sent, 52 answered 2xx/3xx: the other 8 (5 × 5xx, 3 unanswered) are errors.
    assert (r.requests_total, r.errors_total) == (60, 8)
    assert r.duration_s == 4.00000025
    assert r.actual_qps == 60 / 4.00000025
    assert r.load_generator_version == "0.5.1"
    assert (r.latency_ms_min, r.latency_ms_max) == (55.0, 90.0)
    assert r.start_time == datetime.fromisoformat("2023-05-01T10:00:00.500000+00:00")


def test_nighthawk_without_latency_samples_reports_no_latency() -> None:
    doc = json.loads((FIXTURES / "nighthawk" / "medium-global.json").read_text())
    stats = doc["results"][-1]["statistics"]
    stats[1] = {**stats[2], "id": "benchmark_http_client.request_to_response"}  # count "0", one "0s" entry
    r = parse_text(json.dumps(doc), "nighthawk", source="nh.json")
    assert r.latency_ms_p50 is None and r.latency_ms_max is None and r.latency_ms_mean is None
    assert r.requests_total == 60


def test_nighthawk_exponent_durations() -> None:
    doc = json.loads((FIXTURES / "nighthawk" / "medium-global.json").read_text())
    doc["results"][-1]["statistics"][1]["mean"] = "6.2589845e-02s"
    r = parse_text(json.dumps(doc), "nighthawk", source="nh.json")
    assert r.latency_ms_mean == approx(62.589845)


def test_nighthawk_upstream_formatter_gold_is_rejected_clearly() -> None:
    # output_formatter.json.gold is a formatter unit test with placeholder statistic ids.
    path = UPSTREAM / "nighthawk-output.json"
    with pytest.raises(ResultParseError) as info:
        parse_file(path, "nighthawk")
    assert info.value.source == str(path)
    assert "benchmark_http_client.request_to_response" in info.value.problem
    assert "foo_latency" in info.value.problem


WRK2_TEXT = (UPSTREAM / "wrk2-latency.txt").read_text()


def test_wrk2_latency_output() -> None:
    r = parse_file(UPSTREAM / "wrk2-latency.txt", "wrk2")
    assert r.load_generator == "wrk2"
    assert r.load_generator_version is None
    assert r.requested_qps is None  # wrk2 does not print -R
    assert r.actual_qps == 2000.28
    assert r.connections == 100
    assert r.duration_s == 30.0
    assert (r.requests_total, r.errors_total) == (60018, 0)
    assert (r.latency_ms_p50, r.latency_ms_p75, r.latency_ms_p90) == (6.67, 7.78, 9.14)
    assert (r.latency_ms_p99, r.latency_ms_p999, r.latency_ms_max) == (11.18, 12.30, 12.50)
    assert r.latency_ms_mean == 6.602  # "#[Mean    =        6.602"
    assert r.latency_ms_min == 0.921  # 0.000000 row of the detailed spectrum


def test_wrk2_error_lines_and_hints() -> None:
    text = WRK2_TEXT.replace(
        "Requests/sec:",
        "  Socket errors: connect 1, read 3, write 0, timeout 12\n"
        "  Non-2xx or 3xx responses: 7\n"
        "Requests/sec:",
    )
    r = parse_text(text, "wrk2", source="wrk.txt", requested_qps=2000.0, load_generator_version="4.0.0")
    # socket errors never produced a response, so they are added to the completed requests.
    assert (r.requests_total, r.errors_total) == (60018 + 16, 7 + 16)
    assert (r.requested_qps, r.load_generator_version) == (2000.0, "4.0.0")


def test_wrk2_units_convert_exactly() -> None:
    text = (
        "  3 threads and 7 connections\n"
        "  Latency Distribution (HdrHistogram - Recorded Latency)\n"
        " 50.000%  667.00us\n 75.000%    1.01ms\n 90.000%    1.20s\n 99.000%    1.50m\n"
        " 99.900%    0.03h\n100.000%    0.04h\n\n"
        "  10 requests in 1.00m, 1.00KB read\nRequests/sec:      0.17\n"
    )
    r = parse_text(text, "wrk2", source="units.txt")
    assert r.latency_ms_p50 == 0.667
    assert r.latency_ms_p75 == 1.01
    assert r.latency_ms_p90 == 1200.0
    assert r.latency_ms_p99 == 90000.0
    assert r.latency_ms_p999 == 108000.0
    assert r.latency_ms_max == 144000.0
    assert r.latency_ms_min is None and r.latency_ms_mean is None
    assert r.duration_s == 60.0
    assert r.connections == 7


K6_DIR = FIXTURES / "k6"


def test_k6_summary_with_errors_and_all_trend_stats() -> None:
    path = K6_DIR / "k6-errors-full-trend.json"
    r = parse_file(path, "k6", requested_qps=50.0, connections=5, load_generator_version="1.1.0")
    assert r.load_generator == "k6"
    assert (r.requested_qps, r.connections, r.load_generator_version) == (50.0, 5, "1.1.0")
    assert (r.requests_total, r.errors_total) == (100, 10)  # the server sent exactly 10 × 500
    assert r.actual_qps == 49.993346285556164
    assert r.duration_s == approx(100 / 49.993346285556164)
    assert r.latency_ms_min == 0.345011
    assert r.latency_ms_mean == 1.3399578199999993
    assert r.latency_ms_p50 == 0.4495835
    assert r.latency_ms_p75 == 2.5662125
    assert r.latency_ms_p90 == 3.3635486
    assert r.latency_ms_p99 == 7.961188320000002
    assert r.latency_ms_p999 == 8.421685632000004
    assert r.latency_ms_max == 8.472852
    assert k6_dropped_iterations(json.loads(path.read_text())) == 0


def test_k6_summary_with_default_trend_stats_and_dropped_iterations() -> None:
    path = K6_DIR / "k6-dropped-default-trend.json"
    r = parse_file(path, "k6")
    assert (r.requests_total, r.errors_total) == (26, 0)
    assert r.requested_qps is None and r.connections is None and r.load_generator_version is None
    assert r.latency_ms_p50 == 141.65909399999998
    assert r.latency_ms_p90 == 143.788411
    assert (r.latency_ms_p75, r.latency_ms_p99, r.latency_ms_p999) == (None, None, None)
    assert k6_dropped_iterations(json.loads(path.read_text())) == 75


def test_k6_version_from_output() -> None:
    assert k6_version_from_output("k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)") == "1.1.0"
    assert k6_version_from_output("something else") is None


def test_dropped_iterations_rejects_bad_summaries() -> None:
    with pytest.raises(ResultParseError, match="metrics is missing"):
        k6_dropped_iterations({})
    with pytest.raises(ResultParseError, match="negative count"):
        k6_dropped_iterations({"metrics": {"dropped_iterations": {"count": -1}}}, source="s.json")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (UPSTREAM / "fortio-http-result.json", "fortio"),
        (UPSTREAM / "fortio-grpc-ping-result.json", "fortio"),
        (UPSTREAM / "nighthawk-fortio-format.json", "nighthawk"),
        (FIXTURES / "nighthawk" / "medium-global.json", "nighthawk"),
        (UPSTREAM / "wrk2-latency.txt", "wrk2"),
        (K6_DIR / "k6-errors-full-trend.json", "k6"),
        (K6_DIR / "k6-dropped-default-trend.json", "k6"),
    ],
)
def test_results_survive_a_json_round_trip(path: Path, fmt: str) -> None:
    r = parse_file(path, fmt)
    assert NormalizedResult.model_validate_json(r.model_dump_json()) == r
