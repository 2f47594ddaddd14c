"""The project's Airflow as separate services on this machine: what `make airflow` starts.

api-server, scheduler, dag-processor and triggerer with the LocalExecutor, on SQLite in the Airflow
home (or on a PostgreSQL URL), the repository's dags/, the `meshmark_loadtest` pool and the simple
auth manager with one admin whose password is kept in the home. Everything binds to 127.0.0.1.
Each component runs in its own session (so a Ctrl-C in the terminal reaches only the launcher,
which then stops them in order) and is recorded in `<home>/meshmark-airflow.pids`, which `stop()`
reads: `make airflow-stop` works from another terminal, or after the launcher was killed.

The end-to-end tests start their Airflow with this module too (tests/e2e/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshmark_tasks.constants import LOADTEST_POOL
from meshmark_tasks.errors import MeshmarkError

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
PIDS_FILE = "meshmark-airflow.pids"
SECRETS_FILE = "meshmark-airflow-secrets.json"
PASSWORDS_FILE = "passwords.json"
COMPONENT_LOGS = "component-logs"
STOP_GRACE_S = 30.0


class StackError(MeshmarkError):
    """The stack could not start (a busy port, a component that died, a failed setup command)."""


@dataclass(frozen=True)
class StackSettings:
    home: Path
    port: int = 8080
    # What people open: the api-server listens on 127.0.0.1, "localhost" is the same machine.
    public_host: str = "localhost"
    sql_alchemy_conn: str | None = None  # None: SQLite in the home
    storage_root: str | None = None  # None: the default (MESHMARK_STORAGE_ROOT or var/data)
    dags_folder: Path = REPO / "dags"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> str:
        return self.sql_alchemy_conn or f"sqlite:///{self.home.resolve() / 'airflow.db'}"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _kept_secrets(home: Path) -> dict[str, str]:
    """Keys every component must share, made once per home (restarts keep logins and encrypted
    connections valid). The file is readable by its owner only."""
    path = home / SECRETS_FILE
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    from cryptography.fernet import Fernet

    data = {
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_hex(32),
        "api_secret_key": secrets.token_hex(16),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def admin_password(home: Path) -> str:
    """The admin's password, made on first use (the simple auth manager reads this file)."""
    path = home / PASSWORDS_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}) + "\n")
    password: str = json.loads(path.read_text())[ADMIN_USER]
    return password


def stack_env(settings: StackSettings) -> dict[str, str]:
    """The configuration of every component, as AIRFLOW__SECTION__KEY variables (no airflow.cfg edits)."""
    home = settings.home.resolve()
    kept = _kept_secrets(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__FERNET_KEY": kept["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
            # Tasks reach the Execution API of this api-server; the default (:8080) is wrong on any
            # other port, and tasks then fail before they start.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.local_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.database,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(settings.port),
            "AIRFLOW__API__BASE_URL": settings.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": kept["api_secret_key"],
            # Shared by every component: the api-server verifies the tokens the scheduler issues.
            "AIRFLOW__API_AUTH__JWT_SECRET": kept["jwt_secret"],
            # Notice new DAG files within seconds; the defaults are tuned for big deployments.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            "MESHMARK_PROFILES_DIR": os.environ.get("MESHMARK_PROFILES_DIR", str(REPO / "profiles")),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.storage_root:
        env["MESHMARK_STORAGE_ROOT"] = settings.storage_root
    env.update(settings.extra_env)
    return env


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _airflow(env: Mapping[str, str], *args: str, timeout_s: float = 600) -> str:
    # In the Airflow home, never the checkout: a meshmark.egg-info in the working directory makes
    # Airflow find the plugin's entry point twice.
    result = subprocess.run(
        [_bin("airflow"), *args],
        env=dict(env),
        cwd=env["AIRFLOW_HOME"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise StackError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{tail}")
    return result.stdout


def prepare(settings: StackSettings, env: Mapping[str, str]) -> None:
    """Migrate the database and create the load-test pool (both safe to repeat)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    _airflow(env, "db", "migrate")
    _airflow(
        env, "pools", "set", LOADTEST_POOL, "1", "meshmark load tests, one at a time", "--include-deferred"
    )


@dataclass
class RunningStack:
    """Handles to the started components (their process groups) and the settings they run with."""

    settings: StackSettings
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def logs_dir(self) -> Path:
        return self.settings.home / COMPONENT_LOGS

    def log_tail(self, component: str, lines: int = 40) -> str:
        path = self.logs_dir / f"{component}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def dead(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def check_alive(self) -> None:
        for name in self.dead():
            code = self.processes[name].returncode
            raise StackError(f"airflow {name} exited with {code}:\n{self.log_tail(name)}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            f"{self.settings.local_url}/api/v2/monitor/health", timeout=10
        ) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def healthy(self) -> bool:
        self.check_alive()
        try:
            health = self.health()
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict))

    def token(self) -> str:
        """A JWT for the admin, as the UI's login form gets one."""
        body = json.dumps({"username": ADMIN_USER, "password": admin_password(self.settings.home)}).encode()
        request = urllib.request.Request(
            f"{self.settings.local_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["access_token"])

    def dag_loaded(self, dag_id: str, token: str) -> bool:
        self.check_alive()
        request = urllib.request.Request(
            f"{self.settings.local_url}/api/v2/dags/{dag_id}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise

    def wait(self, what: str, check: Callable[[], bool], timeout_s: float, interval_s: float = 1.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(interval_s)

    def import_errors(self, token: str) -> list[str]:
        request = urllib.request.Request(
            f"{self.settings.local_url}/api/v2/importErrors", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            errors = json.load(response)["import_errors"]
        return [f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors]

    def stop(self) -> None:
        stop(self.settings.home)
        for proc in self.processes.values():  # reap them: no zombies in a long-lived caller
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def start(settings: StackSettings, env: Mapping[str, str] | None = None) -> RunningStack:
    """Prepare the database and start the four components; returns before they are healthy."""
    if not port_is_free(settings.port):
        raise StackError(
            f"port {settings.port} on 127.0.0.1 is in use (another Airflow? `make airflow-stop`, "
            "or choose another with AIRFLOW_PORT=...)"
        )
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if running(home):
        raise StackError(f"an Airflow from {home} is already running: stop it first (`make airflow-stop`)")
    admin_password(home)
    stack = RunningStack(settings, dict(env or stack_env(settings)))
    prepare(settings, stack.env)
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    try:
        for component in COMPONENTS:
            with (stack.logs_dir / f"{component}.log").open("ab") as log:
                stack.processes[component] = subprocess.Popen(
                    [_bin("airflow"), component],
                    env=stack.env,
                    cwd=home,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _record(home, stack.processes)
    except BaseException:
        stop(home)
        raise
    return stack


def _record(home: Path, processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    import psutil

    entries = []
    for name, proc in processes.items():
        with contextlib.suppress(psutil.Error):
            entries.append(
                {"component": name, "pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time()}
            )
    (home / PIDS_FILE).write_text(json.dumps(entries, indent=2) + "\n")


def _recorded(home: Path) -> Iterator[tuple[str, Any]]:
    """(component, psutil.Process) of every recorded component that is still the same process."""
    import psutil

    path = home / PIDS_FILE
    if not path.exists():
        return
    try:
        entries = json.loads(path.read_text())
    except ValueError:
        return
    for entry in entries:
        with contextlib.suppress(psutil.Error, KeyError, TypeError):
            proc = psutil.Process(int(entry["pid"]))
            if abs(proc.create_time() - float(entry["create_time"])) < 0.01:
                yield str(entry["component"]), proc


def running(home: Path) -> list[str]:
    """The components recorded in `home` that are still running."""
    return [name for name, _ in _recorded(home.resolve())]


def stop(home: Path, *, grace_s: float = STOP_GRACE_S) -> list[str]:
    """Stop every component recorded in `home`, with all the processes each started (task runners,
    executor workers): SIGTERM to each process group, SIGKILL to what is left after `grace_s`."""
    import psutil

    home = home.resolve()
    groups = {name: proc for name, proc in _recorded(home)}
    members: list[Any] = []
    for proc in groups.values():
        with contextlib.suppress(psutil.Error):
            members += [proc, *proc.children(recursive=True)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=grace_s)
    for proc in groups.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    (home / PIDS_FILE).unlink(missing_ok=True)
    return sorted(groups)
