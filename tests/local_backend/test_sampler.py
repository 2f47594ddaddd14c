"""The psutil sampler counts a component's CPU, including work done by its child processes."""

from __future__ import annotations

import subprocess
import sys
import time

from meshmark_tasks.backends.local.sampler import ResourceSampler

# A parent that sleeps while the child it starts after the window opened burns CPU.
_SPIN = "import time\\nend = time.time() + 1.5\\nwhile time.time() < end: pass"
_PARENT = (
    "import subprocess, sys, time\n"
    "time.sleep(0.5)\n"
    f"subprocess.run([sys.executable, '-c', '{_SPIN}'])\n"
    "time.sleep(30)\n"
)


def test_cpu_of_children_born_in_the_window_is_counted() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", _PARENT])
    try:
        time.sleep(0.3)  # let both interpreters finish starting before the window opens
        sampler = ResourceSampler(interval_s=0.05)
        sampler.add("idle", "app", idle.pid)
        sampler.add("busy", "dataplane", busy.pid)
        sampler.start()
        time.sleep(2.5)
        usage = {u.name: u for u in sampler.stop()}
    finally:
        idle.kill()
        busy.kill()
        idle.wait()
        busy.wait()
    assert usage["busy"].cpu_seconds > 0.2, usage["busy"]
    assert usage["idle"].cpu_seconds < usage["busy"].cpu_seconds / 4
    assert usage["busy"].role == "dataplane" and usage["busy"].samples >= 10
    assert usage["idle"].mem_bytes_mean > 1_000_000
    assert 0 < usage["busy"].cpu_cores <= 2.0


def test_cpu_is_read_from_the_kernel_clock_finer_than_ticks() -> None:
    # Busy for a moment inside the window, then asleep: a fixed amount of CPU, read two ways.
    spin = (
        "import sys, time\nsys.stdin.readline()\nend = time.process_time() + 0.25\n"
        "while time.process_time() < end: pass\nprint('done', flush=True)\ntime.sleep(30)"
    )
    busy = subprocess.Popen(
        [sys.executable, "-c", spin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.3)  # the interpreter's own start-up stays outside the window
        sampler = ResourceSampler(interval_s=0.5)
        sampler.add("busy", "app", busy.pid)
        sampler.start()
        assert busy.stdin is not None and busy.stdout is not None
        busy.stdin.write("go\n")
        busy.stdin.flush()
        assert busy.stdout.readline().strip() == "done"
        (usage,) = sampler.stop()
    finally:
        busy.kill()
        busy.wait()
    # Tick-resolution readings move in whole 10 ms ticks; the clock in nanoseconds.
    assert abs(usage.cpu_seconds - usage.cpu_seconds_ticks) < 0.03, usage
    assert round(usage.cpu_seconds * 100) != usage.cpu_seconds * 100
    assert 0.24 < usage.cpu_seconds < 0.4, usage
    machine = sampler.machine_usage()
    assert machine["busy_cores"] > 0 and machine["steal_cores"] >= 0
