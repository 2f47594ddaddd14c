"""The local testbed behind the Backend interface.

The testbed itself (processes, sidecars, load generator, sampler) lives in runner.py and its
helpers; this adapter only maps a run onto them: one working directory per run (certificates,
rendered configs, pid files), one cell at a time inside the mapped `run_cell` task.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from meshmark_tasks.backends.base import Backend, CellHandoff
from meshmark_tasks.backends.local.runner import provision, run_cell, teardown
from meshmark_tasks.constants import LOCAL, BackendName
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.storage import safe_run_id


def local_workdir(run_id: str) -> Path:
    """Where the local testbed keeps a run's certificates, configs and pid files."""
    return Path(tempfile.gettempdir()) / f"meshmark-{safe_run_id(run_id)}"


class LocalBackend(Backend):
    name: ClassVar[BackendName] = LOCAL

    def provision(self, plan: RunPlan, run_id: str) -> list[str]:
        workdir = local_workdir(run_id)
        provision(plan.profile, workdir)
        return [f"{mesh}: local configs in {workdir}" for mesh in plan.meshes]

    def measure(
        self, plan: RunPlan, cell: Cell, run_id: str, scratch: Path, handoff: CellHandoff | None = None
    ) -> CellMeasurement:
        if handoff is not None:
            raise MeshmarkError(
                f"cell {cell.cell_id}: the local backend runs its cells itself, nothing to collect"
            )
        return run_cell(plan.profile, cell, local_workdir(run_id), scratch)

    def teardown(self, plan: RunPlan, run_id: str) -> None:
        teardown(local_workdir(run_id))
