"""Run every benchmark (`make bench`, or `python -m benchmarks NAME ...` for some of them).

Each benchmarks/bench_<name>.py has run() -> dict and writes var/benchmarks/<name>.json itself. A
module that sets `LONG = True` (bench_fidelity: hours of real load tests) runs only when named.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def _is_long(name: str) -> bool:
    return bool(getattr(importlib.import_module(f"benchmarks.bench_{name}"), "LONG", False))


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    available = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    selected = names or [name for name in available if not _is_long(name)]
    unknown = sorted(set(selected) - set(available))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr
        )
        return 2
    summary = {}
    for name in selected:
        print(f"== {name}", file=sys.stderr)
        summary[name] = importlib.import_module(f"benchmarks.bench_{name}").run()
    out = Path("var/benchmarks/summary.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
