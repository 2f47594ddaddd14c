"""Mesh kinds istio-ambient and cilium, where the warm-up runs, and `meshmark render`.

The warm-up tests put each rendered load-generator pod through a model of what happens to it on a
cluster: the mesh's injector (reading only the annotations meshmark set) adds its proxy - as a
native sidecar at the front of the init containers (Istio's and Linkerd's injectors do, with a
startup probe), or first among the containers with a postStart hook that waits for it (Istio's
holdApplicationUntilProxyStarts, Linkerd's proxy-await, consul-k8s >= 1.3's proxy lifecycle), or
else last among the containers - and the kubelet then starts the init containers one after the
other (a native sidecar counts as started once its startup probe passes), then the containers in
order, each postStart hook holding the next. Every container that sends traffic to the app must
start after a proxy exists. The model is checked to catch the old layout (a warm-up init container
in an injected pod).
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_schema import validate_object

from meshmark_tasks.backends.kubernetes import KubernetesSettings, check_restricted_pss, render_mesh_manifests
from meshmark_tasks.backends.kubernetes.backend import KubernetesBackend
from meshmark_tasks.backends.kubernetes.mesh_kinds import MESH_KINDS
from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_kwargs
from meshmark_tasks.cli import main
from meshmark_tasks.errors import MeshmarkError, ProfileError
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.profile import Profile, load_profile, profile_from_mapping

REPO = Path(__file__).resolve().parents[2]
AMBIENT_PROFILE = REPO / "profiles" / "cluster-sidecar-vs-ambient.yaml"
SETTINGS = KubernetesSettings()
SIDECAR_KINDS = sorted(kind for kind, facts in MESH_KINDS.items() if facts.sidecar)
TRAFFIC = ("warmup", "base")  # the containers that send load to the app


def profile_with(**changes: Any) -> Profile:
    data = load_profile(AMBIENT_PROFILE).model_dump(mode="python")
    meshes = changes.pop("meshes", None)
    if meshes is not None:
        data["meshes"] = meshes
    for key, value in changes.items():
        data[key] = value
    return profile_from_mapping(data, "test profile")


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


# --------------------------------------------------------------------------- the mesh kinds
def test_ambient_namespace_mtls_and_waypoint() -> None:
    profile = load_profile(AMBIENT_PROFILE)
    ambient = _by_kind(render_mesh_manifests(profile, profile.mesh("istio-ambient"), SETTINGS))
    labels = ambient["Namespace"]["metadata"]["labels"]
    assert labels["istio.io/dataplane-mode"] == "ambient"
    assert labels["istio-injection"] == "disabled" and "istio.io/use-waypoint" not in labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"  # nothing injected here
    assert ambient["PeerAuthentication"]["spec"] == {"mtls": {"mode": "STRICT"}}
    assert "Gateway" not in ambient
    assert ambient["Deployment"]["spec"]["template"]["metadata"]["annotations"] == {}

    waypoint = _by_kind(render_mesh_manifests(profile, profile.mesh("istio-waypoint"), SETTINGS))
    assert waypoint["Namespace"]["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"
    assert "pod-security.kubernetes.io/enforce" not in waypoint["Namespace"]["metadata"]["labels"]
    gateway = waypoint["Gateway"]
    assert gateway["metadata"]["name"] == "waypoint"
    assert gateway["metadata"]["labels"]["istio.io/waypoint-for"] == "service"
    assert gateway["spec"] == {
        "gatewayClassName": "istio-waypoint",
        "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
    }
    # placed on the profile's benchmark nodes
    pod_spec = waypoint["Deployment"]["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {"meshmark.io/benchmark": "true"}
    assert pod_spec["tolerations"] == [
        {"key": "meshmark.io/benchmark", "operator": "Exists", "effect": "NoSchedule"}
    ]

    plain = profile_with(
        meshes=[{"name": "amb", "kind": "istio-ambient", "network_functions": ["telemetry"]}]
    )
    kinds = [d["kind"] for d in render_mesh_manifests(plain, plain.mesh("amb"), SETTINGS)]
    assert kinds == ["Namespace", "Deployment", "Service"]  # always mTLS, nothing to turn it on


def test_cilium_policy_follows_the_network_functions() -> None:
    profile = load_profile(AMBIENT_PROFILE)
    docs = _by_kind(render_mesh_manifests(profile, profile.mesh("cilium"), SETTINGS))
    policy = docs["CiliumNetworkPolicy"]
    assert policy["spec"]["endpointSelector"] == {"matchLabels": {"app.kubernetes.io/name": "meshmark-app"}}
    (rule,) = policy["spec"]["ingress"]
    assert rule["fromEndpoints"] == [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "meshmark-cilium"}}]
    assert rule["authentication"] == {"mode": "required"}  # mtls: Cilium's mutual authentication
    (ports,) = rule["toPorts"]
    assert ports["ports"] == [{"port": "8080", "protocol": "TCP"}, {"port": "8079", "protocol": "TCP"}]
    assert ports["rules"] == {"http": [{}]}  # telemetry: every request through cilium-envoy

    def policy_of(functions: list[str]) -> dict[str, Any] | None:
        variant = profile_with(meshes=[{"name": "cil", "kind": "cilium", "network_functions": functions}])
        found = _by_kind(render_mesh_manifests(variant, variant.mesh("cil"), SETTINGS))
        return found.get("CiliumNetworkPolicy")

    assert policy_of([]) is None  # plain eBPF: no policy, no proxy
    only_mtls = policy_of(["mtls"])
    assert only_mtls is not None and "rules" not in only_mtls["spec"]["ingress"][0]["toPorts"][0]
    l7_only = policy_of(["retries"])
    assert l7_only is not None and "authentication" not in l7_only["spec"]["ingress"][0]
    other_ns = render_mesh_manifests(
        profile, profile.mesh("cilium"), KubernetesSettings(loadgen_namespace="lg")
    )
    rule = _by_kind(other_ns)["CiliumNetworkPolicy"]["spec"]["ingress"][0]
    assert rule["fromEndpoints"][0]["matchLabels"]["k8s:io.kubernetes.pod.namespace"] == "lg"


@pytest.mark.parametrize(
    ("mesh", "message"),
    [
        (
            {"name": "amb", "kind": "istio-ambient", "network_functions": ["retries"]},
            "retries need an L7 proxy, and ambient's ztunnel is L4 only: set waypoint: true",
        ),
        ({"name": "ist", "kind": "istio", "waypoint": True}, "only istio-ambient meshes have waypoints"),
    ],
)
def test_profile_refuses_what_a_kind_cannot_do(mesh: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile_with(meshes=[mesh])


@pytest.mark.parametrize(
    ("cluster", "field"),
    [
        ({"native_sidecars": "yes"}, "cluster.native_sidecars"),
        ({"idle_s": -1}, "cluster.idle_s"),
        ({"tolerations": [{"operator": "Maybe"}]}, "cluster.tolerations.0.operator"),
        ({"node_selector": {"a": 1}}, "cluster.node_selector.a"),
    ],
)
def test_bad_cluster_settings_name_the_field(cluster: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError, match=field.replace(".", r"\.")):
        profile_with(cluster=cluster)


def test_validators_catch_broken_mesh_resources() -> None:
    """The CRD excerpts can fail: a port out of range, an unknown field, a bad enum value."""
    profile = load_profile(AMBIENT_PROFILE)
    gateway = _by_kind(render_mesh_manifests(profile, profile.mesh("istio-waypoint"), SETTINGS))["Gateway"]
    validate_object(gateway)
    broken = {
        **gateway,
        "spec": {**gateway["spec"], "listeners": [{"name": "mesh", "port": 0, "protocol": "HBONE"}]},
    }
    with pytest.raises(Exception, match="0 is less than the minimum of 1"):
        validate_object(broken)
    with pytest.raises(Exception, match="infrastructur"):
        validate_object({**gateway, "spec": {**gateway["spec"], "infrastructur": {}}})
    policy = _by_kind(render_mesh_manifests(profile, profile.mesh("cilium"), SETTINGS))["CiliumNetworkPolicy"]
    validate_object(policy)
    rule = policy["spec"]["ingress"][0]
    with pytest.raises(Exception, match="'maybe' is not one of"):
        validate_object(
            {**policy, "spec": {**policy["spec"], "ingress": [{**rule, "authentication": {"mode": "maybe"}}]}}
        )
    # (upstream's port pattern anchors only its numeric branch at the start, so "99999" passes it;
    # the protocol enum is strict)
    with pytest.raises(Exception, match="'ICMP' is not one of"):
        bad_port = {**rule, "toPorts": [{"ports": [{"port": "8080", "protocol": "ICMP"}]}]}
        validate_object({**policy, "spec": {**policy["spec"], "ingress": [bad_port]}})


# --------------------------------------------------------------------------- warm-up and readiness
def inject(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    """What the mesh's injector makes of the pod, reading the annotations meshmark set."""
    facts = MESH_KINDS[kind]
    annotations = pod["metadata"].get("annotations") or {}
    spec = dict(pod["spec"])
    ours_init = list(spec.get("initContainers") or [])
    proxy_name = {"istio": "istio-proxy", "linkerd": "linkerd-proxy", "consul": "consul-dataplane"}[kind]
    mesh_init = {"name": f"{kind}-init"}  # iptables set-up (absent with the mesh's CNI plugin)
    native = bool(facts.native_sidecar_annotations) and all(
        annotations.get(k) == v for k, v in facts.native_sidecar_annotations.items()
    )
    hold = bool(facts.proxy_wait_annotations) and all(
        annotations.get(k) == v for k, v in facts.proxy_wait_annotations.items()
    )
    if native:
        proxy = {"name": proxy_name, "restartPolicy": "Always", "startupProbe": {}}
        spec["initContainers"] = [mesh_init, proxy, *ours_init]
    elif hold:
        spec["initContainers"] = [mesh_init, *ours_init]
        spec["containers"] = [{"name": proxy_name, "lifecycle": {"postStart": {}}}, *spec["containers"]]
    else:
        spec["initContainers"] = [mesh_init, *ours_init]
        spec["containers"] = [*spec["containers"], {"name": proxy_name}]
    return {**pod, "spec": spec}


def traffic_before_proxy(pod: dict[str, Any], proxy_name: str) -> list[str]:
    """Containers that send traffic while no proxy is ready, in the kubelet's start order."""
    ready = False
    early: list[str] = []
    for container in pod["spec"].get("initContainers") or []:
        if container["name"] == proxy_name:
            ready = True  # a native sidecar: the next init container starts after its startup probe
        elif container["name"] in TRAFFIC and not ready:
            early.append(f"init:{container['name']}")
    for container in pod["spec"]["containers"]:
        if container["name"] == proxy_name:
            # with a postStart hook the next container waits for the proxy; without, it may not
            ready = ready or "lifecycle" in container
        elif container["name"] in TRAFFIC and not ready:
            early.append(container["name"])
    return early


def sidecar_cases() -> list[tuple[str, bool, str]]:
    return [
        (kind, native, tool)
        for kind in SIDECAR_KINDS
        for native in (True, False)
        for tool in ("fortio", "nighthawk", "k6")
    ]


@pytest.mark.parametrize(("kind", "native", "tool"), sidecar_cases())
def test_no_warmup_traffic_before_a_proxy_exists(
    kube_connection: str, kind: str, native: bool, tool: str
) -> None:
    from test_pods_and_manifests import build_pod

    mesh = {"name": "m", "kind": kind, "network_functions": ["mtls"]}
    profile = profile_with(meshes=[mesh], load_generator={"tool": tool, "image": None, "options": {}})
    can_be_native = bool(MESH_KINDS[kind].native_sidecar_annotations)
    if tool == "fortio" and not (native and can_be_native):
        with pytest.raises(
            MeshmarkError, match=r"cell m-q1000-c64-b1024-http-r0: mesh 'm' .*native sidecars"
        ):
            build_pod(profile, native_sidecars=native)
        return
    pod = build_pod(profile, native_sidecars=native)  # the operator's own pod, validated below
    validate_object(pod)
    assert check_restricted_pss(pod) == []
    injected = inject(pod, kind)
    proxy = next(
        c["name"]
        for c in injected["spec"]["containers"] + injected["spec"]["initContainers"]
        if c["name"].endswith(("-proxy", "dataplane"))
    )
    assert traffic_before_proxy(injected, proxy) == []
    mode = pod["metadata"]["annotations"]["meshmark.io/warmup"]
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    if native and can_be_native:
        assert mode == "native-sidecar"
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["warmup"]
    else:
        assert mode == "in-container"
        assert not pod["spec"].get("initContainers")  # nothing may run before the proxy
        script = base["args"][0]
        # the warm-up runs first, its output discarded, then the measured run writes the result
        assert script.index("/dev/null") < script.index("/airflow/xcom/return.json")
        if tool == "k6":
            assert "MESHMARK_DURATION=15s k6 run" in script and script.rstrip().endswith("/tmp/meshmark.js")


def test_the_model_catches_a_warmup_init_container_in_an_injected_pod(kube_connection: str) -> None:
    """The trap this design avoids (istio/istio#4341, #11130): without native sidecars an init
    container runs before the proxy exists."""
    from test_pods_and_manifests import build_pod

    profile = profile_with(meshes=[{"name": "m", "kind": "istio"}])
    pod = build_pod(profile, native_sidecars=True)
    # the old layout: a warm-up init container, the measured container held for a non-native proxy
    pod["metadata"]["annotations"] = dict(MESH_KINDS["istio"].proxy_wait_annotations)
    assert traffic_before_proxy(inject(pod, "istio"), "istio-proxy") == ["init:warmup"]
    pod["metadata"]["annotations"] = {}  # and nothing held at all
    pod["spec"]["initContainers"] = []
    assert traffic_before_proxy(inject(pod, "istio"), "istio-proxy") == ["base"]


@pytest.mark.parametrize("mesh", ["istio-ambient", "istio-waypoint", "cilium", "baseline"])
def test_sidecarless_pods_warm_up_in_an_init_container_after_an_idle_stretch(
    kube_connection: str, mesh: str
) -> None:
    profile = load_profile(AMBIENT_PROFILE)
    cell = next(c for c in expand_matrix(profile) if c.mesh == mesh)
    kwargs = loadgen_pod_kwargs(profile, cell, SETTINGS)
    names = [c["name"] for c in kwargs["init_containers"]]
    node_level = bool(MESH_KINDS[profile.mesh(mesh).kind].node_agents)
    assert names == (["idle", "warmup"] if node_level else ["warmup"])
    assert kwargs["annotations"]["meshmark.io/warmup"] == "init-container"
    assert not {"sidecar.istio.io/nativeSidecar", "proxy.istio.io/config"} & set(kwargs["annotations"])
    if node_level:
        idle = kwargs["init_containers"][0]
        assert idle["command"] == ["sleep", "45"] and idle["image"] == SETTINGS.wait_image
        assert kwargs["active_deadline_seconds"] == 45 + 15 + 120 + SETTINGS.deadline_slack_s
    assert kwargs["node_selector"] == {"meshmark.io/benchmark": "true"}


# --------------------------------------------------------------------------- native sidecars, detected
class VersionHook:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0
        self.api_client = self

    def call_api(self, path: str, method: str, **_: Any) -> Any:
        self.calls += 1
        assert (method, path) == ("GET", "/version")
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _plan(profile: Profile) -> RunPlan:
    return RunPlan(
        profile=profile,
        profile_path="p.yaml",
        backend="kubernetes",
        storage_root="/tmp/unused",
        meshes=tuple(m.name for m in profile.meshes),
        cells=tuple(expand_matrix(profile)),
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"major": "1", "minor": "28"}, False),
        ({"major": "1", "minor": "29+"}, True),
        ({"major": "1", "minor": "33"}, True),
        (ConnectionRefusedError("no cluster"), False),
        ({"kind": "Status"}, False),
    ],
)
def test_native_sidecars_auto_asks_the_cluster_once(
    monkeypatch: pytest.MonkeyPatch, answer: Any, expected: bool
) -> None:
    from meshmark_tasks.backends.kubernetes import backend as k8s_backend

    hook = VersionHook(answer)
    monkeypatch.setattr(k8s_backend, "kubernetes_hook", lambda settings: hook)
    plan = _plan(profile_with(cluster={"native_sidecars": "auto"}, load_generator={"tool": "k6"}))
    backend = KubernetesBackend(KubernetesSettings())
    assert backend.native_sidecars(plan) is expected
    backend.pod_kwargs(plan)
    assert hook.calls == 1
    # the profile's word, or the setting, needs no question
    assert KubernetesBackend(KubernetesSettings(native_sidecars=True)).native_sidecars(plan) is True
    assert (
        KubernetesBackend().native_sidecars(_plan(profile_with(cluster={"native_sidecars": False}))) is False
    )
    sidecarless = profile_with(
        meshes=[{"name": "amb", "kind": "istio-ambient"}], cluster={"native_sidecars": "auto"}
    )
    assert KubernetesBackend(KubernetesSettings()).native_sidecars(_plan(sidecarless)) is False
    assert hook.calls == 1


def test_native_sidecars_setting_from_env() -> None:
    assert KubernetesSettings.from_env({"MESHMARK_K8S_NATIVE_SIDECARS": "true"}).native_sidecars is True
    assert KubernetesSettings.from_env({}).native_sidecars is None
    with pytest.raises(MeshmarkError, match="MESHMARK_K8S_NATIVE_SIDECARS: expected true or false"):
        KubernetesSettings.from_env({"MESHMARK_K8S_NATIVE_SIDECARS": "sometimes"})


# --------------------------------------------------------------------------- meshmark render
def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_render_prints_every_object_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("render", "--profile", str(AMBIENT_PROFILE))
    assert code == 0, err
    assert "native sidecars on (the profile's cluster.native_sidecars)" in err
    docs = [d for d in yaml.safe_load_all(out) if d]
    profile = load_profile(AMBIENT_PROFILE)
    pods = [d for d in docs if d["kind"] == "Pod"]
    assert len(pods) == len(expand_matrix(profile)) == 24
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "PeerAuthentication",
        "Gateway",
        "CiliumNetworkPolicy",
        "Deployment",
        "Service",
    } <= kinds
    for doc in docs:
        validate_object(doc)  # the Kubernetes 1.33 schema, or the CRD's
        assert check_restricted_pss(doc) == [], doc["metadata"]["name"]
    # what the backend submits: its manifests and its pod arguments, the operator's pod assembly
    expected = [d for mesh in profile.meshes for d in render_mesh_manifests(profile, mesh, SETTINGS)]
    assert [d for d in docs if d["kind"] != "Pod"] == expected
    assert all(any(c["name"] == "airflow-xcom-sidecar" for c in p["spec"]["containers"]) for p in pods)


def test_render_one_cell_and_bad_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cell = "istio-waypoint-q4000-c64-b1024-http-r1"
    code, out, _ = run_cli("render", "--profile", str(AMBIENT_PROFILE), "--cell", cell)
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert [d["kind"] for d in docs] == [
        "Namespace",
        "PeerAuthentication",
        "Gateway",
        "Deployment",
        "Service",
        "Pod",
    ]
    assert docs[-1]["metadata"]["labels"]["meshmark.io/cell"] == cell
    assert out.startswith("# mesh istio-waypoint: manifests in apply order\n")

    code, out, err = run_cli("render", "--profile", str(AMBIENT_PROFILE), "--cell", "nope")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        "meshmark: error: cell 'nope' is not in the run plan of profile 'cluster-sidecar-vs-ambient'"
    )
    code, out, err = run_cli("render", "--profile", str(AMBIENT_PROFILE), "--native-sidecars", "false")
    assert (code, out) == (2, "")
    assert "cell istio-sidecar-q1000-c64-b1024-http-r0: mesh 'istio-sidecar' (istio)" in err.splitlines()[-1]
    code, _, err = run_cli("render", "--profile", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err and len(err.strip().splitlines()) == 1
