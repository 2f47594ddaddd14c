"""Fixtures of the store tests: plausible rows of every table, built fast with numpy."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pytest

from meshmark_tasks.schemas import TABLES
from meshmark_tasks.storage import DatasetStore

MESHES = ["baseline", "sidecar", "sidecar-mtls"]
RUN_COLUMNS = ("run_id", "run_date")

MakeTable = Callable[..., pa.Table]


def make_table(table: str, rows: int, seed: int = 0) -> pa.Table:
    """`rows` rows of `table` without run_id/run_date (the store sets those), all types exact."""
    rng = np.random.default_rng(seed)
    mesh_index = np.arange(rows) % len(MESHES)
    meshes = pa.array(MESHES).take(pa.array(mesh_index))
    cell_ids = pa.array([f"{MESHES[i % 3]}-q{100 * (1 + i // 3 % 5)}-c8-b0-http-r{i}" for i in range(rows)])
    columns: dict[str, pa.Array] = {}
    for field in TABLES[table]:
        name, kind = field.name, field.type
        if name in RUN_COLUMNS:
            continue
        if name == "cell_id":
            columns[name] = cell_ids
        elif name == "mesh":
            columns[name] = meshes
        elif name == "reasons":
            columns[name] = pa.array([[f"reason {i}", "p99 above SLO"][: 1 + i % 2] for i in range(rows)])
        elif name == "stage":
            columns[name] = pa.array(["run", "parse", "validation"]).take(pa.array(np.arange(rows) % 3))
        elif pa.types.is_string(kind):
            columns[name] = pa.array([f"{name}-{i % 7}" for i in range(rows)], type=kind)
        elif pa.types.is_floating(kind):
            values = np.round(rng.random(rows) * 100, 3)
            mask = rng.random(rows) < 0.05 if field.nullable else None  # some nulls where allowed
            columns[name] = pa.array(values, type=kind, mask=mask)
        elif pa.types.is_integer(kind):
            columns[name] = pa.array(rng.integers(0, 10_000, rows), type=kind)
        elif pa.types.is_boolean(kind):
            columns[name] = pa.array(mesh_index == 0)
        elif pa.types.is_timestamp(kind):
            start = datetime.datetime(2026, 11, 26, 2, tzinfo=datetime.UTC).timestamp() * 1e6
            columns[name] = pa.array((start + np.arange(rows) * 60e6).astype("int64")).cast(kind)
        else:  # pragma: no cover - a new type in schemas.py needs a generator here
            raise AssertionError(f"no generator for {name}: {kind}")
    return pa.table(columns)


@pytest.fixture
def sample() -> MakeTable:
    return make_table


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(str(tmp_path / "store"))


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A private memory:// root (the fsspec memory filesystem is process-global), removed after."""
    root = f"memory://meshmark-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)
