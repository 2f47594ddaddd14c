"""The nightly DAG's trigger form: its parameters as JSON schemas, and the values it sends, read back.

Airflow 3.3's trigger form picks each field's widget from its schema. An array whose items are
strings (or have no single type) becomes a text box with one value per line: the only list widget
that takes free input without hand-written JSON (an array of numbers becomes a JSON editor, a
multi-select offers fixed options only). So the three lists, meshes, QPS and connections, all use
that box; what a person types arrives as strings ("100", "max"), what the REST API and `meshmark
nightly` send as numbers. The item schemas accept both, so a bad value is refused when the run is
triggered, and `form_overrides` turns either into typed values. A list whose type includes "null"
is optional in the form; empty means "the profile's".

Kept light (the standard library and the profile files' YAML): the DAG file builds its Params from
`nightly_param_specs` at parse time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshmark_tasks.constants import BACKEND_NAMES, DEFAULT_BACKEND, KUBERNETES, LOCAL
from meshmark_tasks.errors import MeshmarkError, ProfileError

DEFAULT_PROFILE = "local-demo"
# One or more values on a line, separated by commas or spaces; blank lines are allowed (a trailing
# newline in the box sends an empty string).
_SEPARATORS = re.compile(r"[\s,]+")
_POSITIVE_NUMBER = r"(?=[0-9.]*[1-9])([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_QPS_VALUE = rf"([mM][aA][xX]|{_POSITIVE_NUMBER})"
_WHOLE_NUMBER = r"0*[1-9][0-9]*"
_MESH_NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
QPS_TEXT = rf"^[\s,]*({_QPS_VALUE}([\s,]+{_QPS_VALUE})*)?[\s,]*$"
CONNECTIONS_TEXT = rf"^[\s,]*({_WHOLE_NUMBER}([\s,]+{_WHOLE_NUMBER})*)?[\s,]*$"
MESHES_TEXT = rf"^[\s,]*({_MESH_NAME}([\s,]+{_MESH_NAME})*)?[\s,]*$"
# A profile file read at DAG-parse time is small; a bigger one is skipped here (the plan task
# reports it properly when someone picks it).
_PROFILE_PEEK_BYTES = 1024 * 1024
MAX_DURATION_S = 86400


@dataclass(frozen=True)
class ProfileSummary:
    """What the form shows about one profile file: enough to fill in descriptions and choices."""

    name: str
    description: str = ""
    meshes: tuple[str, ...] = ()
    qps: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()
    duration_s: str = ""


def profile_summaries(directory: Path) -> list[ProfileSummary]:
    """Every *.yaml in `directory`, by name; a file that cannot be read gives just its name."""
    return [_summary(path) for path in sorted(directory.glob("*.yaml"))]


def _summary(path: Path) -> ProfileSummary:
    from meshmark_tasks.documents import load_yaml
    from meshmark_tasks.input_files import read_input_text

    try:
        data = load_yaml(read_input_text(path, limit=_PROFILE_PEEK_BYTES), str(path))
    except (MeshmarkError, OSError):
        return ProfileSummary(path.stem)
    if not isinstance(data, dict):
        return ProfileSummary(path.stem)
    matrix = data.get("matrix")
    matrix = matrix if isinstance(matrix, dict) else {}
    meshes = data.get("meshes")
    meshes = meshes if isinstance(meshes, list) else []
    return ProfileSummary(
        name=path.stem,
        description=str(data.get("description") or "").strip(),
        meshes=tuple(str(m["name"]) for m in meshes if isinstance(m, dict) and m.get("name")),
        qps=_texts(matrix.get("qps")),
        connections=_texts(matrix.get("connections")),
        duration_s=str(data.get("duration_s", "")),
    )


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def _per_profile(summaries: Sequence[ProfileSummary], field: str, unit: str = "") -> str:
    shown = [
        f"{s.name}: {', '.join(values) if isinstance(values, tuple) else values}{unit}"
        for s in summaries
        if (values := getattr(s, field))
    ]
    return f" ({'; '.join(shown)})" if shown else ""


def _list_schema(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": items}


def nightly_param_specs(directory: Path) -> dict[str, dict[str, Any]]:
    """Keyword arguments of each `airflow.sdk.Param` of the nightly DAG's trigger form."""
    summaries = profile_summaries(directory)
    names = [s.name for s in summaries] or [DEFAULT_PROFILE]
    mesh_names = sorted({mesh for s in summaries for mesh in s.meshes})
    default = DEFAULT_PROFILE if DEFAULT_PROFILE in names else names[0]
    mesh_items: dict[str, Any] = (
        {"type": "string", "enum": ["", *mesh_names]}
        if mesh_names
        else {"type": "string", "pattern": MESHES_TEXT}
    )
    return {
        "profile": {
            "default": default,
            "type": "string",
            "enum": names,
            "values_display": {
                s.name: f"{s.name}: {s.description}" if s.description else s.name for s in summaries
            },
            "title": "Profile",
            "description": f"Performance profile: a YAML file in the profiles folder ({directory}).",
        },
        "backend": {
            "default": DEFAULT_BACKEND,
            "type": "string",
            "enum": list(BACKEND_NAMES),
            "values_display": {
                LOCAL: "local: a real testbed on the Airflow worker (app, Caddy sidecars, k6)",
                KUBERNETES: "kubernetes: load-generator pods against the meshes in the cluster",
            },
            "title": "Backend",
            "description": "Where the load tests run.",
        },
        "meshes": {
            "default": None,
            **_list_schema(mesh_items),
            "title": "Meshes",
            "description": (
                "Mesh configurations to test, one name per line; empty = all of the profile's"
                + _per_profile(summaries, "meshes")
                + "."
            ),
        },
        "qps": {
            "default": None,
            **_list_schema(
                {
                    "anyOf": [
                        {"type": "number", "exclusiveMinimum": 0},
                        {"type": "string", "pattern": QPS_TEXT},
                    ]
                }
            ),
            "title": "Requested QPS",
            "description": (
                "Load points in requests per second, one per line (or separated by commas); "
                '"max" = as fast as the system answers. Empty = the profile\'s'
                + _per_profile(summaries, "qps")
                + "."
            ),
        },
        "connections": {
            "default": None,
            **_list_schema(
                {
                    "anyOf": [
                        {"type": "integer", "minimum": 1},
                        {"type": "string", "pattern": CONNECTIONS_TEXT},
                    ]
                }
            ),
            "title": "Connections",
            "description": (
                "Concurrent connections (load-generator workers) per load point, whole numbers, one "
                "per line. Empty = the profile's" + _per_profile(summaries, "connections") + "."
            ),
        },
        "duration_s": {
            "default": None,
            "type": ["null", "number"],
            "exclusiveMinimum": 0,
            "maximum": MAX_DURATION_S,
            "title": "Duration (s)",
            "description": (
                "Measured window of each cell in seconds, after its warm-up. Empty = the profile's"
                + _per_profile(summaries, "duration_s", " s")
                + "."
            ),
        },
    }


@dataclass(frozen=True)
class FormOverrides:
    """The trigger form's values, typed: None where the form left a field empty."""

    profile: str
    backend: str
    meshes: list[str] | None
    qps: list[float | str] | None
    connections: list[int] | None
    duration_s: float | None


def _tokens(params: Mapping[str, Any], name: str) -> list[Any]:
    """The list param's values: numbers as given, text split at commas and whitespace."""
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, str | int | float):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ProfileError(f"params.{name}: expected a list, got {type(value).__name__}")
    tokens: list[Any] = []
    for item in value:
        if isinstance(item, str):
            tokens.extend(t for t in _SEPARATORS.split(item) if t)
        else:
            tokens.append(item)
    return tokens


def _qps_value(token: Any) -> float | str:
    if isinstance(token, str) and token.lower() == "max":
        return "max"
    number = _number(token, "qps", "a positive number or max")
    if number <= 0:
        raise ProfileError(f"params.qps: {token!r} is not a positive number or max")
    return number


def _number(token: Any, name: str, expected: str) -> float:
    if isinstance(token, bool):  # True is an int to Python, not a number to a person
        raise ProfileError(f"params.{name}: {token!r} is not {expected}")
    try:
        number = float(token)
    except (TypeError, ValueError):
        raise ProfileError(f"params.{name}: {token!r} is not {expected}") from None
    if not math.isfinite(number):
        raise ProfileError(f"params.{name}: {token!r} is not {expected}")
    return number


def _connections_value(token: Any) -> int:
    number = _number(token, "connections", "a whole number of at least 1")
    if number < 1 or not number.is_integer():
        raise ProfileError(f"params.connections: {token!r} is not a whole number of at least 1")
    return int(number)


def form_overrides(params: Mapping[str, Any]) -> FormOverrides:
    """The params of a nightly run (form, REST conf or `meshmark nightly`) as typed overrides.

    Raises ProfileError naming the field and the value that is not what the form asks for.
    """
    duration = params.get("duration_s")
    duration_s = None
    if duration is not None and duration != "":
        duration_s = _number(duration, "duration_s", "a number of seconds")
        if not 0 < duration_s <= MAX_DURATION_S:
            raise ProfileError(f"params.duration_s: {duration!r} is not between 0 and {MAX_DURATION_S} s")
    meshes = [str(t) for t in _tokens(params, "meshes")]
    qps = [_qps_value(t) for t in _tokens(params, "qps")]
    connections = [_connections_value(t) for t in _tokens(params, "connections")]
    return FormOverrides(
        profile=str(params.get("profile") or DEFAULT_PROFILE),
        backend=str(params.get("backend") or DEFAULT_BACKEND),
        meshes=meshes or None,
        qps=qps or None,
        connections=connections or None,
        duration_s=duration_s,
    )
