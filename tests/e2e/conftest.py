"""A real Airflow 3 deployment on this machine for the end-to-end tests.

PostgreSQL (the Debian package, a private cluster started by scripts/start-postgres.sh) plus the four
Airflow services started as separate processes, the way the docker-compose stack runs them:
api-server, scheduler, dag-processor and triggerer, with the LocalExecutor. Everything binds to
127.0.0.1, lives in temporary directories and is torn down after the module, whatever happened.

The DAG folder is the repository's dags/ unless MESHMARK_E2E_DAGS_FOLDER points elsewhere (used to
try the harness on a throwaway DAG).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCRIPTS = REPO / "scripts"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# The pool the nightly DAG's load-test tasks run in: one slot, so load tests never overlap.
LOADTEST_POOL = "meshmark_loadtest"
ADMIN_USER = "admin"


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

    home: Path
    storage_root: Path
    dags_folder: Path
    api_url: str
    env: dict[str, str]
    password: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str | None = None
    wait_until = staticmethod(wait_until)

    @property
    def logs_dir(self) -> Path:
        return self.home / "component-logs"

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

    def start(self, component: str) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = (self.logs_dir / f"{component}.log").open("wb")
        # Own session per component, so teardown can kill the whole group (LocalExecutor workers,
        # task supervisors, gunicorn/uvicorn children) and nothing outlives the test.
        self.processes[component] = subprocess.Popen(
            [str(VENV_BIN / "airflow"), component],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def check_processes_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, component: str, lines: int = 80) -> str:
        path = self.logs_dir / f"{component}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The leader may be gone while its children linger: kill the group unconditionally.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

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


def airflow_env(
    home: Path, dags_folder: Path, storage_root: Path, sql_url: str, api_port: int
) -> dict[str, str]:
    """The configuration of every component, as AIRFLOW__SECTION__KEY variables (no airflow.cfg edits)."""
    from cryptography.fernet import Fernet

    api_url = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            # Task processes reach the Execution API of our api-server, not the default :8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            # Shared by every component: the api-server verifies the tokens the scheduler issues.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Notice new DAG files quickly; the defaults are tuned for big deployments.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "MESHMARK_STORAGE_ROOT": str(storage_root),
            # With catchup=False, unpausing schedules the latest past cron slot at once: a full-profile
            # run that max_active_runs=1 would put ahead of ours. "off" = triggered runs only; the
            # test fails loudly if a scheduled run ever appears.
            "MESHMARK_NIGHTLY_CRON": "off",
            "MESHMARK_PROFILES_DIR": str(REPO / "profiles"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def airflow_stack(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[AirflowStack]:
    """Migrated database, the load-test pool, and the four Airflow services up and healthy."""
    base = Path(tempfile.mkdtemp(prefix="meshmark-e2e-airflow-"))
    home, storage_root = base / "airflow-home", base / "storage"
    home.mkdir()
    dags_folder = Path(os.environ.get("MESHMARK_E2E_DAGS_FOLDER") or REPO / "dags")
    port = free_port()
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({ADMIN_USER: password}))
    stack = AirflowStack(
        home=home,
        storage_root=storage_root,
        dags_folder=dags_folder,
        api_url=f"http://127.0.0.1:{port}",
        env=airflow_env(home, dags_folder, storage_root, postgres_url, port),
        password=password,
    )
    failed_before = request.session.testsfailed
    t0 = time.monotonic()

    def progress(what: str) -> None:
        print(f"[e2e {time.monotonic() - t0:6.1f} s] {what}", file=sys.stderr)

    try:
        stack.airflow_cli("db", "migrate")
        progress("database migrated")
        stack.airflow_cli("pools", "set", LOADTEST_POOL, "1", "meshmark load tests, one at a time")
        progress(f"pool {LOADTEST_POOL} created")
        for component in COMPONENTS:
            stack.start(component)

        def healthy() -> bool:
            stack.check_processes_alive()
            health = requests.get(f"{stack.api_url}/api/v2/monitor/health", timeout=10).json()
            return all(health.get(part, {}).get("status") == "healthy" for part in health)

        wait_until("all Airflow components to report healthy", healthy, timeout_s=300, interval_s=2)
        progress(f"{', '.join(COMPONENTS)} healthy at {stack.api_url}")
        yield stack
    except BaseException:
        print(stack.describe_components(), file=sys.stderr)
        raise
    finally:
        stack.stop()
        if request.session.testsfailed > failed_before:
            # Keep the evidence where CI leaves it: var/ of the checkout (gitignored).
            kept = REPO / "var" / "e2e-logs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            shutil.copytree(stack.home, kept, ignore=shutil.ignore_patterns("*.sock"), dirs_exist_ok=True)
            print(f"Airflow home with component and task logs copied to {kept}", file=sys.stderr)
        if os.environ.get("MESHMARK_E2E_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
