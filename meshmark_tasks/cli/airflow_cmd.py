"""`meshmark airflow`: the project's Airflow on this machine, UI at http://localhost:8080, until Ctrl-C.

The four services (api-server, scheduler, dag-processor, triggerer) with the LocalExecutor, SQLite in
`var/airflow-ui` (or `--postgres`: a private PostgreSQL cluster from scripts/), the repository's
DAGs and the load-test pool; pipeline/airflow_stack.py does the work. `--stop` stops an Airflow
started from the same home from anywhere (what `make airflow-stop` runs).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from meshmark_tasks.constants import LOADTEST_POOL, NIGHTLY_DAG_ID, REPORT_DAG_ID
from meshmark_tasks.pipeline.airflow_stack import (
    ADMIN_USER,
    COMPONENT_LOGS,
    COMPONENTS,
    REPO,
    StackError,
    StackSettings,
    admin_password,
    start,
    stop,
)

DEFAULT_HOME = REPO / "var" / "airflow-ui"
POSTGRES_DIR = "postgres"
START_TIMEOUT_S = 300.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "airflow", help="run the project's Airflow on this machine (UI at http://localhost:8080) until Ctrl-C"
    )
    parser.add_argument("--port", type=int, default=8080, help="the UI's and API's port on 127.0.0.1")
    parser.add_argument("--airflow-home", default=str(DEFAULT_HOME))
    parser.add_argument("--storage-root", default=None, help="default: $MESHMARK_STORAGE_ROOT or var/data")
    parser.add_argument(
        "--postgres", action="store_true", help="a private PostgreSQL cluster (scripts/) instead of SQLite"
    )
    parser.add_argument("--stop", action="store_true", help="stop the Airflow started from --airflow-home")
    parser.set_defaults(handler=_airflow)


def _say(message: str) -> None:
    print(f"meshmark: {message}", file=sys.stderr, flush=True)


def _postgres(home: Path, action: str) -> str:
    script = REPO / "scripts" / f"{action}-postgres.sh"
    if action == "start":
        subprocess.run(["bash", str(REPO / "scripts" / "install-postgres.sh")], check=True, stdout=sys.stderr)
    result = subprocess.run(["bash", str(script), str(home / POSTGRES_DIR)], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"{script.name} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _stop(home: Path) -> int:
    stopped = stop(home)
    if (home / POSTGRES_DIR).exists():
        _postgres(home, "stop")
    _say(f"stopped {', '.join(stopped)}" if stopped else f"no Airflow from {home} was running")
    return 0


class _Stopped(Exception):
    pass


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


def _airflow(args: argparse.Namespace) -> int:
    home = Path(args.airflow_home).resolve()
    if args.stop:
        return _stop(home)
    home.mkdir(parents=True, exist_ok=True)
    # SIGINT too: started in the background by a shell without job control, it arrives ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    database = _postgres(home, "start") if args.postgres else None
    settings = StackSettings(
        home=home, port=args.port, sql_alchemy_conn=database, storage_root=args.storage_root
    )
    _say(f"preparing {settings.database.split('://')[0]} database and pool {LOADTEST_POOL} in {home}")
    try:
        stack = start(settings)
        _say(f"starting {', '.join(COMPONENTS)} (logs in {home / COMPONENT_LOGS})")
        stack.wait("every component to report healthy", stack.healthy, START_TIMEOUT_S)
        token = stack.token()

        def loaded() -> bool:
            return all(stack.dag_loaded(dag_id, token) for dag_id in (NIGHTLY_DAG_ID, REPORT_DAG_ID))

        try:
            stack.wait("the meshmark DAGs to be parsed", loaded, START_TIMEOUT_S, 2.0)
        except StackError as exc:
            raise StackError(f"{exc}; import errors: {stack.import_errors(token) or 'none'}") from None
        print(
            f"Airflow is up at {settings.url}  (login: {ADMIN_USER} / {admin_password(home)})\n"
            f"  DAGs: {NIGHTLY_DAG_ID} (trigger it with its form), "
            f"{REPORT_DAG_ID} (runs after each nightly run)\n"
            f"  pool: {LOADTEST_POOL}, 1 slot; reports and Data Docs: {settings.url}/meshmark/\n"
            f"  stop: Ctrl-C here, or `make airflow-stop`",
            flush=True,
        )
        while not stack.dead():
            time.sleep(1.0)
        stack.check_alive()
    except _Stopped:
        _say("stopping Airflow")
        return 0
    finally:
        stop(home)
        if database:
            _postgres(home, "stop")
    return 1
