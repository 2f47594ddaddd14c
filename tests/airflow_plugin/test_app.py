"""The plugin's web app against a real storage root: reports and Data Docs served read-only.

Airflow's own auth is replaced by "allowed" here except in the last two tests; the end-to-end test
(tests/e2e/test_ui_whole_path.py) goes through the real api-server, its login and the run's tabs.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from synthetic import SyntheticHistory, write_history

from meshmark_tasks.airflow_plugin import app as web
from meshmark_tasks.constants import NIGHTLY_DAG_ID, REPORT_DAG_ID, WEB_PREFIX
from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage import DatasetStore, safe_run_id


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from meshmark_tasks.reporting import build_report

    root = tmp_path_factory.mktemp("store")
    run_ids = write_history(str(root), SyntheticHistory(nights=3, seed=2))
    store = DatasetStore(str(root))
    for run_id in run_ids[-2:]:

        def build(directory: str, run_id: str = run_id) -> None:
            (Path(directory) / "expectations").mkdir(parents=True, exist_ok=True)
            (Path(directory) / "index.html").write_text(
                f'<html><body>Data Docs of {run_id} <a href="expectations/suite.html">s</a></body></html>'
            )
            # an expectation-suite page: stored once for both runs, under data_docs/~expectations/
            (Path(directory) / "expectations" / "suite.html").write_text(
                '<html><body><a href="../index.html">Home</a> The suite</body></html>'
            )

        store.put_data_docs(run_id, build)
        store.write_run_summary(run_id, {"run_id": run_id, "data_quality": "passed", "meshmark_by_mesh": {}})
    build_report(str(root))
    return root


def _mounted(app: FastAPI) -> TestClient:
    """The app where the api-server mounts it (a plugin's url_prefix), as a client of it."""
    api_server = FastAPI()
    api_server.mount(WEB_PREFIX, app)
    return TestClient(api_server, base_url=f"http://airflow{WEB_PREFIX}", follow_redirects=False)


@pytest.fixture
def client(root: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(root))
    app = web.create_app()
    app.dependency_overrides[web.can_read_nightly_runs] = lambda: None
    app.dependency_overrides[web.can_read_runs_of_dag] = lambda: None
    return _mounted(app)


NEWEST = "scheduled__2025-01-03T02:00:00+00:00"


def _path(response) -> str:
    return urllib.parse.urlsplit(response.headers["location"]).path


def test_the_newest_report_opens_from_its_link(client: TestClient) -> None:
    redirect = client.get("/report")
    assert redirect.status_code == 307
    assert _path(redirect) == "/meshmark/files/reports/latest/index.html"
    page = client.get("http://airflow" + _path(redirect))
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "MeshMark" in page.text and page.headers["cache-control"] == "no-store"


def test_the_reports_link_to_the_run_s_data_docs_works_where_it_is_served(client: TestClient) -> None:
    report_url = "http://airflow/meshmark/files/reports/latest/index.html"
    report = client.get(report_url).text
    href = f"../../data_docs/{safe_run_id(NEWEST)}/index.html"
    assert href in report
    docs = client.get(urllib.parse.urljoin(report_url, href))
    assert docs.status_code == 200 and f"Data Docs of {NEWEST}" in docs.text


def test_a_run_s_link_to_its_shared_suite_page_works_where_it_is_served(client: TestClient) -> None:
    docs_url = f"http://airflow/meshmark/files/data_docs/{safe_run_id(NEWEST)}/index.html"
    (href,) = re.findall(r'href="([^"]+)"', client.get(docs_url).text)
    assert href.startswith("../~expectations/")
    suite = client.get(urllib.parse.urljoin(docs_url, href))
    assert suite.status_code == 200 and "The suite" in suite.text


def test_a_run_s_tabs(client: TestClient) -> None:
    quoted = urllib.parse.quote(NEWEST, safe="")
    docs = client.get(f"/runs/{NIGHTLY_DAG_ID}/{quoted}/data-docs")
    assert docs.status_code == 307
    assert _path(docs) == f"/meshmark/files/data_docs/{safe_run_id(NEWEST)}/index.html"
    assert _path(client.get(f"/runs/{NIGHTLY_DAG_ID}/{quoted}/report")).endswith("reports/latest/index.html")
    # A report run's Data Docs tab shows the nightly run its report covers.
    assert _path(client.get(f"/runs/{REPORT_DAG_ID}/asset_triggered__x/data-docs")) == _path(docs)


def test_runs_without_outputs_say_why(client: TestClient) -> None:
    older = urllib.parse.quote("scheduled__2025-01-01T02:00:00+00:00", safe="")
    missing = client.get(f"/runs/{NIGHTLY_DAG_ID}/{older}/data-docs")
    assert missing.status_code == 404 and "has not reached finalize" in missing.text
    other = client.get("/runs/some_other_dag/manual__1/report")
    assert other.status_code == 404 and "have a trend report" in other.text


def test_the_index_lists_runs_newest_first(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.index("2025-01-03") < page.text.index("2025-01-01")
    assert page.text.count(">Data Docs</a>") == 2 and "Newest trend report" in page.text


@pytest.mark.parametrize(
    "relative",
    ["results/run_date=2025-01-01", "runs", "reports/%2E%2E/runs/x.json", "data_docs/..%2Fruns", "reports/"],
)
def test_only_reports_and_data_docs_are_served(client: TestClient, relative: str) -> None:
    assert client.get(f"/files/{relative}").status_code == 404


def test_the_store_refuses_paths_outside_the_published_folders(root: Path) -> None:
    store = DatasetStore(str(root))
    for relative in ("runs/x.json", "reports/../runs/x.json", "reports//index.html", "/etc/passwd", "raw"):
        with pytest.raises(StoreError):
            store.read_published(relative)
    assert store.read_published("reports/latest/nope.html") is None
    assert store.relative(store.reports_dir("latest")) == "reports/latest"


def test_without_a_login_a_browser_goes_to_the_login_page(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.app import init_auth_manager

    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(root))
    init_auth_manager()
    anonymous = _mounted(web.create_app())
    browser = anonymous.get("/report", headers={"accept": "text/html"})
    assert browser.status_code == 303
    login = urllib.parse.urlsplit(browser.headers["location"])
    assert login.path.startswith("/auth/login")
    assert urllib.parse.parse_qs(login.query)["next"] == ["http://airflow/meshmark/report"]
    assert anonymous.get("/files/reports/latest/index.html").status_code == 401
