"""status, state, history: read-only views of shards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.cluster.election import parse_election_name
from migrator.cluster.history import HistoryRecord, summarize
from migrator.cluster.shard import PeerRow, ShardSnapshot, peer_rows, shard_mode
from migrator.cluster.state import describe_freeze, parse_state
from migrator.errors import MalformedZnode
from migrator.zk import reads

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass(frozen=True)
class ShardSummary:
    shard: str
    mode: str
    peers_in_election: int
    generation: int | None
    frozen: str | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "mode": self.mode,
            "peersInElection": self.peers_in_election,
            "generation": self.generation,
            "frozen": self.frozen,
            "problem": self.problem,
        }


def all_shards(client: KazooClient) -> tuple[list[ShardSummary], list[str]]:
    """Every shard's mode, in two pipelined rounds however many shards there are, and
    the children of /manatee skipped because their names are not shard names.

    A shard whose znodes are malformed is listed with its problem instead of
    aborting the whole listing: the overview must work when one shard is broken.
    A child whose name is not a valid shard name (a space, a leading `-` or `_`, a `;`) is not
    a shard at all and no path can be built from it: it is skipped, and the caller
    warns naming it (issue 21 §5; before, it failed the whole listing).
    """
    shards, skipped = reads.shard_children(client)
    return shard_summaries(client, shards), skipped


def shard_summaries(client: KazooClient, shards: list[str]) -> list[ShardSummary]:
    """The mode of each of ``shards`` (as ``all_shards`` lists them), in two pipelined
    rounds; a shard with no znodes at all reads as legacy with no peers."""
    summaries = []
    for raw in reads.read_raw_shards(client, shards, with_peers=False):
        try:
            for name, _ in raw.election:
                parse_election_name(name, raw.shard)
            state = None if raw.state is None else parse_state(
                raw.state[0], f"The /state of shard {raw.shard}"
            )
        except MalformedZnode as exc:
            summaries.append(
                ShardSummary(raw.shard, "unknown", len(raw.election), None, None, exc.message)
            )
            continue
        summaries.append(
            ShardSummary(
                shard=raw.shard,
                mode=shard_mode(state),
                peers_in_election=len(raw.election),
                generation=None if state is None else state.generation,
                frozen=None if state is None or state.freeze is None
                else describe_freeze(state.freeze),
            )
        )
    return summaries


@dataclass(frozen=True)
class ShardStatus:
    snapshot: ShardSnapshot
    rows: list[PeerRow]

    def to_json(self) -> dict[str, Any]:
        snap = self.snapshot
        state = snap.state
        return {
            "shard": snap.shard,
            "mode": snap.mode,
            "generation": None if state is None else state.generation,
            "frozen": None if state is None or state.freeze is None
            else describe_freeze(state.freeze),
            "stateVersion": snap.state_version,
            "election": [n.name for n in snap.topology.nodes],
            "peers": [
                {
                    "id": r.peer_id,
                    "zoneId": r.zone_id,
                    "electionPosition": r.election_position,
                    "electionRole": r.election_role,
                    "stateRole": r.state_role,
                    "agrees": None if state is None else r.agrees,
                }
                for r in self.rows
            ],
            "error": snap.error,
        }


def shard_status(client: KazooClient, shard: str,
                 last_sent: Callable[[], None] | None = None) -> ShardStatus:
    """``last_sent``: see ``migrator.zk.reads.read_raw_shards``."""
    snapshot = reads.read_shard(client, shard, last_sent)
    return ShardStatus(snapshot, peer_rows(snapshot))


def shard_state(client: KazooClient, shard: str) -> tuple[bytes, int] | None:
    """The stored bytes (manatee-adm prints them as they are) and their version."""
    reads.require_shard(client, shard)
    found = reads.read_state_bytes(client, shard)
    if found is not None:
        # validate so that a malformed state is reported, not silently printed
        parse_state(found[0], f"The /state of shard {shard}")
    return found


def shard_history(client: KazooClient, shard: str) -> list[tuple[HistoryRecord, str]]:
    records = reads.read_history(client, shard)
    out: list[tuple[HistoryRecord, str]] = []
    previous: HistoryRecord | None = None
    for record in records:
        out.append((record, summarize(record, previous)))
        previous = record  # of either kind: after a v1 event comes its follow-up
    return out
