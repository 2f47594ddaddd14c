"""The Parquet store: tables partitioned by run_date, raw outputs and report folders.

See docs/data-model.md for the layout, the columns and the guarantees.
"""

from meshmark_tasks.storage.naming import run_id_from_safe, safe_run_id
from meshmark_tasks.storage.store import COMPRESSION, HIVE_PARTITIONING, DatasetStore, StoredRun

__all__ = [
    "COMPRESSION",
    "HIVE_PARTITIONING",
    "DatasetStore",
    "StoredRun",
    "run_id_from_safe",
    "safe_run_id",
]
