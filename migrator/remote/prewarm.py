"""Open every zone's SSH transport in the background, as early as a command can.

A plan asks every zone something, so it needs every transport. A handshake is
partly waiting (sshd forking, the server's half of the key exchange, and on a
real network several round trips), and none of it depends on ZooKeeper or on
the engine's own modules. Started right after the inventory is read, that
waiting overlaps with those imports and the ZooKeeper session; the command
then takes the session with ``session()``. Host keys are verified exactly as
on any other connection: the transports are opened by ``RemoteSession.connect``.

With ``look=True`` (`migrator plan`, whose session serves one look at the
shard) each zone is also asked, as soon as its transport is up, what every
look asks first: its version and the end of its sitter log. The session keeps
the answers (``RemoteSession.share_reads_until_closed``) for the pre-flight and
the done-checks, which would otherwise ask only after the engine is imported
and ZooKeeper read.
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

    def __init__(self, inventory: Any, *, look: bool = False) -> None:
        # Imported here, not first inside several connect threads.
        from migrator.remote.session import RemoteSession
        from migrator.remote.sshlib import paramiko  # noqa: F401

        self._session = RemoteSession(inventory)
        if look:
            from migrator.remote.loglevels import SAMPLE_BYTES

            self._sample_bytes = SAMPLE_BYTES
            self._session.share_reads_until_closed()
        self._look = look
        self._threads = [
            threading.Thread(target=self._connect, args=(zone, kind), daemon=True)
            for kind, zones in (("manatee", inventory.zones), ("moray", inventory.morays))
            for zone in zones
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self, zone: str, kind: str) -> None:
        try:
            self._session.connect(zone)
            if self._look:
                # What every look at a zone asks first (the pre-flight and the plan's
                # done-checks), asked now and kept by the session's shared reads, so
                # the answers are in while the command is still importing its engine.
                self._session.run_template(zone, f"{kind}_version")
                if kind == "manatee":
                    self._session.read_log_end(zone, self._sample_bytes)
        except Exception:  # reported by the command that needs the zone, with its cause
            return

    def session(self) -> Any:
        """The ``RemoteSession``; its zones may still be connecting (see the class)."""
        return self._session

    def close(self) -> None:
        self._session.close()
