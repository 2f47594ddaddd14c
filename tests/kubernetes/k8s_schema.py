"""Offline schema validation of Kubernetes objects for tests.

Core kinds go through kubernetes-validate (the upstream OpenAPI-derived JSON schemas, strict: unknown
fields fail). Istio's PeerAuthentication is a CRD that those schemas do not have; it is checked
against a JSON schema written here from the Istio API reference (security.istio.io/v1
PeerAuthentication: spec.selector.matchLabels, spec.mtls.mode in UNSET|DISABLE|PERMISSIVE|STRICT,
spec.portLevelMtls keyed by port number), with unknown fields refused as the API server would.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate

KUBERNETES_VERSION = "1.33.0"

_MTLS = {
    "type": "object",
    "properties": {"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}},
    "additionalProperties": False,
}
_DNS_LABEL = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
PEER_AUTHENTICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["security.istio.io/v1", "security.istio.io/v1beta1"]},
        "kind": {"const": "PeerAuthentication"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {
                "name": _DNS_LABEL,
                "namespace": _DNS_LABEL,
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
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

CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("security.istio.io/v1", "PeerAuthentication"): PEER_AUTHENTICATION_SCHEMA,
    ("security.istio.io/v1beta1", "PeerAuthentication"): PEER_AUTHENTICATION_SCHEMA,
}


def validate_object(doc: dict[str, Any]) -> None:
    """Raise (kubernetes_validate.ValidationError or jsonschema.ValidationError) when invalid."""
    crd_schema = CRD_SCHEMAS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if crd_schema is not None:
        jsonschema.validate(doc, crd_schema)
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
