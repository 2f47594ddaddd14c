"""Regression detection on histories written through the store: change points per series."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from synthetic import BASELINE, SIDECAR, SIDECAR_MTLS, SyntheticHistory, run_id_for, write_history

from meshmark_tasks.reporting import build_report
from meshmark_tasks.reporting.history import load_history
from meshmark_tasks.reporting.series import ALL_LOAD_POINTS, METRICS_BY_COLUMN
from meshmark_tasks.reporting.trends import TrendRule, classify_history, detect_history
from meshmark_tasks.stats import StatsInputError
from meshmark_tasks.storage import DatasetStore

from .conftest import NOISY_SPEC, REGRESSION_SPEC

LOAD_POINTS = {f"{int(q)} qps · 8 conn · 0 B · http" for q in REGRESSION_SPEC.qps}

# Twenty nights of five repetitions each, ±3 % uniform noise per value (1.7 % sd): a realistic
# nightly after the testbed work of issue 10. STEP_NIGHT is where the tests below put a step.
REPEATED = SyntheticHistory(
    meshes=(BASELINE, SIDECAR, SIDECAR_MTLS),
    qps=(100.0, 500.0),
    nights=20,
    repetitions=5,
    noise=0.03,
    seed=21,
)
STEP_NIGHT = 12
_DAY = dt.timedelta(days=1)


def test_history_was_written_through_the_store(regression_root: Path) -> None:
    store = DatasetStore(str(regression_root))
    assert len(store.run_ids("results")) == REGRESSION_SPEC.nights
    assert len(store.run_ids("meshmark")) == REGRESSION_SPEC.nights


def test_injected_p99_regression_flags_exactly_that_mesh(regression_report) -> None:
    """ "Exactly that one": every regressed series belongs to the sidecar mesh, and they are exactly
    its p99 series — the p99 latency, the p99 overhead against the baseline and the paired p99
    ratio to the baseline — at every load point. Its MeshMark drops too (mue_latency_slo uses
    p99) but by about 2 %, below the 5 % minimum magnitude, so it stays stable; nothing else
    moves."""
    flagged = {(r["mesh"], r["load_point"], r["metric"]) for r in regression_report.regressions}
    p99_series = ("latency_ms_p99", "delta_p99_ms", "p99_ratio_vs_baseline")
    expected = {("sidecar", lp, m) for lp in LOAD_POINTS for m in p99_series}
    assert flagged == expected
    assert regression_report.counts["improvement"] == 0
    assert regression_report.counts["insufficient_history"] == 0
    newest_night = {
        "run_id": regression_report.run_id,
        "run_date": regression_report.run_date,
        "run_seq": REGRESSION_SPEC.nights - 1,
    }
    for row in regression_report.regressions:
        assert row["run_id"] == regression_report.run_id
        assert row["method"] == "change_point"
        assert row["first_night"] == newest_night
        assert row["direction"] == "regression"
        assert row["p_value"] < 0.001
        low, high = row["magnitude_ci"]
        assert low < row["magnitude"] < high and low > 0
        assert row["nights_before"] == REGRESSION_SPEC.nights - 1 and row["nights_after"] == 1
        assert row["level_after"] > row["level_before"]
        if row["metric"] in ("latency_ms_p99", "p99_ratio_vs_baseline"):
            assert 14.0 < row["change_pct"] < 26.0  # 20 % ± the 2 % noise of either side
            assert low < 0.20 < high

    document = json.loads(Path(regression_report.json_path).read_text())
    stable_meshmark = [
        r for r in document["regressions"] + document["improvements"] if r["metric"].startswith("meshmark")
    ]
    assert stable_meshmark == []
    assert document["recent_changes"] == []


def test_meshmark_of_the_regressed_mesh_moves_but_stays_stable(regression_root: Path) -> None:
    series = classify_history(load_history(str(regression_root)))
    meshmark = series[(series["mesh"] == "sidecar") & (series["metric"] == "meshmark")]
    assert len(meshmark) == len(LOAD_POINTS)
    assert (meshmark["change"] < 0).all()  # the p99 term of the score did move down
    assert (meshmark["classification"] == "stable").all()
    per_config = series[(series["metric"] == "meshmark_mean")]
    assert set(per_config["mesh"]) == {"baseline", "sidecar", "sidecar-mtls"}
    assert set(per_config["load_point"]) == {ALL_LOAD_POINTS}


def test_noisy_but_stable_history_raises_no_regression(noisy_root: Path) -> None:
    series = classify_history(load_history(str(noisy_root)))
    assert len(series) > 0
    assert set(series["classification"]) == {"stable"}
    # the noise is real: the newest values do differ from their levels by several percent
    assert series.loc[series["metric"] == "latency_ms_p99", "change_pct"].abs().max() > 2.0


def test_a_stable_series_moved_less_than_its_threshold(noisy_root: Path) -> None:
    series = classify_history(load_history(str(noisy_root)))
    assert series["threshold"].notna().all()
    assert (series["change"].abs() <= series["threshold"] * (1 + 1e-9)).all()


@pytest.fixture(scope="module")
def stationary_trends(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("stationary")
    write_history(str(root), REPEATED)
    return detect_history(load_history(str(root)))


def test_stationary_history_with_repetitions_flags_nothing(stationary_trends) -> None:
    series = stationary_trends.series
    # 5 metrics on every mesh and load point, 9 mesh-only ones (no baseline), MeshMark per mesh
    assert len(series) == 5 * 3 * 2 + 9 * 2 * 2 + 3
    assert set(series["classification"]) == {"stable"}
    assert stationary_trends.changes.empty
    p99 = series[series["metric"] == "latency_ms_p99"]
    assert (p99["repetitions"] == REPEATED.repetitions).all()
    # within-night spread of ±3 % uniform noise: sd 1.7 % on the log scale
    assert p99["sigma_within"].between(0.012, 0.023).all()


@pytest.mark.parametrize(
    ("column", "metric"),
    [("latency_ms_p99", "latency_ms_p99"), ("cpu_cores_dataplane", "cpu_cores_dataplane")],
)
def test_a_ten_percent_step_on_the_newest_night_is_flagged_on_that_night(
    tmp_path: Path, column: str, metric: str
) -> None:
    spec = dataclasses.replace(REPEATED, newest_changes={"sidecar": {column: 1.10}})
    write_history(str(tmp_path), spec)
    trends = detect_history(load_history(str(tmp_path)))
    flagged = trends.series[trends.series["classification"] != "stable"]
    assert set(zip(flagged["mesh"], flagged["metric"], strict=True)) <= {
        ("sidecar", metric),
        ("sidecar", "cpu_cores_used"),  # the data plane's CPU is part of the CPU used
        ("sidecar", "dataplane_cpu_per_app_cpu"),  # ... and of its ratio to the app's CPU
        ("sidecar", "delta_p99_ms"),
        ("sidecar", "p99_ratio_vs_baseline"),
        ("sidecar", "delta_cpu_cores_per_kqps"),
        ("sidecar", "mesh_cost_per_million_requests"),
    }
    hit = flagged[flagged["metric"] == metric]
    assert len(hit) == len(spec.qps)  # every load point
    newest = run_id_for(spec.first_date + (spec.nights - 1) * _DAY)
    for row in hit.to_dict(orient="records"):
        assert row["classification"] == "regression"
        assert row["first_night"]["run_id"] == newest
        assert row["first_night"]["run_seq"] == spec.nights - 1
        assert 0.07 < row["magnitude"] < 0.13
        low, high = row["magnitude_ci"]
        assert low < 0.10 < high
    assert trends.recent_changes.empty


def test_a_step_on_an_older_night_is_a_recent_change_not_tonights_regression(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        REPEATED, newest_changes={"sidecar": {"latency_ms_p99": 1.10}}, step_night=STEP_NIGHT
    )
    write_history(str(tmp_path), spec)
    trends = detect_history(load_history(str(tmp_path)))
    assert set(trends.series["classification"]) == {"stable"}
    recent = trends.recent_changes
    p99 = recent[recent["metric"] == "latency_ms_p99"]
    assert set(p99["mesh"]) == {"sidecar"} and len(p99) == len(spec.qps)
    for row in p99.to_dict(orient="records"):
        assert row["first_night"]["run_seq"] == STEP_NIGHT  # the exact night
        assert row["first_night"]["run_date"] == (spec.first_date + STEP_NIGHT * _DAY).isoformat()
        assert row["nights_before"] == STEP_NIGHT and row["nights_after"] == spec.nights - STEP_NIGHT
        assert row["direction"] == "regression" and not row["is_newest"]
        assert 0.08 < row["magnitude"] < 0.12
    # the series says so too, in its change_points
    series = trends.series[
        (trends.series["mesh"] == "sidecar") & (trends.series["metric"] == "latency_ms_p99")
    ]
    assert all(len(points) == 1 for points in series["change_points"])


def test_what_changed_names_the_profile_and_version_of_that_night(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        REPEATED,
        newest_changes={"sidecar": {"latency_ms_p99": 1.15}},
        step_descriptors={"profile": "nightly-v2", "load_generator_version": "1.2.0"},
    )
    write_history(str(tmp_path), spec)
    trends = detect_history(load_history(str(tmp_path)))
    flagged = trends.series[trends.series["metric"] == "latency_ms_p99"]
    flagged = flagged[flagged["classification"] == "regression"]
    assert len(flagged) == len(spec.qps)
    for changes in flagged["what_changed"]:
        assert {(c["field"], c["before"], c["after"]) for c in changes} == {
            ("profile", "synthetic", "nightly-v2"),
            ("load_generator_version", "1.1.0", "1.2.0"),
        }


def test_nothing_recorded_changed_gives_an_empty_list(regression_report) -> None:
    assert all(r["what_changed"] == [] for r in regression_report.regressions)


def test_improvements_follow_the_metric_sense(tmp_path: Path) -> None:
    """Lower latency is better; higher MeshMark is better: both are improvements."""
    spec = dataclasses.replace(
        REPEATED, newest_changes={"sidecar": {"latency_ms_p99": 0.5, "latency_ms_p50": 0.5}}
    )
    write_history(str(tmp_path), spec)
    series = classify_history(load_history(str(tmp_path)))
    sidecar = series[series["mesh"] == "sidecar"].set_index(["load_point", "metric"])["classification"]
    for point in {f"{int(q)} qps · 8 conn · 0 B · http" for q in spec.qps}:
        assert sidecar[(point, "latency_ms_p99")] == "improvement"
        assert sidecar[(point, "meshmark")] == "improvement"  # the latency MUEs rose
    assert "regression" not in set(series["classification"])
    assert METRICS_BY_COLUMN["meshmark"].higher_is_better


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="history_runs"):
        TrendRule(history_runs=0)
    for bad in (0.0, 1.0, 2.0, float("nan")):
        with pytest.raises(ValueError, match="drift_p_value"):
            TrendRule(drift_p_value=bad)
    with pytest.raises(StatsInputError, match="p_value"):
        TrendRule(p_value=1.5)


def test_history_runs_limits_the_nights_analysed(regression_root: Path) -> None:
    series = classify_history(load_history(str(regression_root)), TrendRule(history_runs=4))
    assert set(series["classification"]) == {"insufficient_history"}  # 3 earlier nights < 5
    assert (series["previous_runs"] == 3).all()


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
    assert all(m and "night" in m for m in new["message"])


def test_window_and_mesh_filter(regression_root: Path) -> None:
    history = load_history(str(regression_root), days=3, meshes=["sidecar"])
    assert len(history.runs) == 3
    assert set(history.cells["mesh"]) == {"sidecar"}
    assert set(history.repetitions["mesh"]) == {"sidecar"}
    series = classify_history(history)
    assert set(series["classification"]) == {"insufficient_history"}  # 2 previous runs < 5


def test_repetitions_are_loaded_for_the_newest_runs_only_when_asked(regression_root: Path) -> None:
    history = load_history(str(regression_root), repetition_runs=3)
    assert len(history.runs) == REGRESSION_SPEC.nights  # the charts still see the whole window
    assert sorted(history.repetitions["run_seq"].unique()) == [7, 8, 9]
    assert len(load_history(str(regression_root)).repetitions["run_seq"].unique()) == REGRESSION_SPEC.nights


# The machine 20 % faster on the newest night: every configuration's latency and CPU per request
# fall alike, the app's CPU too (measured on the test machine: docs/benchmarks.md, "Fidelity").
FASTER_MACHINE = {
    "latency_ms_p50": 0.8,
    "latency_ms_p99": 0.8,
    "cpu_cores_app": 0.8,
    "cpu_cores_controlplane": 0.8,
}


def test_a_change_the_whole_machine_made_is_machine_drift_not_a_change_of_the_mesh(tmp_path: Path) -> None:
    changes = {
        mesh.name: {**FASTER_MACHINE, **({} if mesh.is_baseline else {"cpu_cores_dataplane": 0.8})}
        for mesh in REPEATED.meshes
    }
    spec = dataclasses.replace(REPEATED, newest_changes=changes)
    write_history(str(tmp_path), spec)
    series = detect_history(load_history(str(tmp_path))).series
    drifted = series[series["classification"] == "machine_drift"]
    # Raw latency and CPU moved by 20 % everywhere; the drift check sees the index move with them.
    for mesh in ("sidecar", "sidecar-mtls"):
        for metric in ("latency_ms_p50", "latency_ms_p99", "cpu_cores_dataplane"):
            rows = drifted[(drifted["mesh"] == mesh) & (drifted["metric"] == metric)]
            assert len(rows) == len(REPEATED.qps), (mesh, metric)
    for row in drifted.to_dict(orient="records"):
        assert -0.25 < row["drift"]["index_change"] < -0.15
        assert abs(row["drift"]["normalised_magnitude"] or 0.0) < 0.1
        assert row["first_night"]["run_seq"] == REPEATED.nights - 1
    # Mesh cost is not checked (its memory part does not move with the machine): it may stay flagged.
    flagged = series[series["classification"].isin(["regression", "improvement"])]
    assert set(flagged["metric"]) <= {"mesh_cost_per_million_requests"}, flagged[["mesh", "metric"]]

    # The report lists them apart, in every output.
    report = build_report(str(tmp_path), out_dir=str(tmp_path / "reports"))
    document = json.loads(Path(report.json_path).read_text(encoding="utf-8"))
    assert len(document["machine_drift"]) == len(drifted) == report.counts["machine_drift"]
    assert {r["metric"] for r in document["regressions"] + document["improvements"]} <= {
        "mesh_cost_per_million_requests"
    }
    html = Path(report.html_path).read_text(encoding="utf-8")
    assert "Moved with the machine" in html and "speed index −" not in html  # pct() prints "-19.5 %"
    assert "speed index -19." in html or "speed index -20." in html
    assert "## Moved with the machine" in Path(report.markdown_path).read_text(encoding="utf-8")


def test_a_change_of_one_mesh_on_a_steady_machine_is_not_called_drift(tmp_path: Path) -> None:
    spec = dataclasses.replace(REPEATED, newest_changes={"sidecar": {"cpu_cores_dataplane": 1.2}})
    write_history(str(tmp_path), spec)
    series = detect_history(load_history(str(tmp_path))).series
    hit = series[(series["mesh"] == "sidecar") & (series["metric"] == "cpu_cores_dataplane")]
    assert set(hit["classification"]) == {"regression"}
    for drift in hit["drift"]:
        # The machine did not change tonight: no significant change of the speed index.
        assert drift["index_change"] is None and drift["normalised_magnitude"] > 0.15
    assert "machine_drift" not in set(series["classification"])


def test_without_a_baseline_there_is_no_speed_index_and_flags_stand(tmp_path: Path) -> None:
    meshes = tuple(m for m in REPEATED.meshes if not m.is_baseline)
    changes = {m.name: {**FASTER_MACHINE, "cpu_cores_dataplane": 0.8} for m in meshes}
    spec = dataclasses.replace(REPEATED, meshes=meshes, newest_changes=changes)
    write_history(str(tmp_path), spec)
    series = detect_history(load_history(str(tmp_path))).series
    assert "machine_drift" not in set(series["classification"])
    hit = series[(series["metric"] == "cpu_cores_dataplane")]
    assert set(hit["classification"]) == {"improvement"}
    assert all(d is None for d in hit["drift"])
