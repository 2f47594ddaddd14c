"""Free loopback ports for the testbed's components.

The kernel picks the ports (bind to port 0). All sockets of one allocation are held open together so
the ports are distinct, then closed just before the components start. Another process could grab a
port in that short gap; the topology's readiness check then fails with a clear "did not become
ready" reason instead of measuring the wrong server.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def allocate_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_listening(port: int, host: str = LOOPBACK, timeout_s: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
