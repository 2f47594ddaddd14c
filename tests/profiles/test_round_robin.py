"""Repetitions run in rounds: per load point, round by round, every mesh once, baseline first."""

from __future__ import annotations

from pathlib import Path

import yaml

from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


def _profile(tmp_path: Path, repetitions: int = 3) -> Path:
    data = yaml.safe_load((REPO / "profiles" / "local-demo.yaml").read_text())
    # The baseline listed last: the order must still put it first in every round.
    data["meshes"] = data["meshes"][1:] + data["meshes"][:1]
    data["repetitions"] = repetitions
    path = tmp_path / "rounds.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repetitions_are_interleaved_in_rounds_baseline_first(tmp_path: Path) -> None:
    cells = expand_matrix(load_profile(_profile(tmp_path)))
    order = [(c.requested_qps, c.repetition, c.mesh) for c in cells]
    expected = [
        (qps, rep, mesh)
        for qps in (100.0, 300.0)
        for rep in range(3)
        for mesh in ("baseline", "sidecar", "sidecar-mtls")
    ]
    assert order == expected
    assert [c.sequence for c in cells] == list(range(len(cells)))
    # A mesh's round r follows the baseline's round r directly: the pair is measured back to back.
    for position, cell in enumerate(cells):
        if not cell.is_baseline:
            previous_baseline = next(c for c in reversed(cells[:position]) if c.is_baseline)
            assert (previous_baseline.repetition, previous_baseline.load_point) == (
                cell.repetition,
                cell.load_point,
            )


def test_the_plan_keeps_the_execution_order_and_results_rows_record_it(tmp_path: Path) -> None:
    from meshmark_tasks.matrix import Cell
    from meshmark_tasks.measurement import CellMeasurement
    from meshmark_tasks.pipeline.rows import results_row
    from meshmark_tasks.result import NormalizedResult

    plan = RunPlan.from_params({"profile": str(_profile(tmp_path, repetitions=2))})
    assert [c.sequence for c in plan.cells] == list(range(12))
    again = RunPlan.of(plan.to_json())  # what a mapped task reads back from XCom
    assert again.cells == plan.cells
    cell: Cell = again.cells[4]  # 100 qps, round 1, sidecar
    assert (cell.mesh, cell.repetition) == ("sidecar", 1)
    result = NormalizedResult(
        load_generator="k6", actual_qps=99.0, duration_s=5, requests_total=495, errors_total=0
    )
    row = results_row(
        plan.profile, CellMeasurement(cell, result, None, None, "k6"), backend="local", raw_path=None
    )
    assert (row["round"], row["sequence"], row["repetition"]) == (1, 4, 1)


def test_one_repetition_keeps_meshes_together_per_load_point() -> None:
    cells = expand_matrix(load_profile(REPO / "profiles" / "local-demo.yaml"))
    assert [(c.requested_qps, c.mesh) for c in cells] == [
        (100.0, "baseline"),
        (100.0, "sidecar"),
        (100.0, "sidecar-mtls"),
        (300.0, "baseline"),
        (300.0, "sidecar"),
        (300.0, "sidecar-mtls"),
    ]
