"""Deployment settings read from the environment (so DAG files stay free of configuration)."""

from __future__ import annotations

import os
from pathlib import Path

from meshmark_tasks.errors import ConfigError

# The storage root: a local path or an fsspec URL (s3://bucket/meshmark, gs://..., memory://...).
STORAGE_ROOT_ENV = "MESHMARK_STORAGE_ROOT"
# An Airflow connection whose credentials open the storage root (s3://, gs://, ...); unset: the
# filesystem library's own defaults (environment variables, instance roles, config files).
STORAGE_CONN_ID_ENV = "MESHMARK_STORAGE_CONN_ID"
# Where profiles are looked up by name (the UI trigger form offers the files found here).
PROFILES_DIR_ENV = "MESHMARK_PROFILES_DIR"
# The profile scheduled nightly runs use (a name in the profiles folder or a path). Triggered runs
# use the form's choice, whose default stays the short demo (about two and a half minutes).
SCHEDULED_PROFILE_ENV = "MESHMARK_SCHEDULED_PROFILE"
DEFAULT_SCHEDULED_PROFILE = "local-nightly"
# Where the Great Expectations suites (versioned JSON) are read from.
EXPECTATIONS_DIR_ENV = "MESHMARK_EXPECTATIONS_DIR"

# The most cells one profile may expand to. The nightly DAG maps one task per cell and Airflow
# refuses to map more than `[core] max_map_length` (1024 by default), so a larger matrix could
# never run there anyway; raise both together.
MAX_CELLS_ENV = "MESHMARK_MAX_CELLS"
DEFAULT_MAX_CELLS = 1024
# The largest input file `meshmark parse/score/validate` (and the adapters) read. Real load-generator
# outputs are kilobytes; 64 MiB of results JSON Lines is about 50,000 rows.
MAX_INPUT_BYTES_ENV = "MESHMARK_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024

_REPO = Path(__file__).resolve().parent.parent


def storage_root() -> str:
    """The root every run writes under; defaults to ./var/data of the checkout."""
    return os.environ.get(STORAGE_ROOT_ENV) or str(_REPO / "var" / "data")


def storage_conn_id() -> str | None:
    return os.environ.get(STORAGE_CONN_ID_ENV) or None


def profiles_dir() -> Path:
    return Path(os.environ.get(PROFILES_DIR_ENV) or _REPO / "profiles")


def scheduled_profile() -> str:
    return os.environ.get(SCHEDULED_PROFILE_ENV, "").strip() or DEFAULT_SCHEDULED_PROFILE


def expectations_dir() -> Path:
    return Path(os.environ.get(EXPECTATIONS_DIR_ENV) or _REPO / "expectations")


def max_matrix_cells() -> int:
    return _positive_int_setting(MAX_CELLS_ENV, DEFAULT_MAX_CELLS)


def max_input_bytes() -> int:
    return _positive_int_setting(MAX_INPUT_BYTES_ENV, DEFAULT_MAX_INPUT_BYTES)


def _positive_int_setting(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)  # "64_000_000" is accepted too
    except ValueError:
        raise ConfigError(f"{name}: expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise ConfigError(f"{name}: expected a positive whole number, got {text!r}")
    return value
