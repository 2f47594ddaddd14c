"""Execution backends behind one interface (backends/base.py): `local`, a real testbed on this
machine, and `kubernetes`, load-generator pods on a cluster. `backend_for(name)` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshmark_tasks.constants import BACKEND_NAMES, KUBERNETES, LOCAL
from meshmark_tasks.errors import ProfileError

if TYPE_CHECKING:
    from meshmark_tasks.backends.base import Backend


def backend_for(name: str) -> Backend:
    """The backend called `name`. Each is imported on first use: the local testbed and the
    kubernetes client do not load each other."""
    if name == LOCAL:
        from meshmark_tasks.backends.local.backend import LocalBackend

        return LocalBackend()
    if name == KUBERNETES:
        from meshmark_tasks.backends.kubernetes.backend import KubernetesBackend

        return KubernetesBackend()
    raise ProfileError(f"backend {name!r} is not one of {', '.join(BACKEND_NAMES)}")
