"""Weights: known MUE names only, each in [-0.5, 0.5]."""

from __future__ import annotations

import pytest

from meshmark_tasks.scoring import ScoringInputError, score_cells, validate_weights


@pytest.mark.parametrize("weight", [-0.5, 0.0, 0.5, 0.25])
def test_weights_in_range_are_accepted(weight):
    assert validate_weights({"mue_cpu": weight}) == {"mue_cpu": weight}


@pytest.mark.parametrize("weight", [-0.51, 0.5000001, 1.0, -3])
def test_weights_out_of_range_name_the_key(frame, mesh_cell, weight):
    with pytest.raises(ScoringInputError, match=r"mue_success: weight .* outside \[-0\.5, 0\.5\]"):
        score_cells(frame(mesh_cell), weights={"mue_success": weight})


def test_unknown_mue_is_named(frame, mesh_cell):
    with pytest.raises(ScoringInputError, match="mue_cpu_usage: unknown MUE"):
        score_cells(frame(mesh_cell), weights={"mue_cpu_usage": 0.1})


@pytest.mark.parametrize("weight", [True, "0.1", None, float("nan")])
def test_non_numbers_are_rejected(weight):
    with pytest.raises(ScoringInputError, match="mue_mem: expected a number"):
        validate_weights({"mue_mem": weight})


def test_weights_must_be_a_mapping():
    with pytest.raises(ScoringInputError, match="expected a mapping"):
        validate_weights([("mue_mem", 0.1)])  # type: ignore[arg-type]


def test_negative_weight_lowers_the_class(frame, mesh_cell):
    plain = score_cells(frame(mesh_cell)).iloc[0]
    weighted = score_cells(frame(mesh_cell), weights={"mue_success": -0.5}).iloc[0]
    assert weighted["class_delivery"] == pytest.approx((0.99 + 0.999 * 0.5) / 2)
    assert weighted["meshmark"] < plain["meshmark"]


def test_weighted_class_is_clipped_to_one(frame, baseline_cell):
    row = score_cells(frame(baseline_cell), weights={"mue_success": 0.5, "mue_throughput": 0.5}).iloc[0]
    assert row["class_delivery"] == 1.0


def test_profile_weights_are_usable(frame, mesh_cell, demo_profile_path):
    from meshmark_tasks.profile import load_profile

    profile = load_profile(demo_profile_path)
    row = score_cells(frame(mesh_cell), weights=profile.weights, prices=profile.prices).iloc[0]
    w = profile.weights["mue_cpu_overhead"]
    assert row["class_compute"] == pytest.approx((0.75 + 0.5 * (1 + w)) / 2)
