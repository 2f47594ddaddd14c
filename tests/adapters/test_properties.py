"""Property tests: arbitrary input never escapes as anything but ResultParseError; conversions are exact."""

from __future__ import annotations

import copy
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshmark_tasks.adapters import FORMATS, parse_file, parse_text
from meshmark_tasks.errors import ResultParseError
from meshmark_tasks.result import NormalizedResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIXTURES / "upstream"
REAL_JSON = {
    "fortio": json.loads((UPSTREAM / "fortio-http-result.json").read_text()),
    "nighthawk": json.loads((FIXTURES / "nighthawk" / "medium-global.json").read_text()),
    "k6": json.loads((FIXTURES / "k6" / "k6-errors-full-trend.json").read_text()),
}
WRK2_LINES = (UPSTREAM / "wrk2-latency.txt").read_text().splitlines(keepends=True)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _parse_or_parse_error(text: str, fmt: str) -> NormalizedResult | None:
    try:
        return parse_text(text, fmt, source="prop")
    except ResultParseError as exc:
        assert exc.source == "prop"
        assert exc.problem
        return None


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(FORMATS))
def test_random_bytes_only_raise_parse_errors(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out"
        path.write_bytes(data)
        try:
            parse_file(path, fmt)
        except ResultParseError as exc:
            assert exc.source == str(path)


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(("fortio", "nighthawk", "k6")), path=st.data(), value=json_values)
def test_any_field_replaced_by_any_json_only_raises_parse_errors(
    fmt: str, path: st.DataObject, value: Any
) -> None:
    """Walk into the real document along random keys and replace what is there."""
    doc = copy.deepcopy(REAL_JSON[fmt])
    node: Any = doc
    for _ in range(path.draw(st.integers(1, 5))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = path.draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and path.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = value
        break
    _parse_or_parse_error(json.dumps(doc), fmt)


@settings(max_examples=100, deadline=None)
@given(line=st.integers(0, len(WRK2_LINES) - 1), replacement=st.text(max_size=40))
def test_wrk2_with_any_line_replaced_only_raises_parse_errors(line: int, replacement: str) -> None:
    lines = list(WRK2_LINES)
    lines[line] = replacement + "\n"
    _parse_or_parse_error("".join(lines), "wrk2")


latencies_s = st.lists(
    st.floats(min_value=1e-7, max_value=30.0, allow_nan=False, allow_infinity=False), min_size=7, max_size=7
).map(sorted)
ret_codes = st.dictionaries(
    st.sampled_from(["200", "201", "302", "400", "404", "500", "503", "-1"]),
    st.integers(0, 10**6),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(latencies=latencies_s, codes=ret_codes, qps=st.floats(0.0, 1e6), duration_ns=st.integers(0, 10**12))
def test_fortio_shaped_documents_convert_exactly(
    latencies: list[float], codes: dict[str, int], qps: float, duration_ns: int
) -> None:
    low, p50, p75, p90, p99, p999, high = latencies
    doc = {
        "RunType": "HTTP",
        "RequestedQPS": "max",
        "ActualQPS": qps,
        "ActualDuration": duration_ns,
        "NumThreads": 4,
        "RetCodes": codes,
        "DurationHistogram": {
            "Count": sum(codes.values()),
            "Min": low,
            "Max": high,
            "Avg": p50,
            "Percentiles": [
                {"Percentile": p, "Value": v}
                for p, v in ((50, p50), (75, p75), (90, p90), (99, p99), (99.9, p999))
            ],
        },
    }
    r = parse_text(json.dumps(doc), "fortio", source="gen")
    for field, seconds in (
        ("latency_ms_min", low),
        ("latency_ms_p50", p50),
        ("latency_ms_p75", p75),
        ("latency_ms_p90", p90),
        ("latency_ms_p99", p99),
        ("latency_ms_p999", p999),
        ("latency_ms_max", high),
    ):
        ms = getattr(r, field)
        assert ms == float(Decimal(repr(seconds)) * 1000)  # the decimal shift, exactly
        assert ms == pytest.approx(seconds * 1000, rel=1e-12)
    assert r.requested_qps is None
    assert r.duration_s == float(Decimal(duration_ns) / 10**9)
    assert r.requests_total == sum(codes.values())
    ok = sum(n for code, n in codes.items() if 200 <= int(code) <= 399)
    assert r.errors_total == r.requests_total - ok
