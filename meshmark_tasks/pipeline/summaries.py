"""One-line and one-table summaries of a cell and of a run, for task logs and the console.

A task's returned value goes to XCom; these are what a person reads instead: the measured rate and
latency of a cell on one line, a run's counts, MeshMark per mesh and output paths as a short table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshmark_tasks.measurement import CellMeasurement

# The logger whose lines `make nightly` shows on the console as the run goes (one per cell, one
# table at the end); in a task they are ordinary INFO lines of that task's log.
PROGRESS_LOGGER = "meshmark_tasks.progress"


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def cell_line(measurement: CellMeasurement, *, position: tuple[int, int] | None = None) -> str:
    """`cell 2/6 sidecar-q100-…: 99.9 QPS of 100 requested, p50 0.41 ms, p99 2.34 ms, …` or why it failed."""
    where = f"cell {position[0]}/{position[1]} " if position else "cell "
    cell = measurement.cell
    if measurement.failure or measurement.result is None:
        reason = measurement.failure or "no result"
        prefix = f"cell {cell.cell_id}: "
        return f"{where}{cell.cell_id}: FAILED: {reason.removeprefix(prefix)}"
    result = measurement.result
    requested = "max" if cell.requested_qps is None else f"{cell.requested_qps:g}"
    parts = [
        f"{result.actual_qps:.1f} QPS of {requested} requested over {result.duration_s:.1f} s",
        f"p50 {_ms(result.latency_ms_p50)}",
        f"p99 {_ms(result.latency_ms_p99)}",
        f"{result.errors_total} errors in {result.requests_total} requests",
    ]
    resources = measurement.resources
    if resources is not None:
        parts.append(
            f"CPU app {_cores(resources.cpu_cores_app)} + data plane {_cores(resources.cpu_cores_dataplane)}"
            f" + control plane {_cores(resources.cpu_cores_controlplane)} cores"
        )
    if measurement.saturated:
        parts.append("saturated (the requested rate was not sustained)")
    return f"{where}{cell.cell_id}: " + ", ".join(parts)


def _points(value: float) -> str:
    return f"{value:+.1f}"


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def meshmark_cell(score: float, uncertainty: Mapping[str, Any]) -> str:
    """A mesh's MeshMark with its uncertainty, e.g.
    `81.4 ± 0.2 (95 % CI 81.2–81.5, 5 rounds); vs baseline -17.1 points [-17.3, -16.9], p < 0.001,
    significant`.

    What a run cannot say is said: one round has no interval and claims no difference."""
    text = f"{score:.1f}"
    low, high, rounds = (
        uncertainty.get("ci_low"),
        uncertainty.get("ci_high"),
        uncertainty.get("repetitions_used"),
    )
    if low is not None and high is not None:
        text += f" ± {(high - low) / 2:.1f} (95 % CI {low:.1f}–{high:.1f}, {rounds} rounds)"
    elif rounds == 1:
        text += " (1 round: no confidence interval)"
    delta = uncertainty.get("delta_vs_baseline")
    if delta is None:
        return text
    text += f"; vs baseline {_points(delta)} points"
    p_value = uncertainty.get("p_value")
    if p_value is None:
        return text + " (no test: too few rounds)"
    verdict = "significant" if uncertainty.get("significant") else "not significant"
    lo, hi = uncertainty.get("delta_ci_low"), uncertainty.get("delta_ci_high")
    interval = f" [{_points(lo)}, {_points(hi)}]" if lo is not None and hi is not None else ""
    return f"{text}{interval}, {_p(p_value)}, {verdict}"


def run_table(summary: Mapping[str, Any]) -> str:
    """The run summary publish_run returns, as a few aligned lines."""
    rows: list[tuple[str, str]] = [
        ("run", str(summary.get("run_id"))),
        ("data quality", str(summary.get("data_quality"))),
        (
            "cells",
            f"{summary.get('cells_scored')} scored, {summary.get('cells_quarantined')} quarantined "
            f"of {summary.get('cells_planned')} planned",
        ),
    ]
    fully = summary.get("meshes_fully_quarantined") or []
    if fully:
        rows.append(("quarantined whole", ", ".join(str(m) for m in fully)))
    uncertainty = summary.get("meshmark_uncertainty_by_mesh") or {}
    for mesh, score in sorted((summary.get("meshmark_by_mesh") or {}).items()):
        rows.append((f"MeshMark {mesh}", meshmark_cell(score, uncertainty.get(mesh) or {})))
    rows.append(("storage root", str(summary.get("storage_root"))))
    rows.append(("Data Docs", str(summary.get("data_docs"))))
    rows.append(("run summary", str(summary.get("summary_path"))))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
