"""Run-level outcomes: a whole mesh quarantined, nothing passing, planned cells missing, broken tables."""

from __future__ import annotations

import pandas as pd
import pytest
from validation_rows import (
    healthy_resources,
    healthy_rows,
    planned_cells,
    results_row_for,
    validation_profile,
)

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.measurement import ResourceUsage
from meshmark_tasks.profile import with_overrides
from meshmark_tasks.validation import ValidationStructureError, validate_results


def test_healthy_run_passes() -> None:
    rows = healthy_rows()
    outcome = validate_results(pd.DataFrame(rows), planned_cell_ids=[c.cell_id for c in planned_cells()])
    assert outcome.status == "passed"
    assert outcome.quarantine.empty and len(outcome.good) == len(rows)
    assert outcome.summary["meshes_fully_quarantined"] == []
    assert outcome.summary["expectations_failed"] == 0


def test_saturated_and_unthrottled_cells_are_not_held_to_the_requested_rate() -> None:
    profile = with_overrides(validation_profile(), qps=[100, "max"])
    rows = []
    for cell in planned_cells(profile):
        row = results_row_for(profile, cell, saturated=cell.mesh == "sidecar")
        if cell.requested_qps is not None and cell.mesh == "sidecar":
            row["actual_qps"] = 40.0  # 40 % of requested, but the generator said it could not keep up
        rows.append(row)
    outcome = validate_results(pd.DataFrame(rows))
    assert outcome.status == "passed", outcome.quarantine.to_dict("records")


def test_whole_mesh_quarantined_still_completes_and_says_so() -> None:
    profile = validation_profile()
    rows = []
    for cell in planned_cells(profile):
        resources = healthy_resources(cell)
        if cell.mesh == "sidecar-mtls":  # the resource sampler failed for this whole configuration
            resources = ResourceUsage(**dict.fromkeys(resources.as_dict()))
        rows.append(results_row_for(profile, cell, resources=resources))
    outcome = validate_results(
        pd.DataFrame(rows), planned_cell_ids=[c.cell_id for c in planned_cells(profile)]
    )
    assert outcome.status == "passed_with_quarantine"
    assert outcome.summary["meshes_fully_quarantined"] == ["sidecar-mtls"]
    assert set(outcome.good["mesh"]) == {"baseline", "sidecar"}
    assert set(outcome.quarantine["mesh"]) == {"sidecar-mtls"}
    for reasons in outcome.quarantine["reasons"]:
        assert len(reasons) == 6  # six used-resource metrics missing; the assigned ones come from the profile
        assert all("a resource metric is missing for a mesh cell" in r for r in reasons)


def test_no_row_passing_is_a_failed_status_not_an_exception() -> None:
    rows = healthy_rows()
    for row in rows:
        row["errors_total"] = row["requests_total"]
    outcome = validate_results(pd.DataFrame(rows))
    assert outcome.status == "failed"
    assert outcome.good.empty and len(outcome.quarantine) == len(rows)
    assert outcome.summary["meshes_fully_quarantined"] == ["baseline", "sidecar", "sidecar-mtls"]


def test_planned_cell_without_a_result_is_recorded() -> None:
    rows = healthy_rows()
    dropped = rows.pop(3)
    outcome = validate_results(pd.DataFrame(rows), planned_cell_ids=[c.cell_id for c in planned_cells()])
    assert outcome.status == "passed_with_quarantine"
    [record] = outcome.quarantine.to_dict("records")
    assert record["cell_id"] == dropped["cell_id"] and record["mesh"] == dropped["mesh"]
    assert record["reasons"] == ["planned cell missing: no result"]
    assert record["row_json"] is None
    assert outcome.summary["planned_cells_missing"] == [dropped["cell_id"]]


def test_run_without_any_result_rows() -> None:
    """The pipeline hands over pd.DataFrame([]) (no columns) when every cell failed to run."""
    planned = [c.cell_id for c in planned_cells()]
    outcome = validate_results(pd.DataFrame([]), planned_cell_ids=planned)
    assert outcome.status == "failed"
    assert sorted(outcome.quarantine["cell_id"]) == sorted(planned)


def test_all_null_numeric_column_is_not_a_type_error() -> None:
    rows = healthy_rows()
    for row in rows:
        row["latency_ms_p999"] = None  # k6 does not report p99.9
    frame = pd.DataFrame(rows)
    assert frame["latency_ms_p999"].dtype == object
    assert validate_results(frame).status == "passed"


def test_latency_stored_as_text_fails_structurally_naming_expectation_column_and_cells() -> None:
    rows = healthy_rows()
    for row in rows:
        row["latency_ms_p50"] = f"{row['latency_ms_p50']}ms"
    with pytest.raises(ValidationStructureError) as caught:
        validate_results(pd.DataFrame(rows))
    message = str(caught.value)
    assert "expect_column_values_to_be_in_type_list(latency_ms_p50 is numeric)" in message
    assert "column latency_ms_p50 has type str" in message
    assert "baseline-q40-c8-b1024-http-r0" in message
    assert isinstance(caught.value, MeshmarkError)


def test_one_text_value_in_a_numeric_column_names_that_cell() -> None:
    rows = healthy_rows()
    rows[4]["cpu_cores_app"] = "0.2"
    with pytest.raises(ValidationStructureError) as caught:
        validate_results(pd.DataFrame(rows))
    message = str(caught.value)
    assert "(cpu_cores_app is numeric)" in message
    assert f"wrong type in cells {rows[4]['cell_id']}" in message


def test_missing_columns_fail_structurally() -> None:
    frame = pd.DataFrame(healthy_rows()).drop(columns=["latency_ms_p99", "error_budget"])
    with pytest.raises(ValidationStructureError) as caught:
        validate_results(frame)
    message = str(caught.value)
    assert "expect_table_columns_to_match_set" in message
    assert "missing columns: latency_ms_p99, error_budget" in message
