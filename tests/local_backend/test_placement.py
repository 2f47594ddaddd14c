"""CPU pinning and real-time scheduling of the testbed, checked in the kernel's own process table.

Real processes throughout: placement is applied between fork and exec and read back with
sched_getaffinity / sched_getscheduler, for every thread. The one-CPU case is a real one: the test
thread restricts its own affinity to one CPU before running a cell, as a 1-CPU container would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import provision, run_cell
from meshmark_tasks.backends.local.processes import ManagedProcesses, Placement, make_realtime, placement_of
from meshmark_tasks.backends.local.settings import TestbedSettings
from meshmark_tasks.matrix import expand_matrix

pytestmark = pytest.mark.testbed

_THREADS = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\ntime.sleep(30)"


def _fifo_permitted() -> bool:
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False).returncode == 0


def _thread_cpus(pid: int) -> list[list[int]]:
    return [sorted(os.sched_getaffinity(int(tid))) for tid in os.listdir(f"/proc/{pid}/task")]


@pytest.fixture
def one_usable_cpu() -> Iterator[int]:
    """This thread (and what it starts) restricted to one CPU, restored afterwards."""
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def test_placement_reaches_every_thread_before_exec(tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    with ManagedProcesses(tmp_path / "pids") as procs:
        managed = procs.spawn(
            "threads",
            [sys.executable, "-c", _THREADS],
            tmp_path / "threads.log",
            placement=Placement(cpus=frozenset({cpu}), realtime_priority=10),
        )
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{managed.pid}/task")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        placement = placement_of(managed.pid)
        assert placement["cpus"] == [cpu]
        assert _thread_cpus(managed.pid) == [[cpu], [cpu]]
        if _fifo_permitted():
            assert placement["scheduling"] == "fifo" and placement["priority"] == 10
        else:  # refused by the kernel: the process runs normally and says so
            assert placement["scheduling"] == "normal"


def test_a_running_process_is_made_real_time_thread_by_thread(tmp_path: Path) -> None:
    with ManagedProcesses(tmp_path / "pids") as procs:
        managed = procs.spawn("threads", [sys.executable, "-c", _THREADS], tmp_path / "threads.log")
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{managed.pid}/task")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert placement_of(managed.pid)["scheduling"] == "normal"
        make_realtime(managed.pid, 10)
        placement = placement_of(managed.pid)
        assert placement["threads"] == 2
        assert placement["scheduling"] == ("fifo" if _fifo_permitted() else "normal")


def test_a_placement_the_kernel_refuses_is_not_fatal(tmp_path: Path) -> None:
    usable = sorted(os.sched_getaffinity(0))
    with ManagedProcesses(tmp_path / "pids") as procs:
        managed = procs.spawn(
            "sleeper",
            [sys.executable, "-c", "import time; time.sleep(30)"],
            tmp_path / "sleeper.log",
            placement=Placement(cpus=frozenset({4095})),  # no such CPU here
        )
        assert managed.exit_code() is None
        assert placement_of(managed.pid)["cpus"] == usable


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs at least two usable CPUs")
def test_cell_runs_loadgen_and_sut_on_disjoint_cpus_and_records_it(
    workdir: Path, tmp_path: Path, profile_factory: Any
) -> None:
    profile = profile_factory(duration_s=2, meshes=[{"name": "sidecar", "kind": "local-sidecar"}])
    cell = expand_matrix(profile)[0]
    provision(profile, workdir)
    before = os.sched_getaffinity(0)
    m = run_cell(profile, cell, workdir, tmp_path / "out", settings=TestbedSettings(cpus="auto"))
    assert m.failure is None, m.failure
    assert os.sched_getaffinity(0) == before  # the orchestrating thread is given back its CPUs
    conditions = m.conditions
    assert conditions is not None
    plan = conditions["cpu_plan"]
    assert plan["loadgen"] and plan["sut"] and not set(plan["loadgen"]) & set(plan["sut"])
    placement = conditions["placement"]
    for component in ("app", "server-sidecar", "client-sidecar"):
        assert placement[component]["cpus"] == plan["sut"], component
    for run in ("loadgen-warmup", "loadgen"):
        assert placement[run]["cpus"] == plan["loadgen"], run
    assert conditions["orchestrator_cpus"] == plan["loadgen"]
    expected = "fifo" if _fifo_permitted() else "normal"
    assert {p["scheduling"] for p in placement.values()} == {expected}
    testbed = json.loads((tmp_path / "out" / f"{cell.cell_id}.testbed.json").read_text())
    assert testbed["conditions"] == conditions
    stored = json.loads((tmp_path / "out" / f"{cell.cell_id}.measurement.json").read_text())
    assert stored["conditions"]["placement"]["app"]["cpus"] == plan["sut"]


def test_on_one_cpu_the_cell_runs_unpinned_and_says_why(
    workdir: Path, tmp_path: Path, profile_factory: Any, one_usable_cpu: int
) -> None:
    profile = profile_factory(duration_s=2, meshes=[{"name": "baseline", "kind": "baseline"}])
    cell = expand_matrix(profile)[0]
    m = run_cell(profile, cell, workdir, tmp_path / "out", settings=TestbedSettings(cpus="auto"))
    assert m.failure is None, m.failure
    assert m.result is not None and m.result.requests_total > 0
    assert m.conditions is not None
    assert m.conditions["cpu_plan"] is None
    assert m.conditions["cpu_plan_reason"] == "not pinned: only 1 usable CPU"
    assert m.conditions["placement"]["app"]["cpus"] == [one_usable_cpu]


def test_closed_model_cells_are_not_run_real_time(
    workdir: Path, tmp_path: Path, profile_factory: Any
) -> None:
    profile = profile_factory(
        duration_s=1,
        warmup_s=0,
        qps=["max"],
        connections=2,
        meshes=[{"name": "baseline", "kind": "baseline"}],
    )
    cell = expand_matrix(profile)[0]
    m = run_cell(profile, cell, workdir, tmp_path / "out", settings=TestbedSettings(scheduling="fifo"))
    assert m.failure is None, m.failure
    assert m.conditions is not None
    assert m.conditions["scheduling"] == "normal (closed-model cell)"
    assert {p["scheduling"] for p in m.conditions["placement"].values()} == {"normal"}
