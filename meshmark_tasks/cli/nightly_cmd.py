"""`meshmark nightly`: the nightly DAG end to end on this machine, under a project-local Airflow."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from meshmark_tasks.config import PROFILES_DIR_ENV, storage_root
from meshmark_tasks.constants import LOCAL
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.pipeline.airflow_local import REPO, airflow_env
from meshmark_tasks.pipeline.lifecycle import LIFELINE_FD_ENV, STOP_SIGNALS

# How long a signalled run gets to stop its testbed and remove its files before it is killed.
CHILD_GRACE_S = 20.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nightly", help="run the nightly DAG end to end on the local backend (dag.test, SQLite)"
    )
    parser.add_argument("--profile", default="local-demo", help="profile name in profiles/ or a path")
    parser.add_argument("--meshes", nargs="*", default=[], help="subset of the profile's meshes")
    parser.add_argument("--qps", nargs="*", default=[], help='load points, numbers or "max"')
    parser.add_argument("--connections", nargs="*", type=int, default=[])
    parser.add_argument("--duration-s", type=float, default=None)
    parser.add_argument(
        "--logical-date",
        default=None,
        help="ISO date-time of the run (re-running the same one replaces its rows); default: now",
    )
    parser.add_argument("--airflow-home", default=str(REPO / "var" / "airflow"))
    parser.add_argument("--storage-root", default=None, help="default: $MESHMARK_STORAGE_ROOT or var/data")
    parser.set_defaults(handler=_nightly)


def _qps(value: str) -> float | str:
    return "max" if value == "max" else float(value)


def _nightly(args: argparse.Namespace) -> int:
    profile = args.profile
    env_extra: dict[str, str] = {}
    if profile.endswith((".yaml", ".yml")):
        # The DAG's trigger form takes a profile name from its profiles folder: point that folder
        # at the file's own directory and pass the name.
        path = Path(profile).resolve()
        if not path.is_file():
            raise ProfileError(f"{profile}: no such profile file")
        env_extra[PROFILES_DIR_ENV] = str(path.parent)
        profile = path.stem
    conf = {
        "profile": profile,
        "backend": LOCAL,
        "meshes": args.meshes,
        "qps": [_qps(q) for q in args.qps],
        "connections": args.connections,
        "duration_s": args.duration_s,
    }
    root = args.storage_root or storage_root()
    Path(args.airflow_home).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(Path(args.airflow_home), root), **env_extra}
    print(f"meshmark: running meshmark_nightly with {json.dumps(conf)}", file=sys.stderr)
    # The run watches the read end of this pipe (lifecycle.stop_when_closed): it sees EOF when this
    # command closes it on a signal or dies in any way, SIGKILL included, and then stops.
    lifeline_read, lifeline_write = os.pipe()
    env[LIFELINE_FD_ENV] = str(lifeline_read)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "meshmark_tasks.pipeline.airflow_local", json.dumps(conf)]
            + ([args.logical_date] if args.logical_date else []),
            env=env,
            # Not the checkout: `python -m` puts the working directory on sys.path, and the checkout's
            # meshmark.egg-info (from the editable install) would make Airflow load the plugin twice.
            cwd=args.airflow_home,
            pass_fds=(lifeline_read,),
            # Its own session: Ctrl-C and signals to this command's group come here, and the run
            # stops through the lifeline, not in the middle of Airflow's own signal handling.
            start_new_session=True,
        )
    finally:
        os.close(lifeline_read)
    return _wait_stopping_on_signals(child, lifeline_write)


def _wait_stopping_on_signals(child: subprocess.Popen[bytes], lifeline: int) -> int:
    """Wait for the run; on a stop signal, close its lifeline and give it time to clean up.

    Ctrl-C: the run stops its testbed and removes its folder, then this command raises
    KeyboardInterrupt (one line, exit 130, in cli/__init__.py); SIGTERM/SIGHUP: exit 128 + signal.
    """
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        with contextlib.suppress(OSError):
            os.close(lifeline)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        while True:
            try:
                code = child.wait(timeout=None if not received else CHILD_GRACE_S)
                break
            except subprocess.TimeoutExpired:
                child.kill()  # it did not stop in time: the testbed dies with it (PDEATHSIG)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not received:
            os.close(lifeline)
    if received:
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt
        return 128 + received[0]
    return code
