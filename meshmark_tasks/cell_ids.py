"""Cell ids: `<mesh>-q<qps>-c<connections>-b<payload bytes>-<protocol>-r<repetition>`.

A cell id names Kubernetes pods and labels and Airflow map labels, so it must be a DNS-1123 label
of at most 63 characters. Profiles are checked against that limit before any cell exists
(`profile.Profile`), so a long mesh name fails at validation, not when a pod is created.
"""

from __future__ import annotations

# Kubernetes label values and DNS-1123 labels allow 63 characters.
MAX_CELL_ID_LENGTH = 63


def qps_label(qps: float | None) -> str:
    if qps is None:
        return "max"
    return str(int(qps)) if float(qps).is_integer() else str(qps).replace(".", "p")


def cell_id_for(mesh: str, qps: float | None, connections: int, payload: int, protocol: str, rep: int) -> str:
    """Stable, readable id; a valid DNS-1123 label so it can name pods and Airflow map labels."""
    return f"{mesh}-q{qps_label(qps)}-c{connections}-b{payload}-{protocol}-r{rep}"
