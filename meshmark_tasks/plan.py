"""The run plan: what one nightly run will measure, where, and where it writes.

A typed model (pydantic) built once from the trigger form's params (`RunPlan.from_params`) and
handed to every later step. Between Airflow tasks it travels as JSON through XCom (`to_json`), and
each step reads it back with `RunPlan.of`, which validates it again: a plan edited by hand in the
UI cannot smuggle a wrong type into a step.

`cells` is also the execution order: the mapped load-test tasks (one per cell) are created in this
order and the one-slot pool runs them one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from meshmark_tasks.config import profiles_dir, storage_conn_id, storage_root
from meshmark_tasks.constants import BACKEND_NAMES, BackendName
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.profile import Profile, load_profile, with_overrides
from meshmark_tasks.trigger_form import form_overrides


def resolve_profile_path(profile: str) -> Path:
    """A profile given by name (a file stem in the profiles folder) or by path."""
    candidate = Path(profile)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    path = profiles_dir() / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in profiles_dir().glob("*.yaml"))
        raise ProfileError(f"profile {profile!r}: no {path} (available: {', '.join(known)})")
    return path


class RunPlan(BaseModel):
    """One run: the validated profile (trigger overrides applied), its cells, the backend, the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile
    profile_path: str
    backend: BackendName
    storage_root: str
    # Airflow connection whose credentials open the storage root (None: fsspec's own defaults).
    storage_conn_id: str | None = None
    meshes: tuple[str, ...]
    cells: tuple[Cell, ...]

    @model_validator(mode="after")
    def _cells_belong_to_the_profile(self) -> RunPlan:
        names = tuple(m.name for m in self.profile.meshes)
        if self.meshes != names:
            raise ValueError(f"meshes {list(self.meshes)} differ from the profile's {list(names)}")
        strangers = sorted({c.mesh for c in self.cells} - set(names))
        if strangers:
            raise ValueError(f"cells of meshes {strangers} that profile {self.profile.name!r} does not have")
        return self

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunPlan:
        """Load and validate the profile with the trigger form's overrides, and expand the matrix.

        The overrides come as the form sends them (text such as "100" or "max") or as numbers
        (REST API, `meshmark nightly`); trigger_form.form_overrides reads both."""
        form = form_overrides(params)
        backend = form.backend
        if backend not in BACKEND_NAMES:
            raise ProfileError(f"params.backend: {backend!r} is not one of {', '.join(BACKEND_NAMES)}")
        path = resolve_profile_path(form.profile)
        profile = with_overrides(
            load_profile(path),
            meshes=form.meshes,
            qps=form.qps,
            connections=form.connections,
            duration_s=form.duration_s,
            source=f"{path} with trigger params",
        )
        return cls(
            profile=profile,
            profile_path=str(path),
            backend=backend,
            storage_root=storage_root(),
            storage_conn_id=storage_conn_id(),
            meshes=tuple(m.name for m in profile.meshes),
            cells=tuple(expand_matrix(profile)),
        )

    @classmethod
    def of(cls, plan: RunPlan | Mapping[str, Any]) -> RunPlan:
        """The plan itself, or the plan read back from its JSON form (what XCom hands a task)."""
        if isinstance(plan, RunPlan):
            return plan
        try:
            return cls.model_validate(plan)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "plan"
            raise ProfileError(f"run plan: {where}: {first['msg']}") from None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form, for XCom."""
        return self.model_dump(mode="json")

    @property
    def cell_ids(self) -> list[str]:
        return [c.cell_id for c in self.cells]

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.cell_id == cell_id:
                return cell
        raise ProfileError(f"cell {cell_id!r} is not in the run plan of profile {self.profile.name!r}")
