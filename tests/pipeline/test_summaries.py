"""What a person reads about a cell and a run instead of the returned dicts."""

from __future__ import annotations

from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
from meshmark_tasks.pipeline.summaries import cell_line, run_table
from meshmark_tasks.result import NormalizedResult

CELL = Cell(
    cell_id="sidecar-q100-c8-b1024-http-r0",
    mesh="sidecar",
    mesh_kind="local-sidecar",
    is_baseline=False,
    network_functions=[],
    requested_qps=100.0,
    connections=8,
    payload_bytes=1024,
    protocol="http",
    repetition=0,
)


def _result() -> NormalizedResult:
    return NormalizedResult(
        load_generator="k6",
        protocol="http",
        requested_qps=100.0,
        actual_qps=99.87,
        connections=8,
        duration_s=6.0,
        requests_total=599,
        errors_total=0,
        latency_ms_p50=0.41,
        latency_ms_p99=2.345,
    )


def test_a_measured_cell_is_one_line() -> None:
    usage = ResourceUsage(0.031, 0.1, 0.0, 6.0e7, 1.2e8, 0.0)
    line = cell_line(CellMeasurement(CELL, _result(), usage, None, "k6"), position=(2, 6))
    assert line == (
        "cell 2/6 sidecar-q100-c8-b1024-http-r0: 99.9 QPS of 100 requested over 6.0 s, p50 0.41 ms, "
        "p99 2.35 ms, 0 errors in 599 requests, CPU app 0.031 + data plane 0.100 + control plane 0.000 cores"
    )
    assert "\n" not in line


def test_a_failed_cell_says_why_once() -> None:
    line = cell_line(CellMeasurement.failed(CELL, "k6 exited with code 1"))
    assert line == "cell sidecar-q100-c8-b1024-http-r0: FAILED: k6 exited with code 1"


def test_the_run_table_has_counts_scores_and_paths() -> None:
    table = run_table(
        {
            "run_id": "manual__1",
            "data_quality": "passed_with_quarantine",
            "cells_planned": 6,
            "cells_scored": 5,
            "cells_quarantined": 1,
            "meshes_fully_quarantined": [],
            "meshmark_by_mesh": {"sidecar": 65.61, "baseline": 93.4},
            "storage_root": "/data",
            "data_docs": "/data/data_docs/manual__1/index.html",
            "summary_path": "/data/runs/manual__1.json",
        }
    ).splitlines()
    assert table[2].split() == ["cells", "5", "scored,", "1", "quarantined", "of", "6", "planned"]
    assert [line.split()[1:] for line in table if "MeshMark" in line] == [
        ["baseline", "93.4"],
        ["sidecar", "65.6"],
    ]
    assert table[-2].endswith("/data/data_docs/manual__1/index.html")


def test_the_run_table_states_uncertainty_and_significance() -> None:
    from meshmark_tasks.pipeline.summaries import meshmark_cell

    sidecar = {
        "repetitions_used": 5,
        "ci_low": 81.2,
        "ci_high": 81.6,
        "delta_vs_baseline": -17.1,
        "delta_ci_low": -17.3,
        "delta_ci_high": -16.9,
        "p_value": 0.00002,
        "significant": True,
    }
    assert meshmark_cell(81.4, sidecar) == (
        "81.4 ± 0.2 (95 % CI 81.2–81.6, 5 rounds); vs baseline -17.1 points [-17.3, -16.9], "
        "p < 0.001, significant"
    )
    twin = sidecar | {"delta_vs_baseline": 0.4, "delta_ci_low": -0.5, "p_value": 0.21, "significant": False}
    assert meshmark_cell(81.4, twin).endswith(
        "vs baseline +0.4 points [-0.5, -16.9], p = 0.210, not significant"
    )
    one = {"repetitions_used": 1, "delta_vs_baseline": -17.0, "p_value": None, "significant": None}
    assert meshmark_cell(81.4, one) == (
        "81.4 (1 round: no confidence interval); vs baseline -17.0 points (no test: too few rounds)"
    )
    table = run_table(
        {"meshmark_by_mesh": {"sidecar": 81.4}, "meshmark_uncertainty_by_mesh": {"sidecar": sidecar}}
    )
    assert "MeshMark sidecar  81.4 ± 0.2" in table
