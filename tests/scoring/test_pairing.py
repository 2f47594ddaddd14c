"""Baseline pairing: same load point ("max" included), same run, mean over baseline repetitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from meshmark_tasks.scoring import score_cells


def _by_id(scored: pd.DataFrame) -> pd.DataFrame:
    return scored.set_index("cell_id")


def test_mesh_cell_uses_mean_of_baseline_repetitions(frame, baseline_cell, mesh_cell):
    rep0 = baseline_cell | {"cell_id": "b-r0", "repetition": 0, "latency_ms_p50": 1.0, "latency_ms_p99": 4.0}
    rep1 = baseline_cell | {"cell_id": "b-r1", "repetition": 1, "latency_ms_p50": 2.0, "latency_ms_p99": 6.0}
    scored = _by_id(score_cells(frame(rep0, rep1, mesh_cell | {"latency_ms_p50": 3.0})))
    # Baseline p50 mean = 1.5, so overhead = 1.5 / 3.0; p99 mean = 5.0 against 7.0.
    assert scored.loc["istio-q1000", "mue_latency_overhead"] == pytest.approx(0.5)
    assert scored.loc["istio-q1000", "delta_p50_ms"] == pytest.approx(1.5)
    assert scored.loc["istio-q1000", "delta_p99_ms"] == pytest.approx(2.0)
    assert scored.loc["istio-q1000", "delta_p99_pct"] == pytest.approx(40.0)
    # Each baseline repetition is its own baseline, not compared against its siblings' mean.
    assert scored.loc["b-r0", "mue_latency_overhead"] == 1.0
    assert scored.loc["b-r1", "mue_latency_overhead"] == 1.0
    assert scored.loc["b-r1", "delta_p50_ms"] == 0.0


def test_baseline_repetition_without_a_value_is_left_out_of_the_mean(frame, baseline_cell, mesh_cell):
    rep0 = baseline_cell | {"cell_id": "b-r0", "latency_ms_p50": 1.2}
    rep1 = baseline_cell | {"cell_id": "b-r1", "repetition": 1, "latency_ms_p50": None}
    scored = _by_id(score_cells(frame(rep0, rep1, mesh_cell)))
    assert scored.loc["istio-q1000", "mue_latency_overhead"] == pytest.approx(1.2 / 1.6)


def test_failed_baseline_is_no_reference(frame, baseline_cell, mesh_cell):
    failed = baseline_cell | {"requests_total": 0, "latency_ms_p50": 100.0}
    scored = _by_id(score_cells(frame(failed, mesh_cell)))
    assert list(scored.index) == ["istio-q1000"]
    assert pd.isna(scored.loc["istio-q1000", "mue_latency_overhead"])


@pytest.mark.parametrize(
    "change",
    [
        {"requested_qps": 2000.0},
        {"requested_qps": None},
        {"connections": 16},
        {"payload_bytes": 0},
        {"protocol": "grpc"},
    ],
    ids=["qps", "qps-max", "connections", "payload", "protocol"],
)
def test_no_pairing_across_load_points(frame, baseline_cell, mesh_cell, change):
    scored = _by_id(score_cells(frame(baseline_cell, mesh_cell | change)))
    assert pd.isna(scored.loc["istio-q1000", "mue_latency_overhead"])
    assert pd.isna(scored.loc["istio-q1000", "delta_p50_ms"])


def test_unthrottled_max_pairs_with_max(frame, baseline_cell, mesh_cell):
    # Both spellings of "unthrottled" reach the engine: NaN/None in a float column and "max".
    base_max = baseline_cell | {"cell_id": "b-max", "requested_qps": None, "latency_ms_p50": 0.8}
    mesh_max = mesh_cell | {"cell_id": "m-max", "requested_qps": np.nan, "latency_ms_p50": 1.6}
    scored = _by_id(score_cells(frame(baseline_cell, mesh_cell, base_max, mesh_max)))
    assert scored.loc["m-max", "mue_latency_overhead"] == pytest.approx(0.5)
    assert scored.loc["istio-q1000", "mue_latency_overhead"] == pytest.approx(0.625)
    assert pd.isna(scored.loc["m-max", "mue_throughput"])
    assert np.isnan(scored.loc["m-max", "requested_qps"])

    as_text = frame(base_max | {"requested_qps": "max"}, mesh_max | {"requested_qps": "max"})
    scored_text = _by_id(score_cells(as_text))
    assert scored_text.loc["m-max", "mue_latency_overhead"] == pytest.approx(0.5)


def test_pairing_never_crosses_runs(frame, baseline_cell, mesh_cell):
    run1 = {"run_id": "run-1", "run_date": pd.Timestamp("2025-03-01").date()}
    run2 = {"run_id": "run-2", "run_date": pd.Timestamp("2025-03-02").date()}
    rows = [
        baseline_cell | run1,
        mesh_cell | run1,
        mesh_cell | run2,  # run-2 has no baseline
    ]
    scored = score_cells(frame(*rows))
    assert list(scored.columns[:2]) == ["run_id", "run_date"]
    overhead = scored.set_index("run_id")["mue_latency_overhead"]
    assert overhead.loc["run-1"].tolist() == [1.0, 0.625]
    assert pd.isna(overhead.loc["run-2"])


def test_same_run_id_on_two_dates_are_two_runs(frame, baseline_cell, mesh_cell):
    day1 = {"run_id": "nightly", "run_date": "2025-03-01"}
    day2 = {"run_id": "nightly", "run_date": "2025-03-02"}
    scored = score_cells(frame(baseline_cell | day1, mesh_cell | day2))
    assert pd.isna(scored.set_index("run_date").loc["2025-03-02", "mue_latency_overhead"])


def test_without_run_columns_all_cells_are_one_run(frame, baseline_cell, mesh_cell):
    scored = score_cells(frame(baseline_cell, mesh_cell))
    assert "run_id" not in scored.columns and "run_date" not in scored.columns
    assert scored["mue_latency_overhead"].tolist() == [1.0, 0.625]


def test_two_baseline_meshes_are_averaged(frame, baseline_cell, mesh_cell):
    other = baseline_cell | {"cell_id": "baseline2", "mesh": "baseline-hostnet", "latency_ms_p50": 2.2}
    scored = _by_id(score_cells(frame(baseline_cell, other, mesh_cell)))
    assert scored.loc["istio-q1000", "mue_latency_overhead"] == pytest.approx(1.6 / 1.6)
    assert scored.loc["baseline2", "mue_latency_overhead"] == 1.0
