"""The reads behind `migrator fleet status`: for each shard, what `migrator status
--inventory` reads (its mode, its journal, its run lock), over one session per ZooKeeper.

A group's shards are read together: the shards' nodes, journals and lock listings are
asked for at once, then their modes (``read.shard_summaries``, two pipelined rounds)
and the lock holders' nodes: a few round trips for a whole region. Reads only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from migrator.commands import read
from migrator.commands.progress import ProgressReads
from migrator.errors import MalformedZnode, MigratorError
from migrator.fleet.status_rows import ShardRow, error_row, shard_row, skipped_row
from migrator.fleet.status_sessions import Member, each_group, shard_missing
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def read_group(client: KazooClient, group: Sequence[Member],
               now: datetime | None = None) -> dict[str, ShardRow | MigratorError]:
    """The rows of shards that share ``client``'s ZooKeeper (or why one has none)."""
    names = [m.shard for m in group]
    exists = {name: client.exists_async(paths.shard_path(name)) for name in names}
    progress = {name: ProgressReads(client, name) for name in names}
    present = [name for name in names if exists[name].get() is not None]
    modes = {s.shard: s for s in read.shard_summaries(client, present)}
    moment = now or datetime.now(UTC)
    rows: dict[str, ShardRow | MigratorError] = {}
    zookeeper = str(group[0].inventory.zookeeper) if group else "?"
    for name in names:
        underway = progress[name].result()
        summary = modes.get(name)
        if summary is None:
            rows[name] = shard_missing(zookeeper, name)
        elif summary.problem is not None:
            rows[name] = MalformedZnode(summary.problem, "`migrator status --inventory` "
                                        "shows the shard as far as it can be read.")
        else:
            # a journal `status` could not make sense of is shown as that problem only
            document = None if underway.journal_problem else progress[name].document
            rows[name] = shard_row(name, summary.mode, document, underway.progress,
                                   underway.lock_holders, moment, underway.journal_problem)
    return rows


def fleet_rows(members: Sequence[Member], connect_timeout: float, debug: bool = False
               ) -> tuple[list[ShardRow], list[tuple[str, MigratorError]]]:
    """A row per shard of the fleet, in the fleet file's order, and the errors of the
    shards that could not be read (their rows say so too)."""
    found = each_group(list(members), connect_timeout, debug,
                       lambda client, group: read_group(client, group))
    return assemble(members, found)


def assemble(members: Sequence[Member], found: dict[str, ShardRow | MigratorError]
             ) -> tuple[list[ShardRow], list[tuple[str, MigratorError]]]:
    rows: list[ShardRow] = []
    errors: list[tuple[str, MigratorError]] = []
    for member in members:
        entry = member.entry
        if entry.skip is not None:
            rows.append(skipped_row(entry.shard, entry.skip))
            continue
        result = member.error if member.error is not None else found.get(entry.shard)
        if isinstance(result, MigratorError):
            errors.append((entry.shard, result))
            rows.append(error_row(entry.shard, result.paragraph()))
        elif result is None:  # not reached: every readable member is in a group
            raise AssertionError(f"shard {entry.shard} was not read")
        else:
            rows.append(result)
    return rows, errors
