"""The drift check on synthetic nights: a step the speed index shares is explained, others are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from meshmark_tasks.stats import ChangePointConfig, StatsInputError, check_drift, speed_index

NIGHTS, REPS = 15, 6


def nights(step: float, index_step: float, seed: int = 3, index_missing_newest: bool = False) -> tuple:
    """A series (one key) and its speed reference: 2 % noise, both stepping on the newest night."""
    rng = np.random.default_rng(seed)
    rows, ref = [], []
    for night in range(NIGHTS):
        newest = night == NIGHTS - 1
        for _ in range(REPS):
            speed = 1.0 * (index_step if newest else 1.0) * rng.normal(1, 0.02)
            rows.append({"key": "a", "lp": "x", "night": night, "v": 5.0 * speed * (step if newest else 1.0)})
            if not (newest and index_missing_newest):
                ref.append({"lp": "x", "night": night, "cpu": 0.001 * speed})
    return pd.DataFrame(rows), pd.DataFrame(ref)


def test_a_step_shared_with_the_speed_index_is_explained() -> None:
    frame, ref = nights(step=1.0, index_step=0.8)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and bool(row["drift_explained"])
    assert row["index_change"] == pytest.approx(-0.2, abs=0.03)
    assert abs(row["normalised_magnitude"]) < 0.03


def test_a_step_of_the_series_alone_is_not_explained() -> None:
    frame, ref = nights(step=1.2, index_step=1.0)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and bool(row["normalised_flagged"])
    assert not bool(row["drift_explained"])
    assert row["normalised_magnitude"] == pytest.approx(0.2, abs=0.04)


def test_a_series_step_on_top_of_a_machine_step_is_still_flagged() -> None:
    """The machine 20 % faster and the mesh 50 % slower: raw +20 %, and +50 % once the machine's
    speed is divided out, so the flag stands."""
    frame, ref = nights(step=1.5, index_step=0.8)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and not bool(row["drift_explained"])
    assert row["normalised_magnitude"] == pytest.approx(0.5, abs=0.06)


def test_without_an_index_on_the_newest_night_the_flag_stands() -> None:
    frame, ref = nights(step=1.0, index_step=0.8, index_missing_newest=True)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and not bool(row["drift_explained"])
    assert pd.isna(row["index_change"])


def test_an_index_whose_newest_night_is_older_than_the_series_explains_nothing() -> None:
    """The machine changed on the reference's last night, but tonight the reference was not measured
    (the baseline quarantined, say): that change is not tonight's, and the series' flag stands."""
    frame, ref = nights(step=1.0, index_step=0.8)
    later = frame[frame["night"] == NIGHTS - 1].assign(night=NIGHTS)
    shifted = pd.concat([frame[frame["night"] < NIGHTS - 1], later], ignore_index=True)
    out = check_drift(shifted, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and pd.isna(row["index_change"])
    assert not bool(row["drift_explained"])


def test_a_stationary_series_is_not_flagged_nor_explained() -> None:
    frame, ref = nights(step=1.0, index_step=1.0, seed=11)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    assert not out["newest_flagged"].any() and not out["drift_explained"].any()


def test_a_small_move_of_the_index_explains_nothing() -> None:
    """The index 2 % lower tonight (not a significant change of the machine) and the series 6 %
    lower: after the division it is 4 %, under the 5 % minimum, yet the machine did not change, so
    the flag stands."""
    frame, ref = nights(step=0.94 / 0.98, index_step=0.98, seed=5)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and not bool(row["normalised_flagged"])
    assert pd.isna(row["index_change"]) and not bool(row["drift_explained"])


def test_an_index_moving_the_other_way_explains_nothing() -> None:
    frame, ref = nights(step=0.8 / 1.2, index_step=1.2, seed=6)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu"))
    row = out.iloc[0]
    assert bool(row["newest_flagged"]) and row["index_change"] > 0 > row["newest_magnitude"]
    assert not bool(row["drift_explained"])


def test_the_index_is_relative_to_its_typical_night_and_ignores_unusable_values() -> None:
    ref = pd.DataFrame(
        {"lp": ["x"] * 5, "night": [0, 1, 2, 2, 3], "cpu": [2.0, 2.0, 1.0, -1.0, float("nan")]}
    )
    index = speed_index(ref, ["lp"], "night", "cpu").per_night
    assert list(index["night"]) == [0, 1, 2]
    assert list(index["speed_index"]) == pytest.approx([1.0, 1.0, 0.5])


def test_a_reference_without_the_named_column_is_a_clear_error() -> None:
    with pytest.raises(StatsInputError, match="no column cpu"):
        speed_index(pd.DataFrame({"lp": ["x"], "night": [0]}), ["lp"], "night", "cpu")


def test_linear_scale_keeps_its_units() -> None:
    frame, ref = nights(step=1.0, index_step=0.8)
    config = ChangePointConfig(scale="linear", min_change=0.1)
    out = check_drift(frame, ["key"], "v", speed_index(ref, ["lp"], "night", "cpu", config), config)
    assert bool(out.iloc[0]["drift_explained"])
