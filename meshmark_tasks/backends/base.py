"""The one interface every execution backend implements, and what a separately run cell hands back.

A nightly run asks its backend for three things, in this order:

1. `provision(plan, run_id)`: prepare every mesh configuration of the plan (idempotent: a retried
   task or a re-run applies the same state again);
2. `measure(plan, cell, run_id, scratch, handoff)`: one cell's CellMeasurement. The `local` backend
   runs the load test right there; the `kubernetes` backend's load test ran in its own Airflow task
   (a KubernetesPodOperator pod), so `measure` collects: `handoff` carries what that task returned;
3. `teardown(plan, run_id)`: remove what provision created; safe after failures and twice.

A failed load test is a measurement with `failure` set, not an exception; exceptions are for
infrastructure errors (and Airflow's retries). Backends never write to the store: `measure` leaves
the raw output in `scratch` (CellMeasurement.raw_path) and the pipeline keeps it under the root.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from meshmark_tasks.constants import BackendName

if TYPE_CHECKING:
    from meshmark_tasks.matrix import Cell
    from meshmark_tasks.measurement import CellMeasurement
    from meshmark_tasks.plan import RunPlan


@dataclass(frozen=True)
class CellHandoff:
    """What a cell's own load-test task handed back (kubernetes: the pod task).

    `value` is the task's return value (the load generator's result from the pod's XCom sidecar),
    None when it returned none (the pod failed before writing one, or the task was marked failed).
    `started_at`/`finished_at` are the load-generator container's own start and end, when known:
    the measured window for tools whose output carries no timestamps.
    """

    value: Any
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Backend(ABC):
    """Where the load tests of a run execute; see the module docstring for the contract."""

    name: ClassVar[BackendName]

    @abstractmethod
    def provision(self, plan: RunPlan, run_id: str) -> list[str]:
        """Prepare every mesh configuration of the plan; returns one line per mesh for the log."""

    @abstractmethod
    def measure(
        self, plan: RunPlan, cell: Cell, run_id: str, scratch: Path, handoff: CellHandoff | None = None
    ) -> CellMeasurement:
        """Run (local) or collect (kubernetes, from `handoff`) one cell; raw output goes to `scratch`."""

    @abstractmethod
    def teardown(self, plan: RunPlan, run_id: str) -> None:
        """Remove what provision created; safe to run twice and after failures."""
