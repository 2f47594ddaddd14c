"""Paired (mesh vs baseline per round) and two-sample (run A vs run B) comparisons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from meshmark_tasks.stats import StatsInputError, paired_comparison, paired_frame, two_sample_comparison
from meshmark_tasks.stats.simulation import paired_rates

BASELINE = [1.00, 1.10, 0.95, 1.05, 1.02]
SIDECAR = [1.21, 1.30, 1.16, 1.24, 1.25]  # about +20 % in every round, whatever the round's drift


def test_paired_estimate_is_the_geometric_mean_ratio_and_matches_scipy() -> None:
    result = paired_comparison(SIDECAR, BASELINE)
    ratios = np.asarray(SIDECAR) / np.asarray(BASELINE)
    assert result.estimate == pytest.approx(math.exp(np.log(ratios).mean()) - 1)
    assert result.per_round == pytest.approx(tuple(ratios - 1))
    reference = stats.ttest_rel(np.log(SIDECAR), np.log(BASELINE))
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.lower is not None and result.upper is not None
    assert result.lower < result.estimate < result.upper
    assert result.significant() and result.significant(0.001)
    assert result.method == "paired t-test on log ratios"
    assert (result.n_a, result.n_b, result.note) == (5, 5, None)


def test_pairing_removes_round_drift_that_an_unpaired_test_cannot() -> None:
    """Both configurations drift ±15 % together from round to round; the sidecar adds 5 %."""
    drift = np.array([1.0, 1.15, 0.85, 1.1, 0.9, 1.05])
    baseline = 10.0 * drift * np.array([1.0, 1.01, 0.99, 1.0, 1.01, 0.99])
    sidecar = 10.5 * drift * np.array([0.99, 1.0, 1.01, 1.01, 0.99, 1.0])
    assert paired_comparison(sidecar, baseline).significant(0.01)
    assert not two_sample_comparison(sidecar, baseline).significant(0.05)


def test_one_pair_is_not_enough_and_says_so() -> None:
    result = paired_comparison([1.2], [1.0])
    assert result.estimate == pytest.approx(0.2)
    assert result.p_value is None and result.lower is None and result.upper is None
    assert not result.significant() and not result.enough
    assert result.note == "not enough repetitions: 1 pair; a paired test needs at least 2"


def test_missing_pairs_are_excluded_and_counted() -> None:
    result = paired_comparison([1.2, None, 1.3, 1.25], [1.0, 1.0, math.nan, 1.02])
    assert (result.n_a, result.n_missing) == (2, 2)


@pytest.mark.parametrize(
    ("treatment", "baseline", "message"),
    [
        ([1.0, 2.0], [1.0], "treatment has 2 rounds, baseline 1"),
        ([1.0, math.inf], [1.0, 1.0], "treatment: 1 infinite"),
        ([1.0, 0.0], [1.0, 1.0], "treatment: 1 value\\(s\\) <= 0.*scale='linear'"),
        ([None, 1.0], [1.0, None], "no complete pair \\(2 with a missing value\\)"),
    ],
)
def test_paired_bad_input(treatment: list[float | None], baseline: list[float | None], message: str) -> None:
    with pytest.raises(StatsInputError, match=message):
        paired_comparison(treatment, baseline)


def test_linear_scale_takes_differences_in_units() -> None:
    result = paired_comparison([0.5, 0.6, 0.4, 0.55], [0.0, 0.1, -0.1, 0.05], scale="linear")
    assert result.estimate == pytest.approx(0.5)
    assert result.method == "paired t-test on differences"
    assert result.p_value is None  # every round differs by exactly 0.5: no test is defined
    assert result.note == "the per-round differences do not vary: no test is defined"


def test_two_sample_matches_welch_on_logs() -> None:
    a = [10.2, 10.8, 11.1, 10.5, 10.9]
    b = [10.0, 9.7, 10.1, 10.3, 9.9, 10.2]
    result = two_sample_comparison(a, b)
    reference = stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval(0.95)
    assert (result.lower, result.upper) == pytest.approx((math.expm1(ci.low), math.expm1(ci.high)))
    assert result.estimate == pytest.approx(math.exp(np.log(a).mean() - np.log(b).mean()) - 1)


@pytest.mark.parametrize(("a", "b"), [([10.0], [9.0, 9.5, 10.1]), ([10.0, 10.2], [9.0])])
def test_two_sample_with_one_repetition_is_not_enough(a: list[float], b: list[float]) -> None:
    result = two_sample_comparison(a, b)
    assert result.p_value is None and result.lower is None and not result.significant()
    assert result.note is not None and result.note.startswith("not enough repetitions:")
    assert result.estimate is not None  # the point estimate is still shown


def test_night_to_night_variance_widens_a_cross_night_comparison() -> None:
    a = [10.6, 10.8, 10.7, 10.9, 10.7]  # run A, one night
    b = [10.0, 10.1, 10.2, 10.0, 10.1]  # run B, another night: +6 %, very tight repetitions
    plain = two_sample_comparison(a, b)
    nightly = two_sample_comparison(a, b, between_sd=0.03)  # 3 % night-to-night sd
    assert plain.significant(0.001)
    assert not nightly.significant(0.05)
    assert nightly.estimate == plain.estimate
    assert nightly.lower is not None and plain.lower is not None and nightly.lower < plain.lower
    assert "night-to-night" in nightly.method
    with pytest.raises(StatsInputError, match="between_sd"):
        two_sample_comparison(a, b, between_sd=-1.0)


def test_two_sample_bad_input() -> None:
    with pytest.raises(StatsInputError, match="side b has no value"):
        two_sample_comparison([1.0, 2.0], [None])
    with pytest.raises(StatsInputError, match="scale"):
        two_sample_comparison([1.0, 2.0], [1.0, 2.0], scale="ratio")  # type: ignore[arg-type]


def test_paired_t_test_calibration_and_why_not_wilcoxon() -> None:
    """Five rounds: the t-test on log ratios keeps its 5 % false-positive rate (normal and heavy
    tails) and has power, while Wilcoxon and the sign-flip test can never reject at 0.05."""
    null = paired_rates(5, 0.0, trials=2000, seed=3)
    assert 0.03 < null.t_test < 0.07
    assert null.wilcoxon == 0.0 and null.sign_flip == 0.0
    heavy = paired_rates(5, 0.0, trials=2000, seed=4, heavy_tails=True)
    assert heavy.t_test < 0.065
    effect = paired_rates(5, 0.10, trials=2000, seed=5)
    assert effect.t_test > 0.25 and effect.wilcoxon == 0.0  # 8 % noise per measurement, 5 pairs
    assert effect.ci_coverage is not None and abs(effect.ci_coverage - 0.95) < 0.02


def test_paired_frame_pairs_each_configuration_with_the_baseline_of_its_round() -> None:
    rows = []
    rng = np.random.default_rng(9)
    for qps in (100.0, None):
        for round_ in range(5):
            drift = rng.normal(0.0, 0.1)
            for mesh, overhead in (("baseline", 1.0), ("sidecar", 1.2), ("sidecar-mtls", 1.3)):
                value = 2.0 * overhead * math.exp(drift + rng.normal(0.0, 0.01))
                rows.append({"run_id": "r1", "qps": qps, "repetition": round_, "mesh": mesh, "p50": value})
    rows.append({"run_id": "r1", "qps": 100.0, "repetition": 7, "mesh": "istio", "p50": 3.0})  # no baseline
    frame = pd.DataFrame(rows)
    table = stats_paired_frame(frame)
    assert len(table) == 5
    sidecar = table[(table["mesh"] == "sidecar") & (table["qps"] == 100.0)].iloc[0]
    assert sidecar["n_pairs"] == 5 and sidecar["estimate"] == pytest.approx(0.2, abs=0.02)
    assert sidecar["p_value"] < 1e-4
    one = frame[(frame["qps"] == 100.0)]
    direct = paired_comparison(
        one.loc[one["mesh"] == "sidecar", "p50"].to_numpy(),
        one.loc[one["mesh"] == "baseline", "p50"].to_numpy(),
    )
    assert sidecar["p_value"] == pytest.approx(direct.p_value)
    mtls_max = table[(table["mesh"] == "sidecar-mtls") & table["qps"].isna()].iloc[0]
    assert mtls_max["estimate"] == pytest.approx(0.3, abs=0.03)  # the null ("max") load point pairs too
    istio = table[table["mesh"] == "istio"].iloc[0]
    assert istio["n_pairs"] == 0 and "no complete pair" in istio["note"]
    with pytest.raises(StatsInputError, match="more than one row for run_id='r1'"):
        stats_paired_frame(pd.concat([frame, frame.iloc[:1]]))


def stats_paired_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return paired_frame(frame, ["run_id", "qps"], "repetition", "mesh", "baseline", "p50")
