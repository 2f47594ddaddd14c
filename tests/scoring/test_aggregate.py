"""Per-config aggregates: repetitions averaged within a load point, then load points weighed equally."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from meshmark_tasks import schemas
from meshmark_tasks.scoring import ScoringInputError, aggregate_by_config


def _scored(rows: list[dict]) -> pd.DataFrame:
    base = {"connections": 8, "payload_bytes": 1024, "protocol": "http"}
    return pd.DataFrame([base | r for r in rows])


def test_repetitions_then_load_points():
    scored = _scored(
        [
            # load point 100 QPS: two repetitions -> 60
            {"mesh": "istio", "requested_qps": 100.0, "meshmark": 50.0},
            {"mesh": "istio", "requested_qps": 100.0, "meshmark": 70.0},
            # load point 300 QPS: one cell -> 90
            {"mesh": "istio", "requested_qps": 300.0, "meshmark": 90.0},
            # "max": four repetitions -> 30
            {"mesh": "istio", "requested_qps": None, "meshmark": 20.0},
            {"mesh": "istio", "requested_qps": None, "meshmark": 40.0},
            {"mesh": "istio", "requested_qps": None, "meshmark": 30.0},
            {"mesh": "istio", "requested_qps": None, "meshmark": 30.0},
            {"mesh": "baseline", "requested_qps": 100.0, "meshmark": 80.0},
        ]
    )
    configs = aggregate_by_config(scored)
    assert list(configs.columns) == ["mesh", "meshmark_mean", "meshmark_min", "cells_scored"]
    istio = configs.set_index("mesh").loc["istio"]
    # Equal weight per load point: (60 + 90 + 30) / 3, not the mean of the 7 cells (47.14).
    assert istio["meshmark_mean"] == pytest.approx(60.0)
    assert istio["meshmark_min"] == pytest.approx(30.0)
    assert istio["cells_scored"] == 7
    assert configs.set_index("mesh").loc["baseline", "cells_scored"] == 1


def test_null_meshmarks_are_not_counted():
    scored = _scored(
        [
            {"mesh": "istio", "requested_qps": 100.0, "meshmark": 40.0},
            {"mesh": "istio", "requested_qps": 100.0, "meshmark": None},
            {"mesh": "istio", "requested_qps": 200.0, "meshmark": None},
        ]
    )
    row = aggregate_by_config(scored).iloc[0]
    assert row["meshmark_mean"] == 40.0
    assert row["meshmark_min"] == 40.0
    assert row["cells_scored"] == 1


def test_per_run_and_arrow_schema():
    day = pd.Timestamp("2025-03-01").date()
    scored = _scored(
        [
            {"run_id": "r1", "run_date": day, "mesh": "istio", "requested_qps": 100.0, "meshmark": 10.0},
            {"run_id": "r2", "run_date": day, "mesh": "istio", "requested_qps": 100.0, "meshmark": 20.0},
            {"run_id": "r2", "run_date": day, "mesh": "linkerd", "requested_qps": 100.0, "meshmark": 30.0},
        ]
    )
    configs = aggregate_by_config(scored)
    assert list(configs.columns) == schemas.MESHMARK_CONFIG.names
    assert configs[["run_id", "mesh", "meshmark_mean"]].values.tolist() == [
        ["r1", "istio", 10.0],
        ["r2", "istio", 20.0],
        ["r2", "linkerd", 30.0],
    ]
    pa.Table.from_pandas(configs, schema=schemas.MESHMARK_CONFIG, preserve_index=False)


def test_empty_and_missing_columns():
    empty = _scored([{"mesh": "x", "requested_qps": 1.0, "meshmark": 1.0}]).iloc[0:0]
    out = aggregate_by_config(empty)
    assert out.empty and list(out.columns) == ["mesh", "meshmark_mean", "meshmark_min", "cells_scored"]
    with pytest.raises(ScoringInputError, match="missing column meshmark"):
        aggregate_by_config(_scored([{"mesh": "x", "requested_qps": 1.0}]))
