"""Fixtures of the local-backend tests: small profiles and a throw-away run directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import teardown
from meshmark_tasks.backends.local.processes import processes_mentioning
from meshmark_tasks.profile import Profile, profile_from_mapping

SIDECAR_RESOURCES = {
    "app": {"limits": {"cpu": "1", "memory": "256Mi"}},
    "dataplane": {"limits": {"cpu": "500m", "memory": "128Mi"}},
    "dataplane_proxies": 2,
}


def make_profile(
    *,
    meshes: list[dict[str, Any]] | None = None,
    qps: list[Any] | None = None,
    connections: int = 16,
    duration_s: float = 4,
    warmup_s: float = 1,
    payload_bytes: int = 1024,
    repetitions: int = 1,
) -> Profile:
    return profile_from_mapping(
        {
            "name": "local-backend-test",
            "meshes": meshes
            or [
                {"name": "baseline", "kind": "baseline", "resources": {"app": SIDECAR_RESOURCES["app"]}},
                {"name": "sidecar", "kind": "local-sidecar", "resources": SIDECAR_RESOURCES},
                {
                    "name": "sidecar-mtls",
                    "kind": "local-sidecar",
                    "network_functions": ["mtls"],
                    "resources": SIDECAR_RESOURCES,
                },
            ],
            "load_generator": {"tool": "k6"},
            "matrix": {
                "qps": qps or [200],
                "connections": [connections],
                "payload_bytes": [payload_bytes],
                "protocol": ["http"],
            },
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "repetitions": repetitions,
            "slo": {"p99_ms": 50},
        },
        "test profile",
    )


@pytest.fixture
def profile_factory() -> Any:
    """make_profile(**overrides): a small local profile (baseline, sidecar, sidecar-mtls at 200 req/s)."""
    return make_profile


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "run"
    yield path
    teardown(path)
    leftovers = processes_mentioning(str(path))
    for proc in leftovers:  # don't let one failed test poison the machine for the next ones
        proc.kill()
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"
