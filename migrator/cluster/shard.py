"""One immutable snapshot of a shard as read from ZooKeeper, and decisions over it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrator.cluster.election import LegacyTopology, v1_role
from migrator.cluster.state import ClusterState

MODE_LEGACY = "legacy"
MODE_BACKFILLED_FROZEN = "backfilled-frozen"
MODE_MIGRATED = "migrated"


@dataclass(frozen=True)
class ShardSnapshot:
    """One consistent read of a shard: election, /state (and its version), v1 error."""

    shard: str
    topology: LegacyTopology
    state: ClusterState | None
    state_version: int | None
    error: Any = None  # the JSON in /manatee/<shard>/error, when a v1 peer wrote one
    # The zxid of the transaction that created /state: history records created before it
    # belong to an earlier attempt (rolled back), see ``migrator.engine.position``.
    state_czxid: int | None = None

    @property
    def mode(self) -> str:
        return shard_mode(self.state)


def shard_mode(state: ClusterState | None) -> str:
    """legacy: no /state; backfilled-frozen: the state the backfill wrote, still frozen
    at generation 0 (the runbook's mixed window); migrated: anything after that.

    A one-node shard stays frozen after its migration (upstream advises it) but
    is in one-node-write mode, so it reads as migrated.
    """
    if state is None:
        return MODE_LEGACY
    if state.freeze is not None and state.generation == 0 and not state.one_node_write_mode:
        return MODE_BACKFILLED_FROZEN
    return MODE_MIGRATED


@dataclass(frozen=True)
class PeerRow:
    """One line of `migrator status`: a peer's role by election and by /state."""

    peer_id: str
    zone_id: str
    election_role: str | None
    election_position: int | None
    state_role: str | None

    @property
    def agrees(self) -> bool:
        return self.election_role == self.state_role


def peer_rows(snapshot: ShardSnapshot) -> list[PeerRow]:
    """Every peer known to either topology, election order first."""
    rows: list[PeerRow] = []
    seen: set[str] = set()
    for index, node in enumerate(snapshot.topology.nodes):
        seen.add(node.peer_id)
        rows.append(
            PeerRow(
                peer_id=node.peer_id,
                zone_id=str(node.data.get("zoneId", "")),
                election_role=v1_role(index),
                election_position=index,
                state_role=snapshot.state.role_of(node.peer_id) if snapshot.state else None,
            )
        )
    if snapshot.state is not None:
        for role, peer in snapshot.state.peers_with_roles():
            if peer.id not in seen:
                seen.add(peer.id)
                rows.append(PeerRow(peer.id, peer.zone_id, None, None, role))
    return rows
