"""Free-port allocation on loopback."""

from __future__ import annotations

import socket

import pytest

from meshmark_tasks.backends.local.ports import LOOPBACK, allocate_ports, port_is_listening


def test_ports_are_distinct_and_bindable() -> None:
    ports = allocate_ports(5)
    assert len(set(ports)) == 5
    sockets = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, port))
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()


def test_listening_detection() -> None:
    (port,) = allocate_ports(1)
    assert not port_is_listening(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((LOOPBACK, port))
        server.listen()
        assert port_is_listening(port)


def test_negative_count_rejected() -> None:
    with pytest.raises(ValueError, match="count"):
        allocate_ports(-1)
