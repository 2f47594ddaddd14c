"""Per-config aggregates: repetitions averaged within a load point, then load points weighed equally."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshmark_tasks import schemas
from meshmark_tasks.scoring import ScoringInputError, aggregate_by_config
from meshmark_tasks.scoring.uncertainty import CONFIG_COLUMNS


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
    assert list(configs.columns) == [
        "mesh",
        "meshmark_mean",
        "meshmark_min",
        "cells_scored",
        *CONFIG_COLUMNS,
        "load_points_scored",
    ]
    istio = configs.set_index("mesh").loc["istio"]
    # Equal weight per load point: (60 + 90 + 30) / 3, not the mean of the 7 cells (47.14).
    assert istio["meshmark_mean"] == pytest.approx(60.0)
    assert istio["meshmark_min"] == pytest.approx(30.0)
    assert istio["cells_scored"] == 7
    assert istio["load_points_scored"] == 3
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
    assert list(configs.columns) == [
        c for c in schemas.MESHMARK_CONFIG.names if c not in schemas.RUN_LEVEL_COLUMNS
    ]
    assert configs[["run_id", "mesh", "meshmark_mean"]].values.tolist() == [
        ["r1", "istio", 10.0],
        ["r2", "istio", 20.0],
        ["r2", "linkerd", 30.0],
    ]
    fields = [schemas.MESHMARK_CONFIG.field(c) for c in configs.columns]
    pa.Table.from_pandas(configs, schema=pa.schema(fields), preserve_index=False)


def test_empty_and_missing_columns():
    empty = _scored([{"mesh": "x", "requested_qps": 1.0, "meshmark": 1.0}]).iloc[0:0]
    out = aggregate_by_config(empty)
    assert out.empty and list(out.columns) == [
        "mesh",
        "meshmark_mean",
        "meshmark_min",
        "cells_scored",
        *CONFIG_COLUMNS,
        "load_points_scored",
    ]
    with pytest.raises(ScoringInputError, match="missing column meshmark"):
        aggregate_by_config(_scored([{"mesh": "x", "requested_qps": 1.0}]))


def _pandas_reference(scored: pd.DataFrame) -> pd.DataFrame:
    """The same rules with a two-level pandas groupby (slow but obvious)."""
    keys = ["run_id", "mesh"]
    per_point = scored.groupby([*keys, *LOAD_POINT_COLUMNS], dropna=False).agg(
        mark=("meshmark", "mean"), cells=("meshmark", "count")
    )
    out = per_point.groupby(level=keys).agg(
        meshmark_mean=("mark", "mean"), meshmark_min=("mark", "min"), cells_scored=("cells", "sum")
    )
    return out.reset_index()


LOAD_POINT_COLUMNS = ["requested_qps", "connections", "payload_bytes", "protocol"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "run_id": st.sampled_from(["r1", "r2", "r3"]),
                "mesh": st.sampled_from(["a", "b"]),
                "requested_qps": st.sampled_from([None, 10.0, 20.0]),
                "connections": st.sampled_from([1, 2]),
                "payload_bytes": st.just(0),
                "protocol": st.sampled_from(["http", "grpc"]),
                "meshmark": st.one_of(st.none(), st.floats(0, 100)),
            }
        ),
        min_size=1,
        max_size=40,
    )
)
def test_matches_a_pandas_groupby(rows):
    scored = pd.DataFrame(rows).astype({"meshmark": "float64"})  # all-None would be object
    got = aggregate_by_config(scored)
    want = _pandas_reference(scored)
    assert got[["run_id", "mesh"]].values.tolist() == want[["run_id", "mesh"]].values.tolist()
    for column in ("meshmark_mean", "meshmark_min"):
        assert np.allclose(got[column], want[column], rtol=1e-12, atol=1e-12, equal_nan=True), column
    assert got["cells_scored"].tolist() == want["cells_scored"].tolist()
