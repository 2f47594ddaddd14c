"""The `local` backend: a real testbed on this machine (aiohttp app, Caddy sidecars, k6, psutil).

See docs/local-backend.md. Public API: provision, run_cell, teardown.
"""

from meshmark_tasks.backends.local.runner import provision, run_cell, teardown

__all__ = ["provision", "run_cell", "teardown"]
