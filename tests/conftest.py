"""Shared fixtures. Area-specific fixtures live beside their tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its home at first import: keep tests away from ~/airflow and example DAGs.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / "var" / "test-airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
FIXTURES = REPO / "tests" / "fixtures"
UPSTREAM = FIXTURES / "upstream"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def upstream_dir() -> Path:
    return UPSTREAM


@pytest.fixture
def demo_profile_path() -> Path:
    return REPO / "profiles" / "local-demo.yaml"
