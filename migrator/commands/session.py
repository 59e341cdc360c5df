"""A ZooKeeper session for the length of one command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from migrator.zk.client import PendingConnection, ZkTarget, disconnect, resolve_target

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def start_zk_session(
    connection_string: str, connect_timeout: float, debug: bool = False
) -> PendingConnection:
    """Begin connecting now; pass the result to ``zk_session`` later."""
    target: ZkTarget = resolve_target(connection_string, connect_timeout)
    return PendingConnection(target, debug=debug)


@contextmanager
def zk_session(
    connection_string: str, connect_timeout: float, debug: bool = False,
    started: PendingConnection | None = None,
) -> Iterator[KazooClient]:
    """A connected client for the block, closed after it (``started``: begun earlier)."""
    pending = started or start_zk_session(connection_string, connect_timeout, debug)
    try:
        client = pending.wait()
    except BaseException:  # unreachable, or Ctrl-C while waiting: stop kazoo's retries
        disconnect(pending.client)
        raise
    try:
        yield client
    finally:
        disconnect(client)
