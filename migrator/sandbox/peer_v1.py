"""The v1 peer: role from election order, a replication chain, v1 history records.

Pure decisions (``v1_position``, ``v1_history``) are separate from the peer that
applies them. The history node name is the one manatee's old lib/shard.js
(_writeHistoryNode) created: ``<ms>-<ip:port>-<Action>-<Role>-<master>-<slave>-<seq>``
with ``undefined`` for an absent master or slave. Which peer writes which record
follows the runbook's `manatee-adm history`: the leader writes AssumeLeader and
NewStandby (role ``leader`` in lower case, as the runbook shows), a standby writes
NewLeader when its upstream changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from migrator.sandbox.bunyan import BunyanLog
from migrator.sandbox.pgapi import Postgres
from migrator.sandbox.pgsim import PgConfig
from migrator.sandbox.zkpeer import ActiveNode, PeerZk


@dataclass(frozen=True)
class V1Position:
    role: str  # primary | standby | absent
    leader: ActiveNode | None
    standby: ActiveNode | None


def v1_position(nodes: list[ActiveNode], my_name: str | None) -> V1Position:
    """nodes in sequence order; the first is the leader, each other follows the one before."""
    names = [n.name for n in nodes]
    if my_name not in names:
        return V1Position("absent", None, None)
    index = names.index(my_name)
    leader = nodes[index - 1] if index > 0 else None
    standby = nodes[index + 1] if index + 1 < len(nodes) else None
    return V1Position("primary" if index == 0 else "standby", leader, standby)


def _url(node: ActiveNode | None) -> str:
    """``ip:port`` of a peer as v1 recorded it, or ``undefined``."""
    if node is None:
        return "undefined"
    ip, port, _ = node.peer_id.split(":")
    return f"{ip}:{port}"


def v1_history(old: V1Position | None, new: V1Position) -> list[tuple[str, str, str, str]]:
    """(action, role, master, slave) records a transition writes."""
    records: list[tuple[str, str, str, str]] = []
    if new.role == "primary":
        if old is None or old.role != "primary":
            records.append(("AssumeLeader", "Leader", "undefined", _url(new.standby)))
        elif new.standby is not None and (
            old.standby is None or old.standby.name != new.standby.name
        ):
            records.append(("NewStandby", "leader", "undefined", _url(new.standby)))
        elif new.standby is None and old.standby is not None:
            records.append(("ExpiredStandby", "leader", "undefined", _url(old.standby)))
    elif new.role == "standby" and new.leader is not None and (
        old is None or old.leader is None or old.leader.name != new.leader.name
    ):
        records.append(("NewLeader", "Standby", _url(new.leader), _url(new.standby)))
    return records


def history_node_prefix(self_url: str, record: tuple[str, str, str, str], now_ms: int) -> str:
    action, role, master, slave = record
    return f"{now_ms}-{self_url}-{action}-{role}-{master}-{slave}-"


class V1Peer:
    def __init__(self, log: BunyanLog, zk: PeerZk, pg: Postgres, ident: dict[str, Any]) -> None:
        self.log = log.child(component="shard")
        self.zk = zk
        self.pg = pg
        self.ident = ident
        ip, port, _ = str(ident["id"]).split(":")
        self.self_url = f"{ip}:{port}"
        self.position: V1Position | None = None

    def start(self) -> None:
        name = self.zk.join(self.ident["id"], {k: v for k, v in self.ident.items() if k != "id"})
        self.log.info("joined election", {"node": name})
        self.zk.watch(with_state=False)

    def on_active(self, nodes: list[ActiveNode]) -> None:
        new = v1_position(nodes, self.zk.node_name)
        old = self.position
        if new.role == "absent":
            self.log.warn("own election node is gone", {"election": [n.name for n in nodes]})
            return
        if old == new:
            return
        self.position = new
        config = (
            PgConfig("primary", None, None if new.standby is None else new.standby.peer)
            if new.role == "primary"
            else PgConfig(
                "sync" if new.leader is not None and new.leader.seq == nodes[0].seq else "async",
                new.leader.peer if new.leader else None,
                None if new.standby is None else new.standby.peer,
            )
        )
        self.log.info("Shard: transitioning", {
            "role": new.role,
            "leader": None if new.leader is None else new.leader.peer_id,
            "standby": None if new.standby is None else new.standby.peer_id,
        })
        self.pg.reconfigure(config)
        for record in v1_history(old, new):
            prefix = history_node_prefix(self.self_url, record, int(time.time() * 1000))
            self.zk.write_v1_history(prefix)
            self.log.info("Shard._writeHistoryNode: writing node", {"path": prefix})
