"""The v1 topology: the order of the ephemeral nodes under /manatee/<shard>/election.

In manatee v1 (and for Morays that predate /state) the peer whose election node
has the lowest sequence number is the primary, the next one the sync, and the
rest asyncs in a replication chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from migrator.cluster.peer import Peer
from migrator.errors import MalformedZnode, UnexpectedTopology
from migrator.strictjson import JsonRejected, duplicate_keys, loads

ELECTION_NAME_RE = re.compile(
    r"^(?P<id>(?P<ip>[0-9A-Za-z.]+):(?P<pg_port>\d{1,5}):(?P<backup_port>\d{1,5}))-(?P<seq>\d{10})\Z"
)

V1_ROLES = ("primary", "sync")

# A v1 peer writes about 200 bytes. The backfill copies every peer's data into
# /state and writes it twice in one transaction (state + history record), which
# ZooKeeper refuses beyond jute.maxbuffer (about 1 MB); bounding each node keeps
# a backfill of any shard we accept well inside that, and names the culprit.
MAX_ELECTION_DATA = 16 * 1024


@dataclass(frozen=True)
class ElectionNode:
    """One election child: its name, parsed parts and the peer data it holds."""

    name: str
    peer_id: str
    ip: str
    backup_port: str
    seq: int
    data: dict[str, Any]
    duplicate_keys: tuple[str, ...] = ()  # keys its JSON gave twice (checked by peer_checks)

    def as_peer(self) -> Peer:
        """The peer as manatee-adm derives it: data keys, backupUrl if absent, then id.

        Assignment into an existing key keeps its position, exactly as the
        JavaScript upstream does, so the serialised bytes match.
        """
        doc = dict(self.data)
        if not doc.get("backupUrl"):
            doc["backupUrl"] = f"http://{self.ip}:{self.backup_port}"
        doc["id"] = self.peer_id
        return Peer(doc)


def parse_election_name(name: str, shard: str) -> re.Match[str]:
    match = ELECTION_NAME_RE.fullmatch(name)
    if match is None:
        raise MalformedZnode(
            f"Election node {name!r} in shard {shard} is not shaped "
            "ip:pgPort:backupPort-NNNNNNNNNN.",
            "Something other than manatee wrote under /manatee/<shard>/election; remove or "
            "explain it before migrating.",
        )
    return match


def parse_election_node(name: str, raw: bytes | None, shard: str) -> ElectionNode:
    """Parse one election child; malformed names or data raise ``MalformedZnode``."""
    match = parse_election_name(name, shard)
    where = f"Election node {name} in shard {shard}"
    try:
        data = loads(raw or b"", max_bytes=MAX_ELECTION_DATA)
    except JsonRejected as exc:
        raise MalformedZnode(
            f"{where} does not hold JSON that manatee's readers accept ({exc}).",
            "A v1 manatee peer writes a few hundred bytes of JSON there (its zoneId, ip and "
            "pgUrl); inspect the node with zkCli and restart that peer's sitter if it is "
            "corrupt.",
        ) from None
    if not isinstance(data, dict):
        raise MalformedZnode(f"{where} holds JSON that is not an object.", "Inspect the node.")
    for key in ("zoneId", "ip", "pgUrl"):
        if not isinstance(data.get(key), str):
            raise MalformedZnode(
                f"{where} lacks the string field {key!r} that manatee peers write.",
                "Inspect the node; it was not written by a manatee sitter.",
            )
    return ElectionNode(
        name=name,
        peer_id=match["id"],
        ip=match["ip"],
        backup_port=match["backup_port"],
        seq=int(match["seq"]),
        data=data,
        duplicate_keys=tuple(duplicate_keys(raw or b"")),
    )


@dataclass(frozen=True)
class LegacyTopology:
    """Election nodes in sequence order; position decides the v1 role."""

    shard: str
    nodes: tuple[ElectionNode, ...]

    @property
    def peers(self) -> list[Peer]:
        return [n.as_peer() for n in self.nodes]

    @property
    def primary(self) -> ElectionNode | None:
        return self.nodes[0] if self.nodes else None

    @property
    def sync(self) -> ElectionNode | None:
        return self.nodes[1] if len(self.nodes) > 1 else None

    @property
    def asyncs(self) -> tuple[ElectionNode, ...]:
        return self.nodes[2:]

    def role_of(self, peer_id: str) -> str | None:
        for index, node in enumerate(self.nodes):
            if node.peer_id == peer_id:
                return v1_role(index)
        return None

    def duplicates(self) -> dict[str, list[ElectionNode]]:
        seen: dict[str, list[ElectionNode]] = {}
        for node in self.nodes:
            seen.setdefault(node.peer_id, []).append(node)
        return {k: v for k, v in seen.items() if len(v) > 1}


def v1_role(index: int) -> str:
    return V1_ROLES[index] if index < len(V1_ROLES) else "async"


def legacy_topology(shard: str, nodes: Iterable[ElectionNode]) -> LegacyTopology:
    """Order nodes by the numeric sequence suffix (not the name: ips sort wrongly)."""
    return LegacyTopology(shard, tuple(sorted(nodes, key=lambda n: n.seq)))


def require_unique_peers(topology: LegacyTopology) -> None:
    """Refuse an election in which one peer id holds two nodes.

    That happens when a v1 sitter restarts before ZooKeeper expired its old
    session: the stale node keeps its place in the order (v1 peers and old
    Morays still act on it) while the new one queues behind. Upstream
    state-backfill would list the peer twice; v2 peers keep only the newest.
    Neither picture is trustworthy until the old session expires, so we refuse
    and tell the operator to wait, rather than guess which node is real.
    """
    dups = topology.duplicates()
    if dups:
        described = "; ".join(
            f"{peer_id} as {', '.join(n.name for n in nodes)}" for peer_id, nodes in dups.items()
        )
        raise UnexpectedTopology(
            f"Shard {topology.shard} has the same peer twice in its election ({described}). "
            "A sitter restarted and its old ZooKeeper session has not expired yet, so the "
            "election order does not describe the real replication chain.",
            "Wait for the session timeout (the stale node then disappears) and run the "
            "command again.",
        )


def require_peers(topology: LegacyTopology) -> None:
    if not topology.nodes:
        raise UnexpectedTopology(
            f"Shard {topology.shard} has no peers in its election.",
            "Every manatee sitter of the shard is down or disconnected from ZooKeeper; "
            "bring the shard up before migrating.",
        )


