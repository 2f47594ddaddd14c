"""deploy/helm/values.yaml for the official Airflow chart: our image, the LocalExecutor, the RBAC's
service account, the storage root on a mounted volume, and secrets only as Secret references."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_facts import (
    CHART,
    CHART_DEFAULTS,
    CHART_VERSION,
    SECRET_KEYS,
    api_server_pod,
    git_sync_prefix,
    secret_references,
)

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "helm" / "values.yaml"
RBAC = REPO / "deploy" / "kubernetes" / "rbac.yaml"
# Chart keys that would carry a secret's value inline.
INLINE_SECRET_KEYS = ["fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"]


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def test_image_and_airflow_version_match_the_project(values: dict[str, Any]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in project["dependencies"] if d.startswith("apache-airflow=="))
    assert values["airflowVersion"] == pinned.split("==", 1)[1]
    image = values["images"]["airflow"]
    assert image["repository"] != "apache/airflow", (
        "the chart must run our image (Dockerfile), not stock Airflow"
    )
    assert image["tag"] and image["tag"] != "latest"


def test_local_executor_without_pod_launching_in_the_airflow_namespace(values: dict[str, Any]) -> None:
    assert values["executor"] == "LocalExecutor"
    assert values["allowPodLaunching"] is False


def test_scheduler_runs_as_the_rbac_service_account(values: dict[str, Any]) -> None:
    accounts = [d for d in yaml.safe_load_all(RBAC.read_text()) if d and d["kind"] == "ServiceAccount"]
    assert len(accounts) == 1
    service_account = values["scheduler"]["serviceAccount"]
    assert service_account == {"create": False, "name": accounts[0]["metadata"]["name"]}
    # rbac.yaml binds the account in the namespace the docs install the release into.
    assert accounts[0]["metadata"]["namespace"] == "airflow"
    assert "-n airflow" in VALUES.read_text()


def test_storage_root_is_a_volume_of_the_scheduler(values: dict[str, Any]) -> None:
    env = {e["name"]: e["value"] for e in values["env"]}
    mounts = {m["mountPath"]: m["name"] for m in values["scheduler"]["extraVolumeMounts"]}
    volume_name = mounts[env["MESHMARK_STORAGE_ROOT"]]
    volumes = {v["name"]: v for v in values["scheduler"]["extraVolumes"]}
    assert "persistentVolumeClaim" in volumes[volume_name]


def test_dags_come_from_git_sync_of_this_repository_layout(values: dict[str, Any]) -> None:
    git_sync = values["dags"]["gitSync"]
    assert git_sync["enabled"] is True
    assert (REPO / git_sync["subPath"] / "meshmark_nightly.py").is_file()


def test_connections_and_secrets_are_references_only(values: dict[str, Any]) -> None:
    refs = {s["envName"]: s for s in values["secret"]}
    for conn in ("AIRFLOW_CONN_KUBERNETES_DEFAULT", "AIRFLOW_CONN_MESHMARK_PROMETHEUS"):
        assert refs[conn]["secretName"] and refs[conn]["secretKey"], conn
    assert not any(e["name"].startswith("AIRFLOW_CONN_") for e in values["env"]), "a connection as a literal"
    for key in INLINE_SECRET_KEYS:
        assert not values.get(key), f"{key} must come from a Secret, not values.yaml"
    assert "metadataConnection" not in values["data"]
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert values[key], key
    assert values["data"]["metadataSecretName"]
    assert not re.search(r"password:\s*\S", VALUES.read_text(), re.IGNORECASE)


def test_the_api_server_pod_is_valid_for_kubernetes(values: dict[str, Any]) -> None:
    """The pod the chart builds around our extraVolumes/extraInitContainers/extraVolumeMounts
    (chart_facts.api_server_pod), validated strictly against the Kubernetes schema."""
    import kubernetes_validate

    kubernetes_validate.validate(api_server_pod(values), "1.33.0", strict=True)


def test_git_sync_checks_out_our_branch_with_the_variables_it_reads(values: dict[str, Any]) -> None:
    git_sync = values["dags"]["gitSync"]
    # v4 checks out `ref`; the chart's default ref is one of Airflow's own branches.
    assert git_sync["ref"] == git_sync["branch"]
    assert git_sync["ref"] != CHART_DEFAULTS["dags"]["gitSync"]["ref"]
    prefix = git_sync_prefix(values)
    assert prefix == "GITSYNC_", "the chart's git-sync image is v4 unless images.gitSync.tag says otherwise"
    text = VALUES.read_text()
    other = "GIT_SYNC_" if prefix == "GITSYNC_" else "GITSYNC_"
    assert other not in text, f"values.yaml names {other}* variables, which this git-sync does not read"
    for key in ("USERNAME", "PASSWORD"):
        assert f"{prefix}{key}" in text, f"the credentials Secret's key {prefix}{key} is not explained"


def test_the_chart_version_is_pinned_in_the_install_command(values: dict[str, Any]) -> None:
    header = VALUES.read_text().split("\n\n", 1)[0]
    installs = [line for line in header.splitlines() if "helm upgrade --install" in line]
    assert installs, "values.yaml's header shows no install command"
    for line in installs:
        assert f" {CHART} " in line and "-n airflow" in line, line
        assert re.search(r"--version (\S+)", line) and f"--version {CHART_VERSION}" in line, line
    assert values["airflowVersion"] == values["defaultAirflowTag"]


def test_every_referenced_secret_key_is_one_the_chart_reads(values: dict[str, Any]) -> None:
    refs = secret_references(values)
    assert {path for _, _, path in refs} >= set(SECRET_KEYS), "a chart secret is left to be generated"
    for name, key, path in refs:
        assert name and key and "(all keys)" not in key, path
