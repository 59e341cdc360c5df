"""backfill, freeze, unfreeze, delete-state: the single writes the engine reuses.

Each one reads a fresh snapshot, decides on it (pure functions in
``migrator.cluster``), shows the result, asks, and then writes conditionally on
what it read, so a change in between aborts the write.

None of them writes while a migration run holds the shard's run lock: they
refuse, naming the holder, unless the operator overrides (``lock_override``
is then called with the holder and must ask; the CLI's ``--override-lock``
asks for the shard name to be typed). The run itself would notice the write
(it watches /state) and stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.cluster.backfill import plan_backfill
from migrator.cluster.state import ClusterState
from migrator.engine.lock import LockHeld, read_holders
from migrator.errors import Refused
from migrator.isotime import iso_now_ms
from migrator.zk import reads, writes

if TYPE_CHECKING:
    from kazoo.client import KazooClient

Confirm = Callable[[ClusterState | None], None]
LockOverride = Callable[[str], None]


def require_no_run(client: KazooClient, shard: str, what: str,
                   lock_override: LockOverride | None) -> None:
    """Refuse (``LockHeld``, exit 3) while a run holds the shard's lock, unless overridden."""
    holders = read_holders(client, shard)
    if not holders:
        return
    who = holders[0].identity
    if lock_override is None:
        raise LockHeld(
            f"Shard {shard} is being migrated by {who} (it holds the run lock); a {what} now "
            "would change the shard under that run, so nothing was written.",
            "Let that run finish, or stop it; if you must write anyway, pass --override-lock "
            "(you will be asked to type the shard name). The run would stop on seeing the "
            "write.",
        )
    lock_override(who)


@dataclass(frozen=True)
class WriteOutcome:
    shard: str
    action: str
    state: ClusterState | None
    history_node: str | None
    version: int | None


def backfill(client: KazooClient, shard: str, confirm: Confirm,
             upstream: bool = False, lock_override: LockOverride | None = None
             ) -> WriteOutcome:
    snapshot = reads.read_shard(client, shard)
    require_no_run(client, shard, "backfill", lock_override)
    state = plan_backfill(snapshot, iso_now_ms(), upstream)
    confirm(state)
    result = writes.create_state(client, shard, state)
    return WriteOutcome(shard, "backfill", state, result.history_node, result.version)


def _require_state(client: KazooClient, shard: str) -> tuple[ClusterState, int]:
    reads.require_shard(client, shard)
    found = reads.read_state(client, shard)
    if found is None:
        raise Refused(
            f"Shard {shard} has no /state (it is in legacy mode).",
            "Freeze and unfreeze act on a backfilled or migrated shard; run the backfill first.",
        )
    return found


def freeze(client: KazooClient, shard: str, reason: str, confirm: Confirm,
           lock_override: LockOverride | None = None) -> WriteOutcome:
    state, version = _require_state(client, shard)
    require_no_run(client, shard, "freeze", lock_override)
    new_state = state.with_freeze(reason, iso_now_ms())
    confirm(new_state)
    result = writes.replace_state(client, shard, new_state, version, "freeze")
    return WriteOutcome(shard, "freeze", new_state, result.history_node, result.version)


def unfreeze(client: KazooClient, shard: str, confirm: Confirm,
             lock_override: LockOverride | None = None) -> WriteOutcome:
    state, version = _require_state(client, shard)
    require_no_run(client, shard, "unfreeze", lock_override)
    new_state = state.without_freeze()
    confirm(new_state)
    result = writes.replace_state(client, shard, new_state, version, "unfreeze")
    return WriteOutcome(shard, "unfreeze", new_state, result.history_node, result.version)


def delete_state(client: KazooClient, shard: str, confirm: Confirm,
                 lock_override: LockOverride | None = None) -> WriteOutcome:
    state, version = _require_state(client, shard)
    require_no_run(client, shard, "delete-state", lock_override)
    confirm(state)
    writes.delete_state(client, shard, version)
    return WriteOutcome(shard, "delete-state", None, None, None)
