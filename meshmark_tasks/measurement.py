"""What one load test measured, whatever ran it: the backends produce it, the pipeline turns it into rows.

Beside result.py at the bottom of the package: metrics, backends and pipeline all import it, so it
imports nothing of theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from meshmark_tasks.matrix import Cell
from meshmark_tasks.result import NormalizedResult


@dataclass(frozen=True)
class ResourceUsage:
    """Mean CPU (cores) and resident memory (bytes) per component over the steady-state window.

    None means "not measured" (a missing Prometheus series, a sampler that failed); 0.0 means
    "measured, nothing there" (the local testbed has no control plane). MeshMark leaves MUEs that
    need a None input out rather than guessing.
    """

    cpu_cores_app: float | None
    cpu_cores_dataplane: float | None
    cpu_cores_controlplane: float | None
    mem_bytes_app: float | None
    mem_bytes_dataplane: float | None
    mem_bytes_controlplane: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


@dataclass(frozen=True)
class CellMeasurement:
    """The outcome of one load test. `failure` set means the test itself failed (not a bad score)."""

    cell: Cell
    result: NormalizedResult | None
    resources: ResourceUsage | None
    raw_path: str | None  # local path of the raw load-generator output, kept verbatim
    raw_format: str | None  # fortio | nighthawk | wrk2 | k6
    saturated: bool = False  # the generator reported it could not keep the requested rate
    failure: str | None = None
    # Optional: how the measurement was taken (the local testbed records each component's CPUs and
    # scheduling, the window and the machine's load) so a reader can judge the number. JSON-safe.
    conditions: dict[str, Any] | None = None

    @classmethod
    def failed(
        cls,
        cell: Cell,
        reason: str,
        *,
        resources: ResourceUsage | None = None,
        raw_path: str | None = None,
        raw_format: str | None = None,
    ) -> CellMeasurement:
        """A load test that failed: no result, and `failure` says which cell and why."""
        return cls(
            cell=cell,
            result=None,
            resources=resources,
            raw_path=raw_path,
            raw_format=raw_format,
            failure=f"cell {cell.cell_id}: {reason}",
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe form, small enough for an Airflow XCom. `conditions` only when there are some."""
        data: dict[str, Any] = {
            "cell": self.cell.model_dump(mode="json"),
            "result": None if self.result is None else self.result.model_dump(mode="json"),
            "resources": None if self.resources is None else self.resources.as_dict(),
            "raw_path": self.raw_path,
            "raw_format": self.raw_format,
            "saturated": self.saturated,
            "failure": self.failure,
        }
        if self.conditions is not None:
            data["conditions"] = self.conditions
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> CellMeasurement:
        return cls(
            cell=Cell.model_validate(data["cell"]),
            result=None if data["result"] is None else NormalizedResult.model_validate(data["result"]),
            resources=None if data["resources"] is None else ResourceUsage(**data["resources"]),
            raw_path=data["raw_path"],
            raw_format=data["raw_format"],
            saturated=bool(data["saturated"]),
            failure=data["failure"],
            conditions=data.get("conditions"),
        )
