"""How much DatasetStore.write_run costs over a bare pyarrow.parquet.write_table.

Table: 1,000,000 rows of the `meshmark` table (scores per cell; the widest numeric table),
with plausible values. Reference: `pq.write_table` of the same Arrow table to a file on the same
disk with the same compression, measured in the same run. The store additionally conforms the
table to the schema, writes a temp file, fsyncs it, renames it into place, fsyncs the directory
and looks for older copies of the run in other partitions. Target: ratio <= 1.5.

Also reported: the same comparison for each candidate codec (snappy, zstd: time and file size),
and for a pandas DataFrame input (reference: pa.Table.from_pandas + write_table).

    .venv/bin/python benchmarks/bench_store.py            # 1,000,000 rows
    MESHMARK_BENCH_CELLS=50000 .venv/bin/python benchmarks/bench_store.py   # quick check
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from meshmark_tasks.schemas import MESHMARK
from meshmark_tasks.storage import COMPRESSION, DatasetStore

ROWS = int(os.environ.get("MESHMARK_BENCH_CELLS", "1000000"))
REPEATS = int(os.environ.get("MESHMARK_BENCH_REPEATS", "3"))
RUN_ID = "scheduled__2026-11-26T02:00:00+00:00"
RUN_DATE = datetime.date(2026, 11, 26)
OUT = Path(__file__).resolve().parent.parent / "var" / "benchmarks" / "store.json"


def build_table(rows: int, seed: int = 7) -> pa.Table:
    """A meshmark-like table: few meshes and load points, scores in [0, 1], some nulls."""
    rng = np.random.default_rng(seed)
    meshes = ["baseline", "istio-sidecar", "istio-ambient", "linkerd", "linkerd-mtls"]
    mesh_idx = rng.integers(0, len(meshes), rows)
    qps = rng.choice([100.0, 500.0, 1000.0, 2000.0], rows)
    conns = rng.choice([8, 16, 64], rows).astype(np.int32)
    payload = rng.choice([0, 1024, 65536], rows)
    protocol = rng.choice(["http", "grpc"], rows)
    repetition = (np.arange(rows) // 1000).astype(np.int32)
    mesh_names = pa.array(meshes).take(pa.array(mesh_idx))
    cell_ids = [
        f"{meshes[m]}-q{int(q)}-c{c}-b{b}-{p}-r{r}"
        for m, q, c, b, p, r in zip(mesh_idx, qps, conns, payload, protocol, repetition, strict=True)
    ]
    columns: dict[str, pa.Array] = {
        "run_id": pa.array(np.full(rows, RUN_ID)),
        "run_date": pa.array(np.full(rows, np.datetime64(RUN_DATE.isoformat(), "D"))).cast(pa.date32()),
        "cell_id": pa.array(cell_ids),
        "mesh": mesh_names,
        "mesh_kind": pa.array(["none", "sidecar", "ambient", "sidecar", "sidecar"]).take(pa.array(mesh_idx)),
        "is_baseline": pa.array(mesh_idx == 0),
        "network_functions": pa.array(["", "", "mtls", "", "mtls"]).take(pa.array(mesh_idx)),
        "requested_qps": pa.array(qps),
        "connections": pa.array(conns),
        "payload_bytes": pa.array(payload),
        "protocol": pa.array(protocol),
        "repetition": pa.array(repetition),
    }
    for field in MESHMARK:
        if field.name in columns:
            continue
        if field.name == "scored_classes":
            columns[field.name] = pa.array(np.full(rows, "compute,memory,network,delivery"))
        elif field.name == "meshmark":
            columns[field.name] = pa.array(np.round(40 + 60 * rng.random(rows), 6))
        else:  # MUEs, classes, overheads: float64, a few nulls (no baseline, unthrottled)
            values = np.round(rng.random(rows), 6)
            columns[field.name] = pa.array(values, mask=rng.random(rows) < 0.02)
    return pa.Table.from_pydict(columns, schema=MESHMARK)


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _compare(table: pa.Table, workdir: Path, compression: str, repeats: int) -> dict[str, float]:
    """Median seconds of the reference and of the store, interleaved so both see the same disk."""
    reference_path = workdir / f"reference-{compression}.parquet"
    store = DatasetStore(str(workdir / f"store-{compression}"))
    import meshmark_tasks.storage.store as store_module

    previous = store_module.COMPRESSION
    store_module.COMPRESSION = compression  # the codec under test, for this comparison only
    try:
        reference, stored = [], []
        for _ in range(repeats):
            reference.append(_time(lambda: pq.write_table(table, reference_path, compression=compression)))
            stored.append(_time(lambda: store.write_run("meshmark", table, run_id=RUN_ID, run_date=RUN_DATE)))
    finally:
        store_module.COMPRESSION = previous
    [stored_file] = (workdir / f"store-{compression}" / "meshmark").rglob("part-*.parquet")
    return {
        "reference_s": statistics.median(reference),
        "store_s": statistics.median(stored),
        "ratio": statistics.median(stored) / statistics.median(reference),
        "reference_bytes": reference_path.stat().st_size,
        "store_bytes": stored_file.stat().st_size,
    }


def run() -> dict:
    table = build_table(ROWS)
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-", dir=OUT.parent.parent))
    try:
        codecs = {codec: _compare(table, workdir, codec, REPEATS) for codec in ("snappy", "zstd")}
        frame = table.to_pandas()
        pandas_store = DatasetStore(str(workdir / "store-pandas"))
        pandas_reference, pandas_stored = [], []
        for _ in range(REPEATS):
            pandas_reference.append(
                _time(
                    lambda: pq.write_table(
                        pa.Table.from_pandas(frame, schema=MESHMARK, preserve_index=False),
                        workdir / "reference-pandas.parquet",
                        compression=COMPRESSION,
                    )
                )
            )
            pandas_stored.append(
                _time(lambda: pandas_store.write_run("meshmark", frame, run_id=RUN_ID, run_date=RUN_DATE))
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    chosen = codecs[COMPRESSION]
    result = {
        "table": "meshmark",
        "rows": ROWS,
        "columns": table.num_columns,
        "repeats": REPEATS,
        "compression": COMPRESSION,
        "reference": "pyarrow.parquet.write_table, same table, same disk, same compression",
        "reference_s": chosen["reference_s"],
        "store_s": chosen["store_s"],
        "ratio": chosen["ratio"],
        "target_ratio": 1.5,
        "codecs": codecs,
        "pandas_reference_s": statistics.median(pandas_reference),
        "pandas_store_s": statistics.median(pandas_stored),
        "pandas_ratio": statistics.median(pandas_stored) / statistics.median(pandas_reference),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = run()
    print(f"{r['rows']:,} rows x {r['columns']} columns of '{r['table']}', median of {r['repeats']}")
    for codec, c in r["codecs"].items():
        mark = " (used)" if codec == r["compression"] else ""
        print(
            f"  {codec:6}{mark:7} write_table {c['reference_s']:.3f} s   store.write_run {c['store_s']:.3f} s"
            f"   ratio {c['ratio']:.2f}   file {c['store_bytes'] / 2**20:.1f} MiB"
        )
    print(
        f"  pandas input: from_pandas+write_table {r['pandas_reference_s']:.3f} s   "
        f"store.write_run {r['pandas_store_s']:.3f} s   ratio {r['pandas_ratio']:.2f}"
    )
    verdict = "meets" if r["ratio"] <= r["target_ratio"] else "MISSES"
    print(f"ratio {r['ratio']:.2f} {verdict} the target <= {r['target_ratio']}  -> {OUT}")
