"""Offline schema validation of Kubernetes objects for tests.

Core kinds go through kubernetes-validate (the upstream OpenAPI-derived JSON schemas, strict: unknown
fields fail). Custom resources that those schemas do not have:
- Istio's PeerAuthentication: a JSON schema written here from the Istio API reference
  (security.istio.io/v1 PeerAuthentication: spec.selector.matchLabels, spec.mtls.mode in
  UNSET|DISABLE|PERMISSIVE|STRICT, spec.portLevelMtls keyed by port number);
- the Gateway API's Gateway (Istio's waypoint) and Cilium's CiliumNetworkPolicy: excerpts of their
  upstream CRD schemas in tests/fixtures/crds/ (source and revision in each file), made strict the
  way `kubectl apply --dry-run=server` is: unknown fields are refused.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"
CRD_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crds"

_MTLS = {
    "type": "object",
    "properties": {"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}},
    "additionalProperties": False,
}
_DNS_LABEL = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
# What meshmark sets in the metadata of a namespaced custom resource.
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": _DNS_LABEL,
        "namespace": _DNS_LABEL,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
PEER_AUTHENTICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["security.istio.io/v1", "security.istio.io/v1beta1"]},
        "kind": {"const": "PeerAuthentication"},
        "metadata": METADATA_SCHEMA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                    "additionalProperties": False,
                },
                "mtls": _MTLS,
                "portLevelMtls": {
                    "type": "object",
                    "patternProperties": {"^[0-9]+$": _MTLS},
                    "additionalProperties": False,
                },
            },
        },
    },
}


def _strict(schema: Any) -> Any:
    """Every object schema that lists its properties refuses others (strict field validation)."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_schema(file_name: str, api_version: str, kind: str) -> dict[str, Any]:
    """A CRD excerpt from tests/fixtures/crds/, strict, with apiVersion, kind and metadata pinned."""
    schema = _strict(yaml.safe_load((CRD_FIXTURES / file_name).read_text(encoding="utf-8")))
    schema = copy.deepcopy(schema)
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["properties"]["metadata"] = METADATA_SCHEMA
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


_CRD_FILES: dict[tuple[str, str], str] = {
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway.networking.k8s.io_v1_gateway.yaml",
    ("cilium.io/v2", "CiliumNetworkPolicy"): "cilium.io_v2_ciliumnetworkpolicy.yaml",
}


def schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The JSON schema of a custom resource kind meshmark renders; None for core kinds."""
    if (api_version, kind) in (
        ("security.istio.io/v1", "PeerAuthentication"),
        ("security.istio.io/v1beta1", "PeerAuthentication"),
    ):
        return PEER_AUTHENTICATION_SCHEMA
    file_name = _CRD_FILES.get((api_version, kind))
    return None if file_name is None else crd_schema(file_name, api_version, kind)


def validate_object(doc: dict[str, Any]) -> None:
    """Raise (kubernetes_validate.ValidationError or jsonschema.ValidationError) when invalid."""
    crd = schema_for(doc.get("apiVersion", ""), doc.get("kind", ""))
    if crd is not None:
        jsonschema.Draft7Validator(crd).validate(doc)
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
