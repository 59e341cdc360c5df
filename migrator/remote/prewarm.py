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
