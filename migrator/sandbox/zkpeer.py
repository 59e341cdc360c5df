"""A sitter's ZooKeeper side: its election node, its watches, its conditional writes.

This is the peer-specific counterpart of ``migrator.zk`` (which serves the
operator's commands): the narrow interface manatee-state-machine's peer is
written against (lib/zookeeperMgr.js in manatee), over kazoo.

Watches only enqueue events; the sitter's single main thread reads ZooKeeper
and decides, so the peer logic never runs on kazoo's threads.
"""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.cluster.state import compact_json
from migrator.zk import paths
from migrator.zk.watches import watch_election

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass(frozen=True)
class ActiveNode:
    """One election child with its data: ``peer`` is the v2 view (id first, then data)."""

    name: str
    peer_id: str
    seq: int
    peer: dict[str, Any]


@dataclass(frozen=True)
class Event:
    kind: str  # "active" | "state" | "timer" | "lost"
    payload: Any = None


def split_name(name: str) -> tuple[str, int] | None:
    peer_id, dash, seq = name.rpartition("-")
    if not dash or not seq.isdigit():
        return None
    return peer_id, int(seq)


def unique_actives(nodes: list[ActiveNode]) -> list[ActiveNode]:
    """manatee's parseAndUniqueActives: newest node per id, sorted by id."""
    newest: dict[str, ActiveNode] = {}
    for node in nodes:
        if node.peer_id not in newest or node.seq > newest[node.peer_id].seq:
            newest[node.peer_id] = node
    return [newest[k] for k in sorted(newest)]


class PeerZk:
    def __init__(self, client: KazooClient, shard: str, events: queue.Queue[Event]) -> None:
        self.client = client
        self.shard = shard
        self.events = events
        self.node_name: str | None = None
        self.state_version: int | None = None
        self._cache: dict[str, dict[str, Any]] = {}

    def join(self, peer_id: str, data: dict[str, Any]) -> str:
        self.client.ensure_path(paths.election_path(self.shard))
        self.client.ensure_path(paths.history_path(self.shard))
        path = self.client.create(
            f"{paths.election_path(self.shard)}/{peer_id}-",
            json.dumps(data, separators=(",", ":")).encode(),
            ephemeral=True,
            sequence=True,
        )
        self.node_name = str(path).rsplit("/", 1)[1]
        return self.node_name

    def watch(self, with_state: bool) -> None:
        def on_children(children: list[str]) -> bool:
            self.events.put(Event("active", children))
            return True

        watch_election(self.client, self.shard, on_children)
        if with_state:
            # migrator.zk.watches.watch_state drops the stat; a peer needs its version
            # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
            from kazoo.recipe.watchers import DataWatch

            def on_state(data: bytes | None, stat: Any) -> bool:
                version = None if stat is None else int(stat.version)
                self.events.put(Event("state", (data, version)))
                return True

            DataWatch(self.client, paths.state_path(self.shard), on_state)

    def active(self, children: list[str]) -> list[ActiveNode]:
        """Election children with their data, in sequence order (data read once per node)."""
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NoNodeError

        base = paths.election_path(self.shard)
        pending = {
            name: self.client.get_async(f"{base}/{name}")
            for name in children
            if name not in self._cache and split_name(name) is not None
        }
        for name, result in pending.items():
            try:
                data = json.loads(result.get()[0].decode("utf-8"))
            except NoNodeError:
                continue
            except (ValueError, UnicodeDecodeError):
                data = {}
            self._cache[name] = data if isinstance(data, dict) else {}
        nodes: list[ActiveNode] = []
        for name in children:
            parts = split_name(name)
            if parts is None or name not in self._cache:
                continue
            peer = {"id": parts[0], **self._cache[name]}
            nodes.append(ActiveNode(name, parts[0], parts[1], peer))
        self._cache = {n.name: self._cache[n.name] for n in nodes}
        return sorted(nodes, key=lambda n: n.seq)

    def put_cluster_state(self, document: dict[str, Any]) -> Exception | None:
        """upstream's putClusterState: history ``<generation>-`` + create or set-at-version,
        in one transaction. Returns the error instead of raising (the peer backs off)."""
        data = compact_json(document)
        transaction = self.client.transaction()
        transaction.create(
            f"{paths.history_path(self.shard)}/{document['generation']}-", data, sequence=True
        )
        if self.state_version is None:
            transaction.create(paths.state_path(self.shard), data)
        else:
            transaction.set_data(paths.state_path(self.shard), data, version=self.state_version)
        try:
            results = transaction.commit()
        except Exception as exc:  # connection loss and the like: the peer retries
            return exc
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
            from kazoo.exceptions import RolledBackError

            real = [e for e in errors if not isinstance(e, RolledBackError)]
            return (real or errors)[0]
        self.state_version = 0 if self.state_version is None else int(results[1].version)
        return None

    def write_v1_history(self, name: str) -> None:
        self.client.create(f"{paths.history_path(self.shard)}/{name}", b"", sequence=True)
