"""A ZooKeeper session for the length of one command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from migrator.zk.client import connect, disconnect, resolve_target

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@contextmanager
def zk_session(
    connection_string: str, connect_timeout: float, debug: bool = False,
) -> Iterator[KazooClient]:
    """A connected client for the block, closed after it."""
    client = connect(resolve_target(connection_string, connect_timeout), debug=debug)
    try:
        yield client
    finally:
        disconnect(client)
