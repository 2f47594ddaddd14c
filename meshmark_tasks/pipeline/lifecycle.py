"""A local nightly run dies with its command and leaves nothing behind.

docs/local-backend.md "Stopping a run" has the table of what stops what.

The process running the DAG (`python -m meshmark_tasks.pipeline.airflow_local`) owns one run
folder, `<system temp>/meshmark-nightly-<random>/`, and points `tempfile` at it: the testbed's
working directory (certificates, configs, pidfiles), cell scratch folders and Great Expectations'
temporary files all land inside. Its `owner` file records the owning process's pid and start time.

- `meshmark nightly` starts that process in its own session with a lifeline: the read end of a
  pipe only the command holds open. A signal to the command closes it; the command's death, SIGKILL
  included, closes it too. A thread of the run sees EOF, stops every process recorded in the
  folder's pidfiles, deletes the folder and exits (143). A pipe rather than a forwarded signal:
  Airflow's task runner installs its own SIGTERM handler (which fails the task and lets the DAG
  run go on), so a signal may not stop the run; the lifeline does not depend on who handles what.
- Signals sent to the run process itself (SIGTERM, SIGINT, SIGHUP) do the same, as far as
  Airflow's handlers leave them to us.
- SIGKILL (no handler runs): the testbed processes die with their parent (PR_SET_PDEATHSIG in
  ManagedProcesses.spawn); the folder stays, and the next run's `reap_leftovers()` stops anything
  its pidfiles still name and deletes it. A folder is only reaped when its owner is gone (same
  pid *and* start time), so a run going on beside it is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

import psutil

from meshmark_tasks.backends.local.processes import kill_pidfiles_under

log = logging.getLogger(__name__)

RUN_DIR_PREFIX = "meshmark-nightly-"
# The environment variable naming the lifeline's file descriptor in the run process.
LIFELINE_FD_ENV = "MESHMARK_LIFELINE_FD"
OWNER_FILE = "owner"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def owner_record(pid: int | None = None) -> str:
    """'<pid> <start time>' of a process (this one by default): what an owner or lock file holds."""
    proc = psutil.Process(pid)
    return f"{proc.pid} {proc.create_time()!r}\n"


def is_alive(record: str) -> bool:
    """Whether the process an owner_record() names still runs (a reused pid does not count)."""
    try:
        pid_text, created_text = record.split()[:2]
        proc = psutil.Process(int(pid_text))
        return abs(proc.create_time() - float(created_text)) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except (ValueError, psutil.Error):
        return False


def reap_leftovers(parent: Path | None = None) -> list[Path]:
    """Stop the processes of run folders whose owner died, and delete those folders; returns them."""
    parent = Path(parent or tempfile.gettempdir())
    reaped = []
    for folder in sorted(parent.glob(f"{RUN_DIR_PREFIX}*")):
        try:
            record = (folder / OWNER_FILE).read_text(encoding="utf-8")
        except OSError:
            continue  # not made by claim_run_dir, or being made right now
        if is_alive(record):
            continue
        stopped = kill_pidfiles_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("reaped %s left by a killed run (%d processes stopped)", folder, len(stopped))
        reaped.append(folder)
    return reaped


def claim_run_dir(parent: Path | None = None) -> Path:
    """A new run folder owned by this process; tempfile (and so the testbed) uses it from now on."""
    folder = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir=parent))
    (folder / OWNER_FILE).write_text(owner_record(), encoding="utf-8")
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)  # for child processes
    return folder


def release_run_dir(folder: Path) -> None:
    """Stop whatever the run's pidfiles still name and delete its folder."""
    kill_pidfiles_under(folder)
    shutil.rmtree(folder, ignore_errors=True)


def exit_cleanly_on_signals(folder: Path) -> None:
    """On SIGTERM/SIGINT/SIGHUP: release the run folder and exit at once with 128 + the signal.

    os._exit, not an exception: Airflow's task runner catches exceptions (a task would just fail
    and the run carry on), and the run is to stop now.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _stop_now(folder, 128 + signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)


def stop_when_closed(folder: Path, fd: int) -> threading.Thread:
    """Watch the lifeline `fd` in a daemon thread: at EOF, release the run folder and exit 143."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 1):
                pass
        _stop_now(folder, 128 + signal.SIGTERM)

    thread = threading.Thread(target=watch, name="meshmark-lifeline", daemon=True)
    thread.start()
    return thread


def _stop_now(folder: Path, code: int) -> None:
    # Output off first: the run's other threads see their processes and files vanish in the moment
    # before the exit and would print tracebacks of it; the command prints the one line that counts.
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    with contextlib.suppress(Exception):
        release_run_dir(folder)
    os._exit(code)
