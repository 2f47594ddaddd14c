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
    repetition: int  # also the round the cell runs in (see expand_matrix)
    # Position in the run's execution order (0-based); None for a cell not made by expand_matrix.
    sequence: int | None = None

    @property
    def load_point(self) -> tuple[float | None, int, int, str]:
        """What pairs a mesh cell with its baseline cell."""
        return (self.requested_qps, self.connections, self.payload_bytes, self.protocol)


def expand_matrix(profile: Profile) -> list[Cell]:
    """All cells of a profile in execution order: load point, round (repetition), mesh.

    A load point's repetitions run in rounds across the mesh configurations - for each load
    point (qps, connections, payload, protocol), for each round r, every mesh once, baseline
    first - so slow drift of the machine hits every configuration alike and a mesh's round r is
    measured back to back with the baseline's round r (the pair that overheads are computed from).
    Meshes keep profile order after the baseline. The list order is the execution order on both
    backends (the one-slot pool runs the mapped cells in map-index order); `Cell.sequence` records
    it, and `repetition` is the round.
    """
    m = profile.matrix
    meshes = sorted(profile.meshes, key=lambda mesh: not mesh.is_baseline)  # stable: baseline first
    cells: list[Cell] = []
    for qps, conns, payload, protocol, rep, mesh in itertools.product(
        m.qps, m.connections, m.payload_bytes, m.protocol, range(profile.repetitions), meshes
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
                sequence=len(cells),
            )
        )
    return cells


def find_cell(profile: Profile, cell_id: str) -> Cell:
    for cell in expand_matrix(profile):
        if cell.cell_id == cell_id:
            return cell
    raise KeyError(f"profile {profile.name!r} has no cell {cell_id!r}")
