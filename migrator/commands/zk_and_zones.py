"""A command's ZooKeeper session and its zones' session, opened in the order that
waits least (``migrator.remote.prewarm.zones_before_zookeeper``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from migrator.commands.session import zk_session
from migrator.remote.prewarm import remote_session, zones_before_zookeeper
from migrator.remote.session import RemoteSession

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@contextmanager
def zk_and_zones(
    connection_string: str, connect_timeout: float, debug: bool, inventory: Any,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[tuple[KazooClient, RemoteSession | None]]:
    """The ZooKeeper client and the zones' session (None without an inventory) for the
    block; ZooKeeper's is closed first, then the zones'. The zones connect before
    ZooKeeper, or, through the headnode, while it connects (after the forward's check).
    ``meanwhile``: see ``migrator.zk.client.connect``."""
    with ExitStack() as stack:
        remote: list[RemoteSession | None] = []

        def zones() -> None:
            remote.append(stack.enter_context(remote_session(inventory)))

        def zones_then_meanwhile() -> None:
            zones()
            if meanwhile is not None:
                meanwhile()

        if zones_before_zookeeper(inventory):
            zones()
            client = stack.enter_context(zk_session(connection_string, connect_timeout,
                                                    debug, inventory, meanwhile))
        else:
            client = stack.enter_context(zk_session(connection_string, connect_timeout,
                                                    debug, inventory, zones_then_meanwhile))
        yield client, remote[0]
