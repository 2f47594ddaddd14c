"""The price assumptions behind the cost column, stated in the report.

The tables store the computed cost, not the prices it used; the prices are the profile's. The
report looks the run's profile up by name in the profiles directory, and says so when it cannot
find it and shows the scoring defaults instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from meshmark_tasks.config import profiles_dir
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.profile import PriceConfig, load_profile


def _profiles_by_name(directory: Path) -> dict[str, PriceConfig]:
    found: dict[str, PriceConfig] = {}
    if not directory.is_dir():
        return found
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            profile = load_profile(path)
        except ProfileError:
            continue  # an invalid profile file is not this report's concern
        found.setdefault(profile.name, profile.prices)
    return found


def price_assumptions(profile_names: Iterable[str], directory: Path | None = None) -> list[dict[str, Any]]:
    directory = directory or profiles_dir()
    known = _profiles_by_name(directory)
    defaults = PriceConfig()
    rows = []
    for name in sorted(set(profile_names)):
        prices = known.get(name)
        source = f"profile {name} in {directory}" if prices else "scoring defaults (profile file not found)"
        prices = prices or defaults
        rows.append(
            {
                "profile": name,
                "cpu_core_hour": prices.cpu_core_hour,
                "mem_gib_hour": prices.mem_gib_hour,
                "source": source,
            }
        )
    return rows
