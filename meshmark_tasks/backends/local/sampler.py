"""CPU and memory of each testbed component over the measured window.

CPU is read at the window's edges, start() and stop(): the growth of each component's CPU time
(all its threads, and any child processes) over the window. A component's own CPU time comes from
the kernel's per-process CPU clock (clock_gettime on the process's CPU-time clock id: nanoseconds,
exactly what the scheduler accounted); psutil's user + system times, which /proc reports in 10 ms
clock ticks (±1 % of a 6 s window at 0.2 cores, per process), are the fallback and are recorded
beside it (`cpu_seconds_ticks`) for comparison. Children are read with psutil.

Memory is the mean resident set size of samples a background thread takes every `interval_s`
between start() and stop(), so warmup and start-up are not counted. A process that dies keeps the
CPU it used until its last sample; the runner reports such a cell as failed anyway.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


@dataclass(frozen=True)
class ComponentUsage:
    name: str
    role: str  # "app" or "dataplane"
    cpu_seconds: float
    cpu_cores: float  # cpu_seconds over the sampler's wall-clock window
    mem_bytes_mean: float
    samples: int
    cpu_seconds_ticks: float  # the same from psutil's tick-resolution times, for comparison


@dataclass
class _Tracked:
    name: str
    role: str
    process: psutil.Process
    first_cpu: dict[int, tuple[float, float]] = field(
        default_factory=dict
    )  # pid -> (clock, ticks) at first sight
    last_cpu: dict[int, tuple[float, float]] = field(default_factory=dict)
    rss_samples: list[float] = field(default_factory=list)


def _process_cpu_clock(pid: int) -> int:
    # The kernel's CPU-time clock of a whole process (MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)).
    return ((~pid) << 3) | 2


def _tick_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _cpu_seconds(proc: psutil.Process) -> tuple[float, float]:
    """(precise CPU seconds, tick-resolution CPU seconds) of one process, all its threads."""
    ticks = _tick_seconds(proc)
    if os.name == "posix":
        with contextlib.suppress(OSError):
            return time.clock_gettime(_process_cpu_clock(proc.pid)), ticks
    return ticks, ticks


class ResourceSampler:
    """Samples named processes between start() and stop(); stop() returns their usage."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._tracked: list[_Tracked] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t_start = 0.0
        self._t_start_wall = 0.0
        self._t_stop = 0.0
        self._machine_start: Any = None
        self._machine_stop: Any = None

    def add(self, name: str, role: str, pid: int) -> None:
        if self._thread is not None:
            raise RuntimeError("add components before start()")
        self._tracked.append(_Tracked(name, role, psutil.Process(pid)))

    def _sample(self, started: float) -> None:
        for tracked in self._tracked:
            members = [tracked.process]
            with contextlib.suppress(psutil.Error):
                members += tracked.process.children(recursive=True)
            rss = 0.0
            seen = False
            for proc in members:
                try:
                    with proc.oneshot():
                        cpu = _cpu_seconds(proc)
                        rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                seen = True
                if proc.pid not in tracked.first_cpu:
                    # A child born inside the window counts from zero; one alive at start from now.
                    born_inside = False
                    with contextlib.suppress(psutil.Error):
                        born_inside = proc.create_time() > started
                    tracked.first_cpu[proc.pid] = (0.0, 0.0) if born_inside else cpu
                tracked.last_cpu[proc.pid] = cpu
            if seen:
                tracked.rss_samples.append(rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(self._t_start_wall)

    def start(self) -> None:
        self._t_start_wall = time.time()
        self._t_start = time.monotonic()
        self._machine_start = psutil.cpu_times()
        self._sample(self._t_start_wall)
        self._thread = threading.Thread(target=self._loop, name="meshmark-resource-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[ComponentUsage]:
        if self._thread is None:
            raise RuntimeError("stop() before start()")
        self._stop.set()
        self._thread.join()
        self._sample(self._t_start_wall)
        self._t_stop = time.monotonic()
        self._machine_stop = psutil.cpu_times()
        window = max(self._t_stop - self._t_start, 1e-9)
        usage = []
        for tracked in self._tracked:
            cpu = sum(tracked.last_cpu[pid][0] - tracked.first_cpu[pid][0] for pid in tracked.last_cpu)
            ticks = sum(tracked.last_cpu[pid][1] - tracked.first_cpu[pid][1] for pid in tracked.last_cpu)
            rss = tracked.rss_samples
            usage.append(
                ComponentUsage(
                    name=tracked.name,
                    role=tracked.role,
                    cpu_seconds=cpu,
                    cpu_cores=cpu / window,
                    mem_bytes_mean=sum(rss) / len(rss) if rss else 0.0,
                    samples=len(rss),
                    cpu_seconds_ticks=ticks,
                )
            )
        return usage

    def machine_usage(self) -> dict[str, float]:
        """The whole machine's CPU over the window, in cores: busy (everything not idle), and the
        hypervisor's steal. What else ran beside the testbed is what a noisy number is judged by."""
        if self._machine_start is None or self._machine_stop is None:
            return {}
        window = max(self.window_s, 1e-9)

        def delta(field: str) -> float:
            return float(getattr(self._machine_stop, field, 0.0) - getattr(self._machine_start, field, 0.0))

        total = sum(self._machine_stop) - sum(self._machine_start)
        idle = delta("idle") + delta("iowait")
        return {
            "busy_cores": round(
                (total - idle - delta("steal") - delta("guest") - delta("guest_nice")) / window, 3
            ),
            "steal_cores": round(delta("steal") / window, 3),
        }

    @property
    def window_s(self) -> float:
        return self._t_stop - self._t_start
