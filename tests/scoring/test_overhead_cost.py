"""Overhead signals and the mesh cost per million requests, on the vector cells."""

from __future__ import annotations

import pandas as pd
import pytest

from meshmark_tasks.profile import PriceConfig
from meshmark_tasks.scoring import ScoringInputError, score_cells

MIB = 2**20
GIB = 2**30


def _mesh_row(scored: pd.DataFrame) -> pd.Series:
    return scored.set_index("cell_id").loc["istio-q1000"]


def test_overhead_signals(frame, baseline_cell, mesh_cell):
    row = _mesh_row(score_cells(frame(baseline_cell, mesh_cell)))
    assert row["delta_p50_ms"] == pytest.approx(0.6)
    assert row["delta_p50_pct"] == pytest.approx(60.0)
    assert row["delta_p99_ms"] == pytest.approx(3.0)
    assert row["delta_p99_pct"] == pytest.approx(75.0)
    # cpu used 1.0 vs 0.5 cores, at 990 actual QPS: 0.5 / 0.99 extra cores per 1,000 QPS.
    assert row["delta_cpu_cores_per_kqps"] == pytest.approx(0.5 / 0.99)
    # mem used 600 MiB vs 200 MiB.
    assert row["delta_mem_mib"] == pytest.approx(400.0)


def test_baseline_overheads_are_zero(frame, baseline_cell, mesh_cell):
    row = score_cells(frame(baseline_cell, mesh_cell)).iloc[0]
    for column in ("delta_p50_ms", "delta_p50_pct", "delta_p99_ms", "delta_p99_pct"):
        assert row[column] == 0.0
    assert row["delta_cpu_cores_per_kqps"] == 0.0
    assert row["delta_mem_mib"] == 0.0
    assert row["mesh_cost_per_million_requests"] == 0.0


def test_mesh_cost_default_prices(frame, mesh_cell):
    row = _mesh_row(score_cells(frame(mesh_cell)))
    per_hour = 0.5 * 0.0316 + (400 * MIB / GIB) * 0.0042
    assert row["mesh_cost_per_million_requests"] == pytest.approx(per_hour / (990 * 3600) * 1e6)


def test_mesh_cost_profile_prices(frame, mesh_cell):
    prices = PriceConfig(cpu_core_hour=1.0, mem_gib_hour=0.0)
    row = _mesh_row(score_cells(frame(mesh_cell), prices=prices))
    assert row["mesh_cost_per_million_requests"] == pytest.approx(0.5 / (990 * 3600) * 1e6)


def test_cost_null_without_rate_or_metrics(frame, mesh_cell):
    stalled = mesh_cell | {"cell_id": "stalled", "actual_qps": 0.0}
    unmeasured = mesh_cell | {"cell_id": "unmeasured", "mem_bytes_controlplane": None}
    scored = score_cells(frame(stalled, unmeasured)).set_index("cell_id")
    assert pd.isna(scored.loc["stalled", "mesh_cost_per_million_requests"])
    assert pd.isna(scored.loc["stalled", "delta_cpu_cores_per_kqps"])
    assert pd.isna(scored.loc["unmeasured", "mesh_cost_per_million_requests"])


def test_prices_must_be_a_price_config(frame, mesh_cell):
    with pytest.raises(ScoringInputError, match="prices"):
        score_cells(frame(mesh_cell), prices={"cpu_core_hour": 1.0})  # type: ignore[arg-type]
