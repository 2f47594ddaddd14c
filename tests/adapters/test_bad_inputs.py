"""Bad outputs raise ResultParseError naming the file and the problem, never anything else."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.adapters import parse_file
from meshmark_tasks.errors import ResultParseError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIXTURES / "upstream"


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def fortio(edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The real fortio HTTP result with one edit applied."""
    doc = _json(UPSTREAM / "fortio-http-result.json")
    edit(doc)
    return json.dumps(doc).encode()


def nighthawk(edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The real Nighthawk native run with one edit applied to the document."""
    doc = _json(FIXTURES / "nighthawk" / "medium-global.json")
    edit(doc)
    return json.dumps(doc).encode()


def nighthawk_global(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["results"][-1]


def k6(edit: Callable[[dict[str, Any]], object]) -> bytes:
    doc = _json(FIXTURES / "k6" / "k6-errors-full-trend.json")
    edit(doc)
    return json.dumps(doc).encode()


def wrk2(old: str, new: str) -> bytes:
    text = (UPSTREAM / "wrk2-latency.txt").read_text()
    assert old in text
    return text.replace(old, new).encode()


def _set(mapping: dict[str, Any], key: str, value: Any) -> None:
    mapping[key] = value


def _swap_p50_p99(doc: dict[str, Any]) -> None:
    pct = doc["DurationHistogram"]["Percentiles"]
    pct[0]["Value"], pct[3]["Value"] = pct[3]["Value"], pct[0]["Value"]


def _set_counter(doc: dict[str, Any], name: str, value: str) -> None:
    for counter in nighthawk_global(doc)["counters"]:
        if counter["name"] == name:
            counter["value"] = value


FORTIO_TEXT = (UPSTREAM / "fortio-http-result.json").read_text()

# (case id, format, file content, text the problem must contain)
CASES: list[tuple[str, str, bytes, str]] = [
    ("empty-file", "fortio", b"", "empty file"),
    ("whitespace-only", "k6", b"  \n\t\n", "empty file"),
    ("truncated-json", "fortio", FORTIO_TEXT[:300].encode(), "not valid JSON: "),
    (
        "not-json",
        "nighthawk",
        b"Nighthawk - A layer 7 protocol benchmarking tool.\n",
        "not valid JSON: Expecting value",
    ),
    ("json-array", "fortio", b"[1, 2, 3]", "expected a JSON object at the top level, got array"),
    ("json-string", "k6", b'"metrics"', "expected a JSON object at the top level, got string"),
    ("utf8-but-nul-bytes", "wrk2", b"Running 30s test\x00\x00", "NUL bytes"),
    ("binary-garbage", "k6", bytes(range(128, 256)) * 4, "not UTF-8"),
    (
        "fortio-missing-histogram",
        "fortio",
        fortio(lambda d: d.pop("DurationHistogram")),
        "DurationHistogram is missing",
    ),
    (
        "fortio-missing-percentiles",
        "fortio",
        fortio(lambda d: d["DurationHistogram"].pop("Percentiles")),
        "fortio: DurationHistogram.Percentiles is missing",
    ),
    ("fortio-missing-actualqps", "fortio", fortio(lambda d: d.pop("ActualQPS")), "ActualQPS is missing"),
    (
        "fortio-missing-actualduration",
        "fortio",
        fortio(lambda d: d.pop("ActualDuration")),
        "ActualDuration is missing",
    ),
    (
        "fortio-missing-percentile-value",
        "fortio",
        fortio(lambda d: d["DurationHistogram"]["Percentiles"][0].pop("Value")),
        "DurationHistogram.Percentiles[0].Value is missing",
    ),
    (
        "fortio-nan-qps",
        "fortio",
        FORTIO_TEXT.replace("38.44836361217263", "NaN").encode(),
        "ActualQPS is NaN",
    ),
    (
        "fortio-infinite-qps",
        "fortio",
        FORTIO_TEXT.replace("38.44836361217263", "Infinity").encode(),
        "ActualQPS is infinite",
    ),
    ("fortio-negative-qps", "fortio", fortio(lambda d: _set(d, "ActualQPS", -3.5)), "ActualQPS is negative"),
    (
        "fortio-negative-retcode",
        "fortio",
        fortio(lambda d: _set(d, "RetCodes", {"200": 4, "503": -2})),
        "negative count",
    ),
    (
        "fortio-p50-above-p99",
        "fortio",
        fortio(_swap_p50_p99),
        "latency_ms_p50 (0.9216405066666667 ms) is greater than latency_ms_p75",
    ),
    (
        "fortio-string-for-number",
        "fortio",
        fortio(lambda d: _set(d, "ActualQPS", "38.4")),
        "ActualQPS must be a number, got string",
    ),
    (
        "fortio-fractional-count",
        "fortio",
        fortio(lambda d: _set(d["DurationHistogram"], "Count", 4.5)),
        "DurationHistogram.Count must be a whole number",
    ),
    (
        "fortio-retcodes-array",
        "fortio",
        fortio(lambda d: _set(d, "RetCodes", [200, 4])),
        "RetCodes must be an object",
    ),
    (
        "fortio-no-way-to-count-errors",
        "fortio",
        fortio(lambda d: d.pop("RetCodes")),
        "neither RetCodes nor ErrorsDurationHistogram.Count",
    ),
    (
        "fortio-bad-start-time",
        "fortio",
        fortio(lambda d: _set(d, "StartTime", "yesterday")),
        "StartTime is not an RFC 3339 timestamp",
    ),
    (
        "fortio-naive-start-time",
        "fortio",
        fortio(lambda d: _set(d, "StartTime", "2022-03-19T15:34:23")),
        "StartTime has no UTC offset",
    ),
    (
        "fortio-bad-requested-qps",
        "fortio",
        fortio(lambda d: _set(d, "RequestedQPS", "fast")),
        "RequestedQPS must be a number",
    ),
    (
        "fortio-histogram-not-object",
        "fortio",
        fortio(lambda d: _set(d, "DurationHistogram", 7)),
        "must be an object",
    ),
    (
        "fortio-huge-integer",
        "fortio",
        fortio(lambda d: _set(d, "ActualQPS", 10**400)),
        "ActualQPS is too large",
    ),
    (
        "fortio-count-beyond-int64",
        "fortio",
        fortio(lambda d: _set(d, "RetCodes", {"200": 2**64})),
        "RetCodes['200'] is too large for a count",
    ),
    (
        "fortio-duration-beyond-int64",
        "fortio",
        fortio(lambda d: _set(d, "ActualDuration", 10**30)),
        "ActualDuration is too large for a count",
    ),
    (
        "fortio-end-beyond-calendar",
        "fortio",
        fortio(lambda d: _set(d, "StartTime", "9999-12-31T23:59:59.999999+00:00")),
        "StartTime + ActualDuration (104035637 ns) is out of the calendar's range",
    ),
    (
        "nighthawk-end-beyond-calendar",
        "nighthawk",
        nighthawk(lambda d: _set(nighthawk_global(d), "execution_duration", "1e30s")),
        "is out of the calendar's range",
    ),
    (
        "json-integer-too-long",
        "k6",
        b'{"metrics": ' + b"7" * 5000 + b"}",
        "not valid JSON: Exceeds the limit",
    ),
    ("wrk2-garbage-unit", "wrk2", wrk2(" 50.000%    6.67ms", " 50.000%    6.67xs"), "unknown time unit 'xs'"),
    (
        "wrk2-unitless-latency",
        "wrk2",
        wrk2(" 75.000%    7.78ms", " 75.000%    7.78"),
        "cannot read the 75.000% latency",
    ),
    (
        "wrk2-bad-distribution-line",
        "wrk2",
        wrk2(" 90.000%    9.14ms", " 90.000%"),
        "cannot read latency distribution line",
    ),
    (
        "wrk2-missing-distribution",
        "wrk2",
        wrk2("Latency Distribution (HdrHistogram - Recorded Latency)", "Percentiles"),
        "no 'Latency Distribution' section (was wrk/wrk2 run with --latency?)",
    ),
    (
        "wrk2-missing-requests-per-sec",
        "wrk2",
        wrk2("Requests/sec:   2000.28", ""),
        "wrk2: no 'Requests/sec:' line",
    ),
    (
        "wrk2-missing-requests-in",
        "wrk2",
        wrk2("60018 requests in 30.00s", "lots of requests"),
        "no 'N requests in T'",
    ),
    (
        "wrk2-bad-duration-unit",
        "wrk2",
        wrk2("requests in 30.00s", "requests in 30.00q"),
        "unknown time unit 'q'",
    ),
    (
        "wrk2-errors-exceed-requests",
        "wrk2",
        wrk2("Requests/sec:", "  Non-2xx or 3xx responses: 70000\nRequests/sec:"),
        "errors_total 70000 exceeds requests_total 60018",
    ),
    (
        "wrk2-unreadable-socket-errors",
        "wrk2",
        wrk2("Requests/sec:", "  Socket errors: connect many\nRequests/sec:"),
        "cannot read the 'Socket errors:' line",
    ),
    (
        "nighthawk-no-global",
        "nighthawk",
        nighthawk(lambda d: _set(d, "results", d["results"][:-1])),
        "no result named 'global' in results (found 'worker_0'",
    ),
    ("nighthawk-empty-results", "nighthawk", nighthawk(lambda d: _set(d, "results", [])), "results is empty"),
    (
        "nighthawk-bad-duration-string",
        "nighthawk",
        nighthawk(
            lambda d: _set(nighthawk_global(d)["statistics"][1]["percentiles"][5], "duration", "0.06 seconds")
        ),
        "percentiles[5].duration is not a duration like '0.002s': '0.06 seconds'",
    ),
    (
        "nighthawk-duration-as-number",
        "nighthawk",
        nighthawk(lambda d: _set(nighthawk_global(d), "execution_duration", 5)),
        "global execution_duration must be a duration string",
    ),
    (
        "nighthawk-negative-duration",
        "nighthawk",
        nighthawk(lambda d: _set(nighthawk_global(d)["statistics"][1], "mean", "-0.06s")),
        "mean is not a duration",
    ),
    (
        "nighthawk-2xx-exceed-requests",
        "nighthawk",
        nighthawk(lambda d: _set_counter(d, "upstream_rq_total", "59")),
        "(60) exceed upstream_rq_total (59)",
    ),
    (
        "nighthawk-counter-not-a-number",
        "nighthawk",
        nighthawk(lambda d: _set_counter(d, "upstream_rq_total", "sixty")),
        "global counter upstream_rq_total must be a number",
    ),
    (
        "nighthawk-percentile-not-a-fraction",
        "nighthawk",
        nighthawk(lambda d: _set(nighthawk_global(d)["statistics"][1]["percentiles"][5], "percentile", 50)),
        "must be a fraction in [0, 1]",
    ),
    ("nighthawk-unknown-shape", "nighthawk", b'{"version": {}}', "neither native output"),
    (
        "nighthawk-fortio-format-inconsistent",
        "nighthawk",
        (UPSTREAM / "nighthawk-fortio-format.json").read_text().replace('"200": 56', '"200": 57').encode(),
        "RetCodes['200'] (57) exceeds the requests implied",
    ),
    ("k6-missing-metrics", "k6", b'{"root_group": {}}', "k6: summary.metrics is missing"),
    (
        "k6-missing-http-reqs",
        "k6",
        k6(lambda d: d["metrics"].pop("http_reqs")),
        "metrics.http_reqs is missing",
    ),
    (
        "k6-missing-http-req-failed",
        "k6",
        k6(lambda d: d["metrics"].pop("http_req_failed")),
        "metrics.http_req_failed is missing",
    ),
    (
        "k6-missing-duration-trend",
        "k6",
        k6(lambda d: d["metrics"].pop("http_req_duration")),
        "metrics.http_req_duration is missing",
    ),
    (
        "k6-failed-does-not-add-up",
        "k6",
        k6(lambda d: _set(d["metrics"]["http_req_failed"], "fails", 80)),
        "passes + fails (10 + 80) does not equal metrics.http_reqs.count (100)",
    ),
    (
        "k6-errors-exceed-requests",
        "k6",
        k6(lambda d: d["metrics"]["http_req_failed"].update(passes=110, fails=-10)),
        "negative count",
    ),
    (
        "k6-count-as-string",
        "k6",
        k6(lambda d: _set(d["metrics"]["http_reqs"], "count", "100")),
        "metrics.http_reqs.count must be a number, got string",
    ),
    (
        "k6-negative-percentile",
        "k6",
        k6(lambda d: _set(d["metrics"]["http_req_duration"], "p(90)", -1.5)),
        "metrics.http_req_duration.p(90) is negative",
    ),
    (
        "k6-median-above-p99",
        "k6",
        k6(lambda d: _set(d["metrics"]["http_req_duration"], "med", 8.0)),
        "latency_ms_p50 (8.0 ms) is greater than latency_ms_p75",
    ),
    (
        "k6-zero-rate",
        "k6",
        k6(lambda d: _set(d["metrics"]["http_reqs"], "rate", 0)),
        "rate is 0 although requests",
    ),
]


def test_the_cases_are_many_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({case_id for case_id, *_ in CASES}) == len(CASES)
    assert len({content for _, _, content, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("fmt", "content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_output_is_a_clear_parse_error(tmp_path: Path, fmt: str, content: bytes, expected: str) -> None:
    path = tmp_path / f"output.{fmt}"
    path.write_bytes(content)
    with pytest.raises(ResultParseError) as info:
        parse_file(path, fmt)
    error = info.value
    assert error.source == str(path)
    assert str(path) in str(error)
    assert expected in error.problem, error.problem
    assert "\n" not in str(error)  # one line on the CLI


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("{}")
    with pytest.raises(
        ResultParseError, match=r"unknown format 'vegeta' \(expected one of fortio, nighthawk"
    ):
        parse_file(path, "vegeta")


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(ResultParseError) as info:
        parse_file(path, "fortio")
    assert (info.value.source, info.value.problem) == (str(path), "file not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ResultParseError) as info:
        parse_file(tmp_path, "k6")
    assert (info.value.source, info.value.problem) == (str(tmp_path), "is a directory, not a file")
