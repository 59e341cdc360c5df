"""What wakes a live view: ZooKeeper watches on a shard's journal and run lock.

Shared by `migrator status --watch` (one shard) and `migrator fleet status --watch`
(every shard of a fleet): each delivery counts and sets one event the view waits on.
"""

from __future__ import annotations

import threading
from typing import Any

from migrator.engine.journal_znode import journal_path
from migrator.engine.lock import lock_path


class Wakes:
    """Counts watch deliveries; the view redraws after each."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0
        self.election_changed = True
        self._lock = threading.Lock()

    def poke(self, *_args: Any, election: bool = False) -> bool:
        with self._lock:
            self.count += 1
            self.election_changed = self.election_changed or election
        self.event.set()
        return True


def watch_lock(client: Any, shard: str, wakes: Wakes) -> None:
    """The lock's contenders are children of a node that may not exist yet: watch for it
    to appear, then for its children (no write is made to create it)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.recipe.watchers import ChildrenWatch, DataWatch

    path = lock_path(shard)
    attached = threading.Event()

    def on_node(_data: Any, stat: Any) -> bool:
        if stat is not None and not attached.is_set():
            attached.set()
            ChildrenWatch(client, path, lambda _c: wakes.poke())
        wakes.poke()
        return True

    DataWatch(client, path, on_node)


def watch_journal(client: Any, shard: str, wakes: Wakes) -> None:
    """Every change of the shard's journal (its creation and deletion too)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.recipe.watchers import DataWatch

    DataWatch(client, journal_path(shard), lambda _d, _s: wakes.poke())
