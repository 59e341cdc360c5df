"""Open every zone's SSH transport in the background, as soon as a command has its
inventory.

A command that looks at zones needs every transport, and a handshake is mostly
waiting (sshd forking, the key exchange, several round trips at datacenter
distance). Opened in parallel while the command reads ZooKeeper, the handshakes
cost about one of them instead of one per zone. Host keys are verified exactly as on
any other connection: the transports are opened by ``RemoteSession.connect``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.remote.session import RemoteSession


class Prewarm:
    """A ``RemoteSession`` whose zones are being connected in daemon threads.

    ``session()`` hands the session over at once, without waiting for the
    handshakes: a zone's connection holds its lock while its background connect
    runs, so the first command on a zone waits for that zone's handshake only. A
    zone that cannot be reached is not an error here: the command that needs the
    zone connects again and reports the cause. The owner must close what
    ``session()`` returns, or call ``close()``; closing waits for a connect still
    under way (bounded by the connect timeout).
    """

    def __init__(self, inventory: Any) -> None:
        # The SSH library is imported here, in the caller's thread, before the threads
        # start: imported in them (the handshakes' first need of it) it would compete
        # for the interpreter with whatever the caller loads or computes meanwhile, and
        # every handshake would start later by that much. Imported first, the
        # handshakes start at once and the caller's work fills their waits.
        import paramiko  # noqa: F401

        self._session = RemoteSession(inventory)
        self._threads = [
            threading.Thread(target=self._connect, args=(zone,), daemon=True)
            for zones in (inventory.zones, inventory.morays)
            for zone in zones
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self, zone: str) -> None:
        try:
            self._session.connect(zone)
        except Exception:  # reported by the command that needs the zone, with its cause
            return

    def session(self) -> RemoteSession:
        """The ``RemoteSession``; its zones may still be connecting (see the class)."""
        return self._session

    def close(self) -> None:
        self._session.close()


@contextmanager
def remote_session(inventory: Any) -> Iterator[RemoteSession | None]:
    """The command's ``RemoteSession`` (none without an inventory), every zone being
    connected in parallel from now on (``Prewarm``), closed when the block ends. It is
    usable at once: a zone's first command waits for that zone's handshake."""
    if inventory is None:
        yield None
        return
    session = Prewarm(inventory).session()
    try:
        yield session
    finally:
        session.close()


def zones_before_zookeeper(inventory: Any) -> bool:
    """Whether a command connects its zones before ZooKeeper: as soon as it has the
    inventory, since their handshakes (the headnode's, then the compute nodes' through
    it) are its longest chain; but not where ZooKeeper goes through the headnode
    (``zookeeper_via: headnode``). There the forward's first channel is the check that
    the headnode allows forwarding, and it goes first: the zones' route opens channels
    over the same connection, and when the headnode refuses them all at once a refusal
    can reach the wrong opener (paramiko keeps one pending error per connection), which
    would turn the forward's clear refusal into a ZooKeeper timeout (2 of 24 runs under
    load did). The zones then start right after that check, while ZooKeeper connects
    through the forward (a ``meanwhile`` of ``migrator.zk.client.connect``)."""
    return inventory is not None and getattr(inventory, "zookeeper_via", "direct") != "headnode"
