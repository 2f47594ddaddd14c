"""Real-world bad data and synthetic faults in one run: each is quarantined with the right reason and
the good rows of the same run go on to scoring."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from validation_rows import (
    healthy_resources,
    healthy_result,
    planned_cells,
    results_row_for,
    validation_profile,
)

from meshmark_tasks.adapters import parse_file
from meshmark_tasks.measurement import ResourceUsage
from meshmark_tasks.profile import with_overrides
from meshmark_tasks.schemas import LATENCY_COLUMNS, QUARANTINE
from meshmark_tasks.scoring import score_cells
from meshmark_tasks.validation import ValidationOutcome, validate_results

FORTIO_ALL_FAILED = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "fortio-all-failed.json"

ERROR_BUDGET = (
    "expect_column_pair_values_a_to_be_greater_than_b(error_rate <= error_budget): "
    "the error rate exceeds the profile's error budget"
)
QPS = (
    "expect_column_values_to_be_between("
    "actual_qps / requested_qps within 1 ± qps_tolerance where not saturated)"
)
P99_BELOW_P50 = (
    "expect_column_pair_values_a_to_be_greater_than_b(latency_ms_p50 <= latency_ms_p99): "
    "latency percentiles out of order: p99 is below p50"
)
NEGATIVE_CPU = (
    "expect_column_values_to_be_between(cpu_cores_dataplane >= 0): a resource measurement is negative"
)
MISSING_CPU = (
    "expect_column_values_to_not_be_null(cpu_cores_dataplane present where is_baseline == False): "
    "a resource metric is missing for a mesh cell"
)
DUPLICATE = "expect_column_values_to_be_unique(unique cell_id): duplicate cell_id"
NO_REQUESTS = "expect_column_values_to_be_between(requests_total > 0)"


def _cell(cells: list[Any], cell_id: str) -> Any:
    return next(c for c in cells if c.cell_id == cell_id)


@pytest.fixture(scope="module")
def faulty_run() -> tuple[pd.DataFrame, ValidationOutcome]:
    """local-demo at 40, 100 and 200 QPS (9 cells); every non-baseline cell carries one fault."""
    profile = with_overrides(validation_profile(), qps=[40, 100, 200])
    cells = planned_cells(profile)
    rows = []
    for cell in cells:
        result, resources = healthy_result(cell), healthy_resources(cell)
        if cell.cell_id == "sidecar-q40-c8-b1024-http-r0":
            # Real fortio output (RetCodes {"-1": 4}) through the real adapter: every request failed.
            result = parse_file(str(FORTIO_ALL_FAILED), "fortio")
        elif cell.cell_id == "sidecar-q100-c8-b1024-http-r0":
            result = result.model_copy(update={"actual_qps": 40.0})  # 40 % of the requested 100 QPS
        elif cell.cell_id == "sidecar-q200-c8-b1024-http-r0":
            # The sampler lost the proxies' series: dataplane metrics missing on a mesh cell.
            resources = ResourceUsage(
                **{**resources.as_dict(), "cpu_cores_dataplane": None, "mem_bytes_dataplane": None}
            )
        elif cell.cell_id == "sidecar-mtls-q100-c8-b1024-http-r0":
            resources = ResourceUsage(**{**resources.as_dict(), "cpu_cores_dataplane": -0.02})
        elif cell.cell_id == "sidecar-mtls-q200-c8-b1024-http-r0":
            result = result.model_copy(
                update={"requests_total": 0, "errors_total": 0, "actual_qps": 0.0}
                | dict.fromkeys(LATENCY_COLUMNS)
            )
        rows.append(results_row_for(profile, cell, result, resources))
    # p99 below p50 cannot come out of a NormalizedResult (it rejects it), so it is injected into the row,
    # as a buggy adapter or a hand-edited file would deliver it.
    mtls40 = next(r for r in rows if r["cell_id"] == "sidecar-mtls-q40-c8-b1024-http-r0")
    mtls40["latency_ms_p99"] = mtls40["latency_ms_p50"] / 2
    # A retried task delivered baseline-q40 twice.
    rows.append(dict(rows[0]))
    results = pd.DataFrame(rows)
    outcome = validate_results(
        results, planned_cell_ids=[c.cell_id for c in cells], qps_tolerance=profile.qps_tolerance
    )
    return results, outcome


def _reasons(outcome: ValidationOutcome) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for record in outcome.quarantine.to_dict("records"):
        found.setdefault(record["cell_id"], []).append(list(record["reasons"]))
    return found


def test_fortio_run_with_every_request_failed_exceeds_the_error_budget(faulty_run: Any) -> None:
    _, outcome = faulty_run
    assert _reasons(outcome)["sidecar-q40-c8-b1024-http-r0"] == [[ERROR_BUDGET]]


def test_run_at_40_percent_of_requested_qps(faulty_run: Any) -> None:
    _, outcome = faulty_run
    [reasons] = _reasons(outcome)["sidecar-q100-c8-b1024-http-r0"]
    assert len(reasons) == 1 and reasons[0].startswith(QPS)


def test_p99_below_p50(faulty_run: Any) -> None:
    _, outcome = faulty_run
    [reasons] = _reasons(outcome)["sidecar-mtls-q40-c8-b1024-http-r0"]
    assert P99_BELOW_P50 in reasons
    assert all("latency percentiles out of order" in r for r in reasons)  # p90 <= p99 fails too


def test_negative_cpu(faulty_run: Any) -> None:
    _, outcome = faulty_run
    assert _reasons(outcome)["sidecar-mtls-q100-c8-b1024-http-r0"] == [[NEGATIVE_CPU]]


def test_missing_resource_metrics_on_a_mesh_cell(faulty_run: Any) -> None:
    _, outcome = faulty_run
    [reasons] = _reasons(outcome)["sidecar-q200-c8-b1024-http-r0"]
    assert MISSING_CPU in reasons
    assert len(reasons) == 2 and "mem_bytes_dataplane present where is_baseline == False" in reasons[1]


def test_failed_test_with_no_requests(faulty_run: Any) -> None:
    _, outcome = faulty_run
    [reasons] = _reasons(outcome)["sidecar-mtls-q200-c8-b1024-http-r0"]
    assert reasons[0].startswith(NO_REQUESTS)
    assert len(reasons) == 1  # the latency-present checks apply only where requests_total > 0


def test_duplicated_cell_keeps_the_first_copy(faulty_run: Any) -> None:
    results, outcome = faulty_run
    assert _reasons(outcome)["baseline-q40-c8-b1024-http-r0"] == [[DUPLICATE]]
    assert list(outcome.good["cell_id"]).count("baseline-q40-c8-b1024-http-r0") == 1
    assert outcome.good.index.max() < len(results) - 1  # the kept copy is the first, not the appended one


def test_good_rows_of_the_same_run_are_scored(faulty_run: Any) -> None:
    results, outcome = faulty_run
    good_ids = sorted(outcome.good["cell_id"])
    assert good_ids == [f"baseline-q{q}-c8-b1024-http-r0" for q in (100, 200, 40)]
    assert list(outcome.good.columns) == list(results.columns)
    scored = score_cells(outcome.good, weights=validation_profile().weights)
    assert sorted(scored["cell_id"]) == good_ids
    assert all(math.isfinite(v) and 0 <= v <= 100 for v in scored["meshmark"])


def test_status_summary_and_quarantine_shape(faulty_run: Any) -> None:
    results, outcome = faulty_run
    assert outcome.status == "passed_with_quarantine"
    summary = outcome.summary
    json.dumps(summary)  # JSON-safe
    assert summary["rows_total"] == len(results) == 10
    assert summary["rows_good"] == 3 and summary["rows_quarantined"] == 7
    assert summary["meshes_fully_quarantined"] == ["sidecar", "sidecar-mtls"]
    assert sorted(summary["quarantined_cells_by_mesh"]["sidecar"]) == [
        f"sidecar-q{q}-c8-b1024-http-r0" for q in (100, 200, 40)
    ]
    failed = {e["check"] for e in summary["expectations"] if not e["success"]}
    assert "requests_total > 0" in failed and "unique cell_id" in failed
    assert "every planned cell present" not in failed
    # the run-level columns (reasons_text, run_ts, profile, backend) are set when the run is written
    run_level = ("run_id", "run_date", "reasons_text", "run_ts", "profile", "backend")
    expected_columns = [f.name for f in QUARANTINE if f.name not in run_level]
    assert list(outcome.quarantine.columns) == expected_columns
    assert set(outcome.quarantine["stage"]) == {"validation"}
    record = outcome.quarantine.set_index("cell_id").loc["sidecar-mtls-q100-c8-b1024-http-r0"]
    row = json.loads(record["row_json"])
    assert row["cpu_cores_dataplane"] == -0.02 and set(row) == set(results.columns)
    assert record["raw_path"] == "raw/test-run/sidecar-mtls-q100-c8-b1024-http-r0.json"
