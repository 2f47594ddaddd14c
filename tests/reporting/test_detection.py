"""Regression detection on histories written through the store, and the rule's corner cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from synthetic import SIDECAR, SyntheticHistory, write_history

from meshmark_tasks.reporting.history import load_history
from meshmark_tasks.reporting.trends import (
    METRICS_BY_COLUMN,
    RegressionRule,
    classify,
    classify_history,
)
from meshmark_tasks.storage import DatasetStore

from .conftest import NOISY_SPEC, REGRESSION_SPEC

LOAD_POINTS = {f"{int(q)} qps · 8 conn · 0 B · http" for q in REGRESSION_SPEC.qps}


def test_history_was_written_through_the_store(regression_root: Path) -> None:
    store = DatasetStore(str(regression_root))
    assert len(store.run_ids("results")) == REGRESSION_SPEC.nights
    assert len(store.run_ids("meshmark")) == REGRESSION_SPEC.nights


def test_injected_p99_regression_flags_exactly_that_mesh(regression_report) -> None:
    """ "Exactly that one": every regressed series belongs to the sidecar mesh, and they are exactly
    its p99 series — the p99 latency and the p99 overhead against the baseline — at every load
    point. Its MeshMark drops too (mue_latency_slo uses p99) but by about 2 %, below the 10 %
    minimum effect, so it stays stable; nothing else moves."""
    flagged = {(r["mesh"], r["load_point"], r["metric"]) for r in regression_report.regressions}
    expected = {("sidecar", lp, m) for lp in LOAD_POINTS for m in ("latency_ms_p99", "delta_p99_ms")}
    assert flagged == expected
    assert regression_report.counts["improvement"] == 0
    assert regression_report.counts["insufficient_history"] == 0
    for row in regression_report.regressions:
        assert row["run_id"] == regression_report.run_id
        if row["metric"] == "latency_ms_p99":
            assert 14.0 < row["change_pct"] < 26.0  # 20 % ± the 2 % noise of either side

    document = json.loads(Path(regression_report.json_path).read_text())
    stable_meshmark = [
        r for r in document["regressions"] + document["improvements"] if r["metric"] == "meshmark"
    ]
    assert stable_meshmark == []


def test_meshmark_of_the_regressed_mesh_moves_but_stays_stable(regression_root: Path) -> None:
    series = classify_history(load_history(str(regression_root)))
    meshmark = series[(series["mesh"] == "sidecar") & (series["metric"] == "meshmark")]
    assert len(meshmark) == len(LOAD_POINTS)
    assert (meshmark["change"] < 0).all()  # the p99 term of the score did move down
    assert (meshmark["classification"] == "stable").all()


def test_noisy_but_stable_history_raises_no_regression(noisy_root: Path) -> None:
    series = classify_history(load_history(str(noisy_root)))
    assert len(series) > 0
    assert set(series["classification"]) == {"stable"}
    # the noise is real: the newest values do differ from the baselines by several percent
    assert series.loc[series["metric"] == "latency_ms_p99", "change_pct"].abs().max() > 2.0


def test_vectorised_rule_matches_the_scalar_rule(noisy_root: Path) -> None:
    history = load_history(str(noisy_root))
    rule = RegressionRule()
    series = classify_history(history, rule)
    cells = history.cells
    newest_seq = history.runs["run_seq"].iloc[-1]
    for row in series.sample(n=25, random_state=1).itertuples():
        values = cells[(cells["mesh"] == row.mesh) & (cells["load_point"] == row.load_point)]
        values = values.sort_values("run_seq")[["run_seq", row.metric]].dropna()
        previous = values[values["run_seq"] < newest_seq][row.metric].tolist()
        verdict = classify(row.newest, previous, METRICS_BY_COLUMN[row.metric], rule)
        assert verdict.classification == row.classification
        assert math.isclose(verdict.threshold or 0.0, row.threshold, rel_tol=1e-9, abs_tol=1e-12)


LATENCY = METRICS_BY_COLUMN["latency_ms_p99"]
MESHMARK = METRICS_BY_COLUMN["meshmark"]


def test_classify_improvement_and_direction() -> None:
    previous = [10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 10.0]
    assert classify(8.0, previous, LATENCY, RegressionRule()).classification == "improvement"
    assert classify(12.0, previous, LATENCY, RegressionRule()).classification == "regression"
    # for MeshMark higher is better: the same moves mean the opposite
    assert classify(8.0, previous, MESHMARK, RegressionRule()).classification == "regression"
    assert classify(12.0, previous, MESHMARK, RegressionRule()).classification == "improvement"


def test_classify_insufficient_history_is_not_stable() -> None:
    rule = RegressionRule()
    verdict = classify(50.0, [10.0, 10.0, 10.0, 10.0], LATENCY, rule)
    assert verdict.classification == "insufficient_history"
    assert verdict.baseline_median is None
    assert classify(50.0, [10.0] * 5, LATENCY, rule).classification == "regression"
    # missing values do not count as history
    assert classify(50.0, [10.0, None, np.nan, 10.0, 10.0, 10.0], LATENCY, rule).classification == (
        "insufficient_history"
    )


def test_min_effect_guards_quiet_series() -> None:
    previous = [10.0, 10.0, 10.0, 10.01, 10.0, 9.99, 10.0]  # MAD ≈ 0: k × MAD alone would flag 0.1 %
    rule = RegressionRule()
    assert classify(10.9, previous, LATENCY, rule).classification == "stable"  # +9 % < 10 %
    assert classify(11.1, previous, LATENCY, rule).classification == "regression"  # +11 %
    looser = RegressionRule(min_effect=0.2)
    assert classify(11.1, previous, LATENCY, looser).classification == "stable"


def test_mad_band_widens_with_noise() -> None:
    noisy = [8.0, 12.0, 9.0, 11.0, 10.0, 7.5, 12.5]  # MAD 2 → band 4 × 1.4826 × 2 ≈ 11.9
    verdict = classify(15.0, noisy, LATENCY, RegressionRule())
    assert verdict.classification == "stable"
    assert verdict.mad == pytest.approx(2.0)
    assert verdict.threshold == pytest.approx(4 * 1.4826 * 2.0)


def test_one_bad_night_in_the_baseline_does_not_hide_the_next_regression() -> None:
    previous = [10.0, 10.1, 9.9, 30.0, 10.0, 10.2, 9.8]  # a spike three nights ago
    assert classify(12.5, previous, LATENCY, RegressionRule()).classification == "regression"


def test_resolution_floor_near_zero() -> None:
    cost = METRICS_BY_COLUMN["mesh_cost_per_million_requests"]
    assert classify(0.0, [0.0] * 7, cost, RegressionRule()).classification == "stable"
    assert classify(5e-7, [0.0] * 7, cost, RegressionRule()).classification == "stable"


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="min_history"):
        RegressionRule(history_runs=3, min_history=5)
    with pytest.raises(ValueError, match="spread_runs"):
        RegressionRule(spread_runs=0)


def test_series_new_in_the_newest_run_have_insufficient_history(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_history(root, SyntheticHistory(meshes=(SIDECAR,), qps=(100.0,), nights=8, seed=1))
    # a new load point appears only in a later run
    write_history(
        root,
        SyntheticHistory(
            meshes=(SIDECAR,),
            qps=(100.0, 700.0),
            nights=1,
            seed=2,
            first_date=NOISY_SPEC.first_date.replace(month=2),
        ),
    )
    series = classify_history(load_history(root, days=60))
    new = series[series["load_point"].str.startswith("700 qps")]
    old = series[series["load_point"].str.startswith("100 qps")]
    assert set(new["classification"]) == {"insufficient_history"}
    assert "insufficient_history" not in set(old["classification"])


def test_window_and_mesh_filter(regression_root: Path) -> None:
    history = load_history(str(regression_root), days=3, meshes=["sidecar"])
    assert len(history.runs) == 3
    assert set(history.cells["mesh"]) == {"sidecar"}
    series = classify_history(history)
    assert set(series["classification"]) == {"insufficient_history"}  # 2 previous runs < 5
