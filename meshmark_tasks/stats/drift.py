"""Machine drift: is a change flagged on the newest night still there once the machine's speed is removed?

On a shared or virtual machine the whole testbed runs faster or slower from one night to the next.
Measured on the 2-core test machine (docs/benchmarks.md, "Fidelity"): in one stretch every
configuration's app CPU per request fell by 22 %, and with it the raw latency and data-plane CPU of
every mesh, enough for the change-point test to flag them although no mesh had changed.

A *speed index* measures the machine per night: work that no mesh changes, such as the baseline's
app CPU seconds per request at the same load point (`speed_index`). A flag on the newest night is
explained by drift (`check_drift`) when all three hold:

1. the index itself has a change point on the newest night (the same test and minimum magnitude on
   its per-repetition values, significant at `p_value` = 0.05 by default: evidence that the machine
   moved, where a flag needs 0.001), in the same direction as the series' change. The baseline's
   app CPU is noisier than most series (σ within a night 8 % on the test machine): on the night
   the machine was 15 % faster its index reached p = 0.03, while the sidecar's raw p50 and
   data-plane CPU were flagged at p < 0.001;
2. the series, each repetition divided by its night's index (relative to the index's median over
   the nights, so values keep their units and a linear minimum change still means what it says),
   is no longer flagged on the newest night: nothing is left once the machine's change is removed;
3. the index is known on the newest night at the series' key.

The normalised series are tested together, as the raw ones were (same variance pooling). Nights
without an index leave their repetitions out of the normalised series (missing, not imputed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from meshmark_tasks.stats.changepoint import ChangePointConfig, detect_frame
from meshmark_tasks.stats.errors import StatsInputError

INDEX = "speed_index"
DRIFT_COLUMNS = [
    "index_change",  # the index's newest-night change point (relative); NaN when not significant
    "normalised_flagged",  # the newest night is still flagged after the division
    "normalised_magnitude",
    "normalised_p_value",
    "drift_explained",
]


@dataclass(frozen=True)
class SpeedIndex:
    """The machine's speed per `on` key and night, and which keys changed significantly tonight."""

    on: tuple[str, ...]
    night: str
    per_night: pd.DataFrame  # the `on` columns, night, INDEX (1.0 = a typical night)
    newest_night: object  # the newest night of the reference (None when it has no usable value)
    newest_change: pd.DataFrame  # the `on` columns, index_change (significant changes on newest_night only)

    @property
    def empty(self) -> bool:
        return self.per_night.empty


def speed_index(
    reference: pd.DataFrame,
    on: Sequence[str],
    night: str,
    value: str,
    config: ChangePointConfig | None = None,
    p_value: float = 0.05,
) -> SpeedIndex:
    """The speed index from per-repetition `reference` values (> 0, finite; others are missing).

    `per_night`: each night's median ÷ the median over the nights of the same `on` key.
    `newest_change`: the keys measured on the reference's newest night whose values have a change
    point there significant at `p_value` (module doc, 1.; `config`'s minimum magnitude and history,
    on the log scale), with its magnitude. A key whose own last night is older has none: its last
    change is not tonight's.
    """
    missing = [c for c in (*on, night, value) if c not in reference.columns]
    if missing:
        raise StatsInputError(f"speed_index: reference has no column {', '.join(missing)}")
    keys = [*on, night]
    values = pd.to_numeric(reference[value], errors="coerce")
    usable = reference.assign(_v=values)[np.isfinite(values) & (values > 0)]
    per_night = usable.groupby(keys, dropna=False, as_index=False)["_v"].median()
    typical = per_night.groupby(list(on), dropna=False)["_v"].transform("median")
    per_night[INDEX] = per_night["_v"] / typical
    change = pd.DataFrame(columns=[*on, "index_change"])
    newest_night = usable[night].max() if len(usable) else None
    if len(usable):
        log_config = replace(config or ChangePointConfig(), scale="log", min_change=0.0, p_value=p_value)
        detected = detect_frame(usable, list(on), night, "_v", log_config).series
        tonight = per_night.loc[per_night[night] == newest_night, list(on)]
        newest = detected[detected["newest_flagged"].astype(bool)].merge(tonight, on=list(on))
        change = newest[[*on, "newest_magnitude"]].rename(columns={"newest_magnitude": "index_change"})
    return SpeedIndex(
        tuple(on), night, per_night[[*keys, INDEX]], newest_night, change.reset_index(drop=True)
    )


def check_drift(
    frame: pd.DataFrame,
    series: Sequence[str],
    value: str,
    speed: SpeedIndex,
    config: ChangePointConfig | None = None,
    raw: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """For every series of `frame` (as `detect_frame` takes it, nights in `speed.night`, the `speed.on`
    columns present): whether its newest-night flag is explained by the machine's drift.

    `raw`: `detect_frame(frame, …).series` when the caller has it already. Returns the `series`
    columns, `newest_flagged` and `newest_magnitude` (raw) and DRIFT_COLUMNS.
    """
    config = config or ChangePointConfig()
    keys, night, on = list(series), speed.night, list(speed.on)
    if raw is None:
        raw = detect_frame(frame, keys, night, value, config).series
    merged = frame.merge(speed.per_night, on=[*on, night], how="left")
    normalised = merged.assign(**{value: merged[value] / merged[INDEX]})
    normal = detect_frame(normalised, keys, night, value, config).series
    renamed = {
        "status": "normalised_status",
        "newest_flagged": "normalised_flagged",
        "newest_magnitude": "normalised_magnitude",
        "newest_p_value": "normalised_p_value",
    }
    index_of_series = frame.drop_duplicates(keys)[[*keys, *(c for c in on if c not in keys)]]
    # The index's change counts only when its newest night is the series' newest night (condition 3).
    tonight = speed.newest_change if frame[night].max() == speed.newest_night else speed.newest_change[:0]
    index_of_series = index_of_series.merge(tonight, on=on, how="left")[[*keys, "index_change"]]
    out = (
        raw[[*keys, "newest_flagged", "newest_magnitude"]]
        .merge(normal[[*keys, *renamed]].rename(columns=renamed), on=keys, how="left")
        .merge(index_of_series, on=keys, how="left")
    )
    flagged = out["newest_flagged"].fillna(False).astype(bool)
    # A normalised series that could not be tested (too few nights with an index) keeps its flag.
    still = out["normalised_flagged"].fillna(True).astype(bool) | ~out["normalised_status"].eq("ok")
    same_way = np.sign(out["index_change"].astype(float)) == np.sign(out["newest_magnitude"].astype(float))
    out["drift_explained"] = flagged & ~still & out["index_change"].notna() & same_way
    return out[[*keys, "newest_flagged", "newest_magnitude", *DRIFT_COLUMNS]]
