"""False alarms and power of the change-point detector over many seeds (kept to a few seconds).

The full tables with more seeds are `python -m meshmark_tasks.stats.simulation` (docs/meshmark.md);
these are the same functions on fewer series, at fixed seeds, with bounds the defaults must keep.
"""

from __future__ import annotations

from meshmark_tasks.stats import ChangePointConfig
from meshmark_tasks.stats.simulation import NoiseModel, detector_rates, report_rates

ALONE = ChangePointConfig(pool=False)


def test_false_alarms_across_realistic_noise_stay_below_one_in_450_series_nights() -> None:
    """Reports of 15 series of one metric, each with its own within-night CV (3–10 %),
    between-night CV (1–4 %) and repetitions (5–10): 70 reports × 14 unchanged series at 10 and
    at 30 nights of history = 1,960 series-nights, at most 1 per 450 may be flagged."""
    flagged = 0.0
    checked = 0
    for nights in (10, 30):
        rates = report_rates(nights, reports=70, series=15, step=0.0, seed=nights)
        flagged += rates.false_alarm_per_series_night * 70 * 15
        checked += 70 * 15
    assert flagged <= checked / 450


def test_one_value_per_night_and_single_series_false_alarms() -> None:
    single = detector_rates(NoiseModel(0.0, 0.03, 1, 20), 0.0, series=300, seed=2, config=ALONE)
    assert single.newest_flagged <= 1 / 300
    repeated = detector_rates(NoiseModel(0.10, 0.04, 5, 30), 0.0, series=300, seed=3, config=ALONE)
    assert repeated.newest_flagged <= 1 / 300


def test_a_ten_percent_step_is_found_on_its_first_night() -> None:
    """Per-night noise 1.5 %: found on the first night nearly always; at 2 % most of the time
    (the full simulation: 2 % ≈ 82 %, 2.5 % ≈ 55 %, 3 % ≈ 31 %, docs/meshmark.md)."""
    quiet = detector_rates(NoiseModel.with_night_noise(0.015), 0.10, series=150, seed=4, config=ALONE)
    assert quiet.newest_flagged >= 0.95
    assert quiet.median_flagged_magnitude is not None and 0.08 < quiet.median_flagged_magnitude < 0.13
    usual = detector_rates(NoiseModel.with_night_noise(0.02), 0.10, series=150, seed=5, config=ALONE)
    assert usual.newest_flagged >= 0.7
    big = detector_rates(NoiseModel.with_night_noise(0.03), 0.25, series=100, seed=6, config=ALONE)
    assert big.newest_flagged >= 0.95


def test_pooling_buys_power_on_short_histories_without_false_alarms() -> None:
    """10 nights: a series' own night variance has ~8 degrees of freedom; borrowing from the
    other 14 series of the report must raise the power and keep false alarms in bounds."""
    kwargs = {"reports": 50, "series": 15, "step": 0.10, "seed": 7, "between": (0.005, 0.015)}
    pooled = report_rates(10, config=ChangePointConfig(), **kwargs)  # type: ignore[arg-type]
    alone = report_rates(10, config=ALONE, **kwargs)  # type: ignore[arg-type]
    assert pooled.mean_prior_df > 5
    assert pooled.power is not None and alone.power is not None
    assert pooled.power > alone.power + 0.08  # measured: 0.22 against 0.08
    assert pooled.false_alarm_per_series_night <= 1 / (50 * 14)
