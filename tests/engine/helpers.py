"""Building snapshots, histories and playbooks in memory for pure engine tests."""

from __future__ import annotations

import json
from typing import Any

from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.cluster.history import HistoryRecord, parse_history_record
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import ClusterState
from migrator.playbook.loader import LoadedPlaybook, load_playbook_text

SHARD = "1.moray.test"
IPS = ["127.0.1.47", "127.0.1.48", "127.0.1.49"]
ZONES = [
    "f29499ea-b50c-431e-9975-e4bf760fb5e1",
    "4afba482-7670-4cfe-b11f-9df7f558106a",
    "d0c715ab-1d55-43cd-88f2-f6bfe3960683",
]


def node(index: int, seq: int) -> Any:
    ip = IPS[index]
    data = {"zoneId": ZONES[index], "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
    return parse_election_node(f"{ip}:5432:12345-{seq:010d}",
                               json.dumps(data, separators=(",", ":")).encode(), SHARD)


def snapshot(order: list[int], state: ClusterState | None = None, seqs: list[int] | None = None,
             version: int | None = None) -> ShardSnapshot:
    seqs = seqs or list(range(len(order)))
    nodes = [node(i, s) for i, s in zip(order, seqs, strict=True)]
    return ShardSnapshot(SHARD, legacy_topology(SHARD, nodes), state,
                         None if state is None else (version or 0))


def v2_record(seq: int, state: dict[str, Any]) -> HistoryRecord:
    return parse_history_record(f"0-{seq:010d}", json.dumps(state).encode(), 1_700_000_000_000)


# The backfill step's action and checks, as every test playbook with a backfill has them.
BACKFILL_ACTION = """\
    action: {name: backfill}
    confirm: "yes"
    verify:
      - check: state_matches
        params: {expect: backfill}
    done_when:
      - check: history_has_backfill
"""

ZK_ONLY_PLAYBOOK = """\
name: zk-only
title: ZooKeeper-only steps
description: Backfill and unfreeze, for tests that need no zones.
peers: 3
steps:
  - id: backfill
    title: Backfill
    explain: Write the frozen state.
    zones: [original_primary, original_async, original_sync]
    preconditions:
      - check: state_absent
      - check: election_matches_original
      - check: backfill_checks
""" + BACKFILL_ACTION + """\
    timeout: 5
  - id: unfreeze
    title: Unfreeze
    explain: Remove the freeze.
    preconditions:
      - check: shard_frozen
    action: {name: unfreeze}
    confirm: "yes"
    verify:
      - check: shard_unfrozen
    done_when:
      - check: shard_unfrozen
    timeout: 5
"""


def zk_only_playbook(text: str = ZK_ONLY_PLAYBOOK) -> LoadedPlaybook:
    return load_playbook_text(text.encode(), "zk-only.yaml")
