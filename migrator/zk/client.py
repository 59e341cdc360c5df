"""Connecting to ZooKeeper: connection string, chroot, bounded connect timeout."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.errors import BadInput, ZooKeeperUnavailable

if TYPE_CHECKING:
    from kazoo.client import KazooClient

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_SESSION_TIMEOUT = 10.0
DEFAULT_PORT = 2181


@dataclass(frozen=True)
class ZkTarget:
    """A connection string (``host:port,host:port[/chroot]``) as the operator gave it."""

    connection_string: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    @property
    def hosts(self) -> str:
        """Hosts with a port on each (manatee's ZK_IPS may omit it) and the chroot kept."""
        hosts, slash, chroot = self.connection_string.partition("/")
        with_ports = ",".join(
            h if ":" in h else f"{h}:{DEFAULT_PORT}" for h in hosts.split(",") if h.strip()
        )
        return with_ports + (slash + chroot if slash else "")


def resolve_target(zk: str | None, connect_timeout: float | None = None) -> ZkTarget:
    """``--zk`` wins over ``ZK_IPS``, as in manatee-adm."""
    value = zk or os.environ.get("ZK_IPS")
    if not value or not value.strip():
        raise BadInput(
            "No ZooKeeper connection string was given.",
            "Pass --zk HOST:PORT[,HOST:PORT][/chroot], set ZK_IPS, or use --inventory.",
        )
    value = value.strip()
    hosts = value.partition("/")[0]
    for host in hosts.split(","):
        name, _, port = host.strip().partition(":")
        if not name or (port and not port.isdigit()):
            raise BadInput(
                f"The ZooKeeper connection string {value!r} has a malformed host {host!r}.",
                "Write it as HOST:PORT[,HOST:PORT][/chroot], for example 127.0.0.1:2181.",
            )
    return ZkTarget(value, connect_timeout or DEFAULT_CONNECT_TIMEOUT)


def connect(target: ZkTarget, *, debug: bool = False) -> KazooClient:
    """A started client, or ``ZooKeeperUnavailable`` naming the string, within the timeout.

    Ctrl-C while connecting stops kazoo's retries before it propagates."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    if not debug:
        # kazoo logs every failed connection attempt; the error we raise says it once.
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    client = KazooClient(
        hosts=target.hosts,
        timeout=DEFAULT_SESSION_TIMEOUT,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )
    try:
        client.start_async().wait(target.connect_timeout)
    except BaseException:
        disconnect(client)
        raise
    if client.connected:
        return client
    disconnect(client)
    raise ZooKeeperUnavailable(
        f"Could not connect to ZooKeeper at {target.connection_string!r} within "
        f"{target.connect_timeout:g} s.",
        "Check the connection string (--zk or ZK_IPS) and that a ZooKeeper server "
        "answers there.",
    )


DISCONNECT_TIMEOUT = 5.0


def disconnect(client: KazooClient, timeout: float = DISCONNECT_TIMEOUT) -> None:
    """Close the session, but never let closing it hold the process hostage.

    kazoo's ``stop()`` joins its worker threads; if one of them is stuck (a
    Ctrl-C can land where CPython cannot guarantee a lock is released), the
    join would never return and the migrator would hang on its way out. The
    close runs in a daemon thread that we wait for at most ``timeout``; past
    that we go on and ZooKeeper expires the session (our ephemeral lock node
    with it) on its own.
    """

    def close() -> None:
        client.stop()
        client.close()

    closer = threading.Thread(target=close, name="zk-disconnect", daemon=True)
    closer.start()
    closer.join(timeout)
