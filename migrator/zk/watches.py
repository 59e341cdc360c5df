"""Event-driven waits on a shard's znodes, built on ZooKeeper watches.

``wait_for`` re-evaluates a predicate each time the watched znode changes
(and once at the start) instead of sleep-polling, so a change is seen within
a watch round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from migrator import cancellation
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient

T = TypeVar("T")


class _Latest:
    """The newest value a watch delivered, and an event for each delivery."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.value: Any = None
        self.generation = 0
        self.closed = False

    def wake(self) -> None:
        """Make the waiter look again (the value unchanged)."""
        self.deliver(self.value)

    def deliver(self, value: Any) -> bool:
        """Returns False once the wait is over, which tells kazoo to drop the watch."""
        with self.changed:
            if self.closed:
                return False
            self.value = value
            self.generation += 1
            self.changed.notify_all()
            return True


def watch_state(client: KazooClient, shard: str, on_change: Callable[[bytes | None], Any]) -> Any:
    """Call ``on_change(data or None)`` now and on every /state change until it returns
    False; returns the watch. One round trip, also while /state is absent
    (``migrator.zk.datawatch``)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from migrator.zk.datawatch import OneRoundDataWatch

    def _callback(data: bytes | None, _stat: Any) -> Any:
        return on_change(data)

    return OneRoundDataWatch(client, paths.state_path(shard), _callback)


def watch_election(
    client: KazooClient, shard: str, on_change: Callable[[list[str]], Any]
) -> Any:
    """Call ``on_change(children)`` now and on every election change until it returns
    False; returns the watch."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.recipe.watchers import ChildrenWatch

    path = paths.election_path(shard)
    seen: list[bool] = []

    def _callback(children: list[str]) -> Any:
        seen.append(True)
        return on_change(list(children))

    # Watched at once: kazoo's watch reads the children as it is made and calls back
    # then, in this thread, when the node exists (a round trip, where making sure of
    # the node first cost two). Only an election node that does not exist yet (the
    # watch found none and stopped) is made, and watched again.
    watch = ChildrenWatch(client, path, _callback)
    if not seen:
        client.ensure_path(path)
        watch = ChildrenWatch(client, path, _callback)
    return watch


def wait_for(
    subscribe: Callable[[Callable[[Any], Any]], Any],
    predicate: Callable[[Any], T | None],
    timeout: float,
) -> tuple[T | None, Any]:
    """Block until ``predicate(value)`` returns non-None or ``timeout`` passes.

    Returns (the predicate's result or None on timeout, the last value seen). A run
    stopped meanwhile (``migrator.cancellation``) ends the wait with the run's stop.
    """
    latest = _Latest()
    subscribe(latest.deliver)
    deadline = threading.Event()

    def _expire() -> None:
        deadline.set()
        latest.deliver(latest.value)

    timer = threading.Timer(timeout, _expire)
    timer.daemon = True
    timer.start()
    seen = 0
    run = cancellation.current()
    try:
        with run.waking(latest.wake), latest.changed:
            run.check()  # stopped, or a Ctrl-C lost while the watch was set up
            while True:
                while latest.generation == seen and not deadline.is_set():
                    latest.changed.wait()
                run.check()  # the run was stopped (the watchdog, a foreign write)
                seen = latest.generation
                result = predicate(latest.value)
                if result is not None:
                    return result, latest.value
                if deadline.is_set():
                    return None, latest.value
    finally:
        timer.cancel()
        with latest.changed:
            latest.closed = True
