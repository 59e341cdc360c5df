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
import time
from typing import Any


class Prewarm:
    """A ``RemoteSession`` whose zones are being connected in daemon threads.

    The session (and so paramiko) is imported and built in the caller's
    thread: importing in several threads at once risks an import cycle
    between them, and building it here surfaces a bad inventory where it
    belongs. Only the handshakes run in the background. A zone that cannot be
    reached is not an error here: the check that needs the zone connects
    again and reports the cause. The owner must call ``session()`` (and close
    what it returns) or ``close()``.
    """

    def __init__(self, inventory: Any) -> None:
        import paramiko  # noqa: F401  (here, not first inside several connect threads)

        from migrator.remote.session import RemoteSession

        self._session = RemoteSession(inventory)
        self._deadline = time.monotonic() + float(inventory.ssh.connect_timeout) + 1.0
        self._threads = [
            threading.Thread(target=self._connect, args=(zone,), daemon=True)
            for zone in [*inventory.zones, *inventory.morays]
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self, zone: str) -> None:
        try:
            self._session.connect(zone)
        except Exception:  # reported by the check that needs the zone, with its cause
            return

    def session(self) -> Any:
        """The ``RemoteSession``, once every zone is connected or the connect timeout passed."""
        for thread in self._threads:
            thread.join(max(self._deadline - time.monotonic(), 0.0))
        return self._session

    def close(self) -> None:
        self.session().close()
