"""The fidelity benchmark's "real change": a fixed amount of extra app work per request, per mesh.

Real cells: the same baseline load point with and without 512 KiB of SHA-256 per request (about
0.3 ms of CPU on an idle machine of this kind, more when it is busy), one after the other. The
change is large on purpose, so a busy shared machine cannot hide it; benchmarks/bench_fidelity.py
measures the small ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import provision, run_cell
from meshmark_tasks.backends.local.processes import processes_mentioning
from meshmark_tasks.backends.local.settings import TestbedSettings
from meshmark_tasks.matrix import expand_matrix

pytestmark = pytest.mark.testbed

WORK_KIB = 512


def test_app_work_per_request_moves_latency_and_app_cpu_of_that_mesh_only(
    workdir: Path, tmp_path: Path, profile_factory: Any
) -> None:
    profile = profile_factory(duration_s=3, meshes=[{"name": "baseline", "kind": "baseline"}])
    cell = expand_matrix(profile)[0]
    provision(profile, workdir)
    plain = run_cell(profile, cell, workdir, tmp_path / "plain", settings=TestbedSettings())
    other_mesh = run_cell(
        profile,
        cell,
        workdir,
        tmp_path / "other",
        settings=TestbedSettings(app_work_kib={"sidecar": WORK_KIB}),
    )
    changed = run_cell(
        profile,
        cell,
        workdir,
        tmp_path / "changed",
        settings=TestbedSettings(app_work_kib={"baseline": WORK_KIB}),
    )
    for m in (plain, other_mesh, changed):
        assert m.failure is None, m.failure
        assert m.result is not None and m.resources is not None and m.resources.cpu_cores_app is not None
    assert changed.conditions is not None and changed.conditions["settings"]["app_work_kib"] == {
        "baseline": WORK_KIB
    }
    # 200 req/s x ~0.3 ms of hashing: about +0.06 cores, and every request ~0.3 ms slower.
    assert changed.result.latency_ms_p50 > plain.result.latency_ms_p50 + 0.1, (plain.result, changed.result)
    assert changed.resources.cpu_cores_app > plain.resources.cpu_cores_app + 0.02
    # Work configured for another mesh does not touch this one.
    assert other_mesh.result.latency_ms_p50 < changed.result.latency_ms_p50 - 0.1
    assert processes_mentioning(str(workdir)) == []


def _access_log_lines(workdir: Path, cell_id: str) -> int:
    log = workdir / "cells" / cell_id / "server-sidecar.access.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_access_logging_of_one_request_in_n(workdir: Path, tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory(duration_s=2, meshes=[{"name": "sidecar", "kind": "local-sidecar"}])
    cell = expand_matrix(profile)[0]
    provision(profile, workdir)
    counts = {}
    for every in (None, 1, 4):
        settings = TestbedSettings(access_log_every={} if every is None else {"sidecar": every})
        m = run_cell(profile, cell, workdir, tmp_path / str(every), settings=settings)
        assert m.failure is None, m.failure
        counts[every] = _access_log_lines(workdir, cell.cell_id)
    # The probe, a 1 s warm-up and a 2 s window at 200 req/s: about 600 requests through the sidecars.
    assert counts[None] == 0  # a plain sidecar writes no access log
    assert 550 <= counts[1] <= 650, counts
    # One in four, plus the first entry of every second.
    assert 0.2 * counts[1] <= counts[4] <= 0.35 * counts[1], counts
