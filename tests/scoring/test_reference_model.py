"""The vectorized engine against a plain row-by-row model written straight from MESHMARK.md.

The model is deliberately naive (a Python loop, a list scan for baselines) so that it reads like the
specification; hypothesis feeds both the same cells, including nulls, zeros, "max" load points,
repetitions and several runs, and every output number must agree.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshmark_tasks.profile import PriceConfig
from meshmark_tasks.schemas import MUE_COLUMNS, OVERHEAD_COLUMNS
from meshmark_tasks.scoring import CLASS_MUES, score_cells

NAN = math.nan


def _num(value: Any) -> float:
    return NAN if value is None else float(value)


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return NAN
    result = a / b
    return NAN if math.isinf(result) else result


def _clip(x: float) -> float:
    return x if math.isnan(x) else min(1.0, max(0.0, x))


def _mean(values: list[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return sum(present) / len(present) if present else NAN


def _key(cell: dict[str, Any]) -> tuple:
    qps = cell["requested_qps"]
    return (
        cell["run_id"],
        "max" if qps is None else qps,
        cell["connections"],
        cell["payload_bytes"],
        cell["protocol"],
    )


def model(cells: list[dict[str, Any]], weights: dict[str, float], prices: PriceConfig) -> dict[str, dict]:
    scored = [c for c in cells if c["requests_total"] is None or c["requests_total"] > 0]
    out: dict[str, dict] = {}
    for cell in scored:
        cpu = (
            _num(cell["cpu_cores_app"])
            + _num(cell["cpu_cores_dataplane"])
            + _num(cell["cpu_cores_controlplane"])
        )
        mem = (
            _num(cell["mem_bytes_app"])
            + _num(cell["mem_bytes_dataplane"])
            + _num(cell["mem_bytes_controlplane"])
        )

        def used(c: dict[str, Any], kind: str) -> float:
            if kind == "cpu":
                parts = ("cpu_cores_app", "cpu_cores_dataplane", "cpu_cores_controlplane")
            else:
                parts = ("mem_bytes_app", "mem_bytes_dataplane", "mem_bytes_controlplane")
            return sum(_num(c[p]) for p in parts)

        if cell["is_baseline"]:
            refs = [cell]
        else:
            refs = [b for b in scored if b["is_baseline"] and _key(b) == _key(cell)]
        base = {
            "p50": _mean([_num(b["latency_ms_p50"]) for b in refs]),
            "p99": _mean([_num(b["latency_ms_p99"]) for b in refs]),
            "cpu": _mean([used(b, "cpu") for b in refs]),
            "mem": _mean([used(b, "mem") for b in refs]),
        }
        p50, p99, actual = (
            _num(cell["latency_ms_p50"]),
            _num(cell["latency_ms_p99"]),
            _num(cell["actual_qps"]),
        )
        mues = {
            "mue_cpu": _clip(1 - _ratio(cpu, _num(cell["cpu_cores_assigned"]))),
            "mue_cpu_overhead": _clip(_ratio(_num(cell["cpu_cores_app"]), cpu)),
            "mue_mem": _clip(1 - _ratio(mem, _num(cell["mem_bytes_assigned"]))),
            "mue_mem_overhead": _clip(_ratio(_num(cell["mem_bytes_app"]), mem)),
            "mue_latency_slo": _clip(1 - _ratio(p99, _num(cell["slo_p99_ms"]))),
            "mue_latency_overhead": _clip(_ratio(base["p50"], p50)),
            "mue_throughput": _clip(_ratio(actual, _num(cell["requested_qps"]))),
            "mue_success": _clip(1 - _ratio(_num(cell["errors_total"]), _num(cell["requests_total"]))),
        }
        classes = {
            name: _clip(_mean([mues[m] * (1 + weights.get(m, 0.0)) for m in members]))
            for name, members in CLASS_MUES.items()
        }
        used_classes = [name for name, value in classes.items() if not math.isnan(value)]
        mesh_cores = _num(cell["cpu_cores_dataplane"]) + _num(cell["cpu_cores_controlplane"])
        mesh_gib = (_num(cell["mem_bytes_dataplane"]) + _num(cell["mem_bytes_controlplane"])) / 2**30
        hourly = mesh_cores * prices.cpu_core_hour + mesh_gib * prices.mem_gib_hour
        out[cell["cell_id"]] = {
            **mues,
            **{f"class_{k}": v for k, v in classes.items()},
            "scored_classes": ",".join(used_classes),
            "meshmark": 100 * _mean(list(classes.values())),
            "delta_p50_ms": p50 - base["p50"],
            "delta_p50_pct": 100 * _ratio(p50 - base["p50"], base["p50"]),
            "delta_p99_ms": p99 - base["p99"],
            "delta_p99_pct": 100 * _ratio(p99 - base["p99"], base["p99"]),
            "delta_cpu_cores_per_kqps": _ratio(cpu - base["cpu"], actual / 1000),
            "delta_mem_mib": (mem - base["mem"]) / 2**20,
            "mesh_cost_per_million_requests": _ratio(hourly, actual * 3600) * 1e6,
        }
    return out


# Values from a small set, so that equal load points, zeros and nulls occur often.
value = st.sampled_from([None, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 7.0, 10.0, 1000.0])


@st.composite
def cell_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for index in range(draw(st.integers(1, 14))):
        requests = draw(st.sampled_from([None, 0, 1, 100, 60000]))
        errors = None if requests is None else draw(st.integers(0, requests))
        row = {
            "run_id": draw(st.sampled_from(["r1", "r2"])),
            "cell_id": f"c{index}",
            "mesh": "m",
            "is_baseline": draw(st.booleans()),
            "requested_qps": draw(st.sampled_from([None, 0.5, 1000.0])),
            "connections": draw(st.sampled_from([1, 8])),
            "payload_bytes": 0,
            "protocol": "http",
            "repetition": 0,
            "requests_total": requests,
            "errors_total": draw(st.one_of(st.none(), st.just(errors))) if errors is not None else None,
        }
        for column in (
            "actual_qps",
            "latency_ms_p50",
            "latency_ms_p99",
            "slo_p99_ms",
            "cpu_cores_app",
            "cpu_cores_dataplane",
            "cpu_cores_controlplane",
            "cpu_cores_assigned",
            "mem_bytes_app",
            "mem_bytes_dataplane",
            "mem_bytes_controlplane",
            "mem_bytes_assigned",
        ):
            row[column] = draw(value)
        rows.append(row)
    return rows


weight_maps = st.dictionaries(
    st.sampled_from(MUE_COLUMNS), st.sampled_from([-0.5, -0.1, 0.25, 0.5]), max_size=4
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell_rows(), weight_maps)
def test_engine_matches_the_row_by_row_model(rows: list[dict[str, Any]], weights: dict[str, float]) -> None:
    prices = PriceConfig(cpu_core_hour=0.5, mem_gib_hour=0.25)
    expected = model(rows, weights, prices)
    scored = score_cells(pd.DataFrame(rows), weights=weights, prices=prices).set_index("cell_id")
    assert sorted(scored.index) == sorted(expected)
    numeric = [*MUE_COLUMNS, "class_compute", "class_memory", "class_network", "class_delivery", "meshmark"]
    for cell_id, want in expected.items():
        got = scored.loc[cell_id]
        assert got["scored_classes"] == want["scored_classes"], cell_id
        for column in [*numeric, *OVERHEAD_COLUMNS]:
            if math.isnan(want[column]):
                assert pd.isna(got[column]), (cell_id, column, got[column])
            else:
                assert got[column] == pytest.approx(want[column], rel=1e-12, abs=1e-12), (cell_id, column)
