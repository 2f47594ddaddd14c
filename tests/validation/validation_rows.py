"""Realistic `results` rows for validation tests, built the way the nightly pipeline builds them.

The cells come from the local-demo profile's meshes at 40 and 100 QPS, the rows from
`pipeline.rows.results_row` (the DAG's own code), so a fault injected here is a fault in a row the
DAG would really produce.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
from meshmark_tasks.pipeline.rows import results_row
from meshmark_tasks.profile import Profile, load_profile, with_overrides
from meshmark_tasks.result import NormalizedResult

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def validation_profile() -> Profile:
    """local-demo (baseline, sidecar, sidecar-mtls; SLO 50 ms, error budget 1 %) at 40 and 100 QPS."""
    return with_overrides(load_profile(REPO / "profiles" / "local-demo.yaml"), qps=[40, 100])


def planned_cells(profile: Profile | None = None) -> list[Cell]:
    return expand_matrix(profile or validation_profile())


def healthy_result(cell: Cell) -> NormalizedResult:
    """What a 60 s k6 run at the cell's rate looks like: 0.2 % below target, a few errors, ms latencies."""
    requested = cell.requested_qps or 500.0
    extra_ms = 0.0 if cell.is_baseline else 0.6 + (0.3 if "mtls" in cell.network_functions else 0.0)
    actual = requested * 0.998
    start = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
    return NormalizedResult(
        load_generator="k6",
        load_generator_version="1.1.0",
        protocol=cell.protocol,
        requested_qps=cell.requested_qps,
        actual_qps=actual,
        connections=cell.connections,
        duration_s=60.0,
        requests_total=round(actual * 60),
        errors_total=3,
        latency_ms_min=0.21 + extra_ms / 3,
        latency_ms_mean=1.1 + extra_ms,
        latency_ms_p50=0.95 + extra_ms,
        latency_ms_p75=1.3 + extra_ms,
        latency_ms_p90=1.9 + extra_ms,
        latency_ms_p99=4.2 + extra_ms * 2,
        latency_ms_p999=9.5 + extra_ms * 3,
        latency_ms_max=21.0 + extra_ms * 3,
        start_time=start,
        end_time=start + timedelta(seconds=60),
    )


def healthy_resources(cell: Cell) -> ResourceUsage:
    """Mean usage well inside the demo limits (app 1 core / 256 MiB; two proxies 0.5 core / 128 MiB each)."""
    load = (cell.requested_qps or 500.0) / 100.0
    mesh = not cell.is_baseline
    return ResourceUsage(
        cpu_cores_app=0.05 * load,
        cpu_cores_dataplane=0.03 * load if mesh else 0.0,
        cpu_cores_controlplane=0.0,
        mem_bytes_app=48.0 * MIB,
        mem_bytes_dataplane=2 * 31.0 * MIB if mesh else 0.0,
        mem_bytes_controlplane=0.0,
    )


def results_row_for(
    profile: Profile,
    cell: Cell,
    result: NormalizedResult | None = None,
    resources: ResourceUsage | None = None,
    *,
    saturated: bool = False,
) -> dict[str, Any]:
    measurement = CellMeasurement(
        cell=cell,
        result=result or healthy_result(cell),
        resources=resources or healthy_resources(cell),
        raw_path=None,
        raw_format="k6",
        saturated=saturated,
    )
    return results_row(profile, measurement, backend="local", raw_path=f"raw/test-run/{cell.cell_id}.json")


def healthy_rows(profile: Profile | None = None) -> list[dict[str, Any]]:
    profile = profile or validation_profile()
    return [results_row_for(profile, cell) for cell in planned_cells(profile)]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The DataFrame the nightly pipeline hands to validation (pd.DataFrame of row dicts)."""
    return pd.DataFrame(rows)
