"""The web app the `meshmark` plugin mounts on the api-server at /meshmark: reports and Data Docs, read-only.

    /meshmark/                              the runs, newest first, with links to their outputs
    /meshmark/report                        the newest trend report
    /meshmark/files/reports/...             report folders under the storage root, as stored
    /meshmark/files/data_docs/...           Great Expectations Data Docs under the storage root
    /meshmark/runs/<dag>/<run>/report       what a run's "Trend report" tab shows
    /meshmark/runs/<dag>/<run>/data-docs    what a run's "Data Docs" tab shows

Files come from DatasetStore.read_published, which opens only the report and Data Docs folders
(local or object-store roots alike). Every page needs an Airflow login (the UI's session cookie or a
bearer token) allowed to read the DAG's runs, checked by Airflow's own auth manager; a browser
without a login is sent to the login page and back. Served files keep their relative links, so a
report's link to its run's Data Docs works here as on disk.
"""

from __future__ import annotations

import html
import mimetypes
import posixpath
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from meshmark_tasks.config import storage_root
from meshmark_tasks.constants import NIGHTLY_DAG_ID, REPORT_DAG_ID, WEB_PREFIX
from meshmark_tasks.errors import StoreError

# Who may open what: reading the nightly DAG's runs opens the stored outputs; a run's tab checks the
# run's own DAG. Module-level, so tests can override them (app.dependency_overrides).
can_read_nightly_runs = requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=NIGHTLY_DAG_ID)
can_read_runs_of_dag = requires_access_dag("GET", DagAccessEntity.RUN)

NEWEST_REPORT = "reports/latest/index.html"
RUNS_LISTED = 50
_NO_CACHE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_TEXT_TYPES = {".md": "text/markdown", ".json": "application/json"}


def _store() -> Any:
    # Read per request: cheap, and a changed MESHMARK_STORAGE_ROOT needs no api-server restart.
    from meshmark_tasks.storage import DatasetStore

    return DatasetStore(storage_root())


def _file_url(relative: str) -> str:
    return f"{WEB_PREFIX}/files/{relative}"


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a202c}"
        "table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #e2e8f0;"
        "text-align:left}a{color:#2b6cb0}code{background:#edf2f7;padding:0 .2rem}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=_NO_CACHE)


def _link(href: str, text: str) -> str:
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(text)}</a>"


def _serve(relative: str) -> Response:
    try:
        data = _store().read_published(relative)
    except StoreError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such file: {relative}") from None
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such file: {relative}")
    extension = posixpath.splitext(relative)[1].lower()
    media_type = _TEXT_TYPES.get(extension) or mimetypes.guess_type(relative)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/json":
        media_type += "; charset=utf-8"
    return Response(data, media_type=media_type, headers=_NO_CACHE)


def _newest_report_run_id(store: Any) -> str | None:
    """The nightly run the newest report covers (its regressions.json names it)."""
    import json

    data = store.read_published("reports/latest/regressions.json")
    return None if data is None else json.loads(data).get("run_id")


def _data_docs_of(store: Any, run_id: str) -> str | None:
    index = store.data_docs_index(run_id)
    return None if index is None else str(store.relative(index))


def _index() -> HTMLResponse:
    store = _store()
    rows = []
    for stored in sorted(store.runs("results"), reverse=True)[:RUNS_LISTED]:
        summary = store.read_run_summary(stored.run_id) or {}
        docs = _data_docs_of(store, stored.run_id)
        scores = ", ".join(f"{m} {v:.1f}" for m, v in sorted((summary.get("meshmark_by_mesh") or {}).items()))
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{cell}</td>"
                for cell in (
                    html.escape(stored.run_id),
                    stored.run_date.isoformat(),
                    html.escape(str(summary.get("data_quality", "n/a"))),
                    f"{summary.get('cells_scored', '?')} of {summary.get('cells_planned', '?')}",
                    html.escape(scores),
                    _link(_file_url(docs), "Data Docs") if docs else "none",
                )
            )
            + "</tr>"
        )
    report = (
        _link(f"{WEB_PREFIX}/report", "Newest trend report")
        if store.read_published(NEWEST_REPORT) is not None
        else "No trend report yet: it is written after the first nightly run."
    )
    table = (
        "<table><tr><th>run</th><th>date</th><th>data quality</th><th>cells scored</th>"
        "<th>MeshMark per mesh</th><th>validation</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No runs in the store yet.</p>"
    )
    return _page(
        "MeshMark",
        f"<p>{report}</p><p>Storage root: <code>{html.escape(store.root)}</code></p>{table}",
    )


def _no_output(what: str, dag_id: str, run_id: str, why: str) -> HTMLResponse:
    body = f"<p>{html.escape(why)}</p><p>{_link(f'{WEB_PREFIX}/', 'All MeshMark runs')}</p>"
    return _page(f"No {what} for {dag_id} / {run_id}", body, status.HTTP_404_NOT_FOUND)


def _run_report(dag_id: str, run_id: str) -> Response:
    if dag_id not in (NIGHTLY_DAG_ID, REPORT_DAG_ID):
        return _no_output("trend report", dag_id, run_id, "Only MeshMark's DAGs have a trend report.")
    if _store().read_published(NEWEST_REPORT) is None:
        why = "The trend report DAG has not published a report yet (it runs after each nightly run)."
        return _no_output("trend report", dag_id, run_id, why)
    return RedirectResponse(_file_url(NEWEST_REPORT), status.HTTP_307_TEMPORARY_REDIRECT, headers=_NO_CACHE)


def _run_data_docs(dag_id: str, run_id: str) -> Response:
    store = _store()
    if dag_id == REPORT_DAG_ID:
        covered = _newest_report_run_id(store)
        if covered is None:
            return _no_output("Data Docs", dag_id, run_id, "No trend report yet, so no nightly run to show.")
        run_id = covered
    elif dag_id != NIGHTLY_DAG_ID:
        return _no_output("Data Docs", dag_id, run_id, "Only MeshMark's nightly runs are validated.")
    docs = _data_docs_of(store, run_id)
    if docs is None:
        why = "The run has not reached finalize yet, or it failed before validating its measurements."
        return _no_output("Data Docs", dag_id, run_id, why)
    return RedirectResponse(_file_url(docs), status.HTTP_307_TEMPORARY_REDIRECT, headers=_NO_CACHE)


def _login_redirect(request: Request, exc: HTTPException) -> Response:
    """A browser without a valid login goes to Airflow's login page and comes back."""
    from airflow.api_fastapi.app import get_auth_manager

    wants_html = "text/html" in request.headers.get("accept", "")
    if exc.status_code == status.HTTP_401_UNAUTHORIZED and wants_html:
        login = get_auth_manager().get_url_login(next_url=str(request.url))
        return RedirectResponse(login, status.HTTP_303_SEE_OTHER)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_app() -> FastAPI:
    app = FastAPI(title="MeshMark reports", docs_url=None, redoc_url=None, openapi_url=None)
    nightly = [Depends(can_read_nightly_runs)]
    own_dag = [Depends(can_read_runs_of_dag)]

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return _login_redirect(request, exc)

    @app.get("/", dependencies=nightly, response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return _index()

    @app.get("/report", dependencies=nightly)
    def newest_report() -> Response:
        return _run_report(NIGHTLY_DAG_ID, "latest")

    @app.get("/files/{relative:path}", dependencies=nightly)
    def published_file(relative: str) -> Response:
        return _serve(relative)

    @app.get("/runs/{dag_id}/{run_id}/report", dependencies=own_dag)
    def run_report(dag_id: str, run_id: str) -> Response:
        return _run_report(dag_id, run_id)

    @app.get("/runs/{dag_id}/{run_id}/data-docs", dependencies=own_dag)
    def run_data_docs(dag_id: str, run_id: str) -> Response:
        return _run_data_docs(dag_id, run_id)

    return app
