"""safe_run_id: real Airflow run ids become file names that are safe, distinct and reversible."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage import DatasetStore, run_id_from_safe, safe_run_id
from meshmark_tasks.storage.naming import MAX_SAFE_LEN, is_hashed

SAFE = re.compile(r"[A-Za-z0-9_.~-]+")

# Shapes Airflow 3 produces (DagRun.generate_run_id) plus what a user may type in the trigger form.
AIRFLOW_RUN_IDS = [
    "scheduled__2026-11-26T02:00:00+00:00",
    "manual__2026-11-26T09:15:02.123456+00:00",
    "asset_triggered__2026-11-26T02:31:07.000001+00:00",
    "backfill__2026-11-20T02:00:00+00:00",
    "manual__2026-11-26T09:15:02+00:00_aB3dE9xZ",
    "my rerun after fixing the cluster / node pool #2",
    "nächtlich:1",
]


@pytest.mark.parametrize("run_id", AIRFLOW_RUN_IDS)
def test_airflow_run_ids_become_safe_reversible_names(run_id: str) -> None:
    safe = safe_run_id(run_id)
    assert SAFE.fullmatch(safe), safe
    assert not safe.startswith(".")
    assert run_id_from_safe(safe) == run_id


def test_readable_for_the_common_case() -> None:
    assert (
        safe_run_id("scheduled__2026-11-26T02:00:00+00:00") == "scheduled__2026-11-26T02~3A00~3A00~2B00~3A00"
    )
    assert safe_run_id("..") == "~2E."  # never a parent-directory reference


def test_distinct_airflow_ids_get_distinct_names() -> None:
    names = {safe_run_id(r) for r in AIRFLOW_RUN_IDS}
    assert len(names) == len(AIRFLOW_RUN_IDS)


@given(st.text(min_size=1, max_size=60))
def test_any_text_round_trips(run_id: str) -> None:
    safe = safe_run_id(run_id)
    assert SAFE.fullmatch(safe)
    assert len(safe) <= MAX_SAFE_LEN
    # Only names too long for a file system are shortened with a digest (tested below).
    assert run_id_from_safe(safe) == (None if is_hashed(safe) else run_id)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_no_two_ids_share_a_name(a: str, b: str) -> None:
    if a != b:
        assert safe_run_id(a) != safe_run_id(b)


def test_very_long_ids_are_shortened_uniquely_and_still_found(tmp_path) -> None:
    long_a = "manual__" + ":" * 240 + "a"
    long_b = "manual__" + ":" * 240 + "b"
    safe_a, safe_b = safe_run_id(long_a), safe_run_id(long_b)
    assert len(safe_a) <= MAX_SAFE_LEN and SAFE.fullmatch(safe_a)
    assert safe_a != safe_b
    assert run_id_from_safe(safe_a) is None  # not decodable: the store reads it from the file
    store = DatasetStore(str(tmp_path))
    store.write_run("meshmark_config", _one_row(), run_id=long_a, run_date=datetime.date(2026, 1, 1))
    store.write_run("meshmark_config", _one_row(), run_id=long_b, run_date=datetime.date(2026, 1, 1))
    assert sorted(store.run_ids("meshmark_config")) == sorted([long_a, long_b])
    assert store.read("meshmark_config", run_id=long_b).column("run_id").to_pylist() == [long_b]


def _one_row():
    import pandas as pd

    return pd.DataFrame({"mesh": ["baseline"], "meshmark_mean": [80.0]})


@pytest.mark.parametrize("bad", ["", None, 5])
def test_empty_or_non_string_run_id_is_refused(bad) -> None:
    with pytest.raises(StoreError, match="run_id must be a non-empty string"):
        safe_run_id(bad)
