"""The steps of one nightly run, as plain functions of JSON-safe inputs.

The DAG's tasks call these and pass their JSON results through XCom, so every step can also be run
and tested without Airflow. Heavy libraries (pandas, GX, kubernetes) are imported inside the steps
that need them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from meshmark_tasks.config import profiles_dir, storage_root
from meshmark_tasks.errors import MeshmarkError, ProfileError
from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.profile import Profile, load_profile, with_overrides

log = logging.getLogger(__name__)

Backend = Literal["local", "kubernetes"]
BACKENDS: tuple[Backend, ...] = ("local", "kubernetes")


class RunFailedError(MeshmarkError):
    """The run produced no usable measurement at all (everything failed or was quarantined)."""


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


def plan_run(params: Mapping[str, Any]) -> dict[str, Any]:
    """Load and validate the profile with the trigger form's overrides, and expand the matrix."""
    backend = params.get("backend") or "local"
    if backend not in BACKENDS:
        raise ProfileError(f"params.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    path = resolve_profile_path(str(params.get("profile") or "local-demo"))
    profile = with_overrides(
        load_profile(path),
        meshes=list(params.get("meshes") or []) or None,
        qps=list(params.get("qps") or []) or None,
        connections=list(params.get("connections") or []) or None,
        duration_s=params.get("duration_s"),
        source=f"{path} with trigger params",
    )
    cells = expand_matrix(profile)
    return {
        "profile": profile.model_dump(mode="json"),
        "profile_path": str(path),
        "backend": backend,
        "storage_root": storage_root(),
        "meshes": [m.name for m in profile.meshes],
        "cells": [c.model_dump(mode="json") for c in cells],
    }


def profile_of(plan: Mapping[str, Any]) -> Profile:
    return Profile.model_validate(plan["profile"])


def local_workdir(run_id: str) -> Path:
    """Where the local testbed keeps a run's certificates, configs and pid files."""
    from meshmark_tasks.storage import safe_run_id

    return Path(tempfile.gettempdir()) / f"meshmark-{safe_run_id(run_id)}"


def provision_run(plan: Mapping[str, Any], run_id: str) -> list[str]:
    """Prepare every mesh configuration of the run; returns what was provisioned, for the log."""
    profile = profile_of(plan)
    if plan["backend"] == "local":
        from meshmark_tasks.backends.local import provision

        workdir = local_workdir(run_id)
        provision(profile, workdir)
        return [f"{m.name}: local configs in {workdir}" for m in profile.meshes]
    from meshmark_tasks.backends.kubernetes import (
        KubernetesSettings,
        apply_manifests,
        render_mesh_manifests,
    )
    from meshmark_tasks.backends.kubernetes.run import kubernetes_hook

    settings = KubernetesSettings.from_env()
    hook = kubernetes_hook(settings)
    done = []
    for mesh in profile.meshes:
        docs = render_mesh_manifests(profile, mesh, settings)
        apply_manifests(hook, docs)
        done.append(f"{mesh.name}: applied {len(docs)} manifests")
    return done


def run_planned_cell(
    plan: Mapping[str, Any], cell_data: Mapping[str, Any], run_id: str, context: Any = None
) -> dict[str, Any]:
    """Run one cell on the plan's backend; keep its raw output in the store right away.

    Returns {"measurement": CellMeasurement JSON, "raw_path": path relative to the storage root}.
    A failed load test is a result (measurement.failure), not an exception: the run goes on.
    """
    from meshmark_tasks.storage import DatasetStore

    profile = profile_of(plan)
    cell = Cell.model_validate(cell_data)
    store = DatasetStore(plan["storage_root"])
    # Raw outputs land in the run's work folder first (removed at teardown), then in the store.
    out_dir = local_workdir(run_id) / "out"
    if plan["backend"] == "local":
        from meshmark_tasks.backends.local import run_cell

        measurement = run_cell(profile, cell, local_workdir(run_id), out_dir)
    else:
        from meshmark_tasks.backends.kubernetes.run import run_cell_in_pod

        measurement = run_cell_in_pod(profile, cell, raw_dir=out_dir, context=context)
    raw_path = None
    if measurement.raw_path and Path(measurement.raw_path).exists():
        ext = f"{measurement.raw_format or 'out'}{''.join(Path(measurement.raw_path).suffixes[-1:])}"
        raw_path = store.put_raw(run_id, cell.cell_id, Path(measurement.raw_path), ext)
    if measurement.failure:
        log.warning("cell %s failed: %s", cell.cell_id, measurement.failure)
    return {"measurement": measurement.to_json_dict(), "raw_path": raw_path}


def finalize_run(
    plan: Mapping[str, Any],
    cell_outputs: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    run_date: date,
) -> dict[str, Any]:
    """Collect → validate (quarantine) → score → write the tables; returns the run summary.

    Raises RunFailedError after writing everything when no cell survived, so the DAG run fails
    loudly while the quarantine table still says why.
    """
    import pandas as pd

    from meshmark_tasks.pipeline.rows import failed_test_row, results_row
    from meshmark_tasks.scoring import aggregate_by_config, score_cells
    from meshmark_tasks.storage import DatasetStore
    from meshmark_tasks.validation import build_data_docs, validate_results

    profile = profile_of(plan)
    store = DatasetStore(plan["storage_root"])
    rows, quarantined = [], []
    for output in cell_outputs:
        measurement = CellMeasurement.from_json_dict(output["measurement"])
        raw_path = output.get("raw_path")
        if measurement.failure or measurement.result is None:
            quarantined.append(failed_test_row(measurement, raw_path=raw_path))
        else:
            rows.append(results_row(profile, measurement, backend=plan["backend"], raw_path=raw_path))
    # Failed tests are already quarantined (stage "run"); validation must not report them missing.
    failed_ids = {q["cell_id"] for q in quarantined}
    planned = [c["cell_id"] for c in plan["cells"] if c["cell_id"] not in failed_ids]
    outcome = validate_results(
        pd.DataFrame(rows), planned_cell_ids=planned, qps_tolerance=profile.qps_tolerance
    )
    quarantine = pd.concat([pd.DataFrame(quarantined), outcome.quarantine], ignore_index=True)

    scored = score_cells(outcome.good, weights=profile.weights, prices=profile.prices)
    configs = aggregate_by_config(scored)
    paths = {
        "results": store.write_run("results", outcome.good, run_id=run_id, run_date=run_date),
        "meshmark": store.write_run("meshmark", scored, run_id=run_id, run_date=run_date),
        "meshmark_config": store.write_run("meshmark_config", configs, run_id=run_id, run_date=run_date),
        "quarantine": store.write_run("quarantine", quarantine, run_id=run_id, run_date=run_date),
    }
    data_docs = _publish_data_docs(store, run_id, outcome, build_data_docs)
    if len(outcome.good) == 0:
        status = "failed"
    elif len(quarantine):
        status = "passed_with_quarantine"
    else:
        status = "passed"
    all_meshes = {c["mesh"] for c in plan["cells"]}
    scored_meshes = set(outcome.good["mesh"]) if len(outcome.good) else set()
    summary = {
        "run_id": run_id,
        "run_date": run_date.isoformat(),
        "profile": profile.name,
        "backend": plan["backend"],
        "data_quality": status,
        "cells_planned": len(plan["cells"]),
        "cells_scored": len(scored),
        "cells_quarantined": len(quarantine),
        "meshes_fully_quarantined": sorted(all_meshes - scored_meshes),
        "meshmark_by_mesh": {
            r["mesh"]: round(float(r["meshmark_mean"]), 3) for r in configs.to_dict("records")
        },
        "tables": paths,
        "data_docs": data_docs,
        "storage_root": store.root,
    }
    summary["summary_path"] = store.write_run_summary(run_id, summary)
    if status == "failed":
        raise RunFailedError(
            f"run {run_id}: no cell passed (quarantine holds {len(quarantine)} rows with reasons)"
        )
    return summary


def _publish_data_docs(store: Any, run_id: str, outcome: Any, build_data_docs: Any) -> str | None:
    """GX Data Docs go under the storage root; built locally, then copied for remote roots."""
    from meshmark_tasks.config import is_local_path

    target = store.data_docs_dir(run_id)
    if is_local_path(target):
        return str(build_data_docs(outcome, target.removeprefix("file://")))
    import fsspec

    with tempfile.TemporaryDirectory() as tmp:
        build_data_docs(outcome, tmp)
        fs, base = fsspec.core.url_to_fs(target)
        fs.put(tmp + "/", base, recursive=True)
    return f"{target}/index.html"


def teardown_run(plan: Mapping[str, Any], run_id: str) -> None:
    """Remove what provision_run created; safe to run twice and after failures."""
    profile = profile_of(plan)
    if plan["backend"] == "local":
        from meshmark_tasks.backends.local import teardown

        teardown(local_workdir(run_id))
        return
    from meshmark_tasks.backends.kubernetes import (
        KubernetesSettings,
        delete_manifests,
        render_mesh_manifests,
    )
    from meshmark_tasks.backends.kubernetes.run import kubernetes_hook

    settings = KubernetesSettings.from_env()
    hook = kubernetes_hook(settings)
    for mesh in profile.meshes:
        delete_manifests(hook, render_mesh_manifests(profile, mesh, settings))
    shutil.rmtree(local_workdir(run_id), ignore_errors=True)
