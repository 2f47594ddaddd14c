"""`meshmark report`, the trend-report DAG file, its task body and the webhook notifier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from meshmark_tasks.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_cli_report_prints_json_and_exit_codes(regression_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["report", "--data", str(regression_root), "--out", str(out), "--days", "30"])
    assert code == 0  # regressions alone do not fail without --fail-on-regression
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["latest_dir"] == str(out / "latest")
    assert (out / "latest" / "index.html").exists()
    assert len(summary["regressions"]) == 9
    assert "report written to" in captured.err

    assert main(["report", "--data", str(regression_root), "--out", str(out), "--fail-on-regression"]) == 1
    capsys.readouterr()
    # only the stable mesh: no regression, exit 0 even with --fail-on-regression
    code = main(
        [
            "report",
            "--data",
            str(regression_root),
            "--out",
            str(tmp_path / "o2"),
            "--mesh",
            "sidecar-mtls",
            "--fail-on-regression",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["regressions"] == []
    # --history-runs: the runs whose change points are looked for; 4 leaves 3 earlier nights < 5
    short = ["report", "--data", str(regression_root), "--out", str(tmp_path / "o3"), "--history-runs", "4"]
    assert main([*short, "--fail-on-regression"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["regressions"] == [] and summary["counts"]["insufficient_history"] > 0


def test_cli_bad_input_exits_2_naming_the_root(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "nothing-here"
    assert main(["report", "--data", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert str(empty) in capsys.readouterr().err
    assert main(["report", "--data", str(empty), "--days", "0"]) == 2
    assert "--days" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trend_dag(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-home")))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "meshmark_trend_report.py"))
    assert bag.import_errors == {}
    return bag.dags["meshmark_trend_report"]


def test_dag_schedule_params_and_task(trend_dag) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    from meshmark_tasks.assets import RESULTS_ASSET

    timetable = trend_dag.timetable
    # the serialized-side timetable mirrors the SDK one; check both the kind and the wiring
    assert type(timetable).__name__ == AssetOrTimeSchedule.__name__
    assert timetable.asset_condition == RESULTS_ASSET
    assert timetable.timetable.expression == "30 6 * * *"
    assert trend_dag.catchup is False
    params = trend_dag.params
    assert params["days"] == 30 and params["meshes"] == [] and params["on_regression"] == "fail"
    assert params.get_param("on_regression").schema["enum"] == ["fail", "notify", "ignore"]
    assert trend_dag.task_ids == ["build_trend_report"]


def test_the_report_dag_is_active_from_the_start_and_never_catches_up(
    trend_dag, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.timetables.trigger as trigger
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction
    from pendulum import datetime as utc_datetime

    # Switched on 10 minutes after a slot: Airflow's default would still start that slot's run.
    now = utc_datetime(2026, 12, 1, 6, 40)
    monkeypatch.setattr(trigger, "utcnow", lambda: now)

    # Paused, it would drop the report after every nightly run without a word.
    assert trend_dag.is_paused_upon_creation is False
    assert trend_dag.start_date is None
    info = coerce_to_core_timetable(trend_dag.timetable.timetable).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    assert info is not None and info.run_after == utc_datetime(
        2026, 12, 2, 6, 30
    )  # today's 06:30, if past, is not run
    assert "reports/latest/" in trend_dag.doc_md and "/meshmark/report" in trend_dag.doc_md


def test_dag_file_has_no_heavy_imports_at_parse_time(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "print([m for m in ('pandas', 'duckdb', 'plotly', 'pyarrow') if m in sys.modules])"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / "meshmark_trend_report.py")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_task_fails_on_regression(regression_root: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from meshmark_tasks.reporting.dag_task import run_trend_report

    with pytest.raises(AirflowFailException, match="9 regression"):
        run_trend_report({"days": 30, "meshes": [], "on_regression": "fail"}, root=str(regression_root))
    assert (regression_root / "reports" / "latest" / "index.html").exists()  # published before failing
    summary = run_trend_report(
        {"days": 30, "meshes": ["sidecar-mtls"], "on_regression": "fail"}, root=str(regression_root)
    )
    assert summary["regressions"] == []


def test_task_skips_without_history(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from meshmark_tasks.reporting.dag_task import run_trend_report

    with pytest.raises(AirflowSkipException, match=str(tmp_path)):
        run_trend_report({"days": 30}, root=str(tmp_path))


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_notify_posts_to_the_webhook_connection(regression_root: Path, monkeypatch) -> None:
    from meshmark_tasks.reporting.dag_task import run_trend_report

    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/meshmark"
        monkeypatch.setenv(
            "AIRFLOW_CONN_MESHMARK_TEST_HOOK", json.dumps({"conn_type": "http", "extra": {"url": url}})
        )
        params = {"days": 30, "meshes": [], "on_regression": "notify"}
        summary = run_trend_report(params, root=str(regression_root), conn_id="meshmark_test_hook")
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert summary["notified"] == "meshmark_test_hook"
    assert len(_Recorder.received) == 1
    payload = _Recorder.received[0]
    assert payload["text"].startswith("MeshMark: 9 regression(s) in run scheduled__2025-01-10")
    assert "sidecar @ 100 qps" in payload["text"]
    assert len(payload["meshmark"]["regressions"]) == 9


def test_notify_without_connection_only_logs(regression_root: Path) -> None:
    import logging

    from meshmark_tasks.reporting import dag_task

    # A handler on the module's own logger: caplog sees nothing once Airflow has routed the
    # standard logging through structlog, which depends on which tests ran before.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    dag_task.log.addHandler(handler)
    try:
        params = {"days": 30, "meshes": [], "on_regression": "notify"}
        summary = dag_task.run_trend_report(
            params, root=str(regression_root), conn_id="meshmark_not_configured"
        )
    finally:
        dag_task.log.removeHandler(handler)
    assert summary["notified"] is None
    assert any("no connection meshmark_not_configured configured" in r.getMessage() for r in records)
