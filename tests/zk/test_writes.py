"""Every write, and the races each conditional write must lose cleanly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.cluster.state import ClusterState
from migrator.commands import expert
from migrator.errors import NotConfirmed, StateAlreadyExists, StateConflict
from tests.conftest import ZONES, V1Shard

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
STATE = f"/manatee/{SHARD}/state"
HISTORY = f"/manatee/{SHARD}/history"
IPS = list(ZONES)


def accept(_state: ClusterState | None) -> None:
    return None


def seed(v1_shard: V1Shard, count: int = 3) -> None:
    for ip in IPS[:count]:
        v1_shard.join(ip, ZONES[ip])


def history_nodes(zk: Any) -> list[str]:
    return sorted(zk.get_children(HISTORY), key=lambda n: int(n.rsplit("-", 1)[1]))


def test_backfill_writes_state_and_history_in_one_transaction(
    zk: Any, v1_shard: V1Shard
) -> None:
    seed(v1_shard)
    outcome = expert.backfill(zk, SHARD, accept)
    stored, stat = zk.get(STATE)
    assert stat.version == 0
    assert outcome.state is not None and stored == outcome.state.to_bytes()
    (record,) = history_nodes(zk)
    assert record.startswith("0-")
    assert zk.get(f"{HISTORY}/{record}")[0] == stored
    state = json.loads(stored)
    assert state["primary"]["zoneId"] == ZONES[IPS[0]]
    assert state["sync"]["zoneId"] == ZONES[IPS[2]]
    assert [p["zoneId"] for p in state["async"]] == [ZONES[IPS[1]]]


def test_backfill_loses_the_race_when_state_appears_after_the_read(
    zk: Any, v1_shard: V1Shard
) -> None:
    seed(v1_shard)

    def someone_else_backfills(_state: ClusterState | None) -> None:
        zk.create(STATE, b'{"generation":0}')

    with pytest.raises(StateAlreadyExists, match="created by someone else"):
        expert.backfill(zk, SHARD, someone_else_backfills)
    assert zk.get(STATE)[0] == b'{"generation":0}'
    assert history_nodes(zk) == []  # the transaction's history create was rolled back


def test_backfill_creates_the_history_parent_if_missing(zk: Any, v1_shard: V1Shard) -> None:
    seed(v1_shard, 1)
    zk.delete(HISTORY)
    expert.backfill(zk, SHARD, accept)
    assert len(history_nodes(zk)) == 1


def test_declined_backfill_writes_nothing(zk: Any, v1_shard: V1Shard) -> None:
    seed(v1_shard)

    def decline(_state: ClusterState | None) -> None:
        raise NotConfirmed("no")

    with pytest.raises(NotConfirmed):
        expert.backfill(zk, SHARD, decline)
    assert zk.exists(STATE) is None and history_nodes(zk) == []


def test_freeze_and_unfreeze_set_at_version_with_history(zk: Any, v1_shard: V1Shard) -> None:
    seed(v1_shard)
    expert.backfill(zk, SHARD, accept)
    expert.unfreeze(zk, SHARD, accept)
    data, stat = zk.get(STATE)
    assert "freeze" not in json.loads(data) and stat.version == 1
    expert.freeze(zk, SHARD, "maintenance", accept)
    data, stat = zk.get(STATE)
    assert json.loads(data)["freeze"]["reason"] == "maintenance" and stat.version == 2
    records = history_nodes(zk)
    assert len(records) == 3 and all(r.startswith("0-") for r in records)
    assert zk.get(f"{HISTORY}/{records[-1]}")[0] == data


def test_unfreeze_loses_the_race_when_state_changed_after_the_read(
    zk: Any, v1_shard: V1Shard
) -> None:
    seed(v1_shard)
    expert.backfill(zk, SHARD, accept)
    before = history_nodes(zk)

    def a_peer_writes(_state: ClusterState | None) -> None:
        data, stat = zk.get(STATE)
        zk.set(STATE, data, version=stat.version)

    with pytest.raises(StateConflict, match="we read version 0; it is now at version 1"):
        expert.unfreeze(zk, SHARD, a_peer_writes)
    assert "freeze" in json.loads(zk.get(STATE)[0])
    assert history_nodes(zk) == before


def test_delete_state_at_version_and_its_race(zk: Any, v1_shard: V1Shard) -> None:
    seed(v1_shard)
    expert.backfill(zk, SHARD, accept)

    def a_peer_writes(_state: ClusterState | None) -> None:
        data, stat = zk.get(STATE)
        zk.set(STATE, data, version=stat.version)

    with pytest.raises(StateConflict, match="delete was not written"):
        expert.delete_state(zk, SHARD, a_peer_writes)
    assert zk.exists(STATE) is not None
    expert.delete_state(zk, SHARD, accept)
    assert zk.exists(STATE) is None


def test_delete_state_when_someone_deleted_it_first(zk: Any, v1_shard: V1Shard) -> None:
    seed(v1_shard)
    expert.backfill(zk, SHARD, accept)
    with pytest.raises(StateConflict, match="has been deleted"):
        expert.delete_state(zk, SHARD, lambda _s: zk.delete(STATE))
