"""The peers' decisions, without processes: pure functions and the v2 state machine
driven through an in-memory ZooKeeper/postgres pair (as manatee-state-machine's own
simulator does). The real-process behaviour is covered by the other sandbox tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.sandbox.bunyan import BunyanLog, inspect
from migrator.sandbox.logwatch import read_records
from migrator.sandbox.peer_v1 import V1Position, v1_history, v1_position
from migrator.sandbox.peer_v2 import V2Peer
from migrator.sandbox.pgsim import PgConfig, format_lsn, parse_lsn
from migrator.sandbox.writer import choose_primary
from migrator.sandbox.zkpeer import ActiveNode, unique_actives

pytestmark = pytest.mark.unit


def node(ip: str, seq: int) -> ActiveNode:
    peer_id = f"{ip}:5432:12345"
    data = {"zoneId": f"zone-{ip}", "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres",
            "backupUrl": f"http://{ip}:12345"}
    return ActiveNode(f"{peer_id}-{seq:010d}", peer_id, seq, {"id": peer_id, **data})


A, B, C = node("127.0.0.2", 0), node("127.0.0.3", 1), node("127.0.0.4", 2)


def test_v1_roles_follow_election_order() -> None:
    assert v1_position([A, B, C], B.name) == V1Position("standby", A, C)
    assert v1_position([A, B, C], A.name) == V1Position("primary", None, B)
    assert v1_position([B, C], C.name) == V1Position("standby", B, None)
    assert v1_position([B, C], A.name).role == "absent"


def test_v1_history_records_as_the_runbook_shows() -> None:
    alone = v1_position([A], A.name)
    assert v1_history(None, alone) == [("AssumeLeader", "Leader", "undefined", "undefined")]
    with_standby = v1_position([A, B], A.name)
    assert v1_history(alone, with_standby) == [
        ("NewStandby", "leader", "undefined", "127.0.0.3:5432")
    ]
    assert v1_history(with_standby, with_standby) == []
    standby = v1_position([A, B, C], C.name)
    assert v1_history(None, standby) == [("NewLeader", "Standby", "127.0.0.3:5432", "undefined")]
    promoted = v1_position([B, C], B.name)
    assert v1_history(v1_position([A, B, C], B.name), promoted) == [
        ("AssumeLeader", "Leader", "undefined", "127.0.0.4:5432")
    ]


def test_unique_actives_keeps_the_newest_node_per_peer_sorted_by_id() -> None:
    stale_c = node("127.0.0.4", 0)
    assert [n.seq for n in unique_actives([C, stale_c, B])] == [1, 2]
    assert [n.peer_id for n in unique_actives([C, B])] == [B.peer_id, C.peer_id]


def test_inspect_renders_like_node() -> None:
    config = {"role": "sync", "upstream": {"zoneId": "f294", "ip": "10.77.77.47"},
              "downstream": None, "n": 1, "list": [], "ok": True}
    assert inspect(config) == (
        "{ role: 'sync', upstream: { zoneId: 'f294', ip: '10.77.77.47' }, downstream: null, "
        "n: 1, list: [], ok: true }"
    )
    assert inspect({"it's": "a\\b"}) == "{ 'it\\'s': 'a\\\\b' }"


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lsn_round_trip(position: int) -> None:
    assert parse_lsn(format_lsn(position)) == position


def test_lsn_format_matches_postgres() -> None:
    assert format_lsn(0x174A4D0) == "0/174A4D0"
    assert parse_lsn("0/0000000") == 0 and parse_lsn("1/0") == 2**32


def test_client_prefers_state_then_first_election_node() -> None:
    state = json.dumps({"primary": {"id": "s:1:2", "pgUrl": "tcp://postgres@s:1/postgres"}})
    election = [(B.name, json.dumps(B.peer).encode()), (A.name, json.dumps(A.peer).encode())]
    assert choose_primary(state.encode(), election) == ("s:1:2", "tcp://postgres@s:1/postgres")
    assert choose_primary(None, election) == (A.peer_id, A.peer["pgUrl"])
    assert choose_primary(None, []) is None
    assert choose_primary(b"not json", election) is None


# ---- the v2 state machine over an in-memory ZooKeeper and postgres ----------------


class MemoryZk:
    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.writes: list[dict[str, Any]] = []
        self.state_version: int | None = None

    def join(self, peer_id: str, data: dict[str, Any]) -> str:
        return f"{peer_id}-0000000009"

    def watch(self, with_state: bool) -> None:
        pass

    def put_cluster_state(self, document: dict[str, Any]) -> Exception | None:
        self.writes.append(document)
        self.state = document
        return None


class MemoryPg:
    def __init__(self, wal: str = "0/174A4D0") -> None:
        self.wal = wal
        self.configs: list[PgConfig] = []

    def reconfigure(self, config: PgConfig) -> None:
        self.configs.append(config)

    def xlog_location(self) -> str:
        return self.wal


def make_peer(tmp_path: Path, me: ActiveNode, **options: Any) -> tuple[V2Peer, Any, Any, list[Any]]:
    zk, pg, scheduled = MemoryZk(), MemoryPg(), []
    log = BunyanLog(tmp_path / "sitter.log", "manatee-sitter", me.peer["zoneId"])
    peer = V2Peer(log, zk, pg, me.peer, lambda delay, fn: scheduled.append((delay, fn)),
                  **options)  # type: ignore[arg-type]
    peer.start()
    return peer, zk, pg, scheduled


def backfilled(frozen: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {"primary": A.peer, "sync": C.peer, "async": [B.peer], "deposed": [],
                             "generation": 0, "initWal": "0/0000000"}
    if frozen:
        state["freeze"] = {"date": "2014-12-02T18:31:35.394Z",
                           "reason": "manatee-adm state-backfill"}
    return state


def msgs(tmp_path: Path) -> list[tuple[int, str]]:
    return [(r["level"], r["msg"]) for r in read_records(tmp_path / "sitter.log")
            if r["msg"] != "incoming event"]


def test_migrating_peer_waits_unassigned(tmp_path: Path) -> None:
    peer, zk, pg, _ = make_peer(tmp_path, C)
    peer.on_zk_init(None, [A, B, C])
    assert msgs(tmp_path)[:2] == [(20, "cluster not yet setup"), (30, "assuming role")]
    assert pg.configs == [PgConfig("none")]
    assert zk.writes == []  # postgres was set up: no initial setup during a migration


def test_frozen_sync_backs_off_then_takes_over_when_unfrozen(tmp_path: Path) -> None:
    peer, zk, pg, scheduled = make_peer(tmp_path, C)
    peer.on_zk_init(backfilled(), [A, B, C])
    assert peer.role == "sync" and pg.configs[-1].upstream == A.peer
    peer.on_active_change([B, C])  # the primary's node is gone
    records = read_records(tmp_path / "sitter.log")
    warn = [r for r in records if r["level"] == 40]
    assert warn[-1]["msg"] == "backing off"
    assert warn[-1]["err"]["name"] == "ClusterFrozenError"
    assert [d for d, _ in scheduled] == [1.0] and zk.writes == []

    zk.state = None
    peer.on_state_change(backfilled(frozen=False))
    assert zk.writes == []  # still backing off: the retry timer decides
    scheduled[-1][1]()
    (written,) = zk.writes
    assert list(written) == ["generation", "primary", "sync", "async", "deposed", "initWal"]
    assert written["generation"] == 1 and written["primary"] == C.peer
    assert written["sync"] == B.peer and written["async"] == []
    assert written["deposed"] == [A.peer] and written["initWal"] == "0/174A4D0"
    assert peer.role == "primary" and pg.configs[-1].downstream == B.peer
    assert (30, "declared new generation") in msgs(tmp_path)


def test_takeover_in_2014_mode_leaves_old_primary_out_of_deposed(tmp_path: Path) -> None:
    peer, zk, _, scheduled = make_peer(tmp_path, C, deposed_mode="async")
    peer.on_zk_init(backfilled(frozen=False), [B, C])
    # as upstream: the first attempt finds postgres not yet online and backs off
    assert zk.writes == [] and [d for d, _ in scheduled] == [1.0]
    scheduled[-1][1]()
    (written,) = zk.writes
    assert "deposed" not in written and written["primary"] == C.peer


def test_sync_behind_init_wal_does_not_take_over(tmp_path: Path) -> None:
    peer, zk, pg, scheduled = make_peer(tmp_path, C)
    pg.wal = "0/1000"
    state = backfilled(frozen=False) | {"initWal": "0/2000"}
    peer.on_zk_init(state, [B, C])
    scheduled[-1][1]()  # the first attempt found postgres still offline
    assert zk.writes == [] and len(scheduled) == 2
    warn = [r for r in read_records(tmp_path / "sitter.log") if r["level"] == 40]
    assert warn[-1]["err"]["name"] == "PeerNotCaughtUpError"


def test_primary_adds_new_peers_to_async_and_drops_vanished(tmp_path: Path) -> None:
    d = node("127.0.0.5", 3)
    state = {"generation": 1, "primary": C.peer, "sync": B.peer, "async": [A.peer],
             "deposed": [], "initWal": "0/174A4D0"}
    peer, zk, _, _ = make_peer(tmp_path, C)
    peer.on_zk_init(state, [B, C, d])
    (written,) = zk.writes
    assert written["async"] == [d.peer]
    assert (30, "updating list of asyncs") in msgs(tmp_path)


def test_deposed_peer_ignores_further_events(tmp_path: Path) -> None:
    state = {"generation": 1, "primary": C.peer, "sync": B.peer, "async": [],
             "deposed": [A.peer], "initWal": "0/174A4D0"}
    peer, _zk, pg, _ = make_peer(tmp_path, A)
    peer.on_zk_init(state, [A, B, C])
    assert peer.role == "deposed" and pg.configs[-1] == PgConfig("none")
    peer.on_active_change([A, C])
    assert msgs(tmp_path)[-1] == (30, "dropping event (already deposed)")


@given(st.lists(st.integers(min_value=2, max_value=250), min_size=1, max_size=6, unique=True))
def test_v1_chain_invariants(last_octets: list[int]) -> None:
    nodes = [node(f"127.0.0.{octet}", seq) for seq, octet in enumerate(last_octets)]
    positions = [v1_position(nodes, n.name) for n in nodes]
    assert [p.role for p in positions].count("primary") == 1
    for index, position in enumerate(positions):
        assert position.leader == (nodes[index - 1] if index else None)
        assert position.standby == (nodes[index + 1] if index + 1 < len(nodes) else None)


@given(st.lists(st.tuples(st.integers(2, 6), st.integers(0, 50)), max_size=12))
def test_unique_actives_one_newest_node_per_peer(pairs: list[tuple[int, int]]) -> None:
    nodes = [node(f"127.0.0.{octet}", seq) for octet, seq in pairs]
    kept = unique_actives(nodes)
    ids = [n.peer_id for n in kept]
    assert ids == sorted(set(ids)) == sorted({n.peer_id for n in nodes})
    for chosen in kept:
        assert chosen.seq == max(n.seq for n in nodes if n.peer_id == chosen.peer_id)
