"""Connecting to ZooKeeper: connection string, chroot, bounded connect timeout."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.errors import BadInput, ZooKeeperUnavailable
from migrator.inventory.values import ZK_DEFAULT_PORT, parse_zk_connection

if TYPE_CHECKING:
    from kazoo.client import KazooClient

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_SESSION_TIMEOUT = 10.0
DEFAULT_PORT = ZK_DEFAULT_PORT


@dataclass(frozen=True)
class ZkTarget:
    """A connection string (``host:port,host:port[/chroot]``) as the operator gave it."""

    connection_string: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # how the operator knows it, for messages, when kazoo is given another address (the
    # local end of a forward through the headnode: migrator.remote.forward)
    shown: str | None = None
    # the ensemble's own connection string behind such a forward: what names the ensemble
    # (its audit folder), where the forward's local ports change from one session to
    # the next
    ensemble: str | None = None

    @property
    def hosts(self) -> str:
        """Hosts with a port on each (manatee's ZK_IPS may omit it) and the chroot kept;
        ``BadInput`` for a string kazoo could not use (``checked_hosts``)."""
        return checked_hosts(self.connection_string)


def resolve_target(zk: str | None, connect_timeout: float | None = None) -> ZkTarget:
    """``--zk`` wins over ``ZK_IPS``, as in manatee-adm."""
    value = zk or os.environ.get("ZK_IPS")
    if not value or not value.strip():
        raise BadInput(
            "No ZooKeeper connection string was given.",
            "Pass --zk HOST:PORT[,HOST:PORT][/chroot], set ZK_IPS, or use --inventory.",
        )
    value = value.strip()
    checked_hosts(value)
    return ZkTarget(value, connect_timeout or DEFAULT_CONNECT_TIMEOUT)


def checked_hosts(value: str) -> str:
    """``value`` as kazoo's ``hosts`` (every port given), or ``BadInput`` saying why not.

    The one check of a connection string on its way to kazoo (``resolve_target`` for
    ``--zk``/``ZK_IPS``, ``connect`` for every other caller): kazoo itself raises a
    bare ``ValueError`` for a port out of range or a chroot with ``..``, which would be
    an internal error. The rules are ``parse_zk_connection``'s; a port may be left out
    here (2181), as manatee's ZK_IPS does.
    """
    try:
        return parse_zk_connection(value, port_required=False)
    except ValueError as exc:
        raise BadInput(
            f"{exc}.",
            "Fix it where it was given (--zk, ZK_IPS or the inventory's `zookeeper:`), "
            "for example 127.0.0.1:2181 or 10.0.0.1:2181,10.0.0.2:2181/tenant.",
        ) from None


# A client connected through a forward -> the ensemble's own connection string.
_ENSEMBLES: weakref.WeakKeyDictionary[KazooClient, str] = weakref.WeakKeyDictionary()


def ensemble_of(client: object) -> str | None:
    """The ensemble's own connection string when ``client`` reaches it through a forward
    (None: the client's hosts are the ensemble's)."""
    try:
        return _ENSEMBLES.get(client)
    except TypeError:  # not weak-referenceable: not a client connect() made
        return None


def connect(target: ZkTarget, *, debug: bool = False,
            meanwhile: Callable[[], object] | None = None) -> KazooClient:
    """A started client, or ``ZooKeeperUnavailable`` naming the string, within the timeout.

    ``meanwhile``: local work the caller needs next (typically importing the modules
    that use the session), done while the connection's round trips are under way
    rather than before them; at datacenter distance it then costs the command no
    time. The timeout counts from the start of the connection, ``meanwhile``
    included.

    Ctrl-C while connecting stops kazoo's retries before it propagates."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    if not debug:
        # kazoo logs every failed connection attempt; the error we raise says it once.
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    hosts = target.hosts  # checked before anything starts
    client = KazooClient(
        hosts=hosts,
        timeout=DEFAULT_SESSION_TIMEOUT,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )
    try:
        deadline = time.monotonic() + target.connect_timeout
        started = client.start_async()
        if meanwhile is not None:
            meanwhile()
        started.wait(max(0.0, deadline - time.monotonic()))
    except BaseException:
        disconnect(client)
        raise
    if client.connected:
        if target.ensemble is not None:
            _ENSEMBLES[client] = target.ensemble
        return client
    disconnect(client)
    if target.shown is not None:
        raise ZooKeeperUnavailable(
            f"Could not connect to ZooKeeper at {target.shown} within "
            f"{target.connect_timeout:g} s.",
            "Check the connection string (the inventory's `zookeeper:`, --zk or ZK_IPS) "
            "and that a ZooKeeper server answers there as the headnode sees it.",
        )
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
