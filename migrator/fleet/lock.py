"""One operator per fleet: an ephemeral lock under ``/manatee-migrator/fleets/<fleet>/lock``.

It is the shard run lock's code (``migrator.engine.lock.RunLock``: a kazoo Lock taken
without blocking, its node saying ``user@host pid N``, a dead holder on this machine
removed) with the fleet's name in place of a shard's, on the ZooKeeper of the first
shard the fleet runs. Each shard's own run lock still applies, taken by its child.

When the fleet's ZooKeeper session expires, its lock node goes with it: in the new
session the lock is taken again only if nobody else took it meanwhile (the session
guard's hook, as a shard's run does); if someone did, the guard is fenced with
``SessionLost`` and the fleet, which looks at the fence between two events, stops
every shard at its next safe point (``lock_lost``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from migrator.engine.lock import LockHeld, RunLock, holders
from migrator.errors import MigratorError, Refused
from migrator.zk.faults import SessionLost, guard_for

FLEETS_ROOT = "/manatee-migrator/fleets"


class FleetLockHeld(Refused):
    """Another `migrator fleet run|resume` holds the fleet's lock."""


def fleet_lock_path(fleet: str) -> str:
    return f"{FLEETS_ROOT}/{fleet}/lock"


@contextmanager
def fleet_lock(client: Any, fleet: str, identity: str, where: str,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the fleet's lock for the block, or ``FleetLockHeld`` naming its holder.
    ``where``: the ZooKeeper it is taken on (for the messages)."""
    lock = RunLock(client, fleet, identity, root=FLEETS_ROOT, on_wait=on_wait,
                   label=f"the lock of the fleet {fleet}")
    try:
        lock.acquire()
    except LockHeld:
        found = [h for h in holders(client, fleet, FLEETS_ROOT) if h != identity]
        who = found[0] if found else "another migrator"
        raise FleetLockHeld(
            f"The fleet {fleet} is being run by {who} (lock {fleet_lock_path(fleet)} on the "
            f"ZooKeeper {where}); nothing was started.",
            "Wait for that fleet run to finish, or ask its operator; `migrator fleet status` "
            "shows where each shard stands.",
        ) from None
    def retake() -> None:
        try:
            lock.retake()
        except SessionLost:
            found = [h for h in holders(client, fleet, FLEETS_ROOT) if h != identity]
            raise SessionLost(
                f"The fleet's ZooKeeper session expired, and meanwhile "
                f"{found[0] if found else 'another migrator'} took the lock of the fleet "
                f"{fleet}; this fleet run stops every shard at its next safe point.",
                "Let that fleet run finish (or ask its operator); `migrator fleet status` "
                "shows where each shard stands.") from None

    guard = guard_for(client)
    guard.hooks.append(retake)
    try:
        yield
    finally:
        guard.hooks.remove(retake)
        lock.release()


def lock_lost(client: Any) -> MigratorError | None:
    """Why the fleet no longer holds its lock (a new session in which someone else took
    it), or None."""
    return guard_for(client).fenced
