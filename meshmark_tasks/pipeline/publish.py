"""Validate → score → write one run: the path every source of result rows takes into the store.

The nightly DAG's `finalize` calls it with the rows its backend measured; anything else that has
`results` rows (schemas.RESULTS columns) - an importer of another tool's benchmark results, a
command-line re-scoring - calls `publish_run` the same way and gets the same tables, quarantine,
Data Docs and run summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from meshmark_tasks.errors import MeshmarkError

if TYPE_CHECKING:
    import pandas as pd

    from meshmark_tasks.profile import PriceConfig
    from meshmark_tasks.storage import DatasetStore
    from meshmark_tasks.validation import ValidationOutcome

TABLES_WRITTEN = ("results", "meshmark", "meshmark_config", "meshmark_summary", "quarantine", "runs")


class RunFailedError(MeshmarkError):
    """The run produced no usable measurement at all (everything failed or was quarantined)."""


@dataclass
class EvaluatedRun:
    """One run validated and scored, not yet written: what `write_evaluated_run` stores.

    `outcome.good` / `outcome.quarantine` are the results and quarantine rows; a caller that keeps
    raw outputs after evaluating (the import command) may still fill in their `raw_path`.
    """

    outcome: ValidationOutcome
    scored: pd.DataFrame
    configs: pd.DataFrame
    # Per mesh and load point: medians of the repetitions with CIs, paired deltas vs the baseline.
    load_points: pd.DataFrame | None = None


def _number(value: Any, digits: int = 3) -> float | None:
    """A JSON-safe rounded number, None for null/NaN (what a run with too few rounds cannot say)."""
    import pandas as pd

    return None if value is None or pd.isna(value) else round(float(value), digits)


def meshmark_uncertainty(configs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per mesh: the CI of meshmark_mean and its difference from the baseline (JSON-safe, None for
    what a run with too few rounds cannot say)."""
    out: dict[str, dict[str, Any]] = {}
    for record in configs.to_dict("records"):
        significant = _number(record.get("meshmark_delta_significant"))
        rounds = _number(record.get("repetitions_used"))
        out[str(record["mesh"])] = {
            "repetitions_used": None if rounds is None else int(rounds),
            "ci_low": _number(record.get("meshmark_ci_low")),
            "ci_high": _number(record.get("meshmark_ci_high")),
            "delta_vs_baseline": _number(record.get("meshmark_delta")),
            "delta_ci_low": _number(record.get("meshmark_delta_ci_low")),
            "delta_ci_high": _number(record.get("meshmark_delta_ci_high")),
            "p_value": _number(record.get("meshmark_delta_p_value"), 6),
            "significant": None if significant is None else bool(significant),
        }
    return out


def evaluate_run(
    results: pd.DataFrame,
    *,
    quarantined: Sequence[Mapping[str, Any]] = (),
    planned_cell_ids: Sequence[str] | None = None,
    qps_tolerance: float = 0.05,
    weights: Mapping[str, float] | None = None,
    prices: PriceConfig | None = None,
    imported: bool = False,
) -> EvaluatedRun:
    """Validate `results` (quarantining what fails) and score the rest; nothing is written.

    `imported`: the rows come from another tool's results, validated with the import variant of
    the results suite (docs/validation.md, "Imported runs").
    """
    from meshmark_tasks.scoring import aggregate_by_config, score_cells, summarise_load_points
    from meshmark_tasks.validation import validate_results

    outcome = validate_results(
        results,
        planned_cell_ids=planned_cell_ids,
        qps_tolerance=qps_tolerance,
        quarantined=list(quarantined),
        imported=imported,
    )
    scored = score_cells(outcome.good, weights=weights, prices=prices)
    return EvaluatedRun(
        outcome, scored, aggregate_by_config(scored), summarise_load_points(scored, outcome.good)
    )


def publish_run(
    store: DatasetStore,
    results: pd.DataFrame,
    *,
    run_id: str,
    run_date: date,
    quarantined: Sequence[Mapping[str, Any]] = (),
    planned_cell_ids: Sequence[str] | None = None,
    qps_tolerance: float = 0.05,
    weights: Mapping[str, float] | None = None,
    prices: PriceConfig | None = None,
    run_fields: Mapping[str, Any] | None = None,
    imported: bool = False,
    run_ts: datetime | None = None,
    load_points: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Validate `results`, quarantine what fails, score the rest, write everything; return the summary.

    - `quarantined`: rows an earlier stage already rejected (quarantine columns; e.g. failed load
      tests, stage "run"); they are written with the validation's own rejects.
    - `planned_cell_ids`: the cells that should have a row; a planned cell with neither a row nor
      an earlier quarantine row is quarantined as missing. None skips that check.
    - `qps_tolerance`, `weights`, `prices`: the validation and scoring rules (a profile's).
    - `run_fields`: extra fields for the run summary (profile, backend, ...).
    - `imported`: validate with the import suite (see `evaluate_run`).
    - `run_ts`: when the run started (default: see run_columns.RunContext.of).
    - `load_points`: mesh -> load points planned; configurations scored at fewer are `partial`.

    Writes the results, meshmark, meshmark_config, quarantine and runs tables (one file per run each,
    replacing a previous write of the same run), the run's Data Docs and run_summaries/<run>.json. Raises
    RunFailedError after writing everything when no row survived, so a DAG run fails loudly while
    the quarantine table still says why.
    """
    evaluated = evaluate_run(
        results,
        quarantined=quarantined,
        planned_cell_ids=planned_cell_ids,
        qps_tolerance=qps_tolerance,
        weights=weights,
        prices=prices,
        imported=imported,
    )
    planned = len(planned_cell_ids) if planned_cell_ids is not None else len(results) + len(quarantined)
    return write_evaluated_run(
        store,
        evaluated,
        run_id=run_id,
        run_date=run_date,
        cells_planned=planned,
        run_fields=run_fields,
        run_ts=run_ts,
        load_points=load_points,
    )


def write_evaluated_run(
    store: DatasetStore,
    evaluated: EvaluatedRun,
    *,
    run_id: str,
    run_date: date,
    cells_planned: int,
    run_fields: Mapping[str, Any] | None = None,
    raise_when_failed: bool = True,
    run_ts: datetime | None = None,
    load_points: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Write an evaluated run's tables, Data Docs and summary (see `publish_run`).

    `raise_when_failed=False` returns the summary of a run with no usable row instead of raising
    RunFailedError (an import stores such a run with its reasons and goes on).
    """
    import pandas as pd

    from meshmark_tasks.pipeline.run_columns import RunContext, runs_row, with_run_columns
    from meshmark_tasks.validation import build_data_docs

    outcome, scored, configs = evaluated.outcome, evaluated.scored, evaluated.configs
    fields = dict(run_fields or {})
    context = RunContext.of(fields, run_ts, outcome.good)
    load_point_summary = evaluated.load_points
    if load_point_summary is None:
        from meshmark_tasks.scoring import summarise_load_points

        load_point_summary = summarise_load_points(scored, outcome.good)
    frames = with_run_columns(
        {
            "results": outcome.good,
            "meshmark": scored,
            "meshmark_config": configs,
            "meshmark_summary": load_point_summary,
            "quarantine": outcome.quarantine,
        },
        context,
        load_points,
    )
    paths = {
        table: store.write_run(table, frames[table], run_id=run_id, run_date=run_date)
        for table in TABLES_WRITTEN
        if table != "runs"
    }
    data_docs = store.put_data_docs(run_id, lambda directory: build_data_docs(outcome, directory))
    summary: dict[str, Any] = {
        "run_id": run_id,
        "run_date": run_date.isoformat(),
        **dict(run_fields or {}),
        "data_quality": outcome.status,
        "cells_planned": cells_planned,
        "cells_scored": len(scored),
        "cells_quarantined": len(outcome.quarantine),
        "meshes_fully_quarantined": outcome.summary["meshes_fully_quarantined"],
        "meshmark_by_mesh": {
            r["mesh"]: round(float(r["meshmark_mean"]), 3) for r in configs.to_dict("records")
        },
        "meshmark_uncertainty_by_mesh": meshmark_uncertainty(configs),
        "tables": paths,
        "data_docs": data_docs,
        "storage_root": store.root,
    }
    partial = [r["mesh"] for r in frames["meshmark_config"].to_dict("records") if r.get("partial") is True]
    summary["meshes_partial"] = sorted(partial)
    row = runs_row(summary, context, outcome.good, run_date=run_date, images=fields.get("images"))
    paths["runs"] = store.write_run("runs", pd.DataFrame([row]), run_id=run_id, run_date=run_date)
    summary["summary_path"] = store.write_run_summary(run_id, summary)
    if outcome.status == "failed" and raise_when_failed:
        raise RunFailedError(
            f"run {run_id}: no cell passed (quarantine holds {len(outcome.quarantine)} rows with reasons)"
        )
    return summary
