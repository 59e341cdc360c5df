"""The v2 peer validates /state as upstream does and dies on a fatal error; the
supervisor's restart decisions. Pure: in-memory ZooKeeper and postgres, no processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.logwatch import read_records
from migrator.sandbox.peer_v2 import InvalidState, validate_zk_state
from migrator.sandbox.supervisor import EXIT_CONFIG, MAX_QUICK_DEATHS, backoff, next_action
from tests.sandbox.test_peer_logic import A, B, backfilled, make_peer

pytestmark = pytest.mark.unit

SYNC_NULL = '"sync" may not be null outside of one-node-write mode'


def one_node(onwm: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"primary": A.peer, "sync": None, "async": [], "deposed": [],
                             "generation": 0, "initWal": "0/0000000",
                             "freeze": {"date": "d", "reason": "manatee-adm state-backfill"}}
    if onwm:
        state["oneNodeWriteMode"] = True
    return state


@pytest.mark.parametrize("change,problem", [
    ({}, None),
    ({"sync": None}, SYNC_NULL),
    ({"sync": None, "oneNodeWriteMode": True}, None),
    ({"sync": None, "oneNodeWriteMode": "yes"}, "oneNodeWriteMode"),
    ({"generation": True}, "generation"),
    ({"generation": "1"}, "generation"),
    ({"async": None}, "async"),
    ({"async": [{"id": "x"}]}, "async[0].ip"),
    ({"primary": {**A.peer, "zoneId": 7}}, "primary.zoneId"),
    ({"deposed": "none"}, "deposed"),
    ({"initWal": 0}, "initWal"),
    ({"initWal": "zz"}, "invalid xlog location"),
    ({"freeze": "yes"}, "freeze"),
])
def test_validation_as_upstream(change: dict[str, Any], problem: str | None) -> None:
    found = validate_zk_state(backfilled() | change)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_state_that_is_not_json_or_not_an_object_is_invalid() -> None:
    assert validate_zk_state(InvalidState("NaN is not JSON")) == (
        "cluster state is not JSON (NaN is not JSON)")
    assert validate_zk_state([1]) == "cluster state must be an object"


def test_singleton_dies_on_the_backfill_without_one_node_write_mode(tmp_path: Path) -> None:
    peer, zk, _pg, _ = make_peer(tmp_path, A, singleton=True)
    peer.on_zk_init(None, [A])
    peer.on_state_change(one_node(onwm=False))
    fatal = [r for r in read_records(tmp_path / "sitter.log") if r["level"] == 60]
    assert [r["msg"] for r in fatal] == [f"fatal error: {SYNC_NULL}"]
    assert fatal[0]["err"]["name"] == "VError"
    assert peer.dead and peer.role != "primary" and zk.writes == []
    peer.on_active_change([A, B])  # a dead peer handles nothing more
    assert [r for r in read_records(tmp_path / "sitter.log") if r["level"] == 60] == fatal


def test_singleton_runs_as_primary_in_one_node_write_mode(tmp_path: Path) -> None:
    peer, zk, pg, _ = make_peer(tmp_path, A, singleton=True)
    peer.on_zk_init(one_node(onwm=True), [A])
    assert not peer.dead and peer.role == "primary"
    assert pg.configs[-1].role == "primary" and pg.configs[-1].one_node
    assert zk.writes == []


def test_singleton_refuses_a_normal_mode_state(tmp_path: Path) -> None:
    peer, _, _, _ = make_peer(tmp_path, A, singleton=True)
    peer.on_zk_init(backfilled(), [A])
    assert peer.dead and peer.fatal_message == (
        "fatal error: configured for one-node-write mode, but found cluster in normal mode")


def test_two_node_sync_does_not_take_over_without_an_async(tmp_path: Path) -> None:
    two = {"primary": A.peer, "sync": B.peer, "async": [], "deposed": [], "generation": 0,
           "initWal": "0/0000000"}
    peer, zk, _, scheduled = make_peer(tmp_path, B)
    peer.on_zk_init(two, [A, B])
    assert peer.role == "sync"
    peer.on_active_change([B])  # the primary is gone, and the shard is not frozen
    warn = [r for r in read_records(tmp_path / "sitter.log") if r["level"] == 40]
    assert warn[-1]["msg"] == "would takeover (primary gone), but no async peers present"
    assert zk.writes == [] and scheduled == [] and peer.role == "sync"


def test_supervisor_restarts_with_backoff_then_maintenance() -> None:
    assert [backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [next_action(n, 1) for n in range(1, MAX_QUICK_DEATHS + 1)] == (
        ["restart"] * (MAX_QUICK_DEATHS - 1) + ["maintenance"])
    assert next_action(1, EXIT_CONFIG) == "maintenance"
