"""Meshery performance results become runs with results rows the scoring engine accepts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from meshmark_tasks.adapters import parse_text
from meshmark_tasks.importers import RESULT_COLUMNS, import_file, parse_meshery
from meshmark_tasks.schemas import RESULTS
from meshmark_tasks.scoring import score_cells

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MESHERY = FIXTURES / "meshery"


def _results_doc() -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads((MESHERY / "meshery-results.json").read_text())
    return doc


def test_results_array_one_run_per_result() -> None:
    runs = import_file(MESHERY / "meshery-results.json", "meshery")
    assert [r.run_id for r in runs] == [
        "meshery-6d2b4a53-9a38-4c52-9c4c-0c3a3c1e6a10",
        "meshery-a0f0b3a5-1f53-4c55-8d3f-4d7b0a6f2c21",
        "meshery-e4c8d7e2-6a9b-4f0e-b2a1-7c3d5e9f1b44",
    ]
    assert {r.run_date for r in runs} == {date(2022, 3, 19)}  # test_start_time, UTC day
    assert [r.profile for r in runs] == ["303c3586-fd65-4846-91de-0c67b9b152a5"] * 2 + [None]
    assert [r.name for r in runs] == ["istio_1647729263279", "No mesh_1647729001125", "linkerd_1647729600500"]
    assert {r.backend for r in runs} == {"import:meshery"}

    istio = runs[0].results[0]
    assert istio["cell_id"] == "istio-q40-c2-b3-http-r0"  # "Zm9v" = 3-byte payload "foo"
    assert (istio["mesh"], istio["mesh_kind"], istio["is_baseline"]) == ("istio", "istio", False)
    assert (istio["requested_qps"], istio["connections"], istio["payload_bytes"]) == (40.0, 2, 3)
    assert (istio["load_generator"], istio["load_generator_version"]) == ("fortio", "X.Y.Z")
    assert (istio["requests_total"], istio["errors_total"]) == (4, 0)
    assert istio["latency_ms_p50"] == 0.4920823333333334 and istio["latency_ms_mean"] == 0.58301175
    assert istio["start_time"] == datetime(2022, 3, 19, 22, 34, 23, 279389, tzinfo=UTC)
    # No resource figures in a Meshery result: null, never 0.
    assert all(istio[c] is None for c in ("cpu_cores_dataplane", "mem_bytes_app", "cpu_cores_assigned"))

    baseline = runs[1].results[0]
    assert (baseline["mesh"], baseline["mesh_kind"], baseline["is_baseline"]) == (
        "baseline",
        "baseline",
        True,
    )
    assert baseline["requested_qps"] is None  # RequestedQPS "max"
    assert baseline["cell_id"] == "baseline-qmax-c2-b3-http-r0"


def test_all_failed_result_is_quarantined_with_the_reason() -> None:
    run = import_file(MESHERY / "meshery-results.json", "meshery")[2]
    assert run.results == []
    (row,) = run.quarantine
    assert row["stage"] == "run" and row["cell_id"] == "linkerd-q40-c2-b3-http-r0"
    assert row["reasons"] == [
        '[2].runner_results: all 4 requests failed (RetCodes {"-1": 4}; -1 counts connection/socket errors)'
    ]
    assert json.loads(row["row_json"])["errors_total"] == 4  # the whole row is kept
    assert "linkerd-q40-c2-b3-http-r0" in run.raw


def test_raw_output_is_the_fortio_result_and_reparses_to_the_row() -> None:
    run = import_file(MESHERY / "meshery-results.json", "meshery")[0]
    raw = run.raw["istio-q40-c2-b3-http-r0"]
    assert raw.ext == "json"
    again = parse_text(raw.data.decode(), "fortio", source="raw")
    assert again.latency_ms_p99 == run.results[0]["latency_ms_p99"]
    assert again.requests_total == run.results[0]["requests_total"]


def test_camelcase_page_nighthawk_imported_trimmed_wrk2_quarantined() -> None:
    consul, kuma = import_file(MESHERY / "meshery-page-camelcase.json", "meshery")
    (row,) = consul.results
    assert (row["mesh"], row["load_generator"], row["requests_total"], row["errors_total"]) == (
        "consul",
        "nighthawk",
        56,
        0,
    )
    assert consul.profile == "a947dff3-1415-4ca6-8922-e35b3232bd78"
    assert consul.run_date == date(2021, 8, 27)
    assert kuma.results == []
    (bad,) = kuma.quarantine
    assert bad["stage"] == "parse"
    assert bad["reasons"] == ["results[1].runner_results: fortio: DurationHistogram.Count is missing"]


def test_rows_have_the_results_columns_and_fit_the_schema() -> None:
    runs = import_file(MESHERY / "meshery-results.json", "meshery")
    rows = [row for run in runs for row in run.results]
    assert all(tuple(row) == RESULT_COLUMNS for row in rows)
    schema = pa.schema([f for f in RESULTS if f.name not in ("run_id", "run_date")])
    table = pa.Table.from_pylist(rows, schema=schema)
    assert table.num_rows == 2


def test_imported_rows_score_without_resource_classes() -> None:
    runs = import_file(MESHERY / "meshery-results.json", "meshery", slo_p99_ms=5.0, error_budget=0.01)
    frame = pd.DataFrame([{"run_id": "import", **row} for run in runs for row in run.results])
    scored = score_cells(frame)
    assert set(scored["scored_classes"]) == {"network,delivery"}  # compute/memory omitted, no figures
    assert scored["mue_latency_slo"].notna().all()


def test_same_file_twice_gives_the_same_runs_and_ids_without_meshery_id() -> None:
    doc = _results_doc()
    for result in doc:
        del result["meshery_id"]
    data = json.dumps(doc).encode()
    first, second = parse_meshery(data, source="a.json"), parse_meshery(data, source="a.json")
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert all(r.run_id.startswith("meshery-") and len(r.run_id) == len("meshery-") + 16 for r in first)
    assert first[0].results == second[0].results


def test_runner_results_array_gives_repetitions() -> None:
    result = _results_doc()[0]
    entry = result["runner_results"]
    later = copy.deepcopy(entry)
    later["StartTime"] = "2022-03-19T15:35:00-07:00"
    result["runner_results"] = [entry, later]
    (run,) = parse_meshery(json.dumps(result).encode(), source="one.json")
    assert [row["cell_id"] for row in run.results] == ["istio-q40-c2-b3-http-r0", "istio-q40-c2-b3-http-r1"]


def test_an_unreadable_runner_result_is_quarantined_and_the_rest_imported() -> None:
    doc = _results_doc()
    doc[0]["runner_results"]["ActualDuration"] = -5
    runs = parse_meshery(json.dumps(doc).encode(), source="m.json")
    assert runs[0].results == [] and runs[1].results != []
    (bad,) = runs[0].quarantine
    assert bad["stage"] == "parse" and bad["cell_id"] == "istio-unread0"
    assert bad["reasons"] == ["[0].runner_results: fortio: negative count: ActualDuration is -5"]


def test_mesh_names_are_made_file_name_safe() -> None:
    doc = _results_doc()[0]
    doc["mesh"] = "Open Service Mesh"
    (run,) = parse_meshery(json.dumps(doc).encode(), source="m.json")
    assert run.results[0]["mesh"] == "open-service-mesh"
