"""Change-point detection over a whole report's history: `stats.detect_frame` (target: seconds).

A nightly report has hundreds of series (metric × mesh × load point) with up to a few hundred
nights each. This generates MESHMARK_BENCH_STATS_SERIES series (default 500) of
MESHMARK_BENCH_STATS_NIGHTS nights (default 300) with MESHMARK_BENCH_STATS_REPS repetitions per
night (default 5) — 750,000 per-repetition rows — with a 10 % step in every fifth series, and times
`detect_frame` on them (pooling on, the default), one core.

Reference, measured in the same run on the same frame: a bare pandas
`groupby([series, night]).median()` — the per-night median that any trend report has to compute
before judging a single series. The ratio says what the whole detector (night table, ruptures
candidates, tests, elimination, pooling, output frames) costs on top of that one aggregation.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.bench_scoring import _time, one_core  # noqa: E402
from meshmark_tasks.stats import detect_frame  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "var" / "benchmarks" / "stats.json"
TARGET_S = 10.0


def make_history(series: int, nights: int, reps: int, seed: int = 3) -> pd.DataFrame:
    """Per-repetition rows: 5 % repetition noise, 2 % night-to-night noise, steps in 1 of 5 series."""
    rng = np.random.default_rng(seed)
    night_effect = rng.normal(0.0, 0.02, (series, nights))
    step = np.zeros((series, nights))
    step[::5, (2 * nights) // 3 :] = np.log(1.1)
    level = np.log(rng.uniform(1.0, 100.0, series))[:, None] + night_effect + step
    logs = level[:, :, None] + rng.normal(0.0, 0.05, (series, nights, reps))
    return pd.DataFrame(
        {
            "mesh": np.repeat(np.arange(series) % 7, nights * reps),
            "load_point": np.repeat(np.arange(series) // 7, nights * reps),
            "run_seq": np.tile(np.repeat(np.arange(nights), reps), series),
            "value": np.exp(logs).ravel(),
        }
    )


def run() -> dict[str, Any]:
    series = int(os.environ.get("MESHMARK_BENCH_STATS_SERIES", "500"))
    nights = int(os.environ.get("MESHMARK_BENCH_STATS_NIGHTS", "300"))
    reps = int(os.environ.get("MESHMARK_BENCH_STATS_REPS", "5"))
    repeats = int(os.environ.get("MESHMARK_BENCH_REPEATS", "3"))
    frame = make_history(series, nights, reps)
    keys = ["mesh", "load_point"]

    def reference() -> pd.Series:
        return frame.groupby([*keys, "run_seq"], sort=True)["value"].median()

    with one_core() as pinned:
        detect = _time(lambda: detect_frame(frame, keys, "run_seq", "value"), repeats)
        median = _time(reference, repeats)
        result = detect_frame(frame, keys, "run_seq", "value")

    points = result.change_points
    series_id = points["load_point"] * 7 + points["mesh"]
    stepped = series_id % 5 == 0
    offset = (points["index"] - (2 * nights) // 3).abs()
    out = {
        "series": series,
        "nights": nights,
        "repetitions": reps,
        "rows": len(frame),
        "one_core": pinned,
        "load_average_1min": os.getloadavg()[0],
        "detect_frame_wall_s_best": detect["wall_best"],
        "detect_frame_cpu_s_best": detect["cpu_best"],
        "detect_frame_ms_per_series": 1000.0 * detect["cpu_best"] / series,
        "reference_groupby_median_wall_s_best": median["wall_best"],
        "reference_groupby_median_cpu_s_best": median["cpu_best"],
        "ratio_cpu": detect["cpu_best"] / median["cpu_best"],
        "series_with_a_step": len(range(0, series, 5)),
        "steps_found_at_their_night": int((stepped & (offset == 0)).sum()),
        "steps_found_within_2_nights": int((stepped & (offset <= 2)).sum()),
        "other_change_points_in_stepped_series": int((stepped & (offset > 2)).sum()),
        "change_points_in_series_without_a_step": int((~stepped).sum()),
        "target_s": TARGET_S,
        "target_met": detect["wall_best"] <= TARGET_S,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
