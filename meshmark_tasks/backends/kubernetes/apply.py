"""Idempotent apply and teardown of rendered manifests through the KubernetesHook's API client.

Server-side apply (PATCH with application/apply-patch+yaml, a field manager and force) is idempotent
by design: applying the same documents twice sends the same requests and leaves the objects as they
are, and it works for custom resources (Istio's PeerAuthentication, the Gateway API's Gateway,
Cilium's CiliumNetworkPolicy) without a typed client. The
REST path of each kind is looked up in a small table rather than by discovery, so no extra round
trips are made and an unknown kind fails before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from meshmark_tasks.errors import MeshmarkError


@dataclass(frozen=True)
class KindInfo:
    plural: str
    namespaced: bool


KINDS: dict[tuple[str, str], KindInfo] = {
    ("v1", "Namespace"): KindInfo("namespaces", namespaced=False),
    ("v1", "Service"): KindInfo("services", namespaced=True),
    ("v1", "ServiceAccount"): KindInfo("serviceaccounts", namespaced=True),
    ("v1", "ConfigMap"): KindInfo("configmaps", namespaced=True),
    ("apps/v1", "Deployment"): KindInfo("deployments", namespaced=True),
    ("security.istio.io/v1", "PeerAuthentication"): KindInfo("peerauthentications", namespaced=True),
    ("security.istio.io/v1beta1", "PeerAuthentication"): KindInfo("peerauthentications", namespaced=True),
    ("gateway.networking.k8s.io/v1", "Gateway"): KindInfo("gateways", namespaced=True),  # Istio's waypoint
    ("cilium.io/v2", "CiliumNetworkPolicy"): KindInfo("ciliumnetworkpolicies", namespaced=True),
}


class _HasApiClient(Protocol):
    @property
    def api_client(self) -> Any: ...


def object_path(doc: dict[str, Any]) -> str:
    """REST path of one object, e.g. /apis/apps/v1/namespaces/ns/deployments/name."""
    api_version = doc.get("apiVersion", "")
    kind = doc.get("kind", "")
    metadata = doc.get("metadata") or {}
    name = metadata.get("name")
    info = KINDS.get((api_version, kind))
    if info is None:
        raise MeshmarkError(
            f"manifest {kind}/{name}: apiVersion {api_version} kind {kind} is not one meshmark applies"
        )
    if not name:
        raise MeshmarkError(f"manifest {kind}: metadata.name is missing")
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if info.namespaced:
        namespace = metadata.get("namespace")
        if not namespace:
            raise MeshmarkError(f"manifest {kind}/{name}: metadata.namespace is missing")
        return f"{prefix}/namespaces/{namespace}/{info.plural}/{name}"
    return f"{prefix}/{info.plural}/{name}"


def _describe(doc: dict[str, Any]) -> str:
    metadata = doc.get("metadata") or {}
    ns = metadata.get("namespace")
    return f"{doc.get('kind')}/{metadata.get('name')}" + (f" in {ns}" if ns else "")


def apply_manifests(hook: _HasApiClient, docs: list[dict[str, Any]], field_manager: str = "meshmark") -> None:
    """Server-side apply every document in order (Namespace first, as rendered)."""
    from kubernetes.client.exceptions import ApiException

    api_client = hook.api_client
    paths = [object_path(doc) for doc in docs]  # fail on an unknown kind before changing anything
    for doc, path in zip(docs, paths, strict=True):
        try:
            api_client.call_api(
                path,
                "PATCH",
                query_params=[("fieldManager", field_manager), ("force", "true")],
                header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                body=doc,
                response_types_map={200: "object", 201: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise MeshmarkError(
                f"applying {_describe(doc)} failed: HTTP {exc.status} {exc.reason}: {exc.body}"
            ) from exc


def delete_manifests(hook: _HasApiClient, docs: list[dict[str, Any]]) -> None:
    """Delete in reverse order; objects already gone (404) are fine. Namespaces are kept.

    The benchmark namespaces hold the Roles that let Airflow in (deploy/kubernetes/rbac.yaml), so
    deleting one would lock the next run out; the RBAC grants no namespace deletion for that reason.
    """
    from kubernetes.client.exceptions import ApiException

    api_client = hook.api_client
    for doc in reversed(docs):
        if doc.get("kind") == "Namespace":
            continue
        path = object_path(doc)
        try:
            api_client.call_api(
                path,
                "DELETE",
                query_params=[("propagationPolicy", "Foreground")],
                header_params={"Accept": "application/json"},
                response_types_map={200: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise MeshmarkError(
                f"deleting {_describe(doc)} failed: HTTP {exc.status} {exc.reason}: {exc.body}"
            ) from exc
