"""Trend-report time on three years of nightly history (target ≤ 10 s).

History: 1,095 nights × 200 cells (4 meshes × 10 QPS points × 5 connection counts) = 219,000
results rows plus as many MeshMark rows, written through DatasetStore.write_run with the real
scoring engine (generation is not timed, and is cached under var/benchmarks/ between runs).

Timed: build_report(root, days=<whole history>) — load, classify every series, five charts, HTML,
Markdown, JSON, publish. Reference, measured in the same run: a bare DuckDB aggregate over the
same files (mean MeshMark per mesh per run_date). Both are timed twice (first call, then again);
the headline ratio uses the second calls. Module imports are reported separately (this machine
runs with PYTHONDONTWRITEBYTECODE=1, so the first import of plotly compiles it from source).

MESHMARK_BENCH_REPORT_NIGHTS shrinks the history for a quick check (e.g. 60).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The synthetic histories are test data, kept with the tests' helpers (not in the package).
sys.path.insert(0, str(REPO / "tests" / "support"))
OUT = REPO / "var" / "benchmarks" / "report.json"
TARGET_S = 10.0


def _spec(nights: int):  # type: ignore[no-untyped-def]
    from synthetic import (
        BASELINE,
        SIDECAR,
        SIDECAR_MTLS,
        SyntheticHistory,
        SyntheticMesh,
    )

    ambient = SyntheticMesh("ambient", kind="ambient", latency_factor=1.2, dataplane_cores_per_kqps=0.2)
    return SyntheticHistory(
        meshes=(BASELINE, SIDECAR, SIDECAR_MTLS, ambient),
        qps=tuple(float(q) for q in range(100, 1001, 100)),
        connections=(1, 4, 16, 64, 256),
        nights=nights,
        noise=0.03,
        seed=2026,
        newest_changes={"sidecar": {"latency_ms_p99": 1.2}},
    )


def _history_root(nights: int) -> tuple[Path, float | None]:
    from synthetic import write_history

    from meshmark_tasks.storage import DatasetStore

    root = REPO / "var" / "benchmarks" / f"report-history-{nights}n"
    if root.exists() and len(DatasetStore(str(root)).run_ids("meshmark")) == nights:
        return root, None
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    write_history(str(root), _spec(nights))
    return root, time.perf_counter() - started


def _duckdb_reference(root: Path) -> float:
    import duckdb

    from meshmark_tasks.storage import DatasetStore

    store = DatasetStore(str(root))
    started = time.perf_counter()
    con = duckdb.connect()
    source = store.duckdb_source(con, "meshmark")  # the files themselves, read by DuckDB
    rows = con.execute(
        f"SELECT run_date, mesh, avg(meshmark) FROM {source} GROUP BY run_date, mesh"
    ).fetchall()
    con.close()
    elapsed = time.perf_counter() - started
    assert rows
    return elapsed


def run() -> dict:
    nights = int(os.environ.get("MESHMARK_BENCH_REPORT_NIGHTS", "1095"))
    started = time.perf_counter()
    import duckdb  # noqa: F401
    import plotly.graph_objects  # noqa: F401

    from meshmark_tasks.reporting.report import build_report

    import_s = time.perf_counter() - started
    root, generation_s = _history_root(nights)
    spec = _spec(nights)
    out = REPO / "var" / "benchmarks" / "report-out"

    report_times = []
    for _ in range(2):
        started = time.perf_counter()
        result = build_report(str(root), days=nights + 1, out_dir=str(out))
        report_times.append(time.perf_counter() - started)
    reference_times = [_duckdb_reference(root) for _ in range(2)]
    flagged = sorted({(r["mesh"], r["metric"]) for r in result.regressions})
    return {
        "nights": nights,
        "cells_per_night": spec.cells_per_night,
        "rows": nights * spec.cells_per_night,
        "generation_s": generation_s,
        "import_s": round(import_s, 3),
        "report_first_s": round(report_times[0], 3),
        "report_s": round(report_times[1], 3),
        "reference": "bare DuckDB aggregate: mean MeshMark per mesh per run_date over the same files",
        "reference_first_s": round(reference_times[0], 3),
        "reference_s": round(reference_times[1], 3),
        "ratio": round(report_times[1] / reference_times[1], 1),
        "target_s": TARGET_S,
        "meets_target": report_times[1] <= TARGET_S,
        "series": sum(result.counts.values()),
        "counts": result.counts,
        "flagged": [f"{m}:{k}" for m, k in flagged],
        "html_bytes": Path(result.html_path).stat().st_size,
    }


if __name__ == "__main__":
    numbers = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(numbers, indent=2) + "\n")
    n = numbers
    verdict = "met" if n["meets_target"] else "MISSED"
    print(f"trend report over {n['rows']:,} rows ({n['nights']} nights × {n['cells_per_night']} cells):")
    print(f"  {n['report_s']:.2f} s (first call {n['report_first_s']:.2f} s, imports {n['import_s']:.2f} s)")
    print(f"bare DuckDB aggregate over the same files: {n['reference_s']:.3f} s")
    print(f"ratio {n['ratio']}×; target ≤ {TARGET_S:.0f} s: {verdict}")
    print(f"series {numbers['series']} {numbers['counts']}; flagged {numbers['flagged']}")
    sys.exit(0)
