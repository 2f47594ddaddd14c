"""Strict JSON and YAML documents: every JSON or YAML input meshmark reads is parsed here.

Stricter than `json.loads` and `yaml.safe_load` in two ways that matter for measurements:

- a key given twice in one object is an error: both parsers silently keep the last value, so a
  hand-edited `{"requests_total": 10, ..., "requests_total": 1e9}` would score the wrong number;
- `NaN`, `Infinity` and `-Infinity` (Python's JSON extensions, not JSON) are an error naming the
  key, unless the caller asks for them (the load-generator adapters name the field themselves).

Every failure is `InputFileError(source, problem)` on one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from meshmark_tasks.errors import InputFileError


class _NonFinite:
    """Stands in for a NaN/Infinity literal until the object holding it can name its key."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _NonFiniteError(Exception):
    def __init__(self, literal: str, key: str | None) -> None:
        self.literal = literal
        self.key = key


def _contains_non_finite(value: Any) -> _NonFinite | None:
    if isinstance(value, _NonFinite):
        return value
    if isinstance(value, list):
        for item in value:
            found = _contains_non_finite(item)
            if found is not None:
                return found
    return None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKeyError(key)
        found = _contains_non_finite(value)  # objects nested deeper were checked when built
        if found is not None:
            raise _NonFiniteError(found.literal, key)
        document[key] = value
    return document


def _decode(text: str, source: str, *, allow_non_finite: bool, in_line: bool) -> Any:
    where = "column {col}" if in_line else "line {line}, column {col}"
    try:
        if allow_non_finite:
            value = json.loads(text, object_pairs_hook=_unique_pairs)
        else:
            value = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        position = where.format(line=exc.lineno, col=exc.colno)
        raise InputFileError(source, f"not valid JSON: {exc.msg} ({position})") from None
    except _DuplicateKeyError as exc:
        raise InputFileError(
            source, f"duplicate key {exc.key!r}: a JSON object may give each key only once"
        ) from None
    except _NonFiniteError as exc:
        raise InputFileError(source, _non_finite_problem(exc.literal, exc.key)) from None
    except RecursionError:
        raise InputFileError(source, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer literal longer than Python converts
        raise InputFileError(source, f"not valid JSON: {exc}") from None
    found = _contains_non_finite(value)
    if found is not None:
        raise InputFileError(source, _non_finite_problem(found.literal, None))
    return value


def _non_finite_problem(literal: str, key: str | None) -> str:
    where = f"{key}: " if key is not None else ""
    return f"{where}{literal} is not a number (JSON has no NaN or Infinity)"


def load_json(text: str, source: str, *, allow_non_finite: bool = False) -> Any:
    """One JSON document; `source` names it in errors."""
    return _decode(text, source, allow_non_finite=allow_non_finite, in_line=False)


def iter_json_lines(text: str, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; errors are named `<source>:<line>`.

    Lines are split on "\\n" only: `str.splitlines` also splits on U+2028 and other separators
    that may stand unescaped inside a JSON string.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        value = _decode(line, where, allow_non_finite=False, in_line=True)
        if not isinstance(value, dict):
            raise InputFileError(where, f"expected a JSON object, got {json_type(value)}")
        yield number, value


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# libyaml's parser when PyYAML was built with it (much faster); the constructor is Python either way.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """yaml.safe_load's loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may override keys
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; SafeConstructor reports it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_yaml(text: str, source: str) -> Any:
    """One YAML document (JSON is YAML too); a key given twice in one mapping is an error."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "unreadable"
        raise InputFileError(source, f"not valid YAML: {problem}{at}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(source, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise InputFileError(source, "not valid YAML: nested too deeply") from None
