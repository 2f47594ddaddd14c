"""A cell whose sidecar dies, and a run interrupted by the operator: clear failure, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from meshmark_tasks.backends.local import run_cell
from meshmark_tasks.backends.local.ports import allocate_ports
from meshmark_tasks.backends.local.processes import processes_mentioning
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.measurement import CellMeasurement

pytestmark = pytest.mark.testbed

LONG_CELL_S = 40  # far longer than the tests below wait: finishing early proves nothing hung


def _wait_for(path: Path, timeout_s: float, command: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if command is not None and command.poll() is not None:
            err = command.stderr.read().decode() if command.stderr else ""
            pytest.fail(f"command exited early ({command.returncode}): {err}")
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.05)


def _pid(pidfile: Path) -> int:
    return int(pidfile.read_text().split()[0])


def test_killed_sidecar_fails_the_cell_and_leaves_nothing(
    workdir: Path, tmp_path: Path, profile_factory: Any
) -> None:
    profile = profile_factory(
        meshes=[{"name": "sidecar", "kind": "local-sidecar", "network_functions": ["mtls"]}],
        duration_s=LONG_CELL_S,
        warmup_s=0,
    )
    (cell,) = expand_matrix(profile)
    outcome: list[CellMeasurement] = []
    runner = threading.Thread(
        target=lambda: outcome.append(run_cell(profile, cell, workdir, tmp_path / "out"))
    )
    runner.start()
    pids = workdir / "pids" / cell.cell_id
    _wait_for(pids / "loadgen.pid", 30)  # the measured load is running
    time.sleep(1)
    victim = _pid(pids / "client-sidecar.pid")
    component_pids = [_pid(pids / f"{name}.pid") for name in ("app", "server-sidecar", "loadgen")]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    runner.join(timeout=LONG_CELL_S / 2)
    assert not runner.is_alive(), "run_cell hung after a sidecar died"
    assert time.monotonic() - killed_at < LONG_CELL_S / 2

    (m,) = outcome
    assert m.result is None and m.resources is None
    assert m.failure is not None
    assert (
        cell.cell_id in m.failure and "client-sidecar exited with code -9 during the load test" in m.failure
    )
    stored = json.loads((tmp_path / "out" / f"{cell.cell_id}.measurement.json").read_text())
    assert stored["failure"] == m.failure
    # The process table: none of the cell's processes survive, under any name.
    assert not [
        pid
        for pid in [victim, *component_pids]
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert processes_mentioning(str(workdir)) == []
    assert list(pids.glob("*.pid")) == []


def test_app_that_cannot_start_fails_clearly(
    workdir: Path, tmp_path: Path, profile_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_factory(meshes=[{"name": "baseline", "kind": "baseline"}], duration_s=2, warmup_s=0)
    (cell,) = expand_matrix(profile)
    # Someone else holds the port the app was given (bound, not listening): the app cannot bind.
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    taken = squatter.getsockname()[1]
    monkeypatch.setattr(
        "meshmark_tasks.backends.local.runner.allocate_ports", lambda n: [taken, *allocate_ports(n - 1)]
    )
    try:
        m = run_cell(profile, cell, workdir, tmp_path / "out")
    finally:
        squatter.close()
    assert m.failure is not None and f"app exited with code 1 before listening on port {taken}" in m.failure
    assert "address already in use" in m.failure.lower()


def test_interrupted_run_cell_command_tears_down(tmp_path: Path, repo_root: Path) -> None:
    profile_path = tmp_path / "profile.yaml"
    profile_path.write_text(
        "name: interrupt\n"
        "meshes: [{name: sidecar, kind: local-sidecar}]\n"
        "load_generator: {tool: k6}\n"
        "matrix: {qps: [100], connections: [4], payload_bytes: [64]}\n"
        f"duration_s: {LONG_CELL_S}\nwarmup_s: 0\nslo: {{p99_ms: 50}}\n"
    )
    workdir = tmp_path / "run"
    cell_id = "sidecar-q100-c4-b64-http-r0"
    command = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "meshmark"),
            "run-cell",
            "--profile",
            str(profile_path),
            "--cell",
            cell_id,
            "--out",
            str(tmp_path / "out"),
            "--workdir",
            str(workdir),
        ],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(workdir / "pids" / cell_id / "loadgen.pid", 60, command)
        assert len(processes_mentioning(str(workdir))) >= 4  # app, two sidecars, k6
        command.send_signal(signal.SIGINT)
        command.wait(timeout=LONG_CELL_S / 2)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 130
    assert b"interrupted; testbed torn down" in (command.stderr.read() if command.stderr else b"")
    assert processes_mentioning(str(workdir)) == []
    assert list((workdir / "pids").rglob("*.pid")) == []
