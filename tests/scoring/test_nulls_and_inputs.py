"""Null handling (never 0, 1 or inf by default), failed cells, and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from meshmark_tasks import schemas
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.scoring import ScoringInputError, score_cells

RESOURCE_COLUMNS = list(schemas.RESOURCE_COLUMNS)


def test_missing_resource_columns_drop_compute_and_memory(frame, baseline_cell, mesh_cell):
    cells = frame(baseline_cell, mesh_cell).drop(columns=RESOURCE_COLUMNS)
    scored = score_cells(cells)
    for column in ("mue_cpu", "mue_cpu_overhead", "mue_mem", "mue_mem_overhead", "class_compute"):
        assert scored[column].isna().all(), column
    assert scored["class_memory"].isna().all()
    assert scored["scored_classes"].tolist() == ["network,delivery", "network,delivery"]
    # Mesh cell: (network 0.4625 + delivery 0.9945) / 2.
    assert scored["meshmark"].iloc[1] == pytest.approx(100 * (0.4625 + 0.9945) / 2)
    assert scored["delta_cpu_cores_per_kqps"].isna().all()
    assert scored["mesh_cost_per_million_requests"].isna().all()


def test_one_missing_resource_value_drops_only_what_needs_it(frame, mesh_cell):
    scored = score_cells(frame(mesh_cell | {"cpu_cores_dataplane": None, "mem_bytes_assigned": None}))
    row = scored.iloc[0]
    assert pd.isna(row["mue_cpu"]) and pd.isna(row["mue_cpu_overhead"])  # cpu_used unknown
    assert pd.isna(row["class_compute"])
    assert pd.isna(row["mue_mem"])
    assert row["mue_mem_overhead"] == pytest.approx(1 / 3)
    assert row["class_memory"] == pytest.approx(1 / 3)  # the class averages what it has
    assert row["scored_classes"] == "memory,network,delivery"


def test_unthrottled_cell_has_null_throughput(frame, mesh_cell):
    row = score_cells(frame(mesh_cell | {"requested_qps": None})).iloc[0]
    assert pd.isna(row["mue_throughput"])
    assert row["class_delivery"] == pytest.approx(0.999)


def test_requests_total_zero_is_not_scored(frame, baseline_cell, mesh_cell):
    failed = mesh_cell | {"cell_id": "failed", "requests_total": 0, "errors_total": 0}
    scored = score_cells(frame(baseline_cell, failed, mesh_cell))
    assert scored["cell_id"].tolist() == ["baseline-q1000", "istio-q1000"]
    assert scored.index.tolist() == [0, 1]
    assert scored["meshmark"].iloc[1] == pytest.approx(65.4615, abs=1e-4)


def test_unreported_request_count_only_leaves_out_the_success_mue(frame, baseline_cell, mesh_cell):
    """MESHMARK.md: only requests_total = 0 is a failed test; a null count (an SMP result from
    another tool has none) is a missing input, so just mue_success is left out."""
    unknown = mesh_cell | {"cell_id": "no-count", "requests_total": None, "errors_total": None}
    scored = score_cells(frame(baseline_cell, unknown)).set_index("cell_id")
    row = scored.loc["no-count"]
    assert pd.isna(row["mue_success"])
    assert row["class_delivery"] == pytest.approx(0.99)  # mue_throughput alone
    assert row["mue_latency_overhead"] == pytest.approx(0.625)  # paired with the baseline as usual
    assert row["scored_classes"] == "compute,memory,network,delivery"


def test_zero_denominators_give_null_not_inf(frame, mesh_cell):
    cell = mesh_cell | {
        "cpu_cores_assigned": 0.0,
        "cpu_cores_app": 0.0,
        "cpu_cores_dataplane": 0.0,
        "cpu_cores_controlplane": 0.0,
        "latency_ms_p50": 0.0,
        "slo_p99_ms": 0.0,
        "requested_qps": 0.0,
    }
    row = score_cells(frame(cell)).iloc[0]
    for column in ("mue_cpu", "mue_cpu_overhead", "mue_latency_slo", "mue_throughput"):
        assert pd.isna(row[column]), column
    numbers = score_cells(frame(cell)).select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()


def test_ratios_are_clipped(frame, mesh_cell):
    over = mesh_cell | {"actual_qps": 1500.0, "latency_ms_p99": 25.0, "cpu_cores_assigned": 0.5}
    row = score_cells(frame(over)).iloc[0]
    assert row["mue_throughput"] == 1.0
    assert row["mue_latency_slo"] == 0.0
    assert row["mue_cpu"] == 0.0


def test_no_class_at_all_gives_null_meshmark(frame, mesh_cell):
    # requests counted but errors unknown, no latency, no resources, unthrottled: nothing to score.
    bare = mesh_cell | {
        "errors_total": None,
        "latency_ms_p50": None,
        "latency_ms_p99": None,
        "requested_qps": None,
    }
    row = score_cells(frame(bare).drop(columns=RESOURCE_COLUMNS)).iloc[0]
    assert pd.isna(row["meshmark"])
    assert row["scored_classes"] == ""


def test_output_columns_follow_the_schema(frame, baseline_cell, mesh_cell):
    scored = score_cells(frame(baseline_cell, mesh_cell))
    expected = _scored_columns(without=("run_id", "run_date"))
    assert list(scored.columns) == expected
    pa.Table.from_pandas(scored, schema=_schema_of(expected), preserve_index=False)


def test_output_converts_to_the_arrow_schema_with_run_columns(frame, baseline_cell, mesh_cell):
    run = {"run_id": "r1", "run_date": pd.Timestamp("2025-03-01").date(), "mesh_kind": "istio"}
    scored = score_cells(frame(baseline_cell | run, mesh_cell | run))
    assert list(scored.columns) == _scored_columns()
    table = pa.Table.from_pandas(scored, schema=_schema_of(_scored_columns()), preserve_index=False)
    assert table.column("meshmark").to_pylist()[0] == pytest.approx(89.43359375, abs=1e-12)


def test_results_table_from_arrow_is_accepted(frame, baseline_cell, mesh_cell):
    # The store hands back Arrow-typed columns; the engine takes them as they come.
    run = {"run_id": "r1", "run_date": pd.Timestamp("2025-03-01").date()}
    cells = frame(baseline_cell | run, mesh_cell | run | {"requested_qps": None})
    table = pa.Table.from_pandas(cells, preserve_index=False)
    for arrow_frame in (table.to_pandas(), table.to_pandas(types_mapper=pd.ArrowDtype)):
        scored = score_cells(arrow_frame)
        assert scored["meshmark"].iloc[0] == pytest.approx(89.43359375, abs=1e-12)
        assert pd.isna(scored["mue_throughput"].iloc[1])


def test_empty_input_gives_empty_output(frame, baseline_cell):
    scored = score_cells(frame(baseline_cell).iloc[0:0])
    assert scored.empty
    assert scored.columns[0] == "cell_id"
    # A run whose cells all failed hands over a frame without rows or columns.
    scored = score_cells(pd.DataFrame())
    assert scored.empty and list(scored.columns) == _scored_columns(without=("run_id", "run_date"))
    assert scored["meshmark"].dtype == "float64"
    pa.Table.from_pandas(scored, schema=_schema_of(list(scored.columns)), preserve_index=False)


def _scored_columns(without: tuple[str, ...] = ()) -> list[str]:
    """The meshmark columns scoring fills: all but the run-level ones the pipeline sets."""
    skip = (*without, *schemas.RUN_LEVEL_COLUMNS)
    return [c for c in schemas.MESHMARK.names if c not in skip]


def _schema_of(names: list[str]) -> pa.Schema:
    return pa.schema([schemas.MESHMARK.field(n) for n in names])


@pytest.mark.parametrize("column", ["cell_id", "latency_ms_p50", "requested_qps", "slo_p99_ms", "protocol"])
def test_missing_required_column_is_named(frame, baseline_cell, column):
    with pytest.raises(ScoringInputError, match=f"missing required column {column}") as info:
        score_cells(frame(baseline_cell).drop(columns=[column]))
    assert isinstance(info.value, MeshmarkError)


def test_non_numeric_value_is_named(frame, baseline_cell, mesh_cell):
    with pytest.raises(ScoringInputError, match="latency_ms_p99"):
        score_cells(frame(baseline_cell, mesh_cell | {"latency_ms_p99": "slow"}))


def test_negative_value_names_cell_and_column(frame, baseline_cell, mesh_cell):
    with pytest.raises(ScoringInputError, match=r"cell istio-q1000: cpu_cores_app: -0\.5"):
        score_cells(frame(baseline_cell, mesh_cell | {"cpu_cores_app": -0.5}))


def test_infinite_value_is_rejected(frame, mesh_cell):
    with pytest.raises(ScoringInputError, match="actual_qps"):
        score_cells(frame(mesh_cell | {"actual_qps": float("inf")}))


def test_more_errors_than_requests_is_rejected(frame, mesh_cell):
    with pytest.raises(ScoringInputError, match="cell istio-q1000: errors_total exceeds requests_total"):
        score_cells(frame(mesh_cell | {"errors_total": 70000}))


def test_null_is_baseline_is_rejected(frame, baseline_cell, mesh_cell):
    with pytest.raises(ScoringInputError, match="cell istio-q1000: is_baseline: null"):
        score_cells(frame(baseline_cell, mesh_cell | {"is_baseline": None}))


def test_boolean_numbers_are_rejected(frame, mesh_cell):
    with pytest.raises(ScoringInputError, match="connections"):
        score_cells(frame(mesh_cell | {"connections": True}))


def test_null_numbers_in_object_columns(frame, mesh_cell):
    # A column that is None on every row arrives as dtype object.
    cells = frame(mesh_cell | {"requested_qps": None, "cpu_cores_app": None})
    assert cells["requested_qps"].dtype == object
    row = score_cells(cells).iloc[0]
    assert pd.isna(row["mue_throughput"]) and pd.isna(row["mue_cpu"])


def test_any_index_is_fine_and_output_is_reindexed(frame, baseline_cell, mesh_cell):
    cells = frame(baseline_cell, mesh_cell | {"cpu_cores_app": -1.0}, mesh_cell).iloc[[2, 0]]
    assert cells.index.tolist() == [2, 0]
    scored = score_cells(cells)
    assert scored.index.tolist() == [0, 1]
    assert scored["cell_id"].tolist() == ["istio-q1000", "baseline-q1000"]
    assert scored["meshmark"].iloc[0] == pytest.approx(65.4615, abs=1e-4)
