"""Open every zone's SSH transport in the background, as early as a command can.

A plan asks every zone something, so it needs every transport. A handshake is
partly waiting (sshd forking, the server's half of the key exchange, and on a
real network several round trips), and none of it depends on ZooKeeper or on
the engine's own modules. Started right after the inventory is read, that
waiting overlaps with those imports and the ZooKeeper session; the command
then takes the session with ``session()``. Host keys are verified exactly as
on any other connection: the transports are opened by ``RemoteSession.connect``.
"""

from __future__ import annotations

import threading
from typing import Any


class Prewarm:
    """A ``RemoteSession`` whose zones are being connected in daemon threads.

    The session (and so paramiko) is imported and built in the caller's
    thread: importing in several threads at once risks an import cycle
    between them, and building it here surfaces a bad inventory where it
    belongs. Only the handshakes run in the background.

    ``session()`` hands the session over at once, without waiting for the
    handshakes: a zone's connection holds its lock while its background connect
    runs, so the first command on a zone waits for that zone's handshake only,
    and everything before it (ZooKeeper reads, choosing the playbook) overlaps
    with all of them. A zone that cannot be reached is not an error here: the
    command that needs the zone connects again and reports the cause. The owner
    must close what ``session()`` returns, or call ``close()``; closing waits
    for a connect still under way (bounded by the connect timeout).
    """

    def __init__(self, inventory: Any) -> None:
        # Imported here, not first inside several connect threads.
        from migrator.remote.session import RemoteSession
        from migrator.remote.sshlib import paramiko  # noqa: F401

        self._session = RemoteSession(inventory)
        self._threads = [
            threading.Thread(target=self._connect, args=(zone,), daemon=True)
            for zone in [*inventory.zones, *inventory.morays]
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self, zone: str) -> None:
        try:
            self._session.connect(zone)
        except Exception:  # reported by the command that needs the zone, with its cause
            return

    def session(self) -> Any:
        """The ``RemoteSession``; its zones may still be connecting (see the class)."""
        return self._session

    def close(self) -> None:
        self._session.close()
