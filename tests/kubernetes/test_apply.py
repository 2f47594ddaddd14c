"""apply/delete go through the hook's API client as server-side apply; a fake records the requests.

No Kubernetes API server runs here: these tests check what is sent (paths, verbs, field manager,
content type) and that repeating it is harmless, not what a real server does with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from meshmark_tasks.backends.kubernetes import (
    KubernetesSettings,
    apply_manifests,
    delete_manifests,
    render_mesh_manifests,
)
from meshmark_tasks.backends.kubernetes.apply import object_path
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RecordingApiClient:
    """Stands in for kubernetes.client.ApiClient.call_api; keeps server-side-apply state by path."""

    calls: list[tuple[str, str, tuple[tuple[str, str], ...], str | None]] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_with: int | None = None

    def call_api(self, path: str, method: str, **kwargs: Any) -> dict[str, Any]:
        content_type = (kwargs.get("header_params") or {}).get("Content-Type")
        self.calls.append((method, path, tuple(kwargs.get("query_params") or ()), content_type))
        if self.fail_with:
            raise ApiException(status=self.fail_with, reason="Unprocessable Entity")
        if method == "PATCH":
            self.objects[path] = kwargs["body"]
            return kwargs["body"]
        if method == "DELETE":
            if path not in self.objects:
                raise ApiException(status=404, reason="Not Found")
            return {"kind": "Status", "status": "Success", "object": self.objects.pop(path)}
        raise AssertionError(f"unexpected {method} {path}")


@dataclass
class FakeHook:
    api_client: RecordingApiClient = field(default_factory=RecordingApiClient)


def istio_docs() -> list[dict[str, Any]]:
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    return render_mesh_manifests(profile, profile.mesh("istio"), KubernetesSettings())


def test_apply_is_server_side_and_idempotent() -> None:
    hook = FakeHook()
    docs = istio_docs()
    apply_manifests(hook, docs)
    first = list(hook.api_client.calls)
    assert [(m, p) for m, p, _, _ in first] == [
        ("PATCH", "/api/v1/namespaces/meshmark-istio"),
        ("PATCH", "/apis/security.istio.io/v1/namespaces/meshmark-istio/peerauthentications/default"),
        ("PATCH", "/apis/apps/v1/namespaces/meshmark-istio/deployments/meshmark-app"),
        ("PATCH", "/api/v1/namespaces/meshmark-istio/services/meshmark-app"),
    ]
    for _, _, query, content_type in first:
        assert content_type == "application/apply-patch+yaml"
        assert dict(query) == {"fieldManager": "meshmark", "force": "true"}
    state = dict(hook.api_client.objects)

    apply_manifests(hook, docs)
    assert hook.api_client.calls[len(first) :] == first  # the same requests again
    assert hook.api_client.objects == state  # and the same end state


def test_delete_goes_in_reverse_keeps_the_namespace_and_ignores_missing_objects() -> None:
    hook = FakeHook()
    docs = istio_docs()
    apply_manifests(hook, docs)
    hook.api_client.calls.clear()
    delete_manifests(hook, docs)
    deleted = [p for m, p, _, _ in hook.api_client.calls if m == "DELETE"]
    assert deleted == [object_path(d) for d in reversed(docs) if d["kind"] != "Namespace"]
    assert [m for m, _, _, _ in hook.api_client.calls] == ["DELETE"] * (len(docs) - 1)
    # The namespace stays: it holds the Roles that let Airflow in (no RBAC to delete it).
    assert list(hook.api_client.objects) == ["/api/v1/namespaces/meshmark-istio"]
    delete_manifests(hook, docs)  # everything else is gone now: 404s are fine


def test_api_errors_name_the_object() -> None:
    hook = FakeHook(RecordingApiClient(fail_with=422))
    with pytest.raises(MeshmarkError, match=r"applying Namespace/meshmark-istio failed: HTTP 422"):
        apply_manifests(hook, istio_docs())
    with pytest.raises(
        MeshmarkError, match=r"deleting Service/meshmark-app in meshmark-istio failed: HTTP 422"
    ):
        delete_manifests(hook, istio_docs())


def test_unknown_kinds_fail_before_anything_is_sent() -> None:
    hook = FakeHook()
    docs = [
        *istio_docs(),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}},
    ]
    with pytest.raises(MeshmarkError, match="kind Secret is not one meshmark applies"):
        apply_manifests(hook, docs)
    assert hook.api_client.calls == []
