"""Port picking for the sandbox's servers (real sockets on loopback)."""

from __future__ import annotations

import socket

import pytest

from migrator.sandbox.ports import free_ports

pytestmark = pytest.mark.unit


def test_ports_picked_together_are_distinct_and_bindable() -> None:
    ports = free_ports("127.0.0.5", 6)
    assert len(set(ports)) == 6
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.5", port))
