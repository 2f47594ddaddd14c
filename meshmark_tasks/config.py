"""Deployment settings read from the environment (so DAG files stay free of configuration)."""

from __future__ import annotations

import os
from pathlib import Path

# The storage root: a local path or an fsspec URL (s3://bucket/meshmark, gs://..., memory://...).
STORAGE_ROOT_ENV = "MESHMARK_STORAGE_ROOT"
# Where profiles are looked up by name (the UI trigger form offers the files found here).
PROFILES_DIR_ENV = "MESHMARK_PROFILES_DIR"
# Where the Great Expectations suites (versioned JSON) are read from.
EXPECTATIONS_DIR_ENV = "MESHMARK_EXPECTATIONS_DIR"

_REPO = Path(__file__).resolve().parent.parent


def storage_root() -> str:
    """The root every run writes under; defaults to ./var/data of the checkout."""
    return os.environ.get(STORAGE_ROOT_ENV) or str(_REPO / "var" / "data")


def profiles_dir() -> Path:
    return Path(os.environ.get(PROFILES_DIR_ENV) or _REPO / "profiles")


def expectations_dir() -> Path:
    return Path(os.environ.get(EXPECTATIONS_DIR_ENV) or _REPO / "expectations")


def is_local_path(root: str) -> bool:
    return "://" not in root or root.startswith("file://")
