"""Caddy sidecar configurations (Caddy's native JSON config), one file per sidecar and cell.

Topology of a mesh cell (all on 127.0.0.1):

    k6 -> client-side sidecar -> server-side sidecar -> app

The client-side sidecar plays the role of the caller's outbound proxy: it listens on plain HTTP and
forwards to the server-side sidecar, over mutual TLS when the mesh has `mtls` (it presents the
client certificate and verifies the server against the run's CA). The server-side sidecar plays the
callee's inbound proxy: it terminates (m)TLS, requires and verifies the client certificate for
`mtls`, and forwards to the app. `telemetry` adds an access log per request on both sidecars (the
per-request work a mesh's telemetry adds); `access_log_every` N > 1 keeps one entry in N (Caddy's
log sampling) and can switch logging on for a mesh without `telemetry`: the testbed's tunable
data-plane change. `retries` turns on the proxy's retry of failed upstream connections. The admin
API is off and nothing is persisted outside the cell's directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshmark_tasks.backends.local.certs import SERVER_NAME, MtlsFiles
from meshmark_tasks.backends.local.ports import LOOPBACK

# Network functions this backend can express with two Caddy sidecars.
SUPPORTED_NETWORK_FUNCTIONS: frozenset[str] = frozenset({"mtls", "telemetry", "retries"})
_CERT_TAG = "meshmark-server-sidecar"


@dataclass(frozen=True)
class SidecarPlan:
    """What one mesh cell's sidecars do and where they listen."""

    network_functions: tuple[str, ...]
    client_port: int  # where the load generator sends requests
    server_port: int  # the server-side sidecar
    app_port: int
    cell_dir: Path  # logs and Caddy storage of this cell
    mtls: MtlsFiles | None
    access_log_every: int | None = None  # access-log one request in N (None: as `telemetry` says)

    @property
    def uses_mtls(self) -> bool:
        return "mtls" in self.network_functions

    @property
    def uses_telemetry(self) -> bool:
        return "telemetry" in self.network_functions or self.access_log_every is not None

    def access_log(self, sidecar: str) -> Path:
        return self.cell_dir / f"{sidecar}.access.log"


def _logging(plan: SidecarPlan, sidecar: str) -> dict[str, Any]:
    logs: dict[str, Any] = {
        # Caddy's own log: warnings and errors only, to the process's stderr (captured to a file).
        "default": {"level": "WARN", "exclude": ["http.log.access"]},
    }
    if plan.uses_telemetry:
        logs["access"] = {
            "writer": {"output": "file", "filename": str(plan.access_log(sidecar))},
            "encoder": {"format": "json"},
            "include": ["http.log.access"],
        }
        if plan.access_log_every is not None and plan.access_log_every > 1:
            # zap's sampler: per second the first entry, then every N-th; the rest are never encoded.
            logs["access"]["sampling"] = {
                "interval": 1_000_000_000,
                "first": 1,
                "thereafter": plan.access_log_every,
            }
    return {"logs": logs}


def _base(plan: SidecarPlan, sidecar: str) -> dict[str, Any]:
    return {
        "admin": {"disabled": True, "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(plan.cell_dir / f"{sidecar}-storage")},
        "logging": _logging(plan, sidecar),
    }


def _reverse_proxy(dial_port: int, plan: SidecarPlan, transport: dict[str, Any] | None) -> dict[str, Any]:
    handler: dict[str, Any] = {"handler": "reverse_proxy", "upstreams": [{"dial": f"{LOOPBACK}:{dial_port}"}]}
    if transport is not None:
        handler["transport"] = transport
    if "retries" in plan.network_functions:
        handler["load_balancing"] = {"retries": 2, "try_interval": "10ms"}
    return handler


def _server(listen_port: int, handler: dict[str, Any], plan: SidecarPlan) -> dict[str, Any]:
    server: dict[str, Any] = {
        "listen": [f"{LOOPBACK}:{listen_port}"],
        "automatic_https": {"disable": True},
        "routes": [{"handle": [handler]}],
    }
    if plan.uses_telemetry:
        server["logs"] = {}  # presence of `logs` turns on access logging for this server
    return server


def client_sidecar_config(plan: SidecarPlan) -> dict[str, Any]:
    """Outbound proxy: plain HTTP in, (m)TLS or plain HTTP out to the server-side sidecar."""
    transport: dict[str, Any] | None = None
    if plan.uses_mtls:
        if plan.mtls is None:
            raise ValueError("mtls requested but no certificates were given")
        transport = {
            "protocol": "http",
            "tls": {
                "ca": {"provider": "file", "pem_files": [str(plan.mtls.ca_cert)]},
                "client_certificate_file": str(plan.mtls.client_cert),
                "client_certificate_key_file": str(plan.mtls.client_key),
                "server_name": SERVER_NAME,
            },
        }
    handler = _reverse_proxy(plan.server_port, plan, transport)
    config = _base(plan, "client-sidecar")
    config["apps"] = {"http": {"servers": {"client_sidecar": _server(plan.client_port, handler, plan)}}}
    return config


def server_sidecar_config(plan: SidecarPlan) -> dict[str, Any]:
    """Inbound proxy: terminates (m)TLS (client certificate required and verified), forwards to the app."""
    handler = _reverse_proxy(plan.app_port, plan, None)
    server = _server(plan.server_port, handler, plan)
    config = _base(plan, "server-sidecar")
    apps: dict[str, Any] = {"http": {"servers": {"server_sidecar": server}}}
    if plan.uses_mtls:
        if plan.mtls is None:
            raise ValueError("mtls requested but no certificates were given")
        # Caddy turns on strict SNI/Host matching with client auth; sidecars forward the caller's
        # Host header unchanged (as Envoy does), so it would reject every proxied request.
        server["strict_sni_host"] = False
        server["tls_connection_policies"] = [
            {
                "certificate_selection": {"any_tag": [_CERT_TAG]},
                "client_authentication": {
                    "ca": {"provider": "file", "pem_files": [str(plan.mtls.ca_cert)]},
                    "mode": "require_and_verify",
                },
            }
        ]
        apps["tls"] = {
            "certificates": {
                "load_files": [
                    {
                        "certificate": str(plan.mtls.server_cert),
                        "key": str(plan.mtls.server_key),
                        "tags": [_CERT_TAG],
                    }
                ]
            }
        }
    config["apps"] = apps
    return config


def write_sidecar_configs(plan: SidecarPlan) -> tuple[Path, Path]:
    """Write both sidecars' JSON configs into the cell directory; returns (client, server) paths."""
    plan.cell_dir.mkdir(parents=True, exist_ok=True)
    client = plan.cell_dir / "client-sidecar.caddy.json"
    server = plan.cell_dir / "server-sidecar.caddy.json"
    client.write_text(json.dumps(client_sidecar_config(plan), indent=2), encoding="utf-8")
    server.write_text(json.dumps(server_sidecar_config(plan), indent=2), encoding="utf-8")
    return client, server


def caddy_command(caddy_binary: str, config_path: Path) -> list[str]:
    return [caddy_binary, "run", "--config", str(config_path)]
