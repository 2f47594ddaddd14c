"""Every number of the MESHMARK.md test vectors."""

from __future__ import annotations

import pandas as pd
import pytest

from meshmark_tasks.scoring import aggregate_by_config, score_cells

EXACT = 1e-12
SPEC = 1e-4


def _row(scored: pd.DataFrame, cell_id: str) -> pd.Series:
    rows = scored[scored["cell_id"] == cell_id]
    assert len(rows) == 1
    return rows.iloc[0]


def test_baseline_cell_mues_classes_and_meshmark_exact(frame, baseline_cell, mesh_cell):
    row = _row(score_cells(frame(baseline_cell, mesh_cell)), "baseline-q1000")
    expected_mues = {
        "mue_cpu": 0.75,
        "mue_cpu_overhead": 1.0,
        "mue_mem": 0.8046875,
        "mue_mem_overhead": 1.0,
        "mue_latency_slo": 0.6,
        "mue_latency_overhead": 1.0,
        "mue_success": 1.0,
        "mue_throughput": 1.0,
    }
    for name, value in expected_mues.items():
        assert row[name] == pytest.approx(value, abs=EXACT), name
    expected_classes = {
        "class_compute": 0.875,
        "class_memory": 0.90234375,
        "class_network": 0.8,
        "class_delivery": 1.0,
    }
    for name, value in expected_classes.items():
        assert row[name] == pytest.approx(value, abs=EXACT), name
    assert row["meshmark"] == pytest.approx(89.43359375, abs=EXACT)
    assert row["scored_classes"] == "compute,memory,network,delivery"


def test_baseline_alone_scores_the_same(frame, baseline_cell):
    # The baseline is its own baseline: no mesh cell is needed for its latency overhead of 1.
    row = _row(score_cells(frame(baseline_cell)), "baseline-q1000")
    assert row["mue_latency_overhead"] == 1.0
    assert row["meshmark"] == pytest.approx(89.43359375, abs=EXACT)


def test_mesh_cell_mues_classes_and_meshmark(frame, baseline_cell, mesh_cell):
    row = _row(score_cells(frame(baseline_cell, mesh_cell)), "istio-q1000")
    expected_mues = {
        "mue_cpu": 0.75,
        "mue_cpu_overhead": 0.5,
        "mue_mem": 0.7395833333,
        "mue_mem_overhead": 0.3333333333,
        "mue_latency_slo": 0.3,
        "mue_latency_overhead": 0.625,
        "mue_success": 0.999,
        "mue_throughput": 0.99,
    }
    for name, value in expected_mues.items():
        assert row[name] == pytest.approx(value, abs=1e-9), name
    expected_classes = {
        "class_compute": 0.625,
        "class_memory": 0.5364583333,
        "class_network": 0.4625,
        "class_delivery": 0.9945,
    }
    for name, value in expected_classes.items():
        assert row[name] == pytest.approx(value, abs=1e-9), name
    assert row["meshmark"] == pytest.approx(65.4615, abs=SPEC)


def test_mesh_cell_with_overhead_weights(frame, baseline_cell, mesh_cell):
    weights = {"mue_cpu_overhead": 0.5, "mue_mem_overhead": 0.5}
    row = _row(score_cells(frame(baseline_cell, mesh_cell), weights=weights), "istio-q1000")
    assert row["class_compute"] == pytest.approx(0.75, abs=1e-9)
    assert row["class_memory"] == pytest.approx(0.6197916667, abs=1e-9)
    assert row["class_network"] == pytest.approx(0.4625, abs=1e-9)
    assert row["class_delivery"] == pytest.approx(0.9945, abs=1e-9)
    assert row["meshmark"] == pytest.approx(70.6698, abs=SPEC)
    # The weights change the class terms, never the stored MUEs.
    assert row["mue_cpu_overhead"] == pytest.approx(0.5, abs=1e-12)


def test_mesh_cell_without_its_baseline(frame, mesh_cell):
    row = _row(score_cells(frame(mesh_cell)), "istio-q1000")
    assert pd.isna(row["mue_latency_overhead"])
    assert row["class_network"] == pytest.approx(0.3, abs=1e-9)
    assert row["meshmark"] == pytest.approx(61.3990, abs=SPEC)
    # Network is still scored (on the SLO MUE alone), so all four classes are used.
    assert row["scored_classes"] == "compute,memory,network,delivery"
    for column in ("delta_p50_ms", "delta_p99_pct", "delta_cpu_cores_per_kqps", "delta_mem_mib"):
        assert pd.isna(row[column]), column


def test_vector_aggregates(frame, baseline_cell, mesh_cell):
    configs = aggregate_by_config(score_cells(frame(baseline_cell, mesh_cell)))
    assert list(configs["mesh"]) == ["baseline", "istio"]
    by_mesh = configs.set_index("mesh")
    assert by_mesh.loc["baseline", "meshmark_mean"] == pytest.approx(89.43359375, abs=EXACT)
    assert by_mesh.loc["baseline", "meshmark_min"] == pytest.approx(89.43359375, abs=EXACT)
    assert by_mesh.loc["istio", "meshmark_mean"] == pytest.approx(65.4615, abs=SPEC)
    assert list(by_mesh["cells_scored"]) == [1, 1]
