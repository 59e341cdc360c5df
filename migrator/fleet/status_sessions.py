"""The fleet's shards as the read-only fleet commands reach them: each shard's inventory
loaded, the shards grouped by the ZooKeeper they live in, one session per group.

The shards of one Manta region share one ZooKeeper ensemble: reading them over one
session (its reads pipelined) costs a few round trips for the whole region instead of
a connection per shard. Two inventories share a session when they name the same
connection string and the same route to it (``zookeeper_via``, and through the
headnode, the same headnode). Groups are read concurrently. A shard whose inventory
cannot be loaded, or a group whose ZooKeeper cannot be reached, becomes an error of
those shards only: the others are still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from migrator.commands.session import zk_session
from migrator.errors import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    BadInput,
    MigratorError,
    Refused,
    ShardNotFound,
)
from migrator.fleet.model import Fleet, FleetShard
from migrator.zk import paths
from migrator.zk.faults import is_fault

if TYPE_CHECKING:
    from kazoo.client import KazooClient

T = TypeVar("T")
MAX_CONCURRENT_SESSIONS = 8


@dataclass(frozen=True)
class Member:
    """One shard of the fleet: its entry, and its inventory or why it has none."""

    entry: FleetShard
    inventory: Any = None
    error: MigratorError | None = None

    @property
    def shard(self) -> str:
        return self.entry.shard


def load_member(entry: FleetShard) -> Member:
    """The shard's inventory, checked to name that very shard; a skipped shard's is not
    read (it may not exist)."""
    if entry.skip is not None or entry.inventory is None:
        return Member(entry)
    # imported here: PyYAML and the inventory model, as the single-shard commands do
    from migrator.inventory.load import load_inventory

    try:
        inventory = load_inventory(entry.inventory)
    except MigratorError as exc:
        return Member(entry, error=exc)
    if inventory.shard != entry.shard:
        return Member(entry, error=BadInput(
            f"The inventory {entry.inventory} is for shard {inventory.shard}, but the fleet "
            f"file lists it for shard {entry.shard}.",
            "Point the fleet entry at that shard's own inventory (or fix its `shard:`)."))
    return Member(entry, inventory)


def load_members(fleet: Fleet) -> list[Member]:
    return [load_member(entry) for entry in fleet.shards]


def route_key(inventory: Any) -> tuple[str, ...]:
    """What decides whether two shards can share a ZooKeeper session."""
    via = str(getattr(inventory, "zookeeper_via", "direct"))
    key: tuple[str, ...] = (str(inventory.zookeeper), via)
    headnode = getattr(inventory, "headnode", None)
    if via == "headnode" and headnode is not None:
        key += (headnode.address(), str(headnode.user or ""))
    return key


def group_members(members: list[Member]) -> list[list[Member]]:
    """The readable members grouped by ``route_key``, groups in the order their first
    shard appears in the fleet file."""
    groups: dict[tuple[str, ...], list[Member]] = {}
    for member in members:
        if member.inventory is not None and member.error is None:
            groups.setdefault(route_key(member.inventory), []).append(member)
    return list(groups.values())


def each_group(members: list[Member], connect_timeout: float, debug: bool,
               read: Callable[[KazooClient, list[Member]], dict[str, T]],
               ) -> dict[str, T | MigratorError]:
    """``read(client, group)`` for each group over its own session, the groups
    concurrently; what a group could not do (its session, its reads) is each of its
    shards' error."""
    groups = group_members(members)

    def one(group: list[Member]) -> dict[str, T | MigratorError]:
        try:
            with zk_session(group[0].inventory.zookeeper, connect_timeout, debug,
                            group[0].inventory) as client:
                return dict(read(client, group))
        except MigratorError as exc:
            return {m.shard: exc for m in group}
        except Exception as exc:
            if not is_fault(exc):
                raise
            return {m.shard: fault_error(exc, group[0].inventory.zookeeper) for m in group}

    found: dict[str, T | MigratorError] = {}
    if not groups:
        return found
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_SESSIONS, len(groups))) as pool:
        for result in pool.map(one, groups):
            found.update(result)
    return found


@contextmanager
def open_sessions(members: list[Member], connect_timeout: float, debug: bool,
                  ) -> Iterator[list[tuple[KazooClient | None, list[Member],
                                           MigratorError | None]]]:
    """A session per group, opened concurrently, held for the block (a live view);
    a group whose session could not be opened comes with its error instead."""
    groups = group_members(members)
    with ExitStack() as stack:

        def opening(group: list[Member]) -> tuple[KazooClient | None, MigratorError | None]:
            context = zk_session(group[0].inventory.zookeeper, connect_timeout, debug,
                                 group[0].inventory)
            try:
                client = context.__enter__()
            except MigratorError as exc:
                return None, exc
            stack.push(context.__exit__)  # closed when the view ends
            return client, None

        opened: list[tuple[KazooClient | None, MigratorError | None]] = []
        if groups:
            with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_SESSIONS,
                                                    len(groups))) as pool:
                opened = list(pool.map(opening, groups))
        yield [(client, group, error) for (client, error), group in zip(opened, groups,
                                                                         strict=True)]


def combined_error(errors: list[tuple[str, MigratorError]]) -> MigratorError:
    """The error a fleet command ends with when some shards could not be read: one
    paragraph naming them, with the exit status of the gravest (refused over bad input
    over anything else)."""
    names = ", ".join(shard for shard, _ in errors)
    message = (f"{len(errors)} shard(s) of the fleet could not be read: {names}.")
    hint = "Their rows say why; fix that (the inventory, the route to ZooKeeper) and run again."
    statuses = {exc.exit_status for _, exc in errors}
    if EXIT_REFUSED in statuses:
        return Refused(message, hint)
    if statuses == {EXIT_BAD_INPUT}:
        return BadInput(message, hint)
    return MigratorError(message, hint)


def fault_error(exc: BaseException, zookeeper: str) -> MigratorError:
    """A ZooKeeper fault (a lost connection, an expired session) met while reading."""
    return BadInput(f"ZooKeeper {zookeeper} failed while the shard was read "
                    f"({type(exc).__name__}).",
                    "When `migrator status` answers again, run the command again.")


def shard_missing(zookeeper: str, shard: str) -> ShardNotFound:
    """A shard of the fleet that its inventory's ZooKeeper does not have."""
    return ShardNotFound(
        f"No such shard in ZooKeeper {zookeeper}: {paths.shard_path(shard)} does not exist.",
        "Check the inventory's `zookeeper:` and `shard:`.")
