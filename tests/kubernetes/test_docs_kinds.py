"""docs/kubernetes-backend.md keeps a table per mesh kind that names what MESH_KINDS uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshmark_tasks.backends.kubernetes.mesh_kinds import MESH_KINDS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "kubernetes-backend.md").read_text(encoding="utf-8")


def section(kind: str) -> str:
    start = DOC.index(f"#### `{kind}`\n")
    end = DOC.find("\n#### ", start + 1)
    return DOC[start : end if end != -1 else None]


@pytest.mark.parametrize("kind", sorted(MESH_KINDS))
def test_each_kind_has_its_table_naming_its_containers_and_annotations(kind: str) -> None:
    facts = MESH_KINDS[kind]
    text = section(kind)
    for row in ("installed or labelled", "data plane", "control plane", "warm-up", "proxy readiness"):
        assert f"| {row} |" in text, (kind, row)
    for annotation in (*facts.native_sidecar_annotations, *facts.proxy_wait_annotations):
        assert f"`{annotation}" in text, (kind, annotation)  # as `key` or `key: value`
    names = list(facts.proxy_containers)
    for selector in (*facts.node_agents, *facts.control_plane):
        names += [selector.namespace, *selector.containers]
        names += [f"{p}-*" for p in (selector.pod_prefix,) if p] + [
            f"{p}-*" for p in selector.exclude_pod_prefixes
        ]
    for name in names:
        assert f"`{name}`" in text, (kind, name)
