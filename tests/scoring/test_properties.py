"""Properties over generated cells: bounded outputs and order independence."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshmark_tasks.schemas import MUE_COLUMNS
from meshmark_tasks.scoring import aggregate_by_config, score_cells

maybe = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
positive = st.floats(min_value=0.001, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def cell(draw: st.DrawFn, index: int) -> dict:
    requests = draw(st.integers(min_value=0, max_value=10**7))
    return {
        "run_id": draw(st.sampled_from(["r1", "r2"])),
        "cell_id": f"c{index}",
        "mesh": draw(st.sampled_from(["baseline", "istio", "linkerd"])),
        "is_baseline": draw(st.booleans()),
        "requested_qps": draw(st.sampled_from([None, 100.0, 1000.0])),
        "connections": draw(st.sampled_from([1, 8])),
        "payload_bytes": 1024,
        "protocol": draw(st.sampled_from(["http", "grpc"])),
        "repetition": draw(st.integers(0, 2)),
        "actual_qps": draw(maybe),
        "requests_total": requests,
        "errors_total": draw(st.integers(min_value=0, max_value=requests)),
        "latency_ms_p50": draw(maybe),
        "latency_ms_p99": draw(maybe),
        "cpu_cores_app": draw(maybe),
        "cpu_cores_dataplane": draw(maybe),
        "cpu_cores_controlplane": draw(maybe),
        "cpu_cores_assigned": draw(maybe),
        "mem_bytes_app": draw(maybe),
        "mem_bytes_dataplane": draw(maybe),
        "mem_bytes_controlplane": draw(maybe),
        "mem_bytes_assigned": draw(maybe),
        "slo_p99_ms": draw(st.one_of(st.none(), positive)),
    }


@st.composite
def cells(draw: st.DrawFn) -> pd.DataFrame:
    count = draw(st.integers(min_value=1, max_value=12))
    return pd.DataFrame([draw(cell(i)) for i in range(count)])


weights = st.dictionaries(st.sampled_from(MUE_COLUMNS), st.floats(min_value=-0.5, max_value=0.5), max_size=8)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(cells(), weights)
def test_scores_are_bounded_and_null_means_not_computable(frame: pd.DataFrame, w: dict[str, float]) -> None:
    scored = score_cells(frame, weights=w)
    assert len(scored) == int((frame["requests_total"] > 0).sum())
    mues = scored[MUE_COLUMNS].to_numpy(dtype=float)
    present = mues[~np.isnan(mues)]
    assert ((present >= 0) & (present <= 1)).all()
    mark = scored["meshmark"].to_numpy(dtype=float)
    assert ((mark[~np.isnan(mark)] >= 0) & (mark[~np.isnan(mark)] <= 100)).all()
    numbers = scored.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    # scored_classes lists exactly the non-null classes, and MeshMark is null only without any.
    for _, row in scored.iterrows():
        used = [c for c in ("compute", "memory", "network", "delivery") if pd.notna(row[f"class_{c}"])]
        assert row["scored_classes"] == ",".join(used)
        assert pd.isna(row["meshmark"]) == (not used)


@SETTINGS
@given(cells(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_any_cell(frame: pd.DataFrame, rnd) -> None:
    order = list(range(len(frame)))
    rnd.shuffle(order)
    shuffled = frame.iloc[order].reset_index(drop=True)
    first = score_cells(frame).set_index("cell_id").sort_index()
    second = score_cells(shuffled).set_index("cell_id").sort_index()
    pd.testing.assert_frame_equal(first, second, check_exact=False, rtol=1e-12, atol=1e-12)
    agg_first = aggregate_by_config(first.reset_index())
    agg_second = aggregate_by_config(second.reset_index())
    pd.testing.assert_frame_equal(agg_first, agg_second, check_exact=False, rtol=1e-12)
