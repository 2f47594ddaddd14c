"""Nights with repetitions, written through the store: test data for `meshmark compare`.

Built on synthetic.py's cells: each night repeats every cell `repetitions` times (repetition 0, 1,
…), with per-measurement noise from synthetic.py and a night-level factor on every latency (the
machine's state that night, shared by all cells), and optional changes on the newest night.
Scored by the real engine and written with DatasetStore.write_run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import synthetic

from meshmark_tasks.matrix import cell_id_for
from meshmark_tasks.scoring import aggregate_by_config, score_cells, summarise_load_points
from meshmark_tasks.storage import DatasetStore

LATENCIES = [f"latency_ms_{s}" for s in ("min", "mean", "p50", "p75", "p90", "p99", "p999", "max")]


def write_nights(
    root: str,
    *,
    nights: int = 8,
    repetitions: int = 5,
    night_sd: float = 0.03,
    noise: float = 0.03,
    newest_changes: Mapping[str, Mapping[str, float]] | None = None,
    newest_night_factor: float | None = None,
    seed: int = 11,
) -> list[str]:
    """Write `nights` runs; returns their run ids, oldest first.

    `newest_changes`: {mesh: {column: factor}} on the newest night (a real change of one mesh);
    `newest_night_factor`: the newest night's latency factor instead of a random one (a bad night
    for the whole machine, no mesh changed).
    """
    store = DatasetStore(root)
    rng = np.random.default_rng(seed)
    spec = synthetic.SyntheticHistory(first_date=dt.date(2026, 11, 1), nights=nights, noise=noise)
    run_ids = []
    for night in range(nights):
        newest = night == nights - 1
        level = float(rng.normal(1.0, night_sd))
        if newest and newest_night_factor is not None:
            level = newest_night_factor
        frames = []
        for repetition in range(repetitions):
            frame = synthetic.night_results(spec, night, rng)
            frame["repetition"] = repetition
            frame["round"] = repetition
            frame["cell_id"] = [
                cell_id_for(m, q, c, 0, "http", repetition)
                for m, q, c in zip(frame["mesh"], frame["requested_qps"], frame["connections"], strict=True)
            ]
            frame[LATENCIES] = frame[LATENCIES] * level
            for mesh, columns in (newest_changes or {}).items() if newest else ():
                for column, factor in columns.items():
                    frame.loc[frame["mesh"] == mesh, column] *= factor
            frames.append(frame)
        results = pd.concat(frames, ignore_index=True)
        run_id, run_date = str(results["run_id"].iloc[0]), results["run_date"].iloc[0]
        scored = score_cells(results)
        store.write_run("results", results, run_id=run_id, run_date=run_date)
        store.write_run("meshmark", scored, run_id=run_id, run_date=run_date)
        store.write_run("meshmark_config", aggregate_by_config(scored), run_id=run_id, run_date=run_date)
        summary = summarise_load_points(scored, results)
        store.write_run("meshmark_summary", summary, run_id=run_id, run_date=run_date)
        run_ids.append(run_id)
    return run_ids
