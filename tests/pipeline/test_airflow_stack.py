"""`make airflow`'s launcher without Airflow: its configuration, and that stop() ends what it started.

Starting the real services is the end-to-end tests' job (tests/e2e/conftest.py starts them with
this module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from meshmark_tasks.pipeline import airflow_stack
from meshmark_tasks.pipeline.airflow_stack import StackError, StackSettings, stack_env

# A stand-in for a component: it starts a child of its own, as the scheduler starts executor workers.
COMPONENT = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)


def test_every_component_reaches_the_api_on_its_port(tmp_path: Path) -> None:
    env = stack_env(StackSettings(home=tmp_path, port=18181, storage_root="/data"))
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18181/execution/"
    assert (
        env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__BASE_URL"] == "http://localhost:18181"
    )
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and env["MESHMARK_STORAGE_ROOT"] == "/data"


def test_secrets_and_the_login_survive_a_restart(tmp_path: Path) -> None:
    first = stack_env(StackSettings(home=tmp_path))
    password = airflow_stack.admin_password(tmp_path)
    again = stack_env(StackSettings(home=tmp_path))
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == again["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert first["AIRFLOW__CORE__FERNET_KEY"] == again["AIRFLOW__CORE__FERNET_KEY"]
    assert airflow_stack.admin_password(tmp_path) == password and len(password) >= 16
    for name in (airflow_stack.SECRETS_FILE, airflow_stack.PASSWORDS_FILE):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name


def test_stop_ends_every_recorded_component_and_what_it_started(tmp_path: Path) -> None:
    processes = {
        name: subprocess.Popen([sys.executable, "-c", COMPONENT], start_new_session=True)
        for name in ("scheduler", "triggerer")
    }
    try:
        airflow_stack._record(tmp_path, processes)
        deadline = time.monotonic() + 20
        while any(not psutil.Process(p.pid).children() for p in processes.values()):
            assert time.monotonic() < deadline, "the stand-ins did not start their children"
            time.sleep(0.05)
        children = [c for p in processes.values() for c in psutil.Process(p.pid).children()]
        assert sorted(airflow_stack.running(tmp_path)) == ["scheduler", "triggerer"]
        assert airflow_stack.stop(tmp_path, grace_s=5) == ["scheduler", "triggerer"]
        for proc in processes.values():
            assert proc.wait(timeout=10) is not None
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert not (tmp_path / airflow_stack.PIDS_FILE).exists()
    finally:
        for proc in processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)


def test_stop_leaves_a_process_that_reused_a_recorded_pid_alone(tmp_path: Path) -> None:
    me = psutil.Process()
    (tmp_path / airflow_stack.PIDS_FILE).write_text(
        json.dumps([{"component": "scheduler", "pid": me.pid, "create_time": me.create_time() - 100}])
    )
    assert airflow_stack.running(tmp_path) == []
    assert airflow_stack.stop(tmp_path, grace_s=1) == []  # and this test process is still here


def test_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is in use"):
            airflow_stack.start(StackSettings(home=tmp_path, port=port))
