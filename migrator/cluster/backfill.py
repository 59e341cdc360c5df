"""The state `manatee-adm state-backfill` writes, computed from the election.

Upstream takes the v1 roles (first = primary, second = sync, the rest asyncs)
and then, when there is a sync and at least one async, makes the *last* async
the sync and appends the old sync to the asyncs. That puts the peer that was
reprovisioned to v2 first (the original async) in the sync seat, which is the
[A, C', B] topology the runbook's design section asks for.
"""

from __future__ import annotations

from typing import Any

from migrator.cluster.election import LegacyTopology, require_peers, require_unique_peers
from migrator.cluster.peer_checks import require_valid_peers
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import INITIAL_WAL, ClusterState, compact_json
from migrator.errors import MalformedZnode, StateAlreadyExists, UnexpectedTopology
from migrator.strictjson import ZK_MAX_BUFFER

BACKFILL_REASON = "manatee-adm state-backfill"

ONE_NODE_NOTE = (
    "one peer: oneNodeWriteMode is written in the same transaction; `manatee-adm "
    "state-backfill` writes this state without it, and upstream's peer treats a null sync "
    "outside one-node-write mode as fatal, so the only peer would crash-loop until "
    "`manatee-adm set-onwm`"
)


def compute_backfill_state(topology: LegacyTopology, freeze_date: str) -> ClusterState:
    """Key order and values match upstream byte for byte (see manatee-observed.md)."""
    require_peers(topology)
    require_unique_peers(topology)
    require_valid_peers(topology)
    peers = [p.to_json() for p in topology.peers]
    primary, sync, asyncs = peers[0], (peers[1] if len(peers) > 1 else None), peers[2:]
    if sync is not None and asyncs:
        new_sync = asyncs.pop()
        asyncs.append(sync)
        sync = new_sync
    document: dict[str, Any] = {
        "primary": primary,
        "sync": sync,
        "async": asyncs,
        "deposed": [],
        "generation": 0,
        "initWal": INITIAL_WAL,
        "freeze": {"date": freeze_date, "reason": BACKFILL_REASON},
    }
    state = ClusterState(document)
    require_writable_size(state, topology)
    return state


def migrator_backfill_state(topology: LegacyTopology, freeze_date: str) -> ClusterState:
    """The state the migrator writes: upstream's backfill, plus one-node-write mode for one peer.

    Upstream's peer validates every /state it reads and refuses (a fatal error: the
    sitter dies, SMF restarts it into the same death, then maintenance) a null
    ``sync`` outside one-node-write mode, which is exactly what `manatee-adm
    state-backfill` writes for a one-node shard. Setting ``oneNodeWriteMode`` in the
    same transaction means no peer ever reads an invalid state; setting it right
    after (the runbook's order plus `set-onwm`) leaves a window in which the peer
    dies at least once, and a crash of the operator's session in between leaves it
    crash-looping into maintenance. The key is appended last, so the bytes equal
    those of `state-backfill` followed by `set-onwm -m on`.
    """
    state = compute_backfill_state(topology, freeze_date)
    if state.sync is not None:
        return state
    document = dict(state.document)
    document["oneNodeWriteMode"] = True
    return ClusterState(document)


def upstream_backfill_variant(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the one-node-write mode the migrator adds (see above)."""
    return {k: v for k, v in document.items() if k != "oneNodeWriteMode"}


# Room left in the request for the paths and the transaction's framing.
_REQUEST_OVERHEAD = 4096


def require_writable_size(state: ClusterState, topology: LegacyTopology) -> None:
    """Refuse a state the backfill's transaction (state + history copy) cannot carry.

    ZooKeeper rejects a request beyond jute.maxbuffer only when it is sent; saying so
    while planning, naming the largest election node, beats a failed write mid-run.
    """
    size = len(state.to_bytes())
    if 2 * size + _REQUEST_OVERHEAD <= ZK_MAX_BUFFER:
        return
    largest = max(topology.nodes, key=lambda n: len(compact_json(n.data)))
    raise MalformedZnode(
        f"The backfilled state of shard {topology.shard} would be {size} bytes; written "
        f"twice in one transaction it exceeds ZooKeeper's default request limit "
        f"(jute.maxbuffer, {ZK_MAX_BUFFER} bytes). The largest election node is "
        f"{largest.name}.",
        "A manatee peer writes a few hundred bytes of election data; inspect the election "
        "nodes with zkCli and restart the sitter whose node is oversized.",
    )


def plan_backfill(snapshot: ShardSnapshot, freeze_date: str,
                  upstream: bool = False) -> ClusterState:
    """The state to write, or a refusal explaining why a backfill is wrong here.

    ``upstream``: exactly `manatee-adm state-backfill`'s state, without the
    one-node-write mode the migrator adds for one peer (the sandbox's manatee-adm).
    """
    if snapshot.state is not None:
        raise StateAlreadyExists(
            f"The /state of shard {snapshot.shard} already exists (generation "
            f"{snapshot.state.generation}, mode {snapshot.mode}); a backfill only creates it.",
            "Nothing was written. Delete it only as part of a rollback. The existing state: "
            + snapshot.state.to_bytes().decode("utf-8"),
        )
    if snapshot.error is not None:
        raise UnexpectedTopology(
            f"Shard {snapshot.shard} has a v1 error node ({snapshot.error!r}); the v1 peers "
            "have stopped reconfiguring.",
            "Resolve the shard error (see manatee's troubleshooting guide) before migrating.",
        )
    if upstream:
        return compute_backfill_state(snapshot.topology, freeze_date)
    # one peer: with oneNodeWriteMode in the same write (see migrator_backfill_state)
    return migrator_backfill_state(snapshot.topology, freeze_date)
