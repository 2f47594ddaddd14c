"""The MESHMARK.md test-vector cells, in bytes (the spec gives MiB; only ratios matter for MUEs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

MIB = 2**20


def vector_baseline() -> dict[str, Any]:
    return {
        "cell_id": "baseline-q1000",
        "mesh": "baseline",
        "is_baseline": True,
        "requested_qps": 1000.0,
        "connections": 8,
        "payload_bytes": 1024,
        "protocol": "http",
        "repetition": 0,
        "actual_qps": 1000.0,
        "requests_total": 60000,
        "errors_total": 0,
        "latency_ms_p50": 1.0,
        "latency_ms_p99": 4.0,
        "cpu_cores_app": 0.5,
        "cpu_cores_dataplane": 0.0,
        "cpu_cores_controlplane": 0.0,
        "cpu_cores_assigned": 2.0,
        "mem_bytes_app": 200.0 * MIB,
        "mem_bytes_dataplane": 0.0,
        "mem_bytes_controlplane": 0.0,
        "mem_bytes_assigned": 1024.0 * MIB,
        "slo_p99_ms": 10.0,
    }


def vector_mesh() -> dict[str, Any]:
    return vector_baseline() | {
        "cell_id": "istio-q1000",
        "mesh": "istio",
        "is_baseline": False,
        "actual_qps": 990.0,
        "errors_total": 60,
        "latency_ms_p50": 1.6,
        "latency_ms_p99": 7.0,
        "cpu_cores_dataplane": 0.4,
        "cpu_cores_controlplane": 0.1,
        "cpu_cores_assigned": 4.0,
        "mem_bytes_dataplane": 100.0 * MIB,
        "mem_bytes_controlplane": 300.0 * MIB,
        "mem_bytes_assigned": 2304.0 * MIB,
    }


@pytest.fixture
def baseline_cell() -> dict[str, Any]:
    return vector_baseline()


@pytest.fixture
def mesh_cell() -> dict[str, Any]:
    return vector_mesh()


@pytest.fixture
def frame() -> Callable[..., pd.DataFrame]:
    """Build a cells DataFrame from row dicts (a fixture so test modules need not import helpers)."""

    def build(*rows: dict[str, Any]) -> pd.DataFrame:
        return pd.DataFrame(list(rows))

    return build
