"""Reads: shards, election, state (with its version), history, error node.

Reads of many znodes are issued as kazoo async calls over one session and
collected afterwards, so N znodes cost about one round trip, not N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from migrator.cluster.election import ElectionNode, legacy_topology, parse_election_node
from migrator.cluster.history import HistoryRecord, order_history, parse_history_record
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import ClusterState, parse_state
from migrator.errors import BadInput, ShardNotFound
from migrator.strictjson import ZK_MAX_BUFFER, JsonRejected, loads
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def _no_node() -> type[Exception]:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    return NoNodeError  # type: ignore[no-any-return]


def list_shards(client: KazooClient) -> list[str]:
    """The shards under /manatee: the children whose names are valid shard names."""
    return shard_children(client)[0]


def shard_children(client: KazooClient) -> tuple[list[str], list[str]]:
    """/manatee's children, sorted: (valid shard names, other names).

    A child that is not a valid shard name (``paths.is_shard_name``) cannot be a
    manatee shard and no shard path can be built from it, so it is left out of every
    listing rather than failing it; a caller that lists shards says which it skipped.
    """
    try:
        children = sorted(client.get_children(paths.MANATEE_ROOT))
    except _no_node() as exc:
        raise BadInput(
            "This ZooKeeper has no /manatee node, so it holds no manatee shards.",
            "Check the connection string (and its chroot): it must point at the ZooKeeper "
            "ensemble the manatee sitters use.",
        ) from exc
    valid = [c for c in children if paths.is_shard_name(c)]
    return valid, [c for c in children if not paths.is_shard_name(c)]


def require_shard(client: KazooClient, shard: str) -> None:
    if client.exists(paths.shard_path(shard)) is None:
        raise_shard_not_found(client, shard)


def raise_shard_not_found(client: KazooClient, shard: str) -> NoReturn:
    known = ", ".join(list_shards(client)) or "none"
    raise ShardNotFound(
        f"Shard {shard!r} does not exist under /manatee (known shards: {known}).",
        "Check --shard (or SHARD) against `migrator status`.",
    )


@dataclass(frozen=True)
class RawShard:
    """Znode contents collected for one shard before any parsing."""

    shard: str
    election: list[tuple[str, bytes | None]]
    state: tuple[bytes, int] | None
    error: bytes | None
    state_czxid: int | None = None  # the transaction that created /state (its attempt)


def read_raw_shards(client: KazooClient, shards: list[str], with_peers: bool,
                    must_exist: bool = False,
                    last_sent: Callable[[], None] | None = None) -> list[RawShard]:
    """Two pipelined rounds: children + state + error, then election data. With
    ``must_exist``, a shard's own node is asked for in the first round too, and a shard
    without one is ``ShardNotFound``. ``last_sent`` is called once the second round is
    sent and before its answers are collected (a command can send its own last reads
    and its session's close behind them)."""
    no_node = _no_node()
    first = [
        (
            shard,
            client.exists_async(paths.shard_path(shard)) if must_exist else None,
            client.get_children_async(paths.election_path(shard)),
            client.get_async(paths.state_path(shard)),
            client.get_async(paths.error_path(shard)),
        )
        for shard in shards
    ]
    collected: list[tuple[str, list[str], tuple[bytes, int] | None, bytes | None]] = []
    created: dict[str, int] = {}
    for shard, exists_result, children_result, state_result, error_result in first:
        if exists_result is not None and exists_result.get() is None:
            raise_shard_not_found(client, shard)
        try:
            children = list(children_result.get())
        except no_node:
            children = []
        try:
            data, stat = state_result.get()
            state: tuple[bytes, int] | None = (data, stat.version)
            created[shard] = int(stat.czxid)
        except no_node:
            state = None
        try:
            error: bytes | None = error_result.get()[0]
        except no_node:
            error = None
        collected.append((shard, children, state, error))
    second = [
        (
            shard,
            [
                (name, client.get_async(f"{paths.election_path(shard)}/{name}"))
                for name in (children if with_peers else [])
            ],
            children,
            state,
            error,
        )
        for shard, children, state, error in collected
    ]
    if last_sent is not None:
        last_sent()
    raws: list[RawShard] = []
    for shard, pending, children, state, error in second:
        election: list[tuple[str, bytes | None]] = (
            _election_data(pending) if with_peers else [(name, None) for name in children])
        raws.append(RawShard(shard, election, state, error, created.get(shard)))
    return raws


def parse_raw_shard(raw: RawShard) -> ShardSnapshot:
    nodes: list[ElectionNode] = [parse_election_node(n, d, raw.shard) for n, d in raw.election]
    state: ClusterState | None = None
    version: int | None = None
    if raw.state is not None:
        state = parse_state(raw.state[0], f"The /state of shard {raw.shard}")
        version = raw.state[1]
    error: Any = None
    if raw.error is not None:
        try:
            error = loads(raw.error, max_bytes=ZK_MAX_BUFFER)
        except JsonRejected:
            error = raw.error.decode("utf-8", "replace")
    return ShardSnapshot(raw.shard, legacy_topology(raw.shard, nodes), state, version, error,
                         raw.state_czxid if raw.state is not None else None)


def read_shard(client: KazooClient, shard: str,
               last_sent: Callable[[], None] | None = None) -> ShardSnapshot:
    """One consistent-enough snapshot (election, state + version, error) of a shard, in
    two round trips; ``ShardNotFound`` when it has no node under /manatee.
    ``last_sent``: see ``read_raw_shards``."""
    return parse_raw_shard(read_raw_shards(client, [shard], with_peers=True,
                                           must_exist=True, last_sent=last_sent)[0])


def read_state(client: KazooClient, shard: str) -> tuple[ClusterState, int] | None:
    try:
        data, stat = client.get(paths.state_path(shard))
    except _no_node():
        return None
    return parse_state(data, f"The /state of shard {shard}"), stat.version


def read_state_bytes(client: KazooClient, shard: str) -> tuple[bytes, int] | None:
    try:
        data, stat = client.get(paths.state_path(shard))
    except _no_node():
        return None
    return bytes(data), int(stat.version)


def read_history(client: KazooClient, shard: str) -> list[HistoryRecord]:
    """Every history record, oldest first; v2 data fetched in one pipelined round."""
    require_shard(client, shard)
    base = paths.history_path(shard)
    try:
        names = client.get_children(base)
    except _no_node():
        return []
    return _history_records([(name, client.get_async(f"{base}/{name}")) for name in names])


def _election_data(pending: list[tuple[str, Any]]) -> list[tuple[str, bytes | None]]:
    """Each election node's data from its pending read; a node gone meanwhile is skipped."""
    election: list[tuple[str, bytes | None]] = []
    for name, result in pending:
        try:
            election.append((name, result.get()[0]))
        except _no_node():
            continue  # the peer left between list and read: it is not in the election
    return election


def _history_records(pending: list[tuple[str, Any]]) -> list[HistoryRecord]:
    """The history records from their pending reads, oldest first (v1 records carry
    everything in their names and hold no data; a record gone meanwhile is skipped)."""
    records: list[HistoryRecord] = []
    for name, result in pending:
        try:
            data, stat = result.get()
        except _no_node():
            continue
        records.append(parse_history_record(name, data, stat.ctime, int(stat.czxid)))
    return order_history(records)


def read_view(client: KazooClient, shard: str) -> tuple[ShardSnapshot, list[HistoryRecord]]:
    """``read_shard`` and ``read_history`` together, in two pipelined rounds.

    A plan (and a run's start) needs both; asked one after the other they cost
    about seven sequential round trips, which is most of a plan's ZooKeeper time.
    Round one: the shard's existence, the election's and history's children, the
    state and the error node; round two: every election node's and history
    record's data.
    """
    no_node = _no_node()
    base = paths.history_path(shard)
    shard_exists = client.exists_async(paths.shard_path(shard))
    children_result = client.get_children_async(paths.election_path(shard))
    state_result = client.get_async(paths.state_path(shard))
    error_result = client.get_async(paths.error_path(shard))
    history_result = client.get_children_async(base)
    if shard_exists.get() is None:
        require_shard(client, shard)  # raises, naming the shards there are
    try:
        children = list(children_result.get())
    except no_node:
        children = []
    try:
        names = list(history_result.get())
    except no_node:
        names = []
    election_pending = [(name, client.get_async(f"{paths.election_path(shard)}/{name}"))
                        for name in children]
    history_pending = [(name, client.get_async(f"{base}/{name}")) for name in names]
    state: tuple[bytes, int] | None = None
    created: int | None = None
    try:
        data, stat = state_result.get()
        state, created = (data, stat.version), int(stat.czxid)
    except no_node:
        pass
    try:
        error: bytes | None = error_result.get()[0]
    except no_node:
        error = None
    snapshot = parse_raw_shard(RawShard(shard, _election_data(election_pending), state,
                                        error, created))
    return snapshot, _history_records(history_pending)
