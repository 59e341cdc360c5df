"""A ZooKeeper session for the length of one command.

With an inventory whose ``zookeeper_via`` is ``headnode``, the session goes through a
forward over the headnode's SSH connection (``migrator.remote.forward``), opened
first and closed last; otherwise it connects directly, as without an inventory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from migrator.zk.client import ZkTarget, connect, disconnect, resolve_target

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@contextmanager
def zk_session(
    connection_string: str, connect_timeout: float, debug: bool = False,
    inventory: Any = None, meanwhile: Callable[[], object] | None = None,
) -> Iterator[KazooClient]:
    """A connected client for the block, closed after it (and then its forward).
    ``meanwhile``: see ``migrator.zk.client.connect``."""
    target = resolve_target(connection_string, connect_timeout)
    if getattr(inventory, "zookeeper_via", "direct") != "headnode":
        client = connect(target, debug=debug, meanwhile=meanwhile)
        try:
            yield client
        finally:
            disconnect(client)
        return
    # deferred: the forward loads the SSH modules, which a direct session never needs
    from migrator.remote.forward import inventory_zookeeper

    with inventory_zookeeper(inventory, target.connection_string) as (hosts, route):
        if route is not None:
            target = ZkTarget(hosts, target.connect_timeout,
                              shown=f"{target.connection_string!r} ({route})",
                              ensemble=target.connection_string)
        client = connect(target, debug=debug, meanwhile=meanwhile)
        try:
            yield client
        finally:
            disconnect(client)
