"""`meshmark score` end to end: the vector cells as JSON lines, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshmark_tasks.cli import main

# The installed console script (pyproject [project.scripts]), beside the interpreter of the venv.
MESHMARK = str(Path(sys.executable).with_name("meshmark"))


def _write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cli_rows(baseline_cell: dict, mesh_cell: dict) -> list[dict]:
    # As a user would write them: no cell_id, no repetition, SLO from the flag.
    strip = ("cell_id", "repetition", "slo_p99_ms")
    return [{k: v for k, v in cell.items() if k not in strip} for cell in (baseline_cell, mesh_cell)]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_vectors_end_to_end(tmp_path, capsys, baseline_cell, mesh_cell):
    cells = _write_lines(tmp_path / "cells.jsonl", _cli_rows(baseline_cell, mesh_cell))
    code, out, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 0, err
    document = json.loads(out)
    by_mesh = {c["mesh"]: c for c in document["cells"]}
    assert by_mesh["baseline"]["meshmark"] == pytest.approx(89.43359375, abs=1e-12)
    assert by_mesh["istio"]["meshmark"] == pytest.approx(65.4615, abs=1e-4)
    assert by_mesh["istio"]["cell_id"] == "istio-q1000-c8-b1024-http-r0"
    assert by_mesh["istio"]["repetition"] == 0
    assert by_mesh["istio"]["mesh_kind"] is None
    configs = {c["mesh"]: c for c in document["configs"]}
    assert configs["istio"]["meshmark_mean"] == pytest.approx(65.4615, abs=1e-4)
    assert configs["istio"]["cells_scored"] == 1


def test_weights_file_yaml_and_json(tmp_path, capsys, baseline_cell, mesh_cell):
    cells = _write_lines(tmp_path / "cells.jsonl", _cli_rows(baseline_cell, mesh_cell))
    (tmp_path / "w.yaml").write_text("mue_cpu_overhead: 0.5\nmue_mem_overhead: 0.5\n")
    (tmp_path / "w.json").write_text('{"mue_cpu_overhead": 0.5, "mue_mem_overhead": 0.5}')
    for name in ("w.yaml", "w.json"):
        code, out, err = _run(
            ["score", str(cells), "--slo-p99-ms", "10", "--weights", str(tmp_path / name)], capsys
        )
        assert code == 0, err
        istio = next(c for c in json.loads(out)["cells"] if c["mesh"] == "istio")
        assert istio["meshmark"] == pytest.approx(70.6698, abs=1e-4)


def test_without_baseline_nulls_are_json_null(tmp_path, capsys, mesh_cell):
    row = {k: v for k, v in mesh_cell.items() if k != "cell_id"} | {"requested_qps": "max"}
    cells = _write_lines(tmp_path / "cells.jsonl", [row])
    code, out, _ = _run(["score", str(cells)], capsys)  # slo_p99_ms is on the line
    assert code == 0
    assert "NaN" not in out
    cell = json.loads(out)["cells"][0]
    assert cell["mue_latency_overhead"] is None
    assert cell["mue_throughput"] is None
    assert cell["requested_qps"] is None
    assert cell["cell_id"] == "istio-qmax-c8-b1024-http-r0"


def test_line_slo_overrides_flag_and_run_columns_are_kept(tmp_path, capsys, baseline_cell, mesh_cell):
    rows = _cli_rows(baseline_cell, mesh_cell)
    rows[1] |= {"slo_p99_ms": 14.0}
    rows = [r | {"run_id": "manual", "run_date": "2025-03-01"} for r in rows]
    cells = _write_lines(tmp_path / "cells.jsonl", rows)
    code, out, _ = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 0
    document = json.loads(out)
    istio = next(c for c in document["cells"] if c["mesh"] == "istio")
    assert istio["mue_latency_slo"] == pytest.approx(0.5)
    assert istio["run_date"] == "2025-03-01"
    assert document["configs"][0]["run_id"] == "manual"


def test_console_script_in_a_subprocess(tmp_path, baseline_cell, mesh_cell):
    cells = _write_lines(tmp_path / "cells.jsonl", _cli_rows(baseline_cell, mesh_cell))
    done = subprocess.run(
        [MESHMARK, "score", str(cells), "--slo-p99-ms", "10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cells"][0]["meshmark"] == pytest.approx(89.43359375, abs=1e-12)

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    done = subprocess.run(
        [MESHMARK, "score", str(bad), "--slo-p99-ms", "10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"{bad}:1: not valid JSON" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latency_ms_p50": "abc"}, "latency_ms_p50: expected a number, got 'abc'"),
        ({"connections": 8.5}, "connections: expected an integer, got 8.5"),
        ({"is_baseline": "no"}, "is_baseline: expected true or false, got 'no'"),
        ({"requested_qps": 0}, "requested_qps: Input should be greater than 0"),
        ({"requested_qps": "fast"}, "requested_qps: expected a number, got 'fast'"),
        ({"errors_total": -1}, "errors_total: Input should be greater than or equal to 0"),
        ({"errors_total": 70000}, "errors_total: 70000 exceeds requests_total 60000"),
        ({"protocol": "udp"}, "protocol: Input should be 'http' or 'grpc'"),
        ({"latency_p50": 1.0}, "latency_p50: unknown field"),
        ({"run_date": "yesterday"}, "run_date: expected a date"),
    ],
)
def test_bad_field_names_file_line_and_field(tmp_path, capsys, baseline_cell, mesh_cell, change, message):
    rows = _cli_rows(baseline_cell, mesh_cell)
    rows[1] |= change
    cells = _write_lines(tmp_path / "cells.jsonl", rows)
    code, out, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 2
    assert out == ""
    assert f"{cells}:2: {message}" in err


def test_missing_required_field(tmp_path, capsys, baseline_cell, mesh_cell):
    rows = _cli_rows(baseline_cell, mesh_cell)
    del rows[0]["requests_total"]
    cells = _write_lines(tmp_path / "cells.jsonl", rows)
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 2
    assert f"{cells}:1: requests_total: required field missing" in err


def test_line_numbers_count_blank_lines(tmp_path, capsys, baseline_cell, mesh_cell):
    rows = _cli_rows(baseline_cell, mesh_cell)
    cells = tmp_path / "cells.jsonl"
    cells.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1] | {"actual_qps": None}) + "\n")
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 2
    assert f"{cells}:3: actual_qps: expected a number, got None" in err


def test_not_an_object_and_duplicate_cell(tmp_path, capsys, baseline_cell, mesh_cell):
    rows = _cli_rows(baseline_cell, mesh_cell)
    cells = tmp_path / "cells.jsonl"
    cells.write_text(json.dumps(rows[0]) + "\n[1, 2]\n")
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 2 and f"{cells}:2: expected a JSON object, got array" in err

    _write_lines(cells, [rows[0], rows[0]])
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 2
    assert f"{cells}:2: cell_id: 'baseline-q1000-c8-b1024-http-r0' already used on line 1" in err


def test_slo_needed_somewhere(tmp_path, capsys, baseline_cell, mesh_cell):
    cells = _write_lines(tmp_path / "cells.jsonl", _cli_rows(baseline_cell, mesh_cell))
    code, _, err = _run(["score", str(cells)], capsys)
    assert code == 2
    assert f"{cells}:1: slo_p99_ms: missing" in err
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "-1"], capsys)
    assert code == 2 and "--slo-p99-ms" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("mue_cpu: 0.9\n", "mue_cpu: weight 0.9 is outside [-0.5, 0.5]"),
        ('{"mue_fast": 0.1}', "mue_fast: unknown MUE"),
        ("- mue_cpu\n", "expected a mapping"),
        ("mue_cpu: [\n", "not valid YAML"),
    ],
)
def test_bad_weights_file(tmp_path, capsys, baseline_cell, mesh_cell, content, message):
    cells = _write_lines(tmp_path / "cells.jsonl", _cli_rows(baseline_cell, mesh_cell))
    weights = tmp_path / "weights.yaml"
    weights.write_text(content)
    code, _, err = _run(["score", str(cells), "--slo-p99-ms", "10", "--weights", str(weights)], capsys)
    assert code == 2
    assert f"{weights}: " in err and message in err


def test_missing_files(tmp_path, capsys):
    code, _, err = _run(["score", str(tmp_path / "nope.jsonl"), "--slo-p99-ms", "10"], capsys)
    assert code == 2 and "nope.jsonl: cannot read cells" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = _run(["score", str(empty), "--slo-p99-ms", "10"], capsys)
    assert code == 2 and "empty.jsonl: no cells" in err


def test_cells_from_stdin(monkeypatch, capsys, baseline_cell, mesh_cell):
    import io

    text = "".join(json.dumps(r) + "\n" for r in _cli_rows(baseline_cell, mesh_cell))

    def stdin(text: str) -> io.TextIOWrapper:  # like the real one: text over a byte buffer
        return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")

    monkeypatch.setattr(sys, "stdin", stdin(text))
    code, out, _ = _run(["score", "-", "--slo-p99-ms", "10"], capsys)
    assert code == 0
    assert json.loads(out)["cells"][1]["meshmark"] == pytest.approx(65.4615, abs=1e-4)

    monkeypatch.setattr(sys, "stdin", stdin(text + '{"mesh": 3}\n'))
    code, _, err = _run(["score", "-", "--slo-p99-ms", "10"], capsys)
    assert code == 2 and "<stdin>:3: mesh: expected a string, got 3" in err


def test_repetitions_give_load_point_intervals_and_paired_deltas(tmp_path, capsys, baseline_cell, mesh_cell):
    rows = []
    for rep, (drift, ratio) in enumerate([(1.0, 1.5), (1.1, 1.6), (0.9, 1.55)]):
        for cell, factor in ((baseline_cell, 1.0), (mesh_cell, ratio)):
            row = {k: v for k, v in cell.items() if k not in ("cell_id", "slo_p99_ms")}
            row["repetition"] = rep
            row["latency_ms_p50"] = cell["latency_ms_p50"] * drift * factor
            row["latency_ms_p99"] = max(cell["latency_ms_p99"], row["latency_ms_p50"])
            rows.append(row)
    cells = _write_lines(tmp_path / "cells.jsonl", rows)
    code, out, err = _run(["score", str(cells), "--slo-p99-ms", "10"], capsys)
    assert code == 0, err
    points = {p["mesh"]: p for p in json.loads(out)["load_points"]}
    assert points["istio"]["repetitions_used"] == 3 and points["istio"]["pairs_used"] == 3
    assert points["istio"]["latency_ms_p50_ci_low"] is not None
    assert points["istio"]["delta_p50_significant"] is True  # +50–60 % in every repetition
    assert points["baseline"]["delta_p50_pct"] is None
