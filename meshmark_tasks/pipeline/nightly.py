"""The steps of one nightly run, as plain functions of JSON-safe inputs.

The DAG's tasks call these and pass their JSON results through XCom, so every step can also be run
and tested without Airflow. Each step takes the run plan as a RunPlan or in its JSON form (what
XCom hands a task) and reads it back with RunPlan.of. Which backend does the work is the plan's
business (`backend_for(plan.backend)`); nothing here depends on which one it is. Heavy libraries
(pandas, GX, kubernetes) are imported inside the steps that need them.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from meshmark_tasks.backends import backend_for
from meshmark_tasks.backends.base import CellHandoff
from meshmark_tasks.config import scheduled_profile
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.pipeline.summaries import PROGRESS_LOGGER, cell_line, run_table
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.profile import Profile

log = logging.getLogger(__name__)
progress = logging.getLogger(PROGRESS_LOGGER)

PlanLike = RunPlan | Mapping[str, Any]
TESTBED_DETAILS_EXT = "testbed.json"  # raw/<run>/<cell>.testbed.json.gz, local cells only


def plan_run(params: Mapping[str, Any], *, scheduled: bool = False) -> dict[str, Any]:
    """The trigger form's params as a validated RunPlan, in the JSON form the DAG passes on.

    A scheduled run (no form, the params' defaults) uses the scheduled profile instead of the
    form's default (config.scheduled_profile(): local-nightly, whose windows and repetitions are
    sized for trustworthy trends, unless MESHMARK_SCHEDULED_PROFILE says otherwise)."""
    if scheduled:
        params = {**params, "profile": scheduled_profile()}
    return RunPlan.from_params(params).to_json()


def profile_of(plan: PlanLike) -> Profile:
    return RunPlan.of(plan).profile


def plan_input_errors() -> tuple[type[Exception], ...]:
    """What plan_run raises for bad input (a broken profile, bad overrides): retrying cannot help."""
    from pydantic import ValidationError

    from meshmark_tasks.errors import ConfigError, InputFileError, ProfileError

    return (ProfileError, ConfigError, InputFileError, ValidationError, ValueError)


def provision_run(plan: PlanLike, run_id: str) -> list[str]:
    """Prepare every mesh configuration of the run; returns what was provisioned, for the log."""
    run_plan = RunPlan.of(plan)
    return backend_for(run_plan.backend).provision(run_plan, run_id)


def run_planned_cell(
    plan: PlanLike, cell_data: Mapping[str, Any], run_id: str, handoff: CellHandoff | None = None
) -> dict[str, Any]:
    """One cell's measurement from the plan's backend; its raw output kept in the store right away.

    Local cells run here; kubernetes cells ran in their pod task and `handoff` carries what it
    returned. Returns {"measurement": CellMeasurement JSON, "raw_path": path relative to the
    storage root}. A failed load test is a result (measurement.failure), not an exception.
    """
    from meshmark_tasks.storage import DatasetStore

    run_plan = RunPlan.of(plan)
    cell = Cell.model_validate(cell_data)
    backend = backend_for(run_plan.backend)
    # The backend leaves the raw output in a scratch folder of this worker; the store keeps it.
    with tempfile.TemporaryDirectory(prefix="meshmark-cell-") as scratch:
        measurement = backend.measure(run_plan, cell, run_id, Path(scratch), handoff)
        raw_path = None
        if measurement.raw_path and Path(measurement.raw_path).exists():
            store = DatasetStore(run_plan.storage_root, conn_id=run_plan.storage_conn_id)
            ext = f"{measurement.raw_format or 'out'}{''.join(Path(measurement.raw_path).suffixes[-1:])}"
            # gzip-compressed: kept every night, and JSON shrinks about 4 times (docs/data-model.md)
            raw_path = store.put_raw(run_id, cell.cell_id, Path(measurement.raw_path), ext, compress=True)
            # The local testbed's account of the cell (phase timings, ports, each process's CPU
            # and memory) is kept beside it: what a slow or odd cell is checked against.
            details = Path(scratch) / f"{cell.cell_id}.{TESTBED_DETAILS_EXT}"
            if details.is_file():
                store.put_raw(run_id, cell.cell_id, details, TESTBED_DETAILS_EXT, compress=True)
    position = (run_plan.cell_ids.index(cell.cell_id) + 1, len(run_plan.cells))
    line = cell_line(measurement, position=position)
    progress.log(logging.WARNING if measurement.failure else logging.INFO, line)
    return {"measurement": measurement.to_json_dict(), "raw_path": raw_path}


def render_pods(plan: PlanLike) -> list[dict[str, Any]]:
    """KubernetesPodOperator arguments of every cell, in cell order (what the pod task expands)."""
    from meshmark_tasks.backends.kubernetes.backend import KubernetesBackend

    return KubernetesBackend().pod_kwargs(RunPlan.of(plan))


def collect_pod_cell(
    plan: PlanLike, cell_data: Mapping[str, Any], run_id: str, pull: Callable[[str], Any]
) -> dict[str, Any]:
    """A kubernetes cell's measurement from what its pod task left in XCom.

    `pull(key)` returns that task's XCom under `key` (None when absent): the return value is the
    load generator's result, WINDOW_XCOM_KEY the container's own start and end.
    """
    from meshmark_tasks.backends.kubernetes.callbacks import WINDOW_XCOM_KEY

    window = pull(WINDOW_XCOM_KEY) or {}
    handoff = CellHandoff(
        value=pull("return_value"),
        started_at=_instant(window.get("started_at")),
        finished_at=_instant(window.get("finished_at")),
    )
    return run_planned_cell(plan, cell_data, run_id, handoff)


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def finalize_run(
    plan: PlanLike,
    cell_outputs: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    run_date: date,
    run_ts: datetime | None = None,
) -> dict[str, Any]:
    """Collect → validate (quarantine) → score → write the tables; returns the run summary.

    `run_ts`: when the run started (the DAG run's start), the same in every table of the run.

    Raises RunFailedError after writing everything when no cell survived, so the DAG run fails
    loudly while the quarantine table still says why.
    """
    import pandas as pd

    from meshmark_tasks.pipeline.publish import publish_run
    from meshmark_tasks.pipeline.rows import failed_test_row, results_row
    from meshmark_tasks.pipeline.run_columns import planned_load_points
    from meshmark_tasks.storage import DatasetStore

    run_plan = RunPlan.of(plan)
    profile = run_plan.profile
    rows, failed = [], []
    for output in cell_outputs:
        measurement = CellMeasurement.from_json_dict(output["measurement"])
        raw_path = output.get("raw_path")
        if measurement.failure or measurement.result is None:
            failed.append(failed_test_row(measurement, raw_path=raw_path))
        else:
            rows.append(results_row(profile, measurement, backend=run_plan.backend, raw_path=raw_path))
    summary = publish_run(
        DatasetStore(run_plan.storage_root, conn_id=run_plan.storage_conn_id),
        pd.DataFrame(rows),
        run_id=run_id,
        run_date=run_date,
        quarantined=failed,
        planned_cell_ids=run_plan.cell_ids,
        qps_tolerance=profile.qps_tolerance,
        weights=profile.weights,
        prices=profile.prices,
        run_fields={
            "profile": profile.name,
            "backend": run_plan.backend,
            "currency": profile.prices.currency,
        },
        run_ts=run_ts,
        load_points=planned_load_points(run_plan.cells),
    )
    progress.info("run published:\n%s", run_table(summary))
    return summary


def teardown_run(plan: PlanLike, run_id: str) -> None:
    """Remove what provision_run created; safe to run twice and after failures."""
    run_plan = RunPlan.of(plan)
    backend_for(run_plan.backend).teardown(run_plan, run_id)
