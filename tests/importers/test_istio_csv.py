"""The istio/tools benchmark CSV becomes one run whose baseline mode pairs with the other modes."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from meshmark_tasks.importers import import_file, parse_istio_csv
from meshmark_tasks.scoring import score_cells

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "istio-csv"
V12 = FIXTURES / "v12perf.csv"
CURRENT = FIXTURES / "istio-proxy-current.csv"
HEADER = "StartTime,ActualDuration,Labels,NumThreads,ActualQPS,p50,p90,p99"


def _one(rows: list[dict[str, object]], cell_id: str) -> dict[str, object]:
    (row,) = [r for r in rows if r["cell_id"] == cell_id]
    return row


def test_istio_tools_own_csv() -> None:
    (run,) = import_file(V12, "istio-csv")
    assert run.run_id == f"istio-csv-{hashlib.sha256(V12.read_bytes()).hexdigest()[:16]}"
    assert run.run_date == date(2019, 6, 5)  # the earliest StartTime
    assert (run.backend, run.quarantine) == ("import:istio-csv", [])
    assert Counter(r["mesh"] for r in run.results) == {
        "serveronly": 7,
        "nomix_serveronly": 7,
        "nomix_both": 7,
        "base": 7,
        "both": 7,
    }
    assert {r["mesh"] for r in run.results if r["is_baseline"]} == {"base"}  # the older name of baseline

    # 2019-06-05T20:47:32.356866182Z,240,cf09382b_qps_1000_c_1_1024_both,1,607,1425,1919,10052,
    #   1255 (mixer avg),1535,85,861 (server proxy avg),1048,98,85 (ingress proxy avg),113,365
    row = _one(run.results, "both-q1000-c1-b1024-http-r0")
    assert row["start_time"] == datetime(2019, 6, 5, 20, 47, 32, 356866, tzinfo=UTC)
    assert (row["duration_s"], row["actual_qps"], row["requested_qps"]) == (240.0, 607.0, 1000.0)
    assert (row["connections"], row["payload_bytes"], row["protocol"]) == (1, 1024, "http")
    assert (row["latency_ms_p50"], row["latency_ms_p90"], row["latency_ms_p99"]) == (1.425, 1.919, 10.052)
    assert row["latency_ms_p75"] is None  # not a column of this file
    assert row["cpu_cores_dataplane"] == 0.946  # (861 + 85) mCPU of the two proxies
    assert row["cpu_cores_controlplane"] == 1.255  # telemetry mixer
    assert row["mem_bytes_dataplane"] is None  # only mem_MB_max_* columns: no mean memory
    assert (row["requests_total"], row["errors_total"]) == (607 * 240, None)
    assert row["end_time"] == datetime(2019, 6, 5, 20, 51, 32, 356866, tzinfo=UTC)


def test_baseline_mode_is_the_baseline_of_the_other_modes_at_its_load_point() -> None:
    (run,) = import_file(V12, "istio-csv", slo_p99_ms=20.0)
    scored = score_cells(pd.DataFrame([{"run_id": run.run_id, **row} for row in run.results]))
    both_c8 = scored.set_index("cell_id").loc["both-q1000-c8-b1024-http-r0"]
    # base at qps 1000, c 8: p50 765 µs; both: 2893 µs.
    assert both_c8["delta_p50_ms"] == pytest.approx(2.893 - 0.765)
    assert both_c8["mue_latency_overhead"] == pytest.approx(0.765 / 2.893)
    base_c8 = scored.set_index("cell_id").loc["base-q1000-c8-b1024-http-r0"]
    assert base_c8["delta_p50_ms"] == 0.0


def test_current_runner_columns_and_repetitions() -> None:
    (run,) = import_file(CURRENT, "istio-csv", run_id="istio-nov-20")
    assert run.run_id == "istio-nov-20"
    rows = run.results
    both = _one(rows, "none_mtls_both-q1000-c8-b1024-http-r1")  # the second run of that load point
    assert both["start_time"] == datetime(2026, 11, 20, 10, 24, 9, 650008, tzinfo=UTC)
    assert both["cpu_cores_dataplane"] == 0.827  # 436 + 391 mCPU; the ingress gateway column is "-"
    assert both["mem_bytes_dataplane"] == (52 + 49) * 2**20
    assert both["latency_ms_p999"] == 5.23
    stats = _one(rows, "v2-stats-nullvm_both-q1000-c8-b1024-http-r0")
    assert (stats["mesh_kind"], stats["is_baseline"], stats["actual_qps"]) == ("istio", False, 998.0)
    assert stats["requests_total"] == 998 * 240
    baseline = _one(rows, "none_mtls_baseline-q1000-c16-b1024-http-r0")
    assert (baseline["mesh_kind"], baseline["is_baseline"]) == ("baseline", True)
    # Each cell's raw output is its CSV line under the header: a file this importer reads again.
    (again,) = parse_istio_csv(run.raw[both["cell_id"]].data, source="raw.csv").results
    assert {k: v for k, v in again.items() if k not in ("cell_id", "repetition")} == {
        k: v for k, v in both.items() if k not in ("cell_id", "repetition")
    }


def _csv(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode()


def test_label_variants() -> None:
    data = _csv(
        "2026-11-20T10:00:00Z,60,grpc_ab12cd34_qps_max_c_4_512_none_mtls_both,4,2000,100,200,300",
        "2026-11-20T10:01:00Z,60,ab12cd34_qps_99999999_c_4_512_linkerd_clientonly,4,2000,100,200,300",
        "2026-11-20T10:02:00Z,60,ab12cd34_qps_0_c_4_512_ingress,4,2000,100,200,300",
    )
    rows = parse_istio_csv(data, source="v.csv").results
    assert [(r["mesh"], r["protocol"], r["requested_qps"], r["mesh_kind"]) for r in rows] == [
        ("none_mtls_both", "grpc", None, "istio"),
        ("linkerd_clientonly", "http", None, "linkerd"),
        ("ingress", "http", None, "istio"),
    ]


def test_run_type_column_gives_the_protocol_and_error_percent_the_errors() -> None:
    data = _csv(
        "2026-11-20T10:00:00Z,10,ab12cd34_qps_100_c_4_512_x_both,4,100,100,200,300,GRPC,2.5",
        header=HEADER + ",RunType,errorPercent",
    )
    (row,) = parse_istio_csv(data, source="v.csv").results
    assert (row["protocol"], row["requests_total"], row["errors_total"]) == ("grpc", 1000, 25)


def test_default_csv_argument_slip_is_accepted() -> None:
    # fortio.py's default --csv lacks a comma after p999; write_csv then fills that column with "-".
    header = HEADER + ",p999cpu_mili_avg_istio_proxy_fortioclient,cpu_mili_avg_istio_proxy_fortioserver"
    data = _csv(
        "2026-11-20T10:00:00Z,10,ab12cd34_qps_100_c_4_512_x_both,4,100,100,200,300,-,350", header=header
    )
    (row,) = parse_istio_csv(data, source="v.csv").results
    assert row["cpu_cores_dataplane"] == 0.35


def test_lines_without_requests_or_with_all_failed_are_quarantined() -> None:
    data = _csv(
        "2026-11-20T10:00:00Z,10,ab12cd34_qps_100_c_4_512_x_both,4,100,100,200,300,100",
        "2026-11-20T10:01:00Z,10,ab12cd34_qps_100_c_4_512_x_baseline,4,0,100,200,300,-",
        "2026-11-20T10:02:00Z,10,ab12cd34_qps_100_c_4_512_x_serveronly,4,100,100,200,300,0",
        header=HEADER + ",errorPercent",
    )
    run = parse_istio_csv(data, source="v.csv")
    assert [r["mesh"] for r in run.results] == ["x_serveronly"]
    assert [(q["cell_id"], q["stage"], q["reasons"]) for q in run.quarantine] == [
        ("x_both-q100-c4-b512-http-r0", "run", ["line 2: all requests failed (errorPercent 100)"]),
        (
            "x_baseline-q100-c4-b512-http-r0",
            "run",
            ["line 3: no request was made (ActualQPS × ActualDuration is 0)"],
        ),
    ]
    assert set(run.raw) == {
        "x_both-q100-c4-b512-http-r0",
        "x_baseline-q100-c4-b512-http-r0",
        "x_serveronly-q100-c4-b512-http-r0",
    }
