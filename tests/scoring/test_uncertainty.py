"""The numbers of a run with their uncertainty: medians with CIs, deltas paired within rounds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from meshmark_tasks import schemas
from meshmark_tasks.scoring import aggregate_by_config, score_cells, summarise_load_points

BASE_P50 = [1.00, 1.10, 0.90, 1.05, 0.95]  # the machine drifts from round to round
RATIOS = [1.20, 1.10, 1.15, 1.25, 1.18]  # the sidecar's p50 / the baseline's of the same round


def _row(mesh: str, rnd: int, p50: float, *, qps: float | None = 100.0, dataplane: float = 0.0) -> dict:
    return {
        "cell_id": f"{mesh}-{qps}-r{rnd}",
        "mesh": mesh,
        "is_baseline": mesh == "baseline",
        "requested_qps": qps,
        "connections": 8,
        "payload_bytes": 0,
        "protocol": "http",
        "repetition": rnd,
        "round": rnd,
        "actual_qps": 100.0,
        "requests_total": 600,
        "errors_total": 0,
        "latency_ms_p50": p50,
        "latency_ms_p99": 3 * p50,
        "slo_p99_ms": 50.0,
        "cpu_cores_app": 0.1,
        "cpu_cores_dataplane": dataplane,
        "cpu_cores_controlplane": 0.0,
        "mem_bytes_app": 1e7,
        "mem_bytes_dataplane": 2e7 if dataplane else 0.0,
        "mem_bytes_controlplane": 0.0,
        "cpu_cores_assigned": 2.0,
        "mem_bytes_assigned": 1e9,
    }


def _results(rounds: int = 5) -> pd.DataFrame:
    rows = []
    for r in range(rounds):
        rows.append(_row("baseline", r, BASE_P50[r]))
        rows.append(_row("sidecar", r, BASE_P50[r] * RATIOS[r], dataplane=0.05 * (1 + r / 10)))
    return pd.DataFrame(rows)


def test_overheads_are_paired_within_rounds_with_known_numbers() -> None:
    results = _results()
    summary = summarise_load_points(score_cells(results), results).set_index("mesh")
    sidecar, baseline = summary.loc["sidecar"], summary.loc["baseline"]
    logs = np.log(RATIOS)
    test = stats.ttest_1samp(logs, 0.0)
    ci = test.confidence_interval(0.95)
    assert sidecar["pairs_used"] == 5
    assert sidecar["delta_p50_pct"] == pytest.approx(100 * (math.exp(logs.mean()) - 1))
    assert sidecar["delta_p50_pct_ci_low"] == pytest.approx(100 * math.expm1(ci.low))
    assert sidecar["delta_p50_pct_ci_high"] == pytest.approx(100 * math.expm1(ci.high))
    assert sidecar["delta_p50_p_value"] == pytest.approx(test.pvalue)
    assert bool(sidecar["delta_p50_significant"]) is True
    # p99 moves with p50 here: the same ratios, the same answer.
    assert sidecar["delta_p99_pct"] == pytest.approx(sidecar["delta_p50_pct"])
    # Pairing cancels the round-to-round drift (±10 %): unpaired (Welch) the same numbers give a
    # p-value ten times larger.
    welch = stats.ttest_ind(np.log(BASE_P50) + logs, np.log(BASE_P50), equal_var=False)
    assert sidecar["delta_p50_p_value"] < welch.pvalue / 10
    # The baseline is not compared with itself.
    assert pd.isna(baseline["delta_p50_pct"]) and pd.isna(baseline["delta_p50_significant"])
    assert pd.isna(baseline["pairs_used"])


def test_medians_carry_order_statistic_intervals() -> None:
    results = _results()
    row = summarise_load_points(score_cells(results), results).set_index("mesh").loc["baseline"]
    assert row["repetitions_used"] == 5
    assert row["latency_ms_p50_median"] == pytest.approx(1.0)
    # Five repetitions: the interval is [min, max], covering 1 - 2/32 = 93.75 %.
    assert (row["latency_ms_p50_ci_low"], row["latency_ms_p50_ci_high"]) == (0.9, 1.1)
    assert row["ci_level"] == pytest.approx(0.9375)
    assert row["latency_ms_p99_median"] == pytest.approx(3.0)
    assert row["cpu_cores_dataplane_median"] == 0.0


def test_one_repetition_has_no_interval_and_claims_nothing() -> None:
    results = _results(rounds=1)
    summary = summarise_load_points(score_cells(results), results)
    assert (summary["repetitions_used"] == 1).all()
    ci_columns = [c for c in summary.columns if "_ci_" in c or c.endswith("_p_value") or c == "ci_level"]
    assert summary[ci_columns].isna().all().all()
    assert summary[[c for c in summary.columns if c.endswith("_significant")]].isna().all().all()
    sidecar = summary.set_index("mesh").loc["sidecar"]
    assert sidecar["delta_p50_pct"] == pytest.approx(20.0)  # the estimate is still given
    configs = aggregate_by_config(score_cells(results)).set_index("mesh")
    assert configs[["meshmark_ci_low", "meshmark_delta_p_value"]].isna().all().all()
    assert configs["meshmark_delta_significant"].isna().all()


def test_no_difference_is_not_significant() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for r in range(6):
        level = float(rng.normal(1.0, 0.05))
        rows.append(_row("baseline", r, level * float(rng.normal(1.0, 0.03))))
        rows.append(_row("twin", r, level * float(rng.normal(1.0, 0.03))))
    results = pd.DataFrame(rows)
    twin = summarise_load_points(score_cells(results), results).set_index("mesh").loc["twin"]
    assert twin["delta_p50_p_value"] > 0.05
    assert bool(twin["delta_p50_significant"]) is False
    assert twin["delta_p50_pct_ci_low"] < 0 < twin["delta_p50_pct_ci_high"]


def test_meshmark_of_a_configuration_is_compared_round_by_round() -> None:
    # Two load points; per round the configuration's MeshMark is the mean over them.
    results = pd.concat(
        [_results(), _results().assign(requested_qps=None, cell_id=lambda f: f.cell_id + "max")]
    )
    scored = score_cells(results)
    configs = aggregate_by_config(scored).set_index("mesh")
    per_round = scored.groupby(["mesh", "round"])["meshmark"].mean().unstack("mesh")
    diffs = (per_round["sidecar"] - per_round["baseline"]).to_numpy()
    test = stats.ttest_1samp(diffs, 0.0)
    sidecar = configs.loc["sidecar"]
    assert sidecar["repetitions_used"] == 5
    assert sidecar["meshmark_delta"] == pytest.approx(diffs.mean())
    assert sidecar["meshmark_delta_p_value"] == pytest.approx(test.pvalue)
    assert (sidecar["meshmark_delta_ci_low"], sidecar["meshmark_delta_ci_high"]) == pytest.approx(
        tuple(test.confidence_interval(0.95))
    )
    assert bool(sidecar["meshmark_delta_significant"]) is True
    t_ci = stats.t.interval(0.95, 4, loc=per_round["sidecar"].mean(), scale=stats.sem(per_round["sidecar"]))
    assert (sidecar["meshmark_ci_low"], sidecar["meshmark_ci_high"]) == pytest.approx(t_ci)
    assert sidecar["meshmark_ci_low"] < sidecar["meshmark_mean"] < sidecar["meshmark_ci_high"]
    assert pd.isna(configs.loc["baseline", "meshmark_delta"])


def test_rounds_fall_back_to_repetitions_and_the_output_fits_the_schema() -> None:
    results = _results().drop(columns="round")  # an imported run: repetitions, no recorded order
    scored = score_cells(results)
    assert scored["round"].isna().all()
    summary = summarise_load_points(
        scored.assign(run_id="r1", run_date=pd.Timestamp("2026-11-01").date()), results
    )
    assert summary.set_index("mesh").loc["sidecar", "pairs_used"] == 5
    # the run's own columns (run_ts, profile, backend) are the pipeline's to set
    assert list(summary.columns) == [
        c for c in schemas.MESHMARK_SUMMARY.names if c not in schemas.RUN_LEVEL_COLUMNS
    ]
    import pyarrow as pa

    with_run = summary.assign(run_ts=None, profile=None, backend=None)
    pa.Table.from_pandas(with_run, schema=schemas.MESHMARK_SUMMARY, preserve_index=False)


def test_empty_input_gives_the_empty_table() -> None:
    summary = summarise_load_points(score_cells(pd.DataFrame()), None)
    assert summary.empty and list(summary.columns) == [
        c
        for c in schemas.MESHMARK_SUMMARY.names
        if c not in ("run_id", "run_date") and c not in schemas.RUN_LEVEL_COLUMNS
    ]


def test_speed_adjusted_medians_take_the_machine_speed_out_of_the_interval() -> None:
    # 12 rounds on a machine whose speed wanders: the app's CPU per request, p50, p99 and the
    # data plane's CPU all move with it, the sidecar's own noise is 1 %.
    rng = np.random.default_rng(12)
    speed = np.exp(rng.normal(0.0, 0.10, 12))
    rows = []
    for r, s in enumerate(speed):
        noise = math.exp(rng.normal(0.0, 0.01))
        base = _row("baseline", r, s)
        base["cpu_cores_app"] = 0.1 * s
        side = _row("sidecar", r, 1.2 * s * noise, dataplane=0.05 * s * noise)
        side["cpu_cores_app"] = 0.1 * s
        rows += [base, side]
    results = pd.DataFrame(rows)
    summary = summarise_load_points(score_cells(results), results).set_index("mesh")
    sidecar = summary.loc["sidecar"]
    assert sidecar["app_cpu_ms_per_request_median"] == pytest.approx(1000 * 0.1 * np.median(speed) / 100.0)
    for metric in ("latency_ms_p50", "cpu_cores_dataplane"):
        raw = (sidecar[f"{metric}_ci_high"] - sidecar[f"{metric}_ci_low"]) / sidecar[f"{metric}_median"]
        adjusted = (sidecar[f"{metric}_adjusted_ci_high"] - sidecar[f"{metric}_adjusted_ci_low"]) / sidecar[
            f"{metric}_adjusted_median"
        ]
        assert adjusted < raw / 3, metric
        assert sidecar[f"{metric}_adjusted_median"] == pytest.approx(sidecar[f"{metric}_median"], rel=0.05)
    # The baseline has no data plane: no adjusted data-plane CPU, but adjusted latencies.
    baseline = summary.loc["baseline"]
    assert pd.isna(baseline["cpu_cores_dataplane_adjusted_median"])
    assert baseline["latency_ms_p99_adjusted_median"] == pytest.approx(3 * np.median(speed), rel=1e-3)


def test_five_rounds_have_no_speed_adjusted_median() -> None:
    results = _results()
    summary = summarise_load_points(score_cells(results), results)
    assert summary["latency_ms_p50_adjusted_median"].isna().all()
    assert summary["app_cpu_ms_per_request_median"].notna().all()
