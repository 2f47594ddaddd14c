"""Killing `meshmark nightly` stops the whole run: nothing of it keeps running, nothing is left behind.

Real runs, killed for real while a cell's testbed (app, Caddy sidecars, k6) is up: SIGKILL of the
command, SIGKILL of its process group, SIGTERM, Ctrl-C (SIGINT). Within a few seconds no process
of the run remains; a signal the run can handle also removes its folder, and what a SIGKILL of
the whole group left (the folder, the DAG run `running`) is reaped by the next run, which succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from meshmark_tasks.pipeline.lifecycle import RUN_DIR_PREFIX

REPO = Path(__file__).resolve().parents[2]
STOP_WITHIN_S = 10.0

pytestmark = [pytest.mark.testbed, pytest.mark.slow]


def _start(tmp: Path, *extra: str, duration_s: str = "60", cwd: Path = REPO) -> subprocess.Popen[bytes]:
    (tmp / "tmp").mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "meshmark_tasks.cli", "nightly", "--meshes", "sidecar", "--qps", "100"]
    cmd += ["--connections", "2", "--duration-s", duration_s, *extra]
    cmd += ["--storage-root", str(tmp / "data"), "--airflow-home", str(tmp / "airflow")]
    log = (tmp / "nightly.log").open("ab")
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(tmp / "tmp")},
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own group, as a shell job is
    )


def _run_processes(tmp: Path, command: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """Every live process of the run: the command's descendants and anything naming its folders."""
    found: dict[int, psutil.Process] = {}
    try:
        for proc in psutil.Process(command.pid).children(recursive=True):
            found[proc.pid] = proc
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(str(tmp) in part for part in proc.info.get("cmdline") or []):
            found[proc.pid] = proc
    alive = []
    for proc in found.values():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_for_testbed(tmp: Path, command: subprocess.Popen[bytes]) -> list[psutil.Process]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert command.poll() is None, (tmp / "nightly.log").read_text()[-4000:]
        procs = _run_processes(tmp, command)
        names = {p.name() for p in procs if p.is_running()}
        if {"caddy", "k6"} <= names:
            return procs
        time.sleep(0.5)
    raise AssertionError(f"the testbed did not start: {(tmp / 'nightly.log').read_text()[-4000:]}")


def _gone_within(procs: list[psutil.Process], tmp: Path, command: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STOP_WITHIN_S:
        left = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        left += [p for p in _run_processes(tmp, command) if p not in left]
        if not left:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"still running {STOP_WITHIN_S} s after the kill: {[p.cmdline() for p in left]}")


def _run_folders(tmp: Path) -> list[Path]:
    return sorted((tmp / "tmp").glob(f"{RUN_DIR_PREFIX}*"))


@pytest.mark.parametrize(
    ("target", "sig", "exit_code"),
    [
        ("command", signal.SIGKILL, -signal.SIGKILL),
        ("command", signal.SIGTERM, 128 + signal.SIGTERM),
        ("command", signal.SIGINT, 130),
        ("group", signal.SIGKILL, -signal.SIGKILL),  # the run is in a session of its own: it cleans up
    ],
)
def test_a_signalled_command_stops_its_run_and_removes_its_files(
    tmp_path: Path, target: str, sig: int, exit_code: int
) -> None:
    command = _start(tmp_path)
    procs = _wait_for_testbed(tmp_path, command)
    if target == "group":
        os.killpg(command.pid, sig)
    else:
        os.kill(command.pid, sig)
    seconds = _gone_within(procs, tmp_path, command)
    assert command.wait(timeout=30) == exit_code
    print(f"{signal.Signals(sig).name} of the {target}: every process of the run gone {seconds:.1f} s later")
    deadline = time.monotonic() + 5
    while _run_folders(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _run_folders(tmp_path) == []
    if sig == signal.SIGINT:
        lines = (tmp_path / "nightly.log").read_text().splitlines()
        assert "Traceback" not in "\n".join(lines)


def test_a_killed_run_process_leaves_nothing_running_and_the_next_run_reaps_the_rest(tmp_path: Path) -> None:
    """SIGKILL of the command and of the process running the DAG (say, `kill -9` of every meshmark
    process): no handler runs anywhere; the testbed dies with its parent (PR_SET_PDEATHSIG)."""
    command = _start(tmp_path)
    procs = _wait_for_testbed(tmp_path, command)
    (run_process,) = [
        p for p in psutil.Process(command.pid).children() if "airflow_local" in " ".join(p.cmdline())
    ]
    run_process.kill()
    command.kill()
    seconds = _gone_within(procs, tmp_path, command)
    command.wait(timeout=30)
    print(f"SIGKILL of the run process and the command: all gone {seconds:.1f} s after the signal")
    (left,) = _run_folders(tmp_path)  # nothing could remove it

    # ... from another folder, with a profile file alone in its folder (issue 13: `--profile
    # /dir/x.yaml` once needed local-demo.yaml beside it)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    profile = elsewhere / "my-profile.yaml"
    profile.write_text(
        (REPO / "profiles" / "local-demo.yaml").read_text().replace("name: local-demo", "name: my-profile")
    )
    again = _start(tmp_path, "--meshes", "baseline", "--profile", profile.name, duration_s="2", cwd=elsewhere)
    assert again.wait(timeout=600) == 0, (tmp_path / "nightly.log").read_text()[-4000:]
    log = (tmp_path / "nightly.log").read_text()
    assert "was left running by a killed command: marked failed" in log
    assert not left.exists() and _run_folders(tmp_path) == []
    from meshmark_tasks.storage import DatasetStore

    (run,) = [r for r in DatasetStore(str(tmp_path / "data")).read("runs").to_pylist()]
    assert (run["profile"], run["data_quality"]) == ("my-profile", "passed")
