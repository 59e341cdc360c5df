"""The simulated postgres's wire: one JSON document per line each way (``pgsim`` lists
the requests), and a peer's postgres address.

A module of its own, apart from the simulator, so that a client that only asks a
question (a zone's ``manatee-adm pg-position``, run in every zone for every position
check) starts without importing the server's side.
"""

from __future__ import annotations

import json
import socket
from typing import Any


def send(connection: socket.socket, document: dict[str, Any]) -> None:
    connection.sendall(json.dumps(document).encode() + b"\n")


def pg_address(peer: dict[str, Any]) -> tuple[str, int]:
    """host and port from a pgUrl such as tcp://postgres@127.0.0.2:40123/postgres."""
    url = str(peer.get("pgUrl", ""))
    hostport = url.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def request(host: str, port: int, document: dict[str, Any], timeout: float = 2.0) -> Any:
    """One request/response to a simulated postgres; raises OSError when it is down."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send(sock, document)
        line = sock.makefile("r", encoding="utf-8").readline()
    if not line:
        raise ConnectionError("connection closed")
    return json.loads(line)
