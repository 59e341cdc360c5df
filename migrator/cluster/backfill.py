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
from migrator.cluster.state import INITIAL_WAL, ClusterState

BACKFILL_REASON = "manatee-adm state-backfill"


def compute_backfill_state(topology: LegacyTopology, freeze_date: str) -> ClusterState:
    """Key order and values match upstream byte for byte (see manatee-observed.md)."""
    require_peers(topology)
    require_unique_peers(topology)
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
    return ClusterState(document)
