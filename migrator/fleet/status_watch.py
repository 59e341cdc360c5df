"""`migrator fleet status --watch`: the fleet's rows, read again whenever ZooKeeper says
one of its shards changed.

One session per ZooKeeper, held for the watch; on each shard its journal, its run
lock and its ``/state`` (the mode) are watched, and each session's connection state
too, all waking one ``Wakes``. The view waits on it, bounded: it also reads again
every ``REFRESH_SECONDS`` so a running shard's elapsed time moves on between steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from migrator.commands.wakes import Wakes, watch_journal, watch_lock
from migrator.errors import MigratorError
from migrator.fleet.status_reads import assemble, read_group
from migrator.fleet.status_rows import ShardRow
from migrator.fleet.status_sessions import (
    MAX_CONCURRENT_SESSIONS,
    Member,
    fault_error,
    open_sessions,
)
from migrator.zk.faults import is_fault
from migrator.zk.watches import watch_state

REFRESH_SECONDS = 10.0


@dataclass
class FleetWatch:
    """The open sessions of a fleet and what wakes its view."""

    members: list[Member]
    sessions: list[tuple[Any, list[Member], MigratorError | None]]
    wakes: Wakes

    def rows(self) -> tuple[list[ShardRow], list[tuple[str, MigratorError]]]:
        """Every shard's row as it is now (a group whose session failed: its error)."""

        def one(session: tuple[Any, list[Member], MigratorError | None]
                ) -> dict[str, ShardRow | MigratorError]:
            client, group, error = session
            if error is not None:
                return {m.shard: error for m in group}
            try:
                return read_group(client, group)
            except MigratorError as exc:
                return {m.shard: exc for m in group}
            except Exception as exc:
                # a pause of ZooKeeper: this group's rows say so until it answers again
                if not is_fault(exc):
                    raise
                return {m.shard: fault_error(exc, group[0].inventory.zookeeper)
                        for m in group}

        found: dict[str, ShardRow | MigratorError] = {}
        if self.sessions:
            workers = min(MAX_CONCURRENT_SESSIONS, len(self.sessions))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(one, self.sessions):
                    found.update(result)
        return assemble(self.members, found)

    def wait(self, timeout: float = REFRESH_SECONDS) -> bool:
        """Until a watch fires (True) or ``timeout`` passes (False)."""
        woken = self.wakes.event.wait(timeout)
        self.wakes.event.clear()
        return woken


@contextmanager
def fleet_watch(members: list[Member], connect_timeout: float, debug: bool = False
                ) -> Iterator[FleetWatch]:
    """The sessions opened and every shard watched, for the block."""
    wakes = Wakes()
    with open_sessions(members, connect_timeout, debug) as sessions:
        for client, group, error in sessions:
            if error is not None or client is None:
                continue
            client.add_listener(lambda _state: wakes.poke() and None)
            for member in group:
                watch_journal(client, member.shard, wakes)
                watch_lock(client, member.shard, wakes)
                watch_state(client, member.shard, lambda _d: wakes.poke())
        yield FleetWatch(members, sessions, wakes)
