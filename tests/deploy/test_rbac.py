"""deploy/kubernetes/rbac.yaml: valid objects, and exactly the access the kubernetes backend needs.

Validated offline with kubernetes-validate (strict). Access is checked with a small evaluator of
RBAC's documented matching rules (apiGroups, resources incl. subresources, verbs, resourceNames;
Roles bound per namespace, ClusterRoles through ClusterRoleBindings) against what the backend does:
server-side apply (create + patch) and delete of every object render_mesh_manifests produces for
every shipped cluster profile (profiles/cluster-*.yaml), and the KubernetesPodOperator's pod calls.
And against what it must not do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from meshmark_tasks.backends.kubernetes import KubernetesSettings, render_mesh_manifests
from meshmark_tasks.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "kubernetes" / "rbac.yaml"
COMPOSE_TOKEN = REPO / "deploy" / "kubernetes" / "compose-token.yaml"
# Every shipped profile meant for a cluster: a new one must come with its namespaces' access.
CLUSTER_PROFILES = sorted((REPO / "profiles").glob("cluster-*.yaml"))
KUBERNETES_VERSION = "1.33.0"
SERVICE_ACCOUNT = ("airflow", "meshmark-airflow")

# What the KubernetesPodOperator (apache-airflow-providers-cncf-kubernetes 10.25) does with the
# load-generator pod in its namespace, read from the provider's source:
POD_NEEDS = [("", "pods", verb) for verb in ("create", "get", "list", "watch", "patch", "delete")] + [
    # operators/pod.py: read_namespaced_pod_log (streamed into the task log).
    ("", "pods/log", "get"),
    # operators/pod.py: connect_get_namespaced_pod_exec for the XCom sidecar's result. The exec is a
    # websocket upgrade: API servers authorize it as "get" before Kubernetes 1.31 (the
    # AuthorizePodWebsocketUpgradeCreatePermission gate) and as "create" from then on.
    ("", "pods/exec", "get"),
    ("", "pods/exec", "create"),
    # utils/pod_manager.py read_pod_events: list_namespaced_event; hooks/kubernetes.py
    # watch_pod_events: a watch on list_namespaced_event (the deferrable path).
    ("", "events", "list"),
    ("", "events", "watch"),
]


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str  # plural, with "/subresource" where there is one
    namespace: str | None
    name: str | None = None


def load_rbac() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc]


def rule_allows(rule: dict[str, Any], request: Request) -> bool:
    names = rule.get("resourceNames") or []
    return (
        request.group in rule.get("apiGroups", [])
        and request.resource in rule.get("resources", [])
        and request.verb in rule.get("verbs", [])
        and (not names or request.name in names)
    )


def bound_to_account(binding: dict[str, Any]) -> bool:
    namespace, name = SERVICE_ACCOUNT
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == name and s.get("namespace") == namespace
        for s in binding.get("subjects", [])
    )


def allowed(docs: list[dict[str, Any]], request: Request) -> bool:
    """Would the API server's RBAC authorizer let the service account make this request?"""
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not bound_to_account(binding):
            continue
        binding_ns = binding["metadata"].get("namespace")
        if binding["kind"] == "RoleBinding" and request.namespace != binding_ns:
            continue
        ref = binding["roleRef"]
        role_ns = binding_ns if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        if role and any(rule_allows(rule, request) for rule in role.get("rules", [])):
            return True
    return False


def group_and_resource(doc: dict[str, Any]) -> tuple[str, str]:
    from meshmark_tasks.backends.kubernetes.apply import KINDS

    api_version = doc["apiVersion"]
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group, KINDS[(api_version, doc["kind"])].plural


@pytest.fixture(scope="module")
def rbac() -> list[dict[str, Any]]:
    return load_rbac()


def cluster_profiles() -> list[Profile]:
    assert len(CLUSTER_PROFILES) >= 2, CLUSTER_PROFILES
    return [load_profile(path) for path in CLUSTER_PROFILES]


@pytest.fixture(scope="module")
def mesh_manifests() -> list[dict[str, Any]]:
    settings = KubernetesSettings()
    return [
        doc
        for profile in cluster_profiles()
        for mesh in profile.meshes
        for doc in render_mesh_manifests(profile, mesh, settings)
    ]


def test_every_object_is_valid_for_kubernetes(rbac: list[dict[str, Any]]) -> None:
    for doc in rbac:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_namespace_and_bound_role_for_each_mesh_of_the_cluster_profiles(rbac: list[dict[str, Any]]) -> None:
    settings = KubernetesSettings()
    expected = {
        settings.namespace_for(mesh.name) for profile in cluster_profiles() for mesh in profile.meshes
    }
    namespaces = {d["metadata"]["name"] for d in rbac if d["kind"] == "Namespace"}
    roles = {d["metadata"]["namespace"] for d in rbac if d["kind"] == "Role"}
    bindings = {
        d["metadata"]["namespace"] for d in rbac if d["kind"] == "RoleBinding" and bound_to_account(d)
    }
    assert namespaces == roles == bindings == expected


def test_provisioning_and_teardown_are_allowed(
    rbac: list[dict[str, Any]], mesh_manifests: list[dict[str, Any]]
) -> None:
    """Server-side apply of each rendered object (patch, and create when new) and its deletion."""
    kinds = {doc["kind"] for doc in mesh_manifests}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "PeerAuthentication",
        "Gateway",
        "CiliumNetworkPolicy",
    } <= kinds
    for doc in mesh_manifests:
        group, resource = group_and_resource(doc)
        namespace = doc["metadata"].get("namespace")
        name = doc["metadata"]["name"]
        verbs = ["create", "patch"] + (["delete"] if namespace else [])
        for verb in verbs:
            request = Request(verb, group, resource, namespace, name)
            assert allowed(rbac, request), f"{doc['kind']}/{name}: {request} is not allowed"


def test_load_generator_pods_are_allowed_in_each_benchmark_namespace(rbac: list[dict[str, Any]]) -> None:
    settings = KubernetesSettings()
    for mesh in (mesh for profile in cluster_profiles() for mesh in profile.meshes):
        namespace = settings.loadgen_namespace_for(mesh.name)
        for group, resource, verb in POD_NEEDS:
            request = Request(verb, group, resource, namespace, "loadgen-pod")
            assert allowed(rbac, request), f"{request} is not allowed"


@pytest.mark.parametrize(
    "request_",
    [
        Request("create", "", "pods", "default"),
        Request("create", "", "pods", "kube-system"),
        Request("create", "", "namespaces", None, "kube-system"),
        Request("patch", "", "namespaces", None, "default"),
        Request("delete", "", "namespaces", None, "meshmark-istio"),  # would delete our own Roles
        Request("get", "", "secrets", "meshmark-istio", "any"),
        Request("list", "", "secrets", "meshmark-istio"),
        Request("get", "", "configmaps", "meshmark-baseline", "any"),
        Request("create", "rbac.authorization.k8s.io", "roles", "meshmark-istio"),
        Request("create", "", "pods/exec", "airflow", "scheduler-0"),
        Request("deletecollection", "", "pods", "meshmark-linkerd"),
        Request("create", "cilium.io", "ciliumclusterwidenetworkpolicies", None, "any"),
        Request("create", "cilium.io", "ciliumnetworkpolicies", "kube-system", "any"),
        Request("create", "gateway.networking.k8s.io", "gateways", "istio-system", "any"),
        Request("list", "", "pods", "istio-system"),  # the node agents are read from Prometheus only
    ],
    ids=lambda r: f"{r.verb}-{r.resource}-{r.namespace}-{r.name}",
)
def test_nothing_beyond_the_benchmark_namespaces(rbac: list[dict[str, Any]], request_: Request) -> None:
    assert not allowed(rbac, request_)


def test_no_wildcards(rbac: list[dict[str, Any]]) -> None:
    for doc in rbac:
        for rule in doc.get("rules", []):
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), f"{doc['kind']}/{doc['metadata']['name']}: {key} has *"


def test_evaluator_sees_cluster_role_bindings() -> None:
    """The evaluator itself: a ClusterRole bound cluster-wide allows, a foreign subject does not."""
    docs = [
        {
            "kind": "ClusterRole",
            "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "b"},
            "roleRef": {"kind": "ClusterRole", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "meshmark-airflow", "namespace": "airflow"}],
        },
    ]
    assert allowed(docs, Request("get", "", "pods", "anywhere", "p"))
    assert not allowed(docs, Request("list", "", "pods", "anywhere"))
    docs[1]["subjects"][0]["namespace"] = "other"
    assert not allowed(docs, Request("get", "", "pods", "anywhere", "p"))


def test_the_compose_token_is_a_long_lived_token_of_the_service_account(rbac: list[dict[str, Any]]) -> None:
    """Docker Compose runs outside the cluster: its kubeconfig needs a token that does not expire."""
    docs = [d for d in yaml.safe_load_all(COMPOSE_TOKEN.read_text()) if d]
    assert len(docs) == 1
    secret = docs[0]
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/service-account-token"
    namespace, name = SERVICE_ACCOUNT
    assert secret["metadata"]["namespace"] == namespace
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == name
    assert any(d["kind"] == "ServiceAccount" and d["metadata"]["name"] == name for d in rbac)
    assert "data" not in secret and "stringData" not in secret, "the token controller fills the token in"
