"""Deployment settings read from the environment (so DAG files stay free of configuration)."""

from __future__ import annotations

import os
from pathlib import Path

# The storage root: a local path or an fsspec URL (s3://bucket/meshmark, gs://..., memory://...).
STORAGE_ROOT_ENV = "MESHMARK_STORAGE_ROOT"
# An Airflow connection whose credentials open the storage root (s3://, gs://, ...); unset: the
# filesystem library's own defaults (environment variables, instance roles, config files).
STORAGE_CONN_ID_ENV = "MESHMARK_STORAGE_CONN_ID"
# Where profiles are looked up by name (the UI trigger form offers the files found here).
PROFILES_DIR_ENV = "MESHMARK_PROFILES_DIR"
# Where the Great Expectations suites (versioned JSON) are read from.
EXPECTATIONS_DIR_ENV = "MESHMARK_EXPECTATIONS_DIR"

_REPO = Path(__file__).resolve().parent.parent


def storage_root() -> str:
    """The root every run writes under; defaults to ./var/data of the checkout."""
    return os.environ.get(STORAGE_ROOT_ENV) or str(_REPO / "var" / "data")


def storage_conn_id() -> str | None:
    return os.environ.get(STORAGE_CONN_ID_ENV) or None


def profiles_dir() -> Path:
    return Path(os.environ.get(PROFILES_DIR_ENV) or _REPO / "profiles")


def expectations_dir() -> Path:
    return Path(os.environ.get(EXPECTATIONS_DIR_ENV) or _REPO / "expectations")
