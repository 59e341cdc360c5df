"""Transports to jump hosts (the headnode), shared by every ``Connector`` of the process.

Decision: one SSH connection to the headnode per process, whoever needs it. The
ZooKeeper forward (``migrator.remote.forward``) opens it when a command starts;
the zones' route through the headnode (compute nodes reached with ``jump:``), which
a command opens later with a ``Connector`` of its own, finds it open and adds no
handshake. Each user holds the key while it needs the transport; the last one to
let go closes it. A transport found dead is replaced by the next user that needs
it, for every user (so the forward and the zones reconnect once, not each).

Shared only between connectors that verify host keys against the same
known_hosts file: the key includes its path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko


class _Entry:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while the transport is (re)opened
        self.transport: paramiko.Transport | None = None
        self.users = 0


class SharedTransports:
    """Transports by key, counted by their users (``hold``/``release``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}

    def hold(self, key: Hashable) -> None:
        """Count one more user of ``key`` (it must ``release`` it once)."""
        with self._lock:
            self._entries.setdefault(key, _Entry()).users += 1

    def get(self, key: Hashable, open_: Callable[[], paramiko.Transport]) -> paramiko.Transport:
        """The live transport of a held key, opened (or re-opened) with ``open_``."""
        with self._lock:
            entry = self._entries[key]
        with entry.lock:
            current = entry.transport
            if current is not None and current.is_active():
                return current
            if current is not None:
                current.close()
                entry.transport = None
            entry.transport = open_()
            return entry.transport

    def release(self, key: Hashable) -> None:
        """One user fewer; the last one closes the transport."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.users -= 1
            if entry.users > 0:
                return
            del self._entries[key]
        with entry.lock:
            if entry.transport is not None:
                entry.transport.close()
                entry.transport = None

    def users(self, key: Hashable) -> int:
        with self._lock:
            entry = self._entries.get(key)
            return 0 if entry is None else entry.users


SHARED = SharedTransports()
