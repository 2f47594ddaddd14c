"""The api-server's password file, end to end on this machine: the pod's volumes from
deploy/helm/values.yaml laid out for real (a read-only tmpfs where the kubelet mounts the Secret, a
writable tmpfs for the in-memory emptyDir), the init container's own command run against them, then
Airflow 3.3.2's real SimpleAuthManager started on the result. The control case is what the values used
to do: the password file read straight from the Secret volume, which must fail as on a cluster
(EROFS, "Read-only file system")."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_facts import api_server_pod, mount_for, passwords_file

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "helm" / "values.yaml"
HELPER = Path(__file__).resolve().parent / "pod_filesystem.py"
SECRET_PASSWORDS = {"admin": "s3cret-from-the-secret"}

# Start the auth manager as the api-server does at start-up, then read the file as a login does; once
# per password file given (Airflow reads the setting from the environment at every call).
CHECK = """
import json, os, sys
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
outcomes = []
for path in sys.argv[1:]:
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = path
    try:
        SimpleAuthManager().init()
        outcomes.append({"passwords": SimpleAuthManager.get_passwords()})
    except OSError as error:
        outcomes.append({"errno": error.errno, "error": str(error)})
print(json.dumps(outcomes))
"""


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def pod_mounts(values: dict[str, Any]) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """The Secret and emptyDir volumes the init containers and the api-server mount, and the init
    containers' commands (the chart's wait-for-migrations container mounts nothing of its own)."""
    spec = api_server_pod(values)["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts: dict[str, dict[str, Any]] = {}
    commands = []
    for container in [*spec["initContainers"], *spec["containers"]]:
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "secret" in volume:
                items = volume["secret"].get("items") or [{"key": "passwords.json", "path": "passwords.json"}]
                files = {
                    i["path"]: json.dumps(SECRET_PASSWORDS) for i in items if i["key"] == "passwords.json"
                }
                layout = {"path": mount["mountPath"], "readOnly": True, "files": files}
            elif "emptyDir" in volume:
                layout = {"path": mount["mountPath"], "readOnly": False, "files": {}}
            else:
                continue  # the chart's config map: nothing to do with the password file
            seen = mounts.setdefault(mount["mountPath"], layout)
            assert seen == layout, f"{mount['mountPath']} is mounted from two different volumes"
        if container["name"] != "wait-for-airflow-migrations" and container in spec["initContainers"]:
            commands.append([*container.get("command", []), *container.get("args", [])])
    return list(mounts.values()), commands


def run_in_pod_filesystem(tmp_path: Path, spec: dict[str, Any]) -> list[dict[str, Any]]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("laying out the pod's volumes needs root and unshare (CI has both)")
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, str(HELPER), str(spec_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip(f"this sandbox allows no mount namespace: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def check_command(values: dict[str, Any], airflow_home: Path, *password_files: str) -> list[str]:
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": values["config"]["core"]["simple_auth_manager_users"],
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    return ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-c", CHECK, *password_files]


def test_the_api_server_starts_on_the_password_file_the_init_container_writes(
    values: dict[str, Any], tmp_path: Path
) -> None:
    mounts, init_commands = pod_mounts(values)
    assert init_commands, "no init container fills the password file"
    directory, name = passwords_file(values)
    secret_mounts = [m for m in mounts if m["readOnly"]]
    assert len(secret_mounts) == 1
    from_secret = f"{secret_mounts[0]['path']}/{name}"
    spec = {
        "mounts": mounts,
        "commands": [
            *init_commands,
            # The fixed values, then the control: the former values, reading the Secret volume directly.
            check_command(values, tmp_path / "airflow-home", f"{directory}/{name}", from_secret),
        ],
    }
    *init_results, check = run_in_pod_filesystem(tmp_path, spec)
    for result in init_results:
        assert result["returncode"] == 0, result["stderr"]
    assert check["returncode"] == 0, check["stderr"]
    fixed, control = json.loads(check["stdout"].splitlines()[-1])
    assert fixed == {"passwords": SECRET_PASSWORDS}
    assert control["errno"] == errno.EROFS, control


def test_the_password_file_is_on_a_writable_volume_of_the_api_server(values: dict[str, Any]) -> None:
    spec = api_server_pod(values)["spec"]
    directory, _ = passwords_file(values)
    api_server = spec["containers"][0]
    mount = mount_for(api_server, directory)
    assert mount is not None, f"nothing is mounted at {directory} in the api-server"
    assert not mount.get("readOnly"), "the password file's mount is read-only"
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    read_only_kinds = {"secret", "configMap", "projected", "downwardAPI"}
    assert not read_only_kinds & set(volume), f"{volume} is always mounted read-only by the kubelet"


def test_the_copying_init_container_runs_our_image(values: dict[str, Any]) -> None:
    image = f"{values['images']['airflow']['repository']}:{values['images']['airflow']['tag']}"
    for container in values["apiServer"]["extraInitContainers"]:
        assert container["image"] == image, "the chart does not template extraInitContainers: keep in step"
