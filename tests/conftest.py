"""Shared fixtures. Area-specific fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
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
