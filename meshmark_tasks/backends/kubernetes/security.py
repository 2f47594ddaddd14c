"""Security contexts that meet the restricted Pod Security Standard, for every container meshmark starts.

Both the load-generator pods (pods.py) and the application under test (manifests.py) use these, so
they live apart from either (pss.py checks them).
"""

from __future__ import annotations

from typing import Any

from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings


def restricted_pod_security_context(settings: KubernetesSettings) -> dict[str, Any]:
    """Pod-level defaults that satisfy the restricted Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": settings.run_as_user,
        "runAsGroup": settings.run_as_user,
        "fsGroup": settings.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security_context() -> dict[str, Any]:
    """Container-level settings the restricted profile requires (repeated per container on purpose:
    a container-level value would override the pod default, so each one states it)."""
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
