"""Shared fixtures. Area-specific fixtures live beside their tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Test helpers shared across areas (tests/ is not a package; pytest runs with --import-mode=importlib).
sys.path.insert(0, str(REPO / "tests" / "support"))

from bad_input_catalogue import (  # noqa: E402, F401  (tests/support; hooks pytest finds here)
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
)
from chromium import HeadlessChromium, ensure_chromium  # noqa: E402  (tests/support, added just above)

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


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[HeadlessChromium]:
    """Headless Chromium (installed if missing) with a fresh profile, stopped after the test."""
    with HeadlessChromium(tmp_path / "chromium", ensure_chromium()) as browser:
        yield browser
