"""Start, watch and stop the testbed's processes, and never leave one behind.

Every process runs in its own session (so its process group can be signalled as a whole) and gets a
pidfile under `<workdir>/pids/` holding its pid and start time. Three layers make sure a topology is
torn down: the `ManagedProcesses` context manager (normal exit and exceptions), SIGINT/SIGTERM
handlers installed while it is active (an operator's Ctrl-C or an Airflow task being killed), and an
atexit hook. `kill_from_pidfiles(workdir)` is the last resort for a run whose Python process itself
died: the start time in the pidfile protects against killing an unrelated process that reused a pid.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import psutil

from meshmark_tasks.backends.local.ports import port_is_listening

PIDS_DIRNAME = "pids"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_TERM_GRACE_S = 3.0


class TopologyError(Exception):
    """A component could not be started or did not become ready; the message says which and why."""


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    pidfile: Path
    create_time: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, max_chars: int = 400) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " ".join(text[-max_chars:].split())


@dataclass(frozen=True)
class Placement:
    """Where and how a process runs: its CPUs and, optionally, SCHED_FIFO at a real-time priority.

    Applied in the child between fork and exec, so every thread it ever starts (Go's runtime reads
    its CPU count from the affinity at start) inherits it. A request the kernel refuses (no
    permission for real-time scheduling, a CPU outside this cgroup) is skipped, not fatal: what the
    process really got is read back from the kernel and recorded (`placement_of`).
    """

    cpus: frozenset[int] | None = None
    realtime_priority: int | None = None

    def apply_in_child(self) -> None:
        if self.cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, self.cpus)
        if self.realtime_priority is not None:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))


def make_realtime(pid: int, priority: int) -> None:
    """SCHED_FIFO at `priority` for every thread of a running process (threads it starts later
    inherit it). Refusals are skipped, as in Placement: placement_of says what the process got."""
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in threads:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))


_POLICY_NAMES = {
    os.SCHED_OTHER: "normal",
    os.SCHED_FIFO: "fifo",
    os.SCHED_RR: "rr",
    os.SCHED_BATCH: "batch",
    os.SCHED_IDLE: "idle",
}


def placement_of(pid: int) -> dict[str, Any]:
    """What the kernel says about a process: its CPUs, scheduling policy, real-time priority and nice.

    Policy and CPUs are per thread in Linux; they are read for every thread, and a process whose
    threads disagree is reported as "mixed" with the count of each.
    """
    try:
        tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        policies: dict[str, int] = {}
        cpus: set[int] = set()
        for tid in tids:
            with contextlib.suppress(OSError):  # a thread that just exited
                name = _POLICY_NAMES.get(os.sched_getscheduler(tid), "other")
                policies[name] = policies.get(name, 0) + 1
                cpus |= os.sched_getaffinity(tid)
        scheduling = next(iter(policies)) if len(policies) == 1 else f"mixed {policies}"
        return {
            "cpus": sorted(cpus or os.sched_getaffinity(pid)),
            "scheduling": scheduling,
            "priority": os.sched_getparam(pid).sched_priority,
            "nice": os.getpriority(os.PRIO_PROCESS, pid),
            "threads": len(tids),
        }
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


@dataclass(frozen=True)
class WaitOutcome:
    """How a waited-for process ended. cpu_seconds comes from the kernel's rusage of the child."""

    exit_code: int | None  # None: it was killed by us (timeout or abort)
    cpu_seconds: float
    wall_seconds: float
    abort_reason: str | None


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A Popen `preexec_fn` that makes the child get `sig` when the process starting it dies.

    Linux's PR_SET_PDEATHSIG: the kernel delivers the signal even when the parent is SIGKILLed,
    which no handler or atexit hook in the parent can. It fires when the *thread* that started the
    child ends, so start long-lived children from a thread that outlives them. None elsewhere
    (other systems fall back on pidfiles and the next run's reaping).
    """
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    # Looked up before the fork: loading a library in the forked child of a threaded process can
    # deadlock on a lock another thread held at fork time.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _in_child(die: Callable[[], None] | None, placement: Placement | None) -> Callable[[], None] | None:
    """One Popen `preexec_fn` doing both: parent-death signal first, then CPU placement."""
    if placement is None:
        return die

    def preexec() -> None:
        if die is not None:
            die()
        placement.apply_in_child()

    return preexec


def _pgroup_signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01:
            return None
        return proc
    except psutil.Error:
        return None


def _stop_group(pid: int, create_time: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after a grace period."""
    proc = _same_process(pid, create_time)
    if proc is None:
        return
    members = [proc]
    with contextlib.suppress(psutil.Error):
        members += proc.children(recursive=True)
    _pgroup_signal(pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=_TERM_GRACE_S)
    if alive:
        _pgroup_signal(pid, signal.SIGKILL)
        for member in alive:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(alive, timeout=_TERM_GRACE_S)


_ACTIVE: set[ManagedProcesses] = set()
_ACTIVE_LOCK = threading.Lock()


def _stop_all_active() -> None:
    with _ACTIVE_LOCK:
        active = list(_ACTIVE)
    for group in active:
        group.stop_all()


atexit.register(_stop_all_active)


class ManagedProcesses:
    """The processes of one cell; a context manager that stops all of them on the way out."""

    def __init__(self, pid_dir: Path) -> None:
        """`pid_dir` should be under `<workdir>/pids/` so kill_from_pidfiles(workdir) finds it."""
        self.pid_dir = pid_dir
        self.processes: dict[str, ManagedProcess] = {}
        self._previous_handlers: dict[int, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> ManagedProcesses:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
        self._install_signal_handlers()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop_all()
        finally:
            self._restore_signal_handlers()
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self)

    def _install_signal_handlers(self) -> None:
        # Python only allows signal handlers in the main thread; elsewhere (an Airflow worker thread)
        # the context manager and atexit still tear down.
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)

    # -- processes -------------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        placement: Placement | None = None,
    ) -> ManagedProcess:
        """Start `argv` in its own session with stdout+stderr appended to `log_path`.

        `placement` pins it to CPUs and/or real-time scheduling before it executes (see Placement).
        """
        if name in self.processes:
            raise ValueError(f"a process named {name!r} is already managed")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=None if env is None else dict(env),
                    cwd=cwd,
                    start_new_session=True,
                    # Dies with this process even when it is SIGKILLed (no handler runs then), and
                    # takes its CPUs/scheduling: only prctl and os.sched_* calls run in the child.
                    preexec_fn=_in_child(die_with_parent(signal.SIGKILL), placement),
                )
            except OSError as exc:
                raise TopologyError(f"{name}: cannot start {argv[0]}: {exc}") from exc
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = 0.0
        pidfile = self.pid_dir / f"{name}.pid"
        pidfile.write_text(f"{popen.pid} {create_time!r} {name}\n", encoding="utf-8")
        managed = ManagedProcess(name, popen, log_path, pidfile, create_time)
        self.processes[name] = managed
        return managed

    def stop(self, name: str) -> None:
        managed = self.processes.pop(name, None)
        if managed is None:
            return
        if managed.popen.returncode is None:
            _stop_group(managed.pid, managed.create_time)
            with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                managed.popen.wait(timeout=_TERM_GRACE_S)
        else:
            # The leader is gone but its group may not be (a child it started).
            _pgroup_signal(managed.pid, signal.SIGKILL)
        managed.pidfile.unlink(missing_ok=True)

    def stop_all(self) -> None:
        # Reverse start order: the load generator first, the app last, like a real drain.
        for name in reversed(list(self.processes)):
            self.stop(name)

    def dead(self, names: Sequence[str]) -> list[tuple[str, int]]:
        """(name, exit code) of the named processes that have exited."""
        gone = []
        for name in names:
            managed = self.processes.get(name)
            if managed is not None and managed.exit_code() is not None:
                gone.append((name, int(managed.popen.returncode or 0)))
        return gone

    def wait_listening(self, name: str, port: int, timeout_s: float) -> None:
        """Poll until the process accepts TCP connections on `port`; fail fast if it exits."""
        managed = self.processes[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = managed.exit_code()
            if code is not None:
                raise TopologyError(
                    f"{name} exited with code {code} before listening on port {port}: {managed.log_tail()}"
                )
            if port_is_listening(port):
                return
            time.sleep(0.05)
        raise TopologyError(f"{name} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")

    def wait(
        self,
        name: str,
        timeout_s: float,
        abort_check: Callable[[], str | None] | None = None,
        poll_s: float = 0.05,
    ) -> WaitOutcome:
        """Wait for a process to exit, killing it on timeout or when `abort_check` returns a reason.

        Reaps with os.wait4 so the child's own CPU time (user + system) comes from the kernel.
        """
        managed = self.processes[name]
        start = time.monotonic()
        deadline = start + timeout_s
        abort_reason: str | None = None
        while True:
            try:
                pid, status, rusage = os.wait4(managed.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                return WaitOutcome(managed.popen.returncode, 0.0, time.monotonic() - start, abort_reason)
            if pid != 0:
                code = os.waitstatus_to_exitcode(status)
                managed.popen.returncode = code
                managed.pidfile.unlink(missing_ok=True)
                self.processes.pop(name, None)
                _pgroup_signal(managed.pid, signal.SIGKILL)  # any straggler it left in its group
                return WaitOutcome(
                    None if abort_reason else code,
                    rusage.ru_utime + rusage.ru_stime,
                    time.monotonic() - start,
                    abort_reason,
                )
            if abort_reason is None:
                if time.monotonic() > deadline:
                    abort_reason = f"{name} did not finish within {timeout_s:.0f} s"
                elif abort_check is not None:
                    abort_reason = abort_check()
                if abort_reason is not None:
                    _pgroup_signal(managed.pid, signal.SIGTERM)
                    deadline = time.monotonic() + _TERM_GRACE_S
            elif time.monotonic() > deadline:
                _pgroup_signal(managed.pid, signal.SIGKILL)
            time.sleep(poll_s)


def kill_from_pidfiles(workdir: Path) -> list[int]:
    """Stop every process recorded under `<workdir>/pids/`; returns the pids that were still running."""
    return _kill_recorded(workdir / PIDS_DIRNAME)


def kill_pidfiles_under(folder: Path) -> list[int]:
    """Stop every process recorded in any `pids/` folder below `folder` (a killed run's leftovers)."""
    stopped: list[int] = []
    for pid_dir in sorted(folder.rglob(PIDS_DIRNAME)):
        stopped += _kill_recorded(pid_dir)
    return stopped


def _kill_recorded(pid_dir: Path) -> list[int]:
    # The start time in each pidfile makes sure a pid the system has since reused is never hit.
    stopped: list[int] = []
    if not pid_dir.is_dir():
        return stopped
    for pidfile in sorted(pid_dir.rglob("*.pid")):
        try:
            pid_text, create_text, *_ = pidfile.read_text(encoding="utf-8").split()
            pid, create_time = int(pid_text), float(create_text)
        except (OSError, ValueError):
            pidfile.unlink(missing_ok=True)
            continue
        if _same_process(pid, create_time) is not None:
            _stop_group(pid, create_time)
            stopped.append(pid)
        pidfile.unlink(missing_ok=True)
    return stopped


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Running processes whose command line contains `text` (e.g. a run's working directory)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] == me:
            continue
        cmdline = proc.info.get("cmdline") or []
        if any(text in part for part in cmdline):
            found.append(proc)
    return found


@contextlib.contextmanager
def managed_processes(pid_dir: Path) -> Iterator[ManagedProcesses]:
    with ManagedProcesses(pid_dir) as group:
        yield group
