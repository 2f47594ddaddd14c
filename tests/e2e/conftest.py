"""A real Airflow 3 deployment on this machine for the end-to-end tests, started as `make airflow` does.

The four Airflow services (api-server, scheduler, dag-processor, triggerer) with the LocalExecutor,
started and stopped by meshmark_tasks.pipeline.airflow_stack (the module behind `make airflow`), on
a private PostgreSQL cluster (the Debian package, scripts/start-postgres.sh; `make airflow
AIRFLOW_ARGS=--postgres`). Everything binds to 127.0.0.1, lives in temporary directories and is
torn down after the session, whatever happened. One deployment serves every test in tests/e2e.

The DAG folder is the repository's dags/ unless MESHMARK_E2E_DAGS_FOLDER points elsewhere (used to
try the harness on a throwaway DAG).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from meshmark_tasks.pipeline import airflow_stack as stack_module
from meshmark_tasks.pipeline.airflow_stack import ADMIN_USER, COMPONENTS, RunningStack, StackSettings

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCRIPTS = REPO / "scripts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 1.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (requests.RequestException, OSError) as exc:  # service not up yet
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what} (last error: {last_error})")


def format_log_records(records: list[Any]) -> list[str]:
    """Structured task-log records (as the logs endpoint returns them) as readable lines."""
    lines: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            lines.append(str(record))
            continue
        lines.append(f"{record.get('timestamp', '')} {record.get('level', '')} {record.get('event', '')}")
        for error in record.get("error_detail") or []:
            frames = error.get("frames") or []
            where = " <- ".join(f"{f['filename']}:{f['lineno']}" for f in reversed(frames[-4:]))
            lines.append(f"    {error.get('exc_type')}: {error.get('exc_value')} at {where}")
    return lines


@dataclass
class AirflowStack:
    """Handles to a running deployment: its REST API, its directories and its processes."""

    running: RunningStack
    storage_root: Path
    password: str
    _token: str | None = None
    wait_until = staticmethod(wait_until)

    @property
    def home(self) -> Path:
        return self.running.settings.home

    @property
    def dags_folder(self) -> Path:
        return self.running.settings.dags_folder

    @property
    def api_url(self) -> str:
        return self.running.settings.url

    @property
    def env(self) -> dict[str, str]:
        return self.running.env

    @property
    def logs_dir(self) -> Path:
        return self.running.logs_dir

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return self.running.processes

    def token(self) -> str:
        """A JWT from the simple auth manager, as the UI's login form gets one."""
        if self._token is None:
            response = requests.post(
                f"{self.api_url}/auth/token",
                json={"username": ADMIN_USER, "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def airflow_cli(self, *args: str, timeout_s: float = 300) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def check_processes_alive(self) -> None:
        try:
            self.running.check_alive()
        except stack_module.StackError as exc:
            raise AssertionError(str(exc)) from None

    def log_tail(self, component: str, lines: int = 80) -> str:
        return self.running.log_tail(component, lines)

    def stop(self) -> None:
        self.running.stop()

    # -- DAG helpers ------------------------------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout_s: float = 300) -> dict[str, Any]:
        def parsed() -> dict[str, Any] | None:
            self.check_processes_alive()
            response = self.api("GET", f"/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        result: dict[str, Any] = wait_until(f"DAG {dag_id} to be parsed", parsed, timeout_s, 2.0)
        return result

    def import_errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.api_json("GET", "/importErrors")["import_errors"]
        return errors

    def unpause(self, dag_id: str) -> None:
        self.api_json("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Trigger a run with a conf, as the UI's trigger form posts it."""
        body = {"logical_date": datetime.now(UTC).isoformat(), "conf": conf, "note": "meshmark e2e test"}
        run: dict[str, Any] = self.api_json("POST", f"/dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float) -> str:
        def finished() -> str | None:
            self.check_processes_alive()
            state = str(self.api_json("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])
            return state if state in ("success", "failed") else None

        state: str = wait_until(f"run {run_id} of {dag_id} to finish", finished, timeout_s, 3.0)
        return state

    def describe_run(self, dag_id: str, run_id: str) -> str:
        """Task states, plus the logs of every task that did not succeed: the failure report."""
        out: list[str] = [f"== task instances of {dag_id} / {run_id}"]
        tis = self.api_json("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        for ti in tis["task_instances"]:
            out.append(f"  {ti['task_id']}[{ti['map_index']}] try {ti['try_number']}: {ti['state']}")
        for ti in tis["task_instances"]:
            if ti["state"] in ("success", "skipped") or not ti["try_number"]:
                continue
            params: dict[str, Any] = {"full_content": "true"}
            if ti["map_index"] >= 0:
                params["map_index"] = ti["map_index"]
            response = self.api(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
                params=params,
            )
            out.append(f"== log of {ti['task_id']}[{ti['map_index']}] ({response.status_code})")
            if response.status_code == 200:
                out.extend(format_log_records(response.json().get("content", []))[-60:])
            else:
                out.append(response.text[:2000])
        return "\n".join(out)

    def describe_components(self) -> str:
        return "\n".join(f"== airflow {name} (last lines)\n{self.log_tail(name)}" for name in self.processes)


def _ensure_installed(script: str) -> None:
    subprocess.run(["bash", str(SCRIPTS / script)], check=True, stdout=sys.stderr)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL cluster (Debian package) on a free loopback port, with db/user airflow."""
    _ensure_installed("install-postgres.sh")
    # Not under pytest's tmp_path: that is private to root and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="meshmark-e2e-pg-"))
    try:
        started = subprocess.run(
            ["bash", str(SCRIPTS / "start-postgres.sh"), str(base)],
            check=True,
            capture_output=True,
            text=True,
        )
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop-postgres.sh"), str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_stack(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[AirflowStack]:
    """Migrated database, the load-test pool, and the four Airflow services up and healthy."""
    base = Path(tempfile.mkdtemp(prefix="meshmark-e2e-airflow-"))
    home, storage_root = base / "airflow-home", base / "storage"
    settings = StackSettings(
        home=home,
        port=free_port(),
        public_host="127.0.0.1",
        sql_alchemy_conn=postgres_url,
        storage_root=str(storage_root),
        dags_folder=Path(os.environ.get("MESHMARK_E2E_DAGS_FOLDER") or REPO / "dags"),
        extra_env={
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # Unpausing the nightly DAG must not bring a scheduled full-profile run next to ours
            # (the DAG does not catch up, but a slot could fall inside the test): triggered runs
            # only; the test fails loudly if a scheduled run ever appears.
            "MESHMARK_NIGHTLY_CRON": "off",
            "MESHMARK_PROFILES_DIR": str(REPO / "profiles"),
        },
    )
    failed_before = request.session.testsfailed
    t0 = time.monotonic()
    stack: AirflowStack | None = None

    def progress(what: str) -> None:
        print(f"[e2e {time.monotonic() - t0:6.1f} s] {what}", file=sys.stderr)

    try:
        running = stack_module.start(settings)
        stack = AirflowStack(running, storage_root, stack_module.admin_password(home))
        progress(f"database migrated, pool created, {', '.join(COMPONENTS)} started")
        wait_until("all Airflow components to report healthy", running.healthy, timeout_s=300, interval_s=2)
        progress(f"{', '.join(COMPONENTS)} healthy at {stack.api_url}")
        yield stack
    except BaseException:
        if stack is not None:
            print(stack.describe_components(), file=sys.stderr)
        raise
    finally:
        stack_module.stop(home)
        if request.session.testsfailed > failed_before:
            # Keep the evidence where CI leaves it: var/ of the checkout (gitignored).
            kept = REPO / "var" / "e2e-logs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            shutil.copytree(home, kept, ignore=shutil.ignore_patterns("*.sock"), dirs_exist_ok=True)
            print(f"Airflow home with component and task logs copied to {kept}", file=sys.stderr)
        if os.environ.get("MESHMARK_E2E_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
