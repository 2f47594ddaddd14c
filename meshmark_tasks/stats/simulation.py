"""Simulations that justify the defaults: false alarms, power, CI coverage, paired-test calibration.

The noise model is the detector's own, on the log scale (so CVs are standard deviations of logs):

    ln y_jr = ln level + step(j) + b_j + e_jr,   b_j ~ N(0, between_cv²) per night,
                                                 e_jr ~ N(0, within_cv²) per repetition

with optional heavy tails (Student t with 3 df scaled to the same sd) to check robustness.
`python -m meshmark_tasks.stats.simulation` prints every table quoted in docs/meshmark.md; the
tests in tests/stats run the same functions on fewer seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from meshmark_tasks.stats.changepoint import ChangePointConfig, SeriesDetection, detect_many, detect_nights
from meshmark_tasks.stats.compare import paired_comparison
from meshmark_tasks.stats.median import order_statistic_rank
from meshmark_tasks.stats.nights import Nights


@dataclass(frozen=True)
class NoiseModel:
    within_cv: float = 0.05  # sd of ln(value) between repetitions of one night
    between_cv: float = 0.02  # sd of ln(level) from night to night
    repetitions: int = 7  # per night (1 = one value per night)
    nights: int = 30  # history length, newest included
    heavy_tails: bool = False  # t(3) noise instead of normal, same sd

    @classmethod
    def with_night_noise(
        cls, noise: float, within_cv: float = 0.03, repetitions: int = 10, nights: int = 30
    ) -> NoiseModel:
        """The model whose night median has sd `noise`, its between-night part filling the rest."""
        within_part = (math.pi / 2 if repetitions >= 3 else 1.0) * within_cv**2 / repetitions
        if noise**2 < within_part:
            raise ValueError(f"noise {noise} is below the within-night part {math.sqrt(within_part):.4f}")
        return cls(within_cv, math.sqrt(noise**2 - within_part), repetitions, nights)

    @property
    def night_noise(self) -> float:
        """Approximate sd of one night's median of logs (what decides power on the first night)."""
        factor = math.pi / 2 if self.repetitions >= 3 else 1.0
        return math.sqrt(self.between_cv**2 + factor * self.within_cv**2 / self.repetitions)


def _noise(rng: np.random.Generator, sd: float, size: Any, heavy: bool) -> np.ndarray:
    if not heavy:
        return rng.normal(0.0, sd, size)
    return rng.standard_t(3, size) * sd / math.sqrt(3.0)  # var of t(3) is 3


def simulate_nights(
    rng: np.random.Generator, model: NoiseModel, steps: Sequence[tuple[int, float]] = ()
) -> tuple[Nights, np.ndarray]:
    """One series as the detector's night table, and its raw (nights × repetitions) values.

    `steps`: (first night index, relative change) pairs, e.g. [(29, 0.10)] = +10 % from night 29.
    """
    shift = np.zeros(model.nights)
    for first, change in steps:
        shift[first:] += math.log1p(change)
    y = (
        math.log(100.0)
        + shift[:, None]
        + _noise(rng, model.between_cv, (model.nights, 1), model.heavy_tails)
        + _noise(rng, model.within_cv, (model.nights, model.repetitions), model.heavy_tails)
    )
    centred = y - y.mean(axis=1, keepdims=True)
    nights = Nights(
        labels=np.arange(model.nights),
        value=np.median(y, axis=1),
        n=np.full(model.nights, model.repetitions, dtype=np.int64),
        ss=(centred**2).sum(axis=1),
        n_missing=0,
    )
    return nights, np.exp(y)


# -- the detector ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorRates:
    model: NoiseModel
    step: float  # relative step at the newest night (0 = no change)
    series: int
    newest_flagged: float  # fraction of series whose newest night is flagged
    any_change_point: float  # fraction with any reported change point anywhere in the history
    median_flagged_magnitude: float | None


def detector_rates(
    model: NoiseModel,
    step: float = 0.0,
    series: int = 1000,
    seed: int = 0,
    config: ChangePointConfig | None = None,
    step_night: int | None = None,
) -> DetectorRates:
    """Run the detector on `series` simulated series; a non-zero `step` starts at the newest night
    (or at `step_night`, counted from the oldest), and `newest_flagged` is then the power."""
    config = config or ChangePointConfig()
    rng = np.random.default_rng(seed)
    first = model.nights - 1 if step_night is None else step_night
    flagged = 0
    anywhere = 0
    magnitudes: list[float] = []
    for _ in range(series):
        nights, _raw = simulate_nights(rng, model, [(first, step)] if step else ())
        detection = detect_nights(nights, config)
        if detection.newest_flagged:
            flagged += 1
            assert detection.newest is not None and detection.newest.magnitude is not None
            magnitudes.append(detection.newest.magnitude)
        if detection.change_points:
            anywhere += 1
    return DetectorRates(
        model,
        step,
        series,
        flagged / series,
        anywhere / series,
        float(np.median(magnitudes)) if magnitudes else None,
    )


def found_at(detection: SeriesDetection, index: int) -> bool:
    return any(cp.index == index for cp in detection.change_points)


def delayed_power(
    model: NoiseModel,
    step: float,
    delay: int,
    series: int = 500,
    seed: int = 0,
    config: ChangePointConfig | None = None,
) -> float:
    """Fraction of series where a step made `delay` nights before the newest is reported at its
    exact first night (delay 0 = the newest night)."""
    config = config or ChangePointConfig()
    rng = np.random.default_rng(seed)
    first = model.nights - 1 - delay
    hits = 0
    for _ in range(series):
        nights, _raw = simulate_nights(rng, model, [(first, step)])
        hits += found_at(detect_nights(nights, config), first)
    return hits / series


# -- whole reports: many series of one metric, pooled -----------------------------------------------------


@dataclass(frozen=True)
class ReportRates:
    """Series of one metric in one report (each with its own noise drawn from the realistic range),
    detected together with pooling; `step` is applied at the newest night of series 0 only."""

    reports: int
    series_per_report: int
    nights: int
    step: float
    shared_night_effect: float  # fraction of the night-to-night variance shared by all series
    false_alarm_per_series_night: float  # newest flagged among the unchanged series
    any_change_point_unchanged: float  # unchanged series with any reported change point
    power: float | None  # newest flagged for the stepped series
    power_by_noise: dict[str, float]  # power split by the stepped series' per-night noise
    mean_prior_df: float


def simulate_report(
    rng: np.random.Generator,
    nights: int,
    series: int,
    step: float = 0.0,
    shared: float = 0.0,
    within: tuple[float, float] = (0.03, 0.10),
    between: tuple[float, float] = (0.01, 0.04),
    repetitions: tuple[int, int] = (5, 10),
) -> tuple[list[Nights], list[NoiseModel]]:
    """One report's series: noise drawn uniformly from the ranges, night effects partly shared."""
    common = rng.normal(0.0, 1.0, nights)
    tables = []
    models = []
    for i in range(series):
        model = NoiseModel(
            float(rng.uniform(*within)),
            float(rng.uniform(*between)),
            int(rng.integers(repetitions[0], repetitions[1] + 1)),
            nights,
        )
        own = rng.normal(0.0, 1.0, nights)
        night_effect = model.between_cv * (math.sqrt(shared) * common + math.sqrt(1.0 - shared) * own)
        shift = np.zeros(nights)
        if i == 0 and step:
            shift[-1] = math.log1p(step)
        y = (
            math.log(100.0)
            + shift[:, None]
            + night_effect[:, None]
            + rng.normal(0.0, model.within_cv, (nights, model.repetitions))
        )
        centred = y - y.mean(axis=1, keepdims=True)
        tables.append(
            Nights(
                np.arange(nights),
                np.median(y, axis=1),
                np.full(nights, model.repetitions),
                (centred**2).sum(axis=1),
                0,
            )
        )
        models.append(model)
    return tables, models


def report_rates(
    nights: int,
    reports: int = 100,
    series: int = 15,
    step: float = 0.0,
    shared: float = 0.0,
    seed: int = 0,
    config: ChangePointConfig | None = None,
    **ranges: Any,
) -> ReportRates:
    config = config or ChangePointConfig()
    rng = np.random.default_rng(seed)
    false_alarms = 0
    unchanged = 0
    anywhere = 0
    hits: dict[str, list[bool]] = {}
    prior_dfs = []
    for _ in range(reports):
        tables, models = simulate_report(rng, nights, series, step, shared, **ranges)
        detections = detect_many(tables, config)
        prior_dfs.append(detections[0].prior_df)
        for i, detection in enumerate(detections):
            if i == 0 and step:
                noise = models[0].night_noise
                band = (
                    "<2%" if noise < 0.02 else "2-3%" if noise < 0.03 else "3-4%" if noise < 0.04 else ">=4%"
                )
                hits.setdefault(band, []).append(detection.newest_flagged)
                continue
            unchanged += 1
            false_alarms += detection.newest_flagged
            anywhere += bool(detection.change_points)
    all_hits = [h for band in hits.values() for h in band]
    return ReportRates(
        reports,
        series,
        nights,
        step,
        shared,
        false_alarms / unchanged,
        anywhere / unchanged,
        float(np.mean(all_hits)) if all_hits else None,
        {band: float(np.mean(v)) for band, v in sorted(hits.items())},
        float(np.mean(prior_dfs)),
    )


# -- median CI coverage ---------------------------------------------------------------------------------


def median_ci_coverage(
    n: int, trials: int = 4000, seed: int = 0, level: float = 0.95, distribution: str = "lognormal"
) -> tuple[float, float]:
    """(simulated coverage, stated level) of the order-statistic CI of the median for n values."""
    rng = np.random.default_rng(seed)
    if distribution == "lognormal":
        sample = rng.lognormal(0.0, 0.3, (trials, n))
        true_median = 1.0
    elif distribution == "exponential":  # strongly skewed, like tail latencies
        sample = rng.exponential(1.0, (trials, n))
        true_median = math.log(2.0)
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    ordered = np.sort(sample, axis=1)
    k, stated = order_statistic_rank(n, level)
    inside = (ordered[:, k - 1] <= true_median) & (true_median <= ordered[:, n - k])
    return float(inside.mean()), stated


# -- paired tests ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedRates:
    pairs: int
    overhead: float  # true relative mesh overhead (0 = null)
    heavy_tails: bool
    t_test: float  # rejection rate at alpha of the paired t-test on log ratios
    wilcoxon: float
    sign_flip: float  # exact sign-flip permutation test on log ratios
    ci_coverage: float | None  # of the t-interval for the true overhead


def paired_rates(
    pairs: int,
    overhead: float = 0.0,
    trials: int = 2000,
    seed: int = 0,
    within_cv: float = 0.08,
    round_cv: float = 0.05,
    heavy_tails: bool = False,
    alpha: float = 0.05,
) -> PairedRates:
    """Rejection rates of three paired tests when each round shares a drift `round_cv` between the
    mesh and the baseline measured back to back, and each measurement has `within_cv` noise."""
    rng = np.random.default_rng(seed)
    drift = _noise(rng, round_cv, (trials, pairs), heavy_tails)
    base = np.exp(math.log(10.0) + drift + _noise(rng, within_cv, (trials, pairs), heavy_tails))
    mesh = np.exp(
        math.log(10.0) + math.log1p(overhead) + drift + _noise(rng, within_cv, (trials, pairs), heavy_tails)
    )
    d = np.log(mesh) - np.log(base)
    t_reject = stats.ttest_1samp(d, 0.0, axis=1).pvalue < alpha
    wilcoxon_p = stats.wilcoxon(d, axis=1).pvalue
    flips = np.array(list(itertools.product((-1.0, 1.0), repeat=pairs)))  # all 2^n sign patterns
    observed = np.abs(d.mean(axis=1))
    null = np.abs(d @ flips.T / pairs)
    sign_flip_p = (null >= observed[:, None] - 1e-15).mean(axis=1)
    covered = 0
    for row in d[: min(trials, 1000)]:
        result = paired_comparison(np.exp(row), np.ones(pairs))
        assert result.lower is not None and result.upper is not None
        covered += result.lower <= overhead <= result.upper
    return PairedRates(
        pairs,
        overhead,
        heavy_tails,
        float(t_reject.mean()),
        float((wilcoxon_p < alpha).mean()),
        float((sign_flip_p < alpha).mean()),
        covered / min(trials, 1000),
    )


# -- the report the docs quote --------------------------------------------------------------------------

FA_GRID = [
    NoiseModel(within, between, reps, nights)
    for within in (0.03, 0.10)
    for between in (0.01, 0.04)
    for reps in (5, 10)
    for nights in (10, 30)
]
NIGHT_NOISE = (0.015, 0.02, 0.025, 0.03)


def _rows(objects: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for obj in objects:
        row = asdict(obj)
        if "model" in row:
            row.update({f"model.{k}": v for k, v in row.pop("model").items()})
        out.append(row)
    return out


def report(series: int = 2000, seed: int = 1) -> dict[str, Any]:
    """Every table of docs/meshmark.md; `series` per cell of the single-series tables (reports of
    15 series: series // 4 of them per cell)."""
    started = time.perf_counter()
    config = ChangePointConfig()
    alone = replace(config, pool=False)
    reports = max(series // 4, 10)
    out: dict[str, Any] = {"config": config.as_dict(), "series_per_cell": series}
    out["false_alarms_single_series"] = _rows(
        detector_rates(m, 0.0, series, seed + i, alone) for i, m in enumerate(FA_GRID)
    )
    out["false_alarms_reports"] = _rows(
        report_rates(nights, reports, 15, 0.0, shared, seed + 50 + nights, config)
        for nights in (10, 20, 30)
        for shared in (0.0, 0.5)
    )
    out["false_alarms_one_value_per_night"] = _rows(
        detector_rates(NoiseModel(0.0, noise, 1, nights), 0.0, series, seed + 100 + nights, alone)
        for noise in (0.02, 0.05)
        for nights in (10, 30)
    )
    out["false_alarms_heavy_tails"] = _rows(
        [detector_rates(NoiseModel(0.05, 0.02, 7, 30, heavy_tails=True), 0.0, series, seed + 200, alone)]
    )
    out["power_first_night_single_series"] = _rows(
        detector_rates(
            NoiseModel.with_night_noise(noise, nights=nights), step, series // 2, seed + 300, alone
        )
        for noise in NIGHT_NOISE
        for nights in (10, 30)
        for step in (0.05, 0.10, 0.20)
    )
    out["power_first_night_reports"] = _rows(
        report_rates(
            nights,
            reports,
            15,
            0.10,
            0.0,
            seed + 350 + nights,
            config,
            between=(0.005, 0.03),
            within=(0.03, 0.08),
        )
        for nights in (10, 20, 30)
    )
    out["power_first_night_reports_10_nights_unpooled"] = _rows(
        [
            report_rates(
                10, reports, 15, 0.10, 0.0, seed + 360, alone, between=(0.005, 0.03), within=(0.03, 0.08)
            )
        ]
    )
    out["power_10pct_exact_night_by_delay"] = {
        f"noise={noise},nights=30,delay={delay}": delayed_power(
            NoiseModel.with_night_noise(noise), 0.10, delay, series // 4, seed + 400, alone
        )
        for noise in NIGHT_NOISE
        for delay in (0, 1, 2, 4)
    }
    out["median_ci_coverage"] = {
        f"{dist},n={n}": median_ci_coverage(n, 4000, seed, distribution=dist)
        for dist in ("lognormal", "exponential")
        for n in (3, 5, 6, 7, 10, 20)
    }
    out["paired_tests"] = _rows(
        paired_rates(n, effect, 2000, seed + 500, heavy_tails=heavy)
        for n in (3, 5, 8)
        for effect in (0.0, 0.10)
        for heavy in (False, True)
    )
    out["seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--series", type=int, default=2000, help="simulated series per table cell")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    json.dump(report(args.series, args.seed), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
