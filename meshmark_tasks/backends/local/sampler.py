"""CPU and memory of each testbed component over the measured window, sampled with psutil.

A background thread samples every component process (and any children it has) about ten times a
second, only between start() and stop(), so warmup and start-up are not counted. CPU is the growth
of user + system CPU time over the window divided by the window's wall time (cores); memory is the
mean resident set size of the samples. A process that dies keeps the CPU it used until its last
sample; the runner reports such a cell as failed anyway.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class ComponentUsage:
    name: str
    role: str  # "app" or "dataplane"
    cpu_seconds: float
    cpu_cores: float
    mem_bytes_mean: float
    samples: int


@dataclass
class _Tracked:
    name: str
    role: str
    process: psutil.Process
    first_cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds at first sight
    last_cpu: dict[int, float] = field(default_factory=dict)
    rss_samples: list[float] = field(default_factory=list)


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


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
                    tracked.first_cpu[proc.pid] = 0.0 if born_inside else cpu
                tracked.last_cpu[proc.pid] = cpu
            if seen:
                tracked.rss_samples.append(rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(self._t_start_wall)

    def start(self) -> None:
        self._t_start_wall = time.time()
        self._t_start = time.monotonic()
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
        window = max(self._t_stop - self._t_start, 1e-9)
        usage = []
        for tracked in self._tracked:
            cpu = sum(tracked.last_cpu[pid] - tracked.first_cpu[pid] for pid in tracked.last_cpu)
            rss = tracked.rss_samples
            usage.append(
                ComponentUsage(
                    name=tracked.name,
                    role=tracked.role,
                    cpu_seconds=cpu,
                    cpu_cores=cpu / window,
                    mem_bytes_mean=sum(rss) / len(rss) if rss else 0.0,
                    samples=len(rss),
                )
            )
        return usage

    @property
    def window_s(self) -> float:
        return self._t_stop - self._t_start
