"""Every rendered pod and manifest validates offline (Kubernetes schema, strict) and passes restricted PSS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_schema import validate_object
from kubernetes.client import ApiClient

from meshmark_tasks.backends.kubernetes import (
    KubernetesSettings,
    check_restricted_pss,
    loadgen_pod_kwargs,
    render_mesh_manifests,
)
from meshmark_tasks.backends.kubernetes.commands import K6_SCRIPT, XCOM_RESULT_PATH
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.profile import Profile, load_profile, profile_from_mapping

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("cluster-istio-linkerd.yaml", "cluster-sidecar-vs-ambient.yaml")
TOOLS = ("fortio", "nighthawk", "k6")


def with_tool(profile: Profile, tool: str) -> Profile:
    data = profile.model_dump(mode="python")
    data["load_generator"] = {"tool": tool, "image": None, "options": {}}
    return profile_from_mapping(data, f"{profile.name}+{tool}")


def build_pod(
    profile: Profile, cell_index: int = 0, mesh: str | None = None, *, native_sidecars: bool = True
) -> dict[str, Any]:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    cells = [c for c in expand_matrix(profile) if mesh is None or c.mesh == mesh]
    cell = cells[cell_index]
    operator = KubernetesPodOperator(
        task_id=f"loadgen-{cell.cell_id}",
        **loadgen_pod_kwargs(profile, cell, SETTINGS, native_sidecars=native_sidecars),
    )
    context = {
        "ti": type(
            "TI",
            (),
            {"dag_id": "meshmark_nightly", "task_id": operator.task_id, "map_index": 3, "try_number": 1},
        )(),
        "run_id": "scheduled__2026-11-26T00:00:00+00:00",
        "dag": None,
    }
    pod = operator.build_pod_request_obj(context)  # type: ignore[arg-type]
    return ApiClient().sanitize_for_serialization(pod)


SETTINGS = KubernetesSettings()


def mesh_cases() -> list[tuple[str, str, str]]:
    cases = []
    for profile_file in PROFILES:
        profile = load_profile(REPO / "profiles" / profile_file)
        for mesh in profile.meshes:
            for tool in TOOLS:
                cases.append((profile_file, mesh.name, tool))
    return cases


@pytest.mark.parametrize(("profile_file", "mesh", "tool"), mesh_cases())
def test_loadgen_pod_validates_and_is_restricted(
    kube_connection: str, profile_file: str, mesh: str, tool: str
) -> None:
    profile = with_tool(load_profile(REPO / "profiles" / profile_file), tool)
    pod = build_pod(profile, mesh=mesh)

    validate_object(pod)
    assert check_restricted_pss(pod) == []
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert set(containers) == {"base", "airflow-xcom-sidecar"}  # the KPO added the XCom sidecar
    for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, container["name"]
    assert containers["base"]["image"] == SETTINGS.images[tool]
    assert pod["metadata"]["namespace"] == f"meshmark-{mesh}"
    labels = pod["metadata"]["labels"]
    assert labels["meshmark.io/mesh"] == mesh
    assert labels["meshmark.io/cell"].startswith(f"{mesh}-q")
    assert labels["run_id"]  # the operator's own label ties the pod to the DAG run
    # a warm-up init container when the profile has a warm-up (native sidecars or no sidecar here)
    init_names = [c["name"] for c in pod["spec"].get("initContainers") or []]
    assert ("warmup" in init_names) == (profile.warmup_s > 0)
    command_line = " ".join(containers["base"].get("command", []) + containers["base"]["args"])
    assert XCOM_RESULT_PATH in command_line


def test_fortio_arguments_for_a_throttled_and_an_unthrottled_cell(kube_connection: str) -> None:
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    cells = expand_matrix(profile)
    throttled = next(
        c for c in cells if c.mesh == "istio" and c.requested_qps == 2000 and c.connections == 64
    )
    unthrottled = next(c for c in cells if c.mesh == "istio" and c.requested_qps is None)
    args = loadgen_pod_kwargs(profile, throttled, SETTINGS, native_sidecars=True)["arguments"]
    assert args == [
        "load",
        "-json",
        XCOM_RESULT_PATH,
        "-labels",
        throttled.cell_id,
        "-qps",
        "2000",
        "-c",
        "64",
        "-t",
        "120s",
        "-payload-size",
        "1024",
        "http://meshmark-app.meshmark-istio.svc.cluster.local:8080/echo",
    ]
    max_args = loadgen_pod_kwargs(profile, unthrottled, SETTINGS, native_sidecars=True)["arguments"]
    assert max_args[max_args.index("-qps") + 1] == "0"  # fortio: 0 = no wait, i.e. max


def test_nighthawk_and_k6_commands(kube_connection: str) -> None:
    base = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    cell = expand_matrix(base)[0]
    nighthawk = loadgen_pod_kwargs(with_tool(base, "nighthawk"), cell, SETTINGS)
    assert nighthawk["cmds"] == ["/bin/sh", "-c"]
    line = nighthawk["arguments"][0]
    assert (
        "nighthawk_client --rps 1000 --connections 16 --concurrency 1 --duration 120 --output-format json"
        in line
    )
    assert line.endswith(f"> {XCOM_RESULT_PATH}")
    k6 = loadgen_pod_kwargs(with_tool(base, "k6"), cell, SETTINGS)
    env = k6["env_vars"]
    assert env["MESHMARK_K6_SCRIPT"] == K6_SCRIPT
    assert env["MESHMARK_QPS"] == "1000" and env["MESHMARK_CONNECTIONS"] == "16"
    assert f"--summary-export {XCOM_RESULT_PATH}" in k6["arguments"][0]


def test_grpc_cells_need_fortio(kube_connection: str) -> None:
    data = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml").model_dump(mode="python")
    data["matrix"]["protocol"] = ["grpc"]
    grpc = profile_from_mapping(data)
    cell = expand_matrix(grpc)[0]
    args = loadgen_pod_kwargs(grpc, cell, SETTINGS)["arguments"]
    assert args[-3:] == ["-grpc", "-ping", "meshmark-app.meshmark-baseline.svc.cluster.local:8079"]
    for tool in ("nighthawk", "k6"):
        with pytest.raises(MeshmarkError, match=rf"cell {cell.cell_id}: .*HTTP only"):
            loadgen_pod_kwargs(with_tool(grpc, tool), cell, SETTINGS)


def test_settings_from_env_and_loadgen_namespace() -> None:
    settings = KubernetesSettings.from_env(
        {
            "MESHMARK_K8S_NAMESPACE_PREFIX": "bench",
            "MESHMARK_K8S_LOADGEN_NAMESPACE": "loadgen",
            "MESHMARK_K8S_IMAGE_FORTIO": "registry.example/fortio:1.69.4",
        }
    )
    assert settings.namespace_for("istio") == "bench-istio"
    assert settings.loadgen_namespace_for("istio") == "loadgen"
    assert settings.images["fortio"] == "registry.example/fortio:1.69.4"
    assert settings.images["k6"] == "grafana/k6:1.1.0"
    with pytest.raises(MeshmarkError, match="MESHMARK_K8S_RUN_AS_USER"):
        KubernetesSettings.from_env({"MESHMARK_K8S_RUN_AS_USER": "0"})


def cluster_meshes() -> list[tuple[str, str]]:
    return [
        (profile_file, m.name)
        for profile_file in PROFILES
        for m in load_profile(REPO / "profiles" / profile_file).meshes
    ]


@pytest.mark.parametrize(("profile_file", "mesh_name"), cluster_meshes())
def test_mesh_manifests_validate_and_are_restricted(profile_file: str, mesh_name: str) -> None:
    profile = load_profile(REPO / "profiles" / profile_file)
    docs = render_mesh_manifests(profile, profile.mesh(mesh_name), SETTINGS)
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace" and "Deployment" in kinds and "Service" in kinds
    for doc in docs:
        validate_object(doc)
        assert check_restricted_pss(doc) == [], doc["kind"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == f"meshmark-{mesh_name}"


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def test_istio_manifests_inject_and_enforce_strict_mtls() -> None:
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    docs = _by_kind(render_mesh_manifests(profile, profile.mesh("istio"), SETTINGS))
    assert docs["Namespace"]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert docs["PeerAuthentication"]["spec"] == {"mtls": {"mode": "STRICT"}}
    pod_template = docs["Deployment"]["spec"]["template"]
    assert pod_template["metadata"]["annotations"] == {
        "sidecar.istio.io/proxyCPU": "100m",
        "sidecar.istio.io/proxyCPULimit": "2000m",
        "sidecar.istio.io/proxyMemory": "128Mi",
        "sidecar.istio.io/proxyMemoryLimit": "1024Mi",
    }
    app = pod_template["spec"]["containers"][0]
    assert app["resources"] == {
        "requests": {"cpu": "500m", "memory": "128Mi"},
        "limits": {"cpu": "2000m", "memory": "512Mi"},
    }
    # istio without mtls: DISABLE, not Istio's PERMISSIVE default
    data = profile.model_dump(mode="python")
    data["meshes"][1]["network_functions"] = ["telemetry"]
    no_mtls = profile_from_mapping(data)
    plain = _by_kind(render_mesh_manifests(no_mtls, no_mtls.mesh("istio"), SETTINGS))
    assert plain["PeerAuthentication"]["spec"]["mtls"]["mode"] == "DISABLE"


def test_linkerd_and_baseline_namespaces() -> None:
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    linkerd = _by_kind(render_mesh_manifests(profile, profile.mesh("linkerd"), SETTINGS))
    ns = linkerd["Namespace"]["metadata"]
    assert ns["annotations"]["linkerd.io/inject"] == "enabled"
    assert ns["annotations"]["config.linkerd.io/default-inbound-policy"] == "all-authenticated"
    assert "PeerAuthentication" not in linkerd
    annotations = linkerd["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["config.linkerd.io/proxy-memory-limit"] == "250Mi"
    baseline = _by_kind(render_mesh_manifests(profile, profile.mesh("baseline"), SETTINGS))
    labels = baseline["Namespace"]["metadata"]["labels"]
    assert labels["istio-injection"] == "disabled"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert baseline["Namespace"]["metadata"]["annotations"]["linkerd.io/inject"] == "disabled"
    assert baseline["Deployment"]["spec"]["template"]["metadata"]["annotations"] == {}


def test_local_sidecar_meshes_are_refused_by_name() -> None:
    profile = load_profile(REPO / "profiles" / "local-demo.yaml")
    with pytest.raises(MeshmarkError, match="mesh 'sidecar' has kind 'local-sidecar'"):
        render_mesh_manifests(profile, profile.mesh("sidecar"), SETTINGS)


def test_validator_catches_a_broken_manifest() -> None:
    """The schema check this file relies on can fail: a typo'd field and a bad mTLS mode are refused."""
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    docs = _by_kind(render_mesh_manifests(profile, profile.mesh("istio"), SETTINGS))
    deployment = docs["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    with pytest.raises(Exception, match="imagePolicy"):
        validate_object(deployment)
    peer = docs["PeerAuthentication"]
    peer["spec"]["mtls"]["mode"] = "MANDATORY"
    with pytest.raises(Exception, match="MANDATORY"):
        validate_object(peer)
