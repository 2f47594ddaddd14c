"""Cost of the mesh per million requests (MESHMARK.md "Cost (TCO)").

    mesh_cost_per_million_requests =
        ((cpu_dataplane + cpu_controlplane) × price per core-hour
         + (mem_dataplane + mem_controlplane) / 2^30 × price per GiB-hour)
        / (actual_qps × 3600) × 10^6

Only the mesh's own components count (not the application): it is what the mesh costs on top. The
hourly cost of the resources held during the window is divided by the requests served in an hour.
NaN when actual_qps is 0 or any input is missing; 0 for a cell whose mesh uses nothing (baseline).
"""

from __future__ import annotations

from meshmark_tasks.profile import PriceConfig
from meshmark_tasks.scoring.numeric import FloatArray, safe_divide

GIB = float(2**30)
SECONDS_PER_HOUR = 3600.0


def mesh_cost_per_million_requests(numbers: dict[str, FloatArray], prices: PriceConfig) -> FloatArray:
    # Written with in-place steps on two temporaries: this runs over every cell.
    cost_per_hour = numbers["cpu_cores_dataplane"] + numbers["cpu_cores_controlplane"]
    cost_per_hour *= prices.cpu_core_hour
    mesh_gib = numbers["mem_bytes_dataplane"] + numbers["mem_bytes_controlplane"]
    mesh_gib *= prices.mem_gib_hour / GIB
    cost_per_hour += mesh_gib
    requests_per_hour = numbers["actual_qps"] * SECONDS_PER_HOUR
    per_request = safe_divide(cost_per_hour, requests_per_hour)
    per_request *= 1e6
    return per_request
