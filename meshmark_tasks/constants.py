"""Names the DAG files and the library share: the pool, the backends, the regression actions.

Kept free of imports beyond `typing` so a DAG file can read it at parse time for nothing.
"""

from __future__ import annotations

from typing import Literal

# The pool that serializes load tests: two tests at once would disturb each other's latency and
# CPU numbers. One slot; see docs/deploy.md for creating it.
LOADTEST_POOL = "meshmark_loadtest"

BackendName = Literal["local", "kubernetes"]
LOCAL: BackendName = "local"
KUBERNETES: BackendName = "kubernetes"
BACKEND_NAMES: tuple[BackendName, ...] = (LOCAL, KUBERNETES)
DEFAULT_BACKEND: BackendName = LOCAL

# What the trend report does when it finds a regression.
OnRegression = Literal["fail", "notify", "ignore"]
ON_REGRESSION_CHOICES: tuple[OnRegression, ...] = ("fail", "notify", "ignore")
DEFAULT_ON_REGRESSION: OnRegression = "fail"

# Where the api-server serves the reports and Data Docs under the storage root (the `meshmark`
# Airflow plugin, meshmark_tasks/airflow_plugin/); DAG docs and run pages link there.
WEB_PREFIX = "/meshmark"

# The two DAGs; the plugin's run pages and `make nightly` find them by these ids.
NIGHTLY_DAG_ID = "meshmark_nightly"
REPORT_DAG_ID = "meshmark_trend_report"
