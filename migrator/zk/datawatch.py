"""A data watch whose look costs one round trip, also on a node that is absent.

kazoo's ``DataWatch`` reads the node and, only once that read says it is absent, asks
whether it exists, which is what sets the watch that tells of its creation: two round
trips, one after the other. A shard's ``/state`` is absent for the whole of a
migration's setup, and a run watches it three times (the foreign-write watch, the
outage observation, the watchdog), so at datacenter distance (issue 25) that is three
round trips for nothing. Here both requests are sent at once. ZooKeeper answers a
session's requests in the order they were sent, so the outcome is the sequential
pair's: the read's answer when the node is there; else the exists' answer, whose
watch tells of the creation; and a node made between the two is read again, as
kazoo does. When the node is there, the exists only sets the same watch again (a
watch is kept once per path and function), so nothing else changes.

It overrides the look of kazoo's ``DataWatch`` and uses the recipe's own state
(``_run_lock``, ``_stopped``, ``_version``, ``_retry``, ``_ever_called``,
``_log_func_exception``; the same from kazoo 2.9 to 2.11). Every one of them is used
by the first look, which kazoo makes in the constructor's thread: a kazoo that changed
them fails the watch's creation, at the start of a run, loudly (and the test suite
first), never a later change silently.

Imported only where ZooKeeper is used: kazoo costs ~35 ms to import.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kazoo.exceptions import ConnectionClosedError, NoNodeError
from kazoo.recipe.watchers import DataWatch


class OneRoundDataWatch(DataWatch):  # type: ignore[misc]
    """kazoo's ``DataWatch`` (the same callback, retries, session listener and stop),
    with its look made of one round trip instead of two on an absent node."""

    _version: Any  # kazoo's: the mzxid last told of (None: the node was absent)

    def _get_data(self, event: Any = None) -> None:
        # a closed client has no more changes to tell (as kazoo)
        with contextlib.suppress(ConnectionClosedError):
            self._look_and_tell(event)

    def _look_and_tell(self, event: Any) -> None:
        # one at a time: the session listener may start a look too (as kazoo)
        with self._run_lock:
            if self._stopped:
                return
            initial_version = self._version
            data, stat, made_meanwhile = self._retry(self._look)
            if made_meanwhile:
                # absent for the read, there for the exists: read it (as kazoo)
                self._client.handler.spawn(self._get_data)
                return
            self._version = None if stat is None else stat.mzxid
            if initial_version != self._version or not self._ever_called:
                self._log_func_exception(data, stat, event)

    def _look(self) -> tuple[bytes | None, Any, bool]:
        """(data, stat, whether the node was made between the two requests)."""
        read = self._client.get_async(self._path, self._watcher)
        there = self._client.exists_async(self._path, self._watcher)
        try:
            data, stat = read.get()
        except NoNodeError:
            exists = there.get()
            return None, None, exists is not None
        return data, stat, False
