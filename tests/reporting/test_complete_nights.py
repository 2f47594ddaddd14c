"""A mesh's MeshMark over load points is compared only between nights with the same load points."""

from __future__ import annotations

import pandas as pd

from meshmark_tasks.reporting.history import complete_nights
from meshmark_tasks.reporting.series import METRICS_BY_COLUMN, metric_values


def test_a_night_short_of_a_load_point_is_left_out() -> None:
    frame = pd.DataFrame(
        {
            "mesh": ["a", "a", "a", "a", "a", "b", "b"],
            "run_seq": [0, 0, 1, 2, 2, 0, 1],
            "load_point": ["x", "y", "x", "x", "y", "x", "x"],
        }
    )
    kept = complete_nights(frame)
    assert sorted(zip(kept["mesh"], kept["run_seq"], strict=True)) == [
        ("a", 0),
        ("a", 0),
        ("a", 2),
        ("a", 2),
        ("b", 0),
        ("b", 1),
    ]


def test_meshmark_mean_series_skips_the_partial_night() -> None:
    rows = []
    for night in range(3):
        for point, mark in (("100 qps", 80.0), ("300 qps", 60.0)):
            if night == 1 and point == "300 qps":
                continue  # quarantined: the night is partial
            rows.append(
                {
                    "mesh": "sidecar",
                    "run_seq": night,
                    "repetition": 0,
                    "load_point": point,
                    "is_baseline": False,
                    "meshmark": mark,
                    "requested_qps": 100.0,
                    "connections": 8,
                    "payload_bytes": 1024,
                    "protocol": "http",
                }
            )
    values = metric_values(pd.DataFrame(rows), METRICS_BY_COLUMN["meshmark_mean"])
    assert list(values["run_seq"]) == [0, 2]
    assert list(values["value"]) == [70.0, 70.0]
