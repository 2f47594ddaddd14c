"""Credentials for an object-store root from an Airflow connection (what ObjectStoragePath does).

Airflow's ObjectStoragePath reads a connection through the filesystem a provider registers (the
amazon provider for s3://, google for gs://). meshmark does the equivalent itself, so an s3:// root
needs only s3fs, not the amazon provider and its dependencies: the connection is read with
`BaseHook.get_connection` (any secrets backend, or an AIRFLOW_CONN_* variable) and turned into
fsspec storage options.

- any protocol: extra `storage_options` (a JSON object) is passed to the filesystem as is, e.g.
  `{"token": "/secrets/gcs.json"}` for gs://.
- s3:// (an "aws" connection): login = access key id, password = secret access key; extras
  `aws_session_token`, `region_name`, and `endpoint_url` (or `service_config.s3.endpoint_url`) for
  S3-compatible stores such as MinIO or Ceph.
"""

from __future__ import annotations

from typing import Any

from meshmark_tasks.config import storage_conn_id
from meshmark_tasks.errors import StoreError

S3_PROTOCOLS = frozenset({"s3", "s3a"})


def storage_options_from_connection(conn_id: str, protocol: str) -> dict[str, Any]:
    """fsspec storage options for `protocol` from the Airflow connection `conn_id`."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and secrets-backend errors alike
        raise StoreError(f"storage connection {conn_id!r}: cannot be read: {exc}") from None
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    options = extra.get("storage_options") or {}
    if not isinstance(options, dict):
        raise StoreError(f"storage connection {conn_id!r}: extra storage_options must be a JSON object")
    options = dict(options)
    if protocol in S3_PROTOCOLS:
        if conn.login:
            options.setdefault("key", conn.login)
        if conn.password:
            options.setdefault("secret", conn.password)
        if extra.get("aws_session_token"):
            options.setdefault("token", extra["aws_session_token"])
        client_kwargs = dict(options.get("client_kwargs") or {})
        service = (extra.get("service_config") or {}).get("s3") or {}
        endpoint = service.get("endpoint_url") or extra.get("endpoint_url")
        if endpoint:
            client_kwargs.setdefault("endpoint_url", endpoint)
        if extra.get("region_name"):
            client_kwargs.setdefault("region_name", extra["region_name"])
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
    return options


def storage_options_for(root: str, conn_id: str | None = None) -> dict[str, Any] | None:
    """Storage options for `root` from `conn_id` (None: $MESHMARK_STORAGE_CONN_ID); None for local
    roots and when no connection is configured (the filesystem's own credential chain applies)."""
    conn = conn_id if conn_id is not None else storage_conn_id()
    if not conn or not isinstance(root, str) or "://" not in root or root.startswith("file://"):
        return None
    return storage_options_from_connection(conn, root.split("://", 1)[0])
