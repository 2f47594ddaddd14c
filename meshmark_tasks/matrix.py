"""Matrix expansion: a profile becomes the list of cells (one load test each)."""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict

from meshmark_tasks.cell_ids import cell_id_for
from meshmark_tasks.profile import Profile

__all__ = ["Cell", "cell_id_for", "expand_matrix", "find_cell"]


class Cell(BaseModel):
    """One load test: a mesh configuration at one load point, one repetition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell_id: str
    mesh: str
    mesh_kind: str
    is_baseline: bool
    network_functions: tuple[str, ...]
    requested_qps: float | None  # None means unthrottled ("max")
    connections: int
    payload_bytes: int
    protocol: str
    repetition: int

    @property
    def load_point(self) -> tuple[float | None, int, int, str]:
        """What pairs a mesh cell with its baseline cell."""
        return (self.requested_qps, self.connections, self.payload_bytes, self.protocol)


def expand_matrix(profile: Profile) -> list[Cell]:
    """All cells of a profile in a deterministic order: mesh, qps, connections, payload, protocol, rep.

    Baselines come first within each load point's sweep order because meshes keep profile order and
    profiles list the baseline first by convention; scoring does not depend on the order.
    """
    m = profile.matrix
    cells = []
    for mesh, qps, conns, payload, protocol, rep in itertools.product(
        profile.meshes, m.qps, m.connections, m.payload_bytes, m.protocol, range(profile.repetitions)
    ):
        requested = None if qps == "max" else float(qps)
        cells.append(
            Cell(
                cell_id=cell_id_for(mesh.name, requested, conns, payload, protocol, rep),
                mesh=mesh.name,
                mesh_kind=mesh.kind,
                is_baseline=mesh.is_baseline,
                network_functions=tuple(mesh.network_functions),
                requested_qps=requested,
                connections=conns,
                payload_bytes=payload,
                protocol=protocol,
                repetition=rep,
            )
        )
    return cells


def find_cell(profile: Profile, cell_id: str) -> Cell:
    for cell in expand_matrix(profile):
        if cell.cell_id == cell_id:
            return cell
    raise KeyError(f"profile {profile.name!r} has no cell {cell_id!r}")
