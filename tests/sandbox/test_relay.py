"""The delaying relay of `sandbox up --latency`: bytes intact and in order, each way
delayed, a new connection's handshake paid, a half-close carried. A real relay
process on loopback in front of a small echo server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox import procs
from migrator.sandbox.config import RELAY_ADDRESS, SandboxConfig
from migrator.sandbox.relay import start_relay

pytestmark = pytest.mark.local

DELAY_MS = 40.0
DELAY = DELAY_MS / 1000.0


class EchoServer:
    """Echoes what it reads; notes when each connection's first byte arrived."""

    def __init__(self) -> None:
        self.listening = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.listening.getsockname()
        self.first_bytes: list[float] = []
        self.accepted: list[float] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listening.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            first = True
            while data := conn.recv(65536):
                if first:
                    self.first_bytes.append(time.monotonic())
                    first = False
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)  # our half-close answers the client's

    def close(self) -> None:
        self.listening.close()


@pytest.fixture
def relayed(tmp_path: Path) -> Iterator[tuple[EchoServer, int]]:
    echo = EchoServer()
    config = SandboxConfig(tmp_path, 0, [], latency_ms=DELAY_MS)
    port = start_relay(config, "echo", echo.address)
    try:
        yield echo, port
    finally:
        assert procs.kill_recorded(config.pid_file("relay-echo"))
        echo.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        assert chunk, "the relay closed the connection early"
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def test_bytes_arrive_intact_in_order_and_late(relayed: tuple[EchoServer, int]) -> None:
    echo, port = relayed
    payload = bytes(range(256)) * 4096  # 1 MiB: many chunks each way
    with socket.create_connection((RELAY_ADDRESS, port), timeout=10) as sock:
        connected = time.monotonic()
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        assert _read_exactly(sock, len(payload)) == payload
        sender.join()
        # the handshake's round trip, then the server: a byte sent at once reaches it
        # one and a half round trips after the connect
        assert echo.first_bytes[0] - connected >= 3 * DELAY

        sent = time.monotonic()
        sock.sendall(b"ping")
        assert _read_exactly(sock, 4) == b"ping"
        assert time.monotonic() - sent >= 2 * DELAY  # one round trip: the delay each way

        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # our half-close reached the server, and its ours


def test_each_connection_is_relayed_on_its_own(relayed: tuple[EchoServer, int]) -> None:
    _, port = relayed
    socks = [socket.create_connection((RELAY_ADDRESS, port), timeout=10) for _ in range(3)]
    try:
        for index, sock in enumerate(socks):
            sock.sendall(f"conn {index}".encode())
        assert [_read_exactly(s, 6).decode() for s in socks] == ["conn 0", "conn 1",
                                                                 "conn 2"]
    finally:
        for sock in socks:
            sock.close()
