"""Which address kazoo is given: ZooKeeper's own, or local ends of a forward through the
headnode (``zookeeper_via``). Pure: the forward itself is ``migrator.remote.forward``.

Decisions:

* ``direct`` (the default) hands kazoo the connection string as given.
* ``headnode``: every server of the string gets a local port of its own on
  127.0.0.1, forwarded to that server as the headnode reaches it, so kazoo's own
  rotation between servers (and its reconnect to another one after a loss) works
  as it does directly. The chroot stays on the string kazoo gets: it is a path in
  ZooKeeper, not part of the address.
* The string the operator wrote is kept for messages (a "cannot connect" names
  ZooKeeper's address, and says through which headnode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from migrator.inventory.values import parse_zk_connection

ZkVia = Literal["direct", "headnode"]
ZK_VIA_VALUES: tuple[ZkVia, ...] = ("direct", "headnode")


@dataclass(frozen=True)
class ZkServers:
    """A connection string split into its servers (every port given) and its chroot."""

    servers: tuple[tuple[str, int], ...]
    chroot: str  # "" or "/path"


def zk_servers(connection_string: str) -> ZkServers:
    """The servers and chroot of a connection string (``ValueError`` if it is not one)."""
    checked = parse_zk_connection(connection_string.strip(), port_required=False)
    hosts, slash, chroot = checked.partition("/")
    servers = []
    for server in hosts.split(","):
        host, _, port = server.rpartition(":")
        # an IPv6 address is bracketed in the string; a socket wants it bare
        servers.append((host[1:-1] if host.startswith("[") else host, int(port)))
    return ZkServers(tuple(servers), slash + chroot if chroot else "")


def kazoo_hosts(connection_string: str, local: Sequence[tuple[str, int]] | None) -> str:
    """What kazoo is given: the string itself (``local`` None: a direct connection), or
    the local ends of a forward, one per server in the string's order, with its chroot."""
    checked = parse_zk_connection(connection_string.strip(), port_required=False)
    if local is None:
        return checked
    found = zk_servers(checked)
    if len(local) != len(found.servers):
        raise ValueError(f"{len(local)} local ends for {len(found.servers)} ZooKeeper servers")
    return ",".join(f"{host}:{port}" for host, port in local) + found.chroot
