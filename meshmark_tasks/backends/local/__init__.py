"""The `local` backend: a real testbed on this machine (aiohttp app, Caddy sidecars, k6, psutil).

See docs/local-backend.md. Public API: provision, run_cell, teardown.

They are loaded on first use: every cell starts the app as `python -m
meshmark_tasks.backends.local.app`, which runs this file first, and the runner's imports (pydantic
profiles, the adapters) would double that process's start-up time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshmark_tasks.backends.local.runner import provision, run_cell, teardown

__all__ = ["provision", "run_cell", "teardown"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from meshmark_tasks.backends.local import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
