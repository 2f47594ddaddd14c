"""Pipeline overhead and DAG parse time.

1. Parse time of each file in dags/ (target ≤ 0.5 s) the way Airflow's DAG processor parses it,
   against a named reference: a minimal one-task DAG file parsed the same way. The processor's
   parent has airflow.sdk loaded and imports every `airflow.*` module a DAG file names before it
   starts the parsing child (`[dag_processor] parsing_pre_import_modules`, on by default); each
   parse then runs in a fresh child forked from it. Measured here the same way: a parent that
   pre-imports with Airflow's own iter_airflow_imports, one forked child per parse, the median of
   several parses ("warm"). The cold number (a fresh interpreter importing everything itself) is
   reported beside it.
2. Overhead of the local nightly run: wall time of the `meshmark_nightly` DAG run divided by the
   sum of its load-test windows (target ≤ 1.25 on the demo profile), plus the same for the whole
   `meshmark nightly` command (Airflow start-up and the trend report included).

MESHMARK_BENCH_DURATION_S adds runs at other per-cell durations (one or several, e.g. "12 18";
longer windows amortise the fixed costs; the ratio for the profile as shipped is the headline
number). MESHMARK_BENCH_PARSE_ONLY=1 measures the parse times only.

Each nightly run also says where its time went (`where_the_dag_run_went_s`): per task from
Airflow's task instances, and inside the cells per testbed phase from each cell's
raw/<run>/<cell>.testbed.json.gz (topology start and readiness, warm-up, the load generator's own
start and stop around its window, teardown), so every second beyond the windows has a name.

One command: `make bench-pipeline` (the same as `.venv/bin/python -m benchmarks.bench_pipeline`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "var" / "benchmarks" / "pipeline.json"

REFERENCE_DAG = textwrap.dedent(
    """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def reference():
        @task
        def hello():
            return 1
        hello()

    reference()
    """
)

# One DAG file, as the DAG processor parses it: argv = [path, parses].
_DAG_PROCESSOR_SNIPPET = textwrap.dedent(
    """
    import importlib, importlib.util, json, os, statistics, sys, time
    import airflow.sdk  # loaded by the DAG processor before any DAG file
    from airflow.utils.file import iter_airflow_imports

    path, parses = sys.argv[1], int(sys.argv[2])
    for module in iter_airflow_imports(path):  # what _pre_import_airflow_modules does
        importlib.import_module(module)
    times = []
    for n in range(parses):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the parsing child
            os.close(read)
            start = time.perf_counter()
            spec = importlib.util.spec_from_file_location(f"dagfile_{n}", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            os.write(write, str(time.perf_counter() - start).encode())
            os._exit(0)
        os.close(write)
        times.append(float(os.read(read, 64)))
        os.close(read)
        os.waitpid(pid, 0)
    print(json.dumps(statistics.median(times)))
    """
)

# One DAG file in a fresh interpreter that imports everything itself: argv = [path].
_COLD_SNIPPET = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    import airflow.sdk
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    print(json.dumps(time.perf_counter() - start))
    """
)


def _python(snippet: str, *args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", snippet, *args], capture_output=True, text=True, check=True, cwd=REPO
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def parse_times(parses: int = 7) -> dict[str, dict[str, float]]:
    """{"warm": {file: median s}, "cold": {file: best of three s}}; "reference" is the one-task DAG."""
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference_dag.py"
        reference.write_text(REFERENCE_DAG)
        files = {"reference": reference, **{p.name: p for p in sorted((REPO / "dags").glob("*.py"))}}
        return {
            "warm": {
                name: _python(_DAG_PROCESSOR_SNIPPET, str(path), str(parses)) for name, path in files.items()
            },
            "cold": {
                name: min(_python(_COLD_SNIPPET, str(path)) for _ in range(3)) for name, path in files.items()
            },
        }


def nightly_overhead(duration_s: float | None) -> dict[str, Any]:
    import pyarrow.compute as pc

    from meshmark_tasks.storage import DatasetStore

    with tempfile.TemporaryDirectory() as tmp:
        root = str(Path(tmp) / "data")
        cmd = [str(REPO / ".venv" / "bin" / "meshmark"), "nightly", "--storage-root", root]
        cmd += ["--airflow-home", str(Path(tmp) / "airflow")]
        if duration_s is not None:
            cmd += ["--duration-s", str(duration_s)]
        load_before = list(os.getloadavg())
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        command_wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"meshmark nightly failed:\n{proc.stderr[-4000:]}")
        run_info = json.loads((Path(tmp) / "airflow" / "last_nightly_run.json").read_text())
        results = DatasetStore(root).read("results")
        windows = float(pc.sum(results["duration_s"]).as_py())
        where = where_the_time_went(
            Path(tmp) / "airflow" / "airflow.db", run_info["dag_run"], run_info["wall_s"], windows
        )
        where.update(cell_phases(Path(root), windows, where.get("task_run_cell", 0.0)))
        return {
            "cells": results.num_rows,
            "sum_of_load_test_windows_s": windows,
            "dag_run_wall_s": run_info["wall_s"],
            "dag_run_over_windows": run_info["wall_s"] / windows,
            "command_wall_s": command_wall,
            "command_over_windows": command_wall / windows,
            "where_the_dag_run_went_s": where,
            "load_average_before_after": [load_before, list(os.getloadavg())],
        }


def where_the_time_went(db: Path, run_id: str, wall_s: float, windows_s: float) -> dict[str, float]:
    """The DAG run's wall time split by task, from the task instances' start and end in Airflow's DB.

    `run_cell_beyond_windows` is what the cells took beyond their measured windows (the testbed's
    start and readiness check, the warm-up, the load generator's own start and stop, teardown);
    `outside_tasks` is dag.test()'s own time (DAG sync, scheduling passes, the second it waits while
    the skipped branch settles).
    """
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(db) as con:
        query = "SELECT task_id, start_date, end_date FROM task_instance WHERE run_id = ?"
        rows = [row for row in con.execute(query, (run_id,)).fetchall() if row[2] is not None]
    spent: dict[str, float] = {}
    for task_id, start, end in rows:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        spent[task_id] = spent.get(task_id, 0.0) + seconds
    in_tasks = sum(spent.values())
    return {
        **{f"task_{task}": round(seconds, 2) for task, seconds in sorted(spent.items()) if seconds > 0.005},
        "run_cell_beyond_windows": round(spent.get("run_cell", 0.0) - windows_s, 2),
        "outside_tasks": round(wall_s - in_tasks, 2),
    }


def cell_phases(storage_root: Path, windows_s: float, run_cell_task_s: float) -> dict[str, float]:
    """The cells' time beyond their windows, by testbed phase (summed over the cells).

    `cells_loadgen_start_stop` is the measured phase minus the window itself (k6 starting, its
    graceful stop, the summary it writes); `run_cell_outside_the_testbed` is the rest of the
    run_cell tasks (Airflow's task start and end, XCom, the raw output copied into the store).
    """
    from meshmark_tasks.storage import DatasetStore

    store = DatasetStore(str(storage_root))
    details = [
        json.loads(store.read_raw(p.relative_to(storage_root).as_posix()))
        for p in sorted(storage_root.glob("raw/*/*.testbed.json*"))
    ]
    if not details:
        return {}

    def total(phase: str) -> float:
        return sum(float(d.get("phases_s", {}).get(phase, 0.0)) for d in details)

    in_testbed = sum(sum(float(v) for v in d.get("phases_s", {}).values()) for d in details)
    return {
        "cells_start_and_ready": round(total("start_and_ready"), 2),
        "cells_warmup": round(total("warmup"), 2),
        "cells_loadgen_start_stop": round(total("measured") - windows_s, 2),
        "cells_teardown": round(total("teardown"), 2),
        "run_cell_outside_the_testbed": round(run_cell_task_s - in_testbed, 2),
    }


def _durations() -> list[float]:
    raw = os.environ.get("MESHMARK_BENCH_DURATION_S", "")
    return [float(value) for value in raw.replace(",", " ").split()]


def run() -> dict:
    parse = parse_times()
    warm = parse["warm"]
    result: dict = {
        "parse_time_s": warm,
        "parse_ratio_to_reference_dag": {
            name: seconds / warm["reference"] for name, seconds in warm.items() if name != "reference"
        },
        "parse_time_cold_s": parse["cold"],
        "parse_target_s": 0.5,
    }
    if os.environ.get("MESHMARK_BENCH_PARSE_ONLY"):
        return result
    result["nightly_demo_profile"] = nightly_overhead(None)
    result["overhead_target"] = 1.25
    for duration_s in _durations():
        result[f"nightly_duration_{duration_s:g}s"] = nightly_overhead(duration_s)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
