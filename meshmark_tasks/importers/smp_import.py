"""An SMP document (JSON or YAML) → one ImportedRun; the reverse of smp_export.

Reads meshmark's export exactly (labels + `meshmark_extension` give back every `results` column
but raw_path, which points into the exporting store), and other producers' documents of the same
shape as far as the SMP fields go: without the extension, what SMP has no field for (request and
error counts, p75/p99.9, resources, SLO) is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from meshmark_tasks.importers._cells import NO_MESH_NAMES, mesh_slug
from meshmark_tasks.importers._io import Fields, decode_text, load_json, load_yaml, path_of
from meshmark_tasks.importers.model import ImportedRun, results_row
from meshmark_tasks.importers.smp_export import CONFIG_SCORE_COLUMNS, EXTENSION_COLUMNS, SCORE_COLUMNS
from meshmark_tasks.importers.smp_spec import (
    CLIENT_FIELDS,
    DOCUMENT_KIND,
    EXTENSION_KEY,
    LABEL_COLUMNS,
    LABEL_PREFIX,
    LATENCY_COLUMNS,
    LATENCY_FIELDS,
    MESH_TYPE_NAMES,
    PERFORMANCE_TEST_CONFIG_FIELDS,
    PERFORMANCE_TEST_RESULT_FIELDS,
    PROTOCOL_NUMBERS,
    PROTOCOLS,
    SERVICE_MESH_CONFIG_FIELDS,
    SERVICE_MESH_FIELDS,
    TOP_LEVEL_KEYS,
    UNTHROTTLED,
    camel,
)
from meshmark_tasks.schemas import MESHMARK, MESHMARK_CONFIG, RESULTS

BACKEND = "import:smp"
_PROTOCOL_NAMES = {name: short for short, name in PROTOCOLS.items()}
_TYPES = {f.name: f.type for schema in (RESULTS, MESHMARK, MESHMARK_CONFIG) for f in schema}


def parse_smp(data: bytes, *, source: str) -> ImportedRun:
    """The run in an SMP document; JSON when it starts with '{', YAML otherwise."""
    text = decode_text(data, source)
    doc = load_json(text, source) if text.lstrip().startswith(("{", "[")) else load_yaml(text, source)
    fields = Fields(source)
    doc = fields.obj(doc, "")
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            fields.fail(key, f"unknown key (expected {', '.join(TOP_LEVEL_KEYS)})")
    kind = doc.get("kind")
    if kind is not None and kind != DOCUMENT_KIND:
        fields.fail("kind", f"not an SMP export document: kind {kind!r} (expected {DOCUMENT_KIND!r})")
    config = _message(
        doc.get("performance_test_config"), "performance_test_config", PERFORMANCE_TEST_CONFIG_FIELDS, fields
    )
    clients = [
        _message(c, path_of(path_of("performance_test_config", "clients"), i), CLIENT_FIELDS, fields)
        for i, c in enumerate(fields.array(config.get("clients", []), "performance_test_config.clients"))
    ]
    meshes = _mesh_configs(doc.get("service_mesh_configs", []), fields)
    raw_results = doc.get("performance_test_results")
    if raw_results is None:
        fields.fail("performance_test_results", "missing: the document holds no result")
    results = fields.array(raw_results, "performance_test_results")
    if not results:
        fields.fail("performance_test_results", "no results: the array is empty")
    extension = _extension(doc.get(EXTENSION_KEY), fields)

    rows: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, item in enumerate(results):
        path = path_of("performance_test_results", i)
        message = _message(item, path, PERFORMANCE_TEST_RESULT_FIELDS, fields)
        result_id = fields.string(message.get("id"), path_of(path, "id"))
        if result_id in ids:
            fields.fail(path_of(path, "id"), f"duplicate result id {result_id!r}")
        ids.add(result_id)
        row = _row(message, path, meshes, clients, fields)
        ext = extension["results"].get(result_id)
        if ext is not None:
            row.update(_extension_values(ext, path_of(f"{EXTENSION_KEY}.results", result_id), fields))
            row["raw_path"] = None  # it pointed into the exporting store
        elif extension["results"]:
            fields.fail(path_of(path, "id"), f"result {result_id!r} has no entry in {EXTENSION_KEY}.results")
        rows.append(row)
    stray = set(extension["results"]) - ids
    if stray:
        fields.fail(
            f"{EXTENSION_KEY}.results", f"entry {sorted(stray)[0]!r} matches no performance test result"
        )

    run = extension["run"]
    run_id = run.get("run_id") or config.get("id") or _single_test_id(results, fields)
    run_date = run.get("run_date") or _first_day(rows, fields)
    profile = run.get("profile", config.get("name"))
    for row in rows:
        row.setdefault("profile", profile)
        row.setdefault("backend", BACKEND)
    scores = [
        {"cell_id": _cell_of(result_id, rows, results), **values}
        for result_id, values in extension["meshmark"].items()
    ]
    return ImportedRun(
        run_id=fields.string(run_id, f"{EXTENSION_KEY}.run.run_id"),
        run_date=run_date,
        profile=profile,
        backend=BACKEND,
        source=source,
        results=[results_row(row) for row in rows],
        quarantine=[],
        raw={},
        meshmark=scores,
        meshmark_config=extension["meshmark_config"],
    )


def _message(value: Any, path: str, names: Sequence[str], fields: Fields) -> dict[str, Any]:
    """A proto message as a dict keyed by proto field names; unknown fields are refused."""
    if value is None:
        return {}
    message = fields.obj(value, path)
    by_json_name = {camel(name): name for name in names}
    out: dict[str, Any] = {}
    for key, item in message.items():
        name = key if key in names else by_json_name.get(key)
        if name is None:
            fields.fail(path_of(path, key), f"unknown field (the message has {', '.join(names)})")
        if name in out:
            fields.fail(
                path_of(path, key), f"field {name!r} is given twice (as {name!r} and {camel(name)!r})"
            )
        out[name] = item
    return out


def _mesh_configs(value: Any, fields: Fields) -> dict[str, dict[str, Any]]:
    meshes: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(fields.array(value, "service_mesh_configs")):
        path = path_of("service_mesh_configs", i)
        message = _message(item, path, SERVICE_MESH_CONFIG_FIELDS, fields)
        mesh_id = fields.string(message.get("id"), path_of(path, "id"))
        if mesh_id in meshes:
            fields.fail(path_of(path, "id"), f"duplicate mesh config id {mesh_id!r}")
        mesh_type = _message(
            message.get("mesh_type"), path_of(path, "mesh_type"), SERVICE_MESH_FIELDS, fields
        )
        if mesh_type.get("type") is not None and mesh_type["type"] not in MESH_TYPE_NAMES:
            fields.fail(path_of(path, "mesh_type.type"), f"unknown ServiceMesh.Type {mesh_type['type']!r}")
        labels = _labels(message.get("labels"), path_of(path, "labels"), fields)
        mesh = labels.get("mesh") or mesh_slug(mesh_id)
        if mesh is None:
            fields.fail(path_of(path, "id"), f"cannot make a mesh name of {mesh_id!r}")
        entry: dict[str, Any] = {"mesh": mesh}
        typed = mesh_type.get("type") not in (None, "INVALID_MESH")
        if "mesh_kind" in labels:
            entry["mesh_kind"] = labels["mesh_kind"]
        elif typed:
            entry["mesh_kind"] = str(mesh_type["type"]).lower().replace("_", "-")
        if "is_baseline" in labels:
            entry["is_baseline"] = _label_bool(labels["is_baseline"], path_of(path, "labels"), fields)
        else:
            # SMP has no "no mesh" type: a config without a mesh type whose id says "no mesh"
            # (no-mesh, none, baseline, …) is the baseline; any other config is a mesh.
            entry["is_baseline"] = not typed and mesh_id.strip().lower() in NO_MESH_NAMES
            if entry["is_baseline"]:
                entry.setdefault("mesh_kind", "baseline")
        if "network_functions" in labels:
            entry["network_functions"] = labels["network_functions"]
        meshes[mesh_id] = entry
    return meshes


def _labels(value: Any, path: str, fields: Fields) -> dict[str, str]:
    """The meshmark.* labels (map<string, string>), prefix removed; other labels are ignored."""
    if value is None:
        return {}
    labels = fields.obj(value, path)
    out = {}
    for key, item in labels.items():
        text = fields.string(item, path_of(path, key))
        if key.startswith(LABEL_PREFIX):
            out[key[len(LABEL_PREFIX) :]] = text
    return out


def _label_bool(text: str, path: str, fields: Fields) -> bool:
    if text not in ("true", "false"):
        fields.fail(path, f"expected 'true' or 'false', got {text!r}")
    return text == "true"


def _row(
    message: dict[str, Any],
    path: str,
    meshes: dict[str, dict[str, Any]],
    clients: list[dict[str, Any]],
    fields: Fields,
) -> dict[str, Any]:
    labels = _labels(message.get("labels"), path_of(path, "labels"), fields)
    row: dict[str, Any] = {}
    mesh_config_id = fields.optional_string(message.get("mesh_config_id"), path_of(path, "mesh_config_id"))
    if mesh_config_id:
        if mesh_config_id not in meshes:
            fields.fail(path_of(path, "mesh_config_id"), f"no service mesh config with id {mesh_config_id!r}")
        row.update(meshes[mesh_config_id])
    labels_path = path_of(path, "labels")
    for column in LABEL_COLUMNS:
        if column in labels:
            row[column] = _label_value(
                column, labels[column], path_of(labels_path, LABEL_PREFIX + column), fields
            )
    if "mesh" not in row:
        fields.fail(path, "no mesh: neither a meshmark.mesh label nor a mesh_config_id")
    if len(clients) == 1:  # a single-load-point test: the config's client is this result's
        _from_client(clients[0], row, "performance_test_config.clients[0]", fields)
    for name in ("start_time", "end_time"):
        if message.get(name) is not None:
            row[name] = fields.timestamp(message[name], path_of(path, name))
    if row.get("start_time") and row.get("end_time"):
        if row["end_time"] < row["start_time"]:
            fields.fail(path_of(path, "end_time"), "end_time is before start_time (a negative duration)")
        # The measured window; an export's extension carries the exact duration_s and overrides it.
        row["duration_s"] = (row["end_time"] - row["start_time"]).total_seconds()
    if message.get("actual_qps") is not None:
        row["actual_qps"] = fields.number(message["actual_qps"], path_of(path, "actual_qps"))
    latencies = _message(message.get("latencies_ms"), path_of(path, "latencies_ms"), LATENCY_FIELDS, fields)
    for column, name in LATENCY_COLUMNS.items():
        if latencies.get(name) is not None:
            row[column] = fields.number(latencies[name], path_of(path, f"latencies_ms.{name}"))
    if "cell_id" not in row:
        cell = mesh_slug(fields.string(message.get("id"), path_of(path, "id")))
        if cell is None:
            fields.fail(path_of(path, "id"), "cannot make a cell id of the result id")
        row["cell_id"] = cell
    return row


def _label_value(column: str, text: str, path: str, fields: Fields) -> Any:
    if column == "requested_qps":
        return None if text == UNTHROTTLED else fields.number(text, path, allow_str=True)
    if column in ("repetition", "connections", "payload_bytes"):
        return fields.count(text, path, allow_str=True)
    return text


def _from_client(client: dict[str, Any], row: dict[str, Any], path: str, fields: Fields) -> None:
    if "load_generator" in client:
        row.setdefault("load_generator", client["load_generator"])
    protocol = client.get("protocol")
    if isinstance(protocol, int):
        protocol = next((n for n, v in PROTOCOL_NUMBERS.items() if v == protocol), None)
    if protocol in _PROTOCOL_NAMES:
        row.setdefault("protocol", _PROTOCOL_NAMES[protocol])
    if isinstance(client.get("connections"), int):
        row.setdefault("connections", client["connections"])
    rps = client.get("rps")
    if rps not in (None, "0", 0):  # 0 / absent: unthrottled
        row.setdefault("requested_qps", fields.number(rps, path_of(path, "rps"), allow_str=True))


def _extension(value: Any, fields: Fields) -> dict[str, Any]:
    if value is None:
        return {"run": {}, "results": {}, "meshmark": {}, "meshmark_config": []}
    ext = fields.obj(value, EXTENSION_KEY)
    known = ("version", "run", "results", "meshmark", "meshmark_config")
    for key in ext:
        if key not in known:
            fields.fail(path_of(EXTENSION_KEY, key), f"unknown key (expected {', '.join(known)})")
    run = fields.obj(ext.get("run", {}), f"{EXTENSION_KEY}.run")
    parsed_run: dict[str, Any] = {}
    for key, item in run.items():
        path = path_of(f"{EXTENSION_KEY}.run", key)
        if key == "run_date":
            parsed_run[key] = fields.date(item, path)
        elif key in ("run_id", "profile", "backend"):
            parsed_run[key] = fields.optional_string(item, path)
        else:
            fields.fail(path, "unknown key (expected run_id, run_date, profile, backend)")
    results = fields.obj(ext.get("results", {}), f"{EXTENSION_KEY}.results")
    scores = fields.obj(ext.get("meshmark", {}), f"{EXTENSION_KEY}.meshmark")
    parsed_scores = {
        key: _typed(
            fields.obj(item, path_of(f"{EXTENSION_KEY}.meshmark", key)),
            SCORE_COLUMNS,
            path_of(f"{EXTENSION_KEY}.meshmark", key),
            fields,
        )
        for key, item in scores.items()
    }
    configs = []
    for i, item in enumerate(
        fields.array(ext.get("meshmark_config", []), f"{EXTENSION_KEY}.meshmark_config")
    ):
        path = path_of(f"{EXTENSION_KEY}.meshmark_config", i)
        configs.append(_typed(fields.obj(item, path), CONFIG_SCORE_COLUMNS, path, fields))
    return {"run": parsed_run, "results": results, "meshmark": parsed_scores, "meshmark_config": configs}


def _extension_values(value: Any, path: str, fields: Fields) -> dict[str, Any]:
    return _typed(fields.obj(value, path), EXTENSION_COLUMNS, path, fields)


def _typed(values: dict[str, Any], allowed: Sequence[str], path: str, fields: Fields) -> dict[str, Any]:
    """Values checked against the table's Arrow type of each column; unknown keys are refused."""
    out: dict[str, Any] = {}
    for key, item in values.items():
        where = path_of(path, key)
        if key not in allowed:
            fields.fail(where, f"unknown column (expected one of {', '.join(allowed)})")
        out[key] = None if item is None else _typed_value(item, _TYPES.get(key, pa.int64()), where, fields)
    return out


def _typed_value(item: Any, arrow_type: pa.DataType, path: str, fields: Fields) -> Any:
    if pa.types.is_floating(arrow_type):
        return fields.number(item, path, minimum=None)
    if pa.types.is_integer(arrow_type):
        return fields.count(item, path)
    if pa.types.is_boolean(arrow_type):
        return fields.boolean(item, path)
    if pa.types.is_timestamp(arrow_type):
        return fields.timestamp(item, path)
    return fields.string(item, path)


def _single_test_id(results: list[Any], fields: Fields) -> str:
    ids = {r.get("test_id") or r.get("testId") for r in results if isinstance(r, dict)}
    ids.discard(None)
    if len(ids) != 1:
        fields.fail(
            "performance_test_results",
            "no run id: no extension, no performance_test_config.id and no single test_id",
        )
    return fields.string(ids.pop(), "performance_test_results[0].test_id")


def _first_day(rows: list[dict[str, Any]], fields: Fields) -> date:
    starts = [row["start_time"] for row in rows if isinstance(row.get("start_time"), datetime)]
    if not starts:
        fields.fail("performance_test_results", "no run date: no extension run_date and no start_time")
    return min(starts).date()


def _cell_of(result_id: str, rows: list[dict[str, Any]], results: list[Any]) -> str | None:
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, dict) and result.get("id") == result_id:
            return row.get("cell_id")
    return None
