"""The original topology: who was primary, sync and async when the migration began.

Playbooks name zones by these roles because the live roles change mid-run.
It is captured from the election before the first write and kept in the
journal; when a shard was half-migrated by hand (a /state but no journal), it
is reconstructed from the backfill's history record, which lists the original
primary as primary, the original async as sync and the original sync as the
last async (see ``migrator.cluster.backfill``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrator.cluster.backfill import BACKFILL_REASON
from migrator.cluster.election import (
    ElectionNode,
    LegacyTopology,
    require_peers,
    require_unique_peers,
)
from migrator.cluster.history import HistoryRecord
from migrator.cluster.shard import ShardSnapshot
from migrator.errors import UnexpectedTopology

# a migration names zones by their role in the topology captured when it began
ROLES = ("original_primary", "original_sync", "original_async")
ROLES_BY_PEERS = {1: ROLES[:1], 2: ROLES[:2], 3: ROLES, 4: ROLES, 5: ROLES}


@dataclass(frozen=True)
class OriginalPeer:
    """A peer as captured when the migration started, named by its original role."""

    role: str  # original_primary, original_sync, original_async (or original_async_2 ...)
    peer_id: str
    zone_id: str
    name: str | None  # the election node name at capture (None when reconstructed)
    data: dict[str, Any]  # the election node data

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "peerId": self.peer_id,
            "zoneId": self.zone_id,
            "name": self.name,
            "data": self.data,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> OriginalPeer:
        return OriginalPeer(
            str(doc["role"]), str(doc["peerId"]), str(doc["zoneId"]), doc.get("name"),
            dict(doc["data"]),
        )


@dataclass(frozen=True)
class OriginalTopology:
    """The topology the migration started from; roles in playbooks refer to it."""

    shard: str
    peers: tuple[OriginalPeer, ...]  # in original election order
    source: str  # "election" or "history"

    def by_role(self, role: str) -> OriginalPeer:
        for peer in self.peers:
            if peer.role == role:
                return peer
        raise UnexpectedTopology(
            f"The original topology of shard {self.shard} has no {role} "
            f"(it has {', '.join(p.role for p in self.peers)}).",
            "The playbook does not fit this shard's size; use --playbook auto.",
        )

    def roles(self) -> dict[str, str]:
        return {p.role: p.zone_id for p in self.peers}

    def as_legacy(self) -> LegacyTopology:
        """Election nodes as they were, so the backfill can be recomputed from them."""
        nodes = []
        for seq, peer in enumerate(self.peers):
            ip, _pg_port, backup_port = peer.peer_id.rsplit(":", 2)
            nodes.append(
                ElectionNode(
                    name=peer.name or f"{peer.peer_id}-{seq:010d}",
                    peer_id=peer.peer_id,
                    ip=ip,
                    backup_port=backup_port,
                    seq=seq,
                    data=dict(peer.data),
                )
            )
        return LegacyTopology(self.shard, tuple(nodes))

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "peers": [p.to_json() for p in self.peers]}

    @staticmethod
    def from_json(shard: str, doc: dict[str, Any]) -> OriginalTopology:
        return OriginalTopology(
            shard, tuple(OriginalPeer.from_json(p) for p in doc["peers"]), str(doc["source"])
        )


def role_names(count: int) -> list[str]:
    """Roles by election position. The *last* peer is ``original_async``: it is the one the
    backfill puts in the sync seat (so the one reprovisioned first); in a shard of four or
    five the asyncs between are ``original_async_2``, ``original_async_3``."""
    names = list(ROLES[: min(count, 2)])
    middle = [f"original_async_{i}" for i in range(2, count - 1)]
    return names + middle + (["original_async"] if count >= 3 else [])


def capture(snapshot: ShardSnapshot) -> OriginalTopology:
    """From the election order, refusing an empty or duplicated election."""
    topology = snapshot.topology
    require_peers(topology)
    require_unique_peers(topology)
    roles = role_names(len(topology.nodes))
    peers = tuple(
        OriginalPeer(roles[i], n.peer_id, str(n.data.get("zoneId")), n.name, dict(n.data))
        for i, n in enumerate(topology.nodes)
    )
    return OriginalTopology(snapshot.shard, peers, "election")


def reconstruct(shard: str, history: list[HistoryRecord]) -> OriginalTopology | None:
    """From the first backfill record in history, or None when there is none."""
    for record in history:
        state = record.state
        if record.kind != "v2" or not isinstance(state, dict):
            continue
        freeze = state.get("freeze")
        if not (isinstance(freeze, dict) and freeze.get("reason") == BACKFILL_REASON):
            continue
        if state.get("generation") != 0:
            continue
        ordered: list[dict[str, Any]] = [state["primary"]]
        asyncs = list(state.get("async") or [])
        if state.get("sync") is not None and asyncs:
            # backfill moved the old sync to the end and the last async into the sync seat
            ordered.append(asyncs.pop())
            ordered.extend(asyncs)
            ordered.append(state["sync"])
        elif state.get("sync") is not None:
            ordered.append(state["sync"])
        peers = []
        roles = role_names(len(ordered))
        for i, doc in enumerate(ordered):
            if not isinstance(doc, dict) or "id" not in doc:
                return None
            data = {k: v for k, v in doc.items() if k != "id"}
            peers.append(OriginalPeer(roles[i], str(doc["id"]), str(doc.get("zoneId")),
                                      None, data))
        return OriginalTopology(shard, tuple(peers), "history")
    return None
