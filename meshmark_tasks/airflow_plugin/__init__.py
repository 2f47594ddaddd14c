"""The `meshmark` Airflow plugin: the trend report and Great Expectations Data Docs, one click from a run.

Registered through the `airflow.plugins` entry point (pyproject.toml), so every Airflow that has this
package installed loads it: `make airflow`, the docker compose image, the Helm chart's image.

- a FastAPI app mounted on the api-server at /meshmark serves the storage root's report and Data
  Docs folders read-only, to logged-in users who may read the nightly DAG's runs (app.py);
- two tabs on every DAG run's page, "Trend report" and "Data Docs", show them for that run;
- a "MeshMark reports" entry in the navigation opens the list of runs.

This module is imported by every Airflow process (scheduler, workers, task runner) when plugins
load, so it stays light: the web app itself is built on its first request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from meshmark_tasks.constants import WEB_PREFIX

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LazyApp:
    """An ASGI app that builds the real one (app.create_app) on its first request."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from meshmark_tasks.airflow_plugin.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "meshmark_tasks.airflow_plugin.app:create_app"


def _run_tab(name: str, page: str) -> dict[str, Any]:
    # The UI fills in {DAG_ID} and {RUN_ID} and shows the page in a tab of the run's page.
    return {
        "name": name,
        "href": f"{WEB_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/{page}",
        "destination": "dag_run",
        "url_route": f"meshmark-{page}",
    }


class MeshmarkPlugin(AirflowPlugin):
    # Airflow's plugin API reads these class attributes (hence RUF012's mutable defaults).
    name = "meshmark"
    fastapi_apps = [  # noqa: RUF012
        {"app": LazyApp(), "url_prefix": WEB_PREFIX, "name": "MeshMark reports and Data Docs"}
    ]
    external_views = [  # noqa: RUF012
        {"name": "MeshMark reports", "href": f"{WEB_PREFIX}/", "destination": "nav", "url_route": "meshmark"},
        _run_tab("Trend report", "report"),
        _run_tab("Data Docs", "data-docs"),
    ]
