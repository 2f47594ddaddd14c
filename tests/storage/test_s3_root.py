"""An s3:// storage root end to end, against a local S3-compatible server.

With several Airflow workers (Celery or Kubernetes executor) the storage root is object storage.
This starts moto's S3 server on a free loopback port (the way Airflow's own amazon provider tests
S3), reaches it only through s3fs with credentials from an Airflow connection (env var
AIRFLOW_CONN_*, named by MESHMARK_STORAGE_CONN_ID), and runs the real path: a nightly run's
finalize (validation, scoring, the four tables, Data Docs, run summary), DuckDB reading the tables
through the store, and the trend report published under the root.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

KEY, SECRET = "meshmark-test-key", "meshmark-test-secret"
RUN = "scheduled__2026-11-24T02:00:00+00:00"
DAY = date(2026, 11, 24)


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_root(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import s3fs

    # Nothing but the connection carries credentials: no AWS_* variables, no config files.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    conn = {
        "conn_type": "aws",
        "login": KEY,
        "password": SECRET,
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MESHMARK_S3", json.dumps(conn))
    monkeypatch.setenv("MESHMARK_STORAGE_CONN_ID", "meshmark_s3")
    # moto keeps its state per process: a bucket of its own for each test.
    bucket = f"meshmark-{uuid.uuid4().hex[:12]}"
    root = f"s3://{bucket}/nightly"
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", root)
    endpoint = {"endpoint_url": s3_endpoint}
    s3fs.S3FileSystem(key=KEY, secret=SECRET, client_kwargs=endpoint, skip_instance_cache=True).mkdir(bucket)
    return root


def _outputs(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from meshmark_tasks.matrix import Cell
    from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
    from meshmark_tasks.result import NormalizedResult

    outputs = []
    for data in cells:
        cell = Cell.model_validate(data)
        mesh = 0.0 if cell.is_baseline else 0.3
        result = NormalizedResult(
            load_generator="k6",
            load_generator_version="1.1.0",
            requested_qps=100,
            actual_qps=99.6,
            connections=8,
            duration_s=5,
            requests_total=498,
            errors_total=0,
            latency_ms_p50=1.0 + mesh,
            latency_ms_p90=1.5 + mesh,
            latency_ms_p99=2.0 + mesh,
            start_time=datetime(2026, 11, 24, 2, tzinfo=UTC),
            end_time=datetime(2026, 11, 24, 2, 0, 5, tzinfo=UTC),
        )
        usage = ResourceUsage(0.1, mesh, 0.0, 60e6, 40e6 if mesh else 0.0, 0.0)
        outputs.append({"measurement": CellMeasurement(cell, result, usage, None, "k6").to_json_dict()})
    return outputs


def test_a_run_on_an_s3_root_is_written_read_with_duckdb_and_reported(s3_root: str) -> None:
    from meshmark_tasks.pipeline.nightly import finalize_run, plan_run
    from meshmark_tasks.reporting.history import duckdb_connection
    from meshmark_tasks.reporting.report import build_report
    from meshmark_tasks.storage import DatasetStore

    plan = plan_run({"qps": [100], "duration_s": 5})
    assert plan["storage_root"] == s3_root and plan["storage_conn_id"] == "meshmark_s3"
    summary = finalize_run(plan, _outputs(plan["cells"]), run_id=RUN, run_date=DAY)
    assert summary["data_quality"] == "passed"
    assert summary["tables"]["meshmark"].startswith(f"{s3_root}/meshmark/run_date=2026-11-24/part-")
    assert (
        summary["data_docs"] == f"{s3_root}/data_docs/scheduled__2026-11-24T02~3A00~3A00~2B00~3A00/index.html"
    )

    store = DatasetStore(s3_root)
    assert store.run_ids("meshmark") == [RUN]
    assert store.read_run_summary(RUN)["cells_scored"] == 3
    con = duckdb_connection()
    try:
        source = store.duckdb_source(con, "meshmark_config")
        rows = con.sql(f"SELECT mesh, run_date, meshmark_mean FROM {source} ORDER BY mesh").fetchall()
    finally:
        con.close()
    assert [(mesh, day) for mesh, day, _ in rows] == [
        ("baseline", DAY),
        ("sidecar", DAY),
        ("sidecar-mtls", DAY),
    ]
    assert rows[0][2] > rows[1][2]  # the sidecars cost latency and CPU

    report = build_report(s3_root)
    assert report.html_path == f"{s3_root}/reports/2026-11-24/index.html"
    fs, base = store.filesystem()
    html = fs.open_input_stream(f"{base}/reports/latest/index.html").read().decode()
    assert RUN in html and "data_docs" in html  # links the run's Data Docs on the same root


def test_a_missing_connection_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshmark_tasks.errors import StoreError
    from meshmark_tasks.storage import DatasetStore

    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    with pytest.raises(StoreError, match="storage connection 'no_such_conn'"):
        DatasetStore("s3://bucket/root", conn_id="no_such_conn")
