"""Airflow Assets shared by the nightly DAG (producer) and the trend-report DAG (consumer).

Kept free of pandas/pyarrow so DAG files can import it at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset

# One logical dataset: the Parquet tables under the storage root. The URI names it, it is not read.
RESULTS_ASSET = Asset(name="meshmark_results", uri="meshmark://datasets/results", group="meshmark")
