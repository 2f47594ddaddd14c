"""SMP export of a run's tables, and the reverse: export → import gives the rows back."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import synthetic  # tests/support, on sys.path from tests/conftest.py
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshmark_tasks.importers import RESULT_COLUMNS, import_file, parse_smp, smp_document, to_json, to_yaml
from meshmark_tasks.importers.smp_export import SmpExportError
from meshmark_tasks.schemas import RESULTS
from meshmark_tasks.scoring import aggregate_by_config, score_cells
from meshmark_tasks.storage import DatasetStore

SMP = Path(__file__).resolve().parent.parent / "fixtures" / "smp"


def _fixtures_module() -> Any:
    spec = importlib.util.spec_from_file_location("smp_make_fixtures", SMP / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _without_raw_path(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["cell_id"]: {c: row[c] for c in RESULT_COLUMNS if c != "raw_path"} for row in rows}


# -- a real run through the store ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Table, pa.Table]:
    """One synthetic night written to a store and read back, as the export command will read it."""
    spec = synthetic.SyntheticHistory(first_date=dt.date(2026, 11, 1), nights=1)
    frame = synthetic.night_results(spec, 0, np.random.default_rng(3))
    scored = score_cells(frame)
    store = DatasetStore(str(tmp_path_factory.mktemp("store")))
    run_id, run_date = frame["run_id"].iloc[0], frame["run_date"].iloc[0]
    for table, rows in (
        ("results", frame),
        ("meshmark", scored),
        ("meshmark_config", aggregate_by_config(scored)),
    ):
        store.write_run(table, rows.drop(columns=["run_id", "run_date"]), run_id=run_id, run_date=run_date)
    return store.read("results"), store.read("meshmark"), store.read("meshmark_config")


@pytest.mark.parametrize("serialise", [to_json, to_yaml])
def test_export_then_import_gives_the_stored_rows_back(
    stored_run: tuple[pa.Table, pa.Table, pa.Table], serialise: Any
) -> None:
    results, meshmark, config = stored_run
    text = serialise(smp_document(results, meshmark, config))
    run = parse_smp(text.encode(), source="export")
    original = results.to_pylist()
    assert run.run_id == original[0]["run_id"] and run.run_date == original[0]["run_date"]
    assert _without_raw_path(run.results) == _without_raw_path(original)
    assert all(row["raw_path"] is None for row in run.results)  # it pointed into the exporting store
    assert run.profile == "synthetic" and run.backend == "import:smp"
    assert {row["backend"] for row in run.results} == {"synthetic"}  # where the run was measured
    # The scores travel in the extension, cell by cell.
    exported = {row["cell_id"]: row["meshmark"] for row in meshmark.to_pylist()}
    assert {s["cell_id"]: s["meshmark"] for s in run.meshmark} == exported
    assert [c["mesh"] for c in run.meshmark_config] == config.column("mesh").to_pylist()


def test_pandas_and_arrow_rows_export_the_same(stored_run: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    results, meshmark, config = stored_run
    assert smp_document(results.to_pandas(), meshmark.to_pandas(), config.to_pandas()) == smp_document(
        results, meshmark, config
    )


# -- generated rows ----------------------------------------------------------------------------------

_TEXT = st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=12)
_COUNT = st.integers(0, 2**63 - 1)
_NON_NEGATIVE = st.floats(0, 1e15, allow_nan=False, allow_infinity=False)
_TIME = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))


@st.composite
def results_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows of one run with every column drawn (nullable ones often null), cell ids unique."""
    rows = []
    for i in range(draw(st.integers(1, 5))):
        start = draw(st.none() | _TIME)
        row: dict[str, Any] = {
            "run_id": "manual__2026-11-26T10:00:00+00:00",
            "run_date": dt.date(2026, 11, 26),
            "cell_id": f"cell-{i}",
            "mesh": draw(st.sampled_from(["baseline", "istio", "linkerd-edge", "mesh.v2"])),
            "start_time": start,
            "end_time": None
            if start is None
            else start + draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=2))),
        }
        for field in RESULTS:
            if field.name in row:
                continue
            if field.name == "run_ts":  # the run's, not a result's: not exported
                continue
            if pa.types.is_floating(field.type):
                value = st.none() | _NON_NEGATIVE
            elif pa.types.is_int32(field.type):  # connections, repetition, round, sequence
                value = st.none() | st.integers(0, 2**31 - 1)
            elif pa.types.is_integer(field.type):
                value = st.none() | _COUNT
            elif pa.types.is_boolean(field.type):
                value = st.none() | st.booleans()
            elif field.name == "protocol":
                value = st.none() | st.sampled_from(["http", "grpc", "tcp", "udp"])
            else:
                value = st.none() | _TEXT
            row[field.name] = draw(value)
        rows.append(row)
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=results_rows(), as_yaml=st.booleans())
def test_round_trip_on_generated_rows(rows: list[dict[str, Any]], as_yaml: bool) -> None:
    table = pa.Table.from_pylist(rows, schema=RESULTS)
    document = smp_document(table)
    text = to_yaml(document) if as_yaml else to_json(document)
    run = parse_smp(text.encode(), source="generated")
    assert _without_raw_path(run.results) == _without_raw_path(table.to_pylist())


# -- the document against the SMP protos -----------------------------------------------------------


def _proto_messages() -> tuple[dict[str, set[str]], set[str]]:
    """Message name → its field names, and every enum value name, read from the copied protos."""
    fields: dict[str, set[str]] = {}
    enum_values: set[str] = set()
    for path in sorted((SMP / "protos").glob("*.proto")):
        stack: list[str] = []
        for line in path.read_text().splitlines():
            code = line.split("//")[0].strip()
            if match := re.match(r"(message|enum) (\w+) \{", code):
                stack.append(match[2] if match[1] == "message" else "enum")
                if match[1] == "message":
                    fields.setdefault(match[2], set())
            elif code == "}":
                stack.pop()
            elif stack and stack[-1] == "enum" and (value := re.match(r"(\w+) = \d+;", code)):
                enum_values.add(value[1])
            elif stack and (field := re.match(r"(?:repeated )?(?:map<[^>]+>|[\w.]+) (\w+) = \d+;", code)):
                fields[stack[-1]].add(field[1])
    return fields, enum_values


def test_every_exported_field_is_a_field_of_its_smp_message() -> None:
    document = _fixtures_module().example_document()
    fields, enum_values = _proto_messages()
    config = document["performance_test_config"]
    assert set(config) <= fields["PerformanceTestConfig"]
    for client in config["clients"]:
        assert set(client) <= fields["Client"]
        assert client["protocol"] in enum_values
        assert isinstance(client["rps"], str) and int(client["rps"]) > 0  # int64 → JSON string
    for mesh in document["service_mesh_configs"]:
        assert set(mesh) <= fields["ServiceMeshConfig"]
        if "mesh_type" in mesh:
            assert set(mesh["mesh_type"]) <= fields["ServiceMesh"]
            assert mesh["mesh_type"]["type"] in enum_values
    for result in document["performance_test_results"]:
        assert set(result) <= fields["PerformanceTestResult"]
        assert set(result["latencies_ms"]) <= fields["Latency"]
        for stamp in (result["start_time"], result["end_time"]):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", stamp)  # Timestamp, UTC
        assert all(isinstance(v, str) for v in result["labels"].values())  # map<string, string>


def test_example_export_is_unchanged() -> None:
    """The fixture is the export of make_fixtures.py's rows (scores aside: they are scoring's)."""
    document = _fixtures_module().example_document()
    assert (SMP / "smp-export-example.json").read_text().startswith(to_json(document).split('"meshmark":')[0])
    expected = json.loads(to_json(document))
    for name, parse in (("smp-export-example.json", json.loads), ("smp-export-example.yaml", yaml.safe_load)):
        stored = parse((SMP / name).read_text())
        for doc in (stored, expected):
            doc["meshmark_extension"].pop("meshmark", None)
            doc["meshmark_extension"].pop("meshmark_config", None)
        assert stored == expected, name


def test_a_foreign_smp_document_imports_as_far_as_smp_goes() -> None:
    (run,) = import_file(SMP / "smp-foreign-camelcase.json", "smp")
    assert (run.run_id, run.run_date, run.profile, run.backend) == (
        "nightly-2026-11-20",
        dt.date(2026, 11, 20),
        "istio-upgrade-check",
        "import:smp",
    )
    istio, no_mesh = run.results
    assert (istio["cell_id"], istio["mesh"], istio["mesh_kind"]) == ("result-istio", "istio-1-24", "istio")
    # The single client of the test config is every result's load point.
    assert (istio["requested_qps"], istio["connections"], istio["protocol"], istio["load_generator"]) == (
        1000.0,
        16,
        "http",
        "fortio",
    )
    assert (istio["latency_ms_mean"], istio["latency_ms_p99"], istio["actual_qps"]) == (1.4, 3.861, 999.8)
    assert istio["duration_s"] == 240.0  # end_time − start_time
    assert istio["requests_total"] is None  # SMP has no field for it
    assert istio["is_baseline"] is False
    # SMP has no "no mesh" type: an untyped config named like one is the baseline.
    assert (no_mesh["mesh"], no_mesh["mesh_kind"], no_mesh["is_baseline"]) == ("no-mesh", "baseline", True)


def test_export_refuses_rows_of_two_runs(stored_run: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    results = stored_run[0].to_pandas()
    results.loc[0, "run_id"] = "another"
    with pytest.raises(SmpExportError, match="rows of 2 runs"):
        smp_document(results)
