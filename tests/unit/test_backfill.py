"""The backfill computation against upstream's observed bytes and rules."""

from __future__ import annotations

import json
import uuid

import pytest

from migrator.cluster.backfill import BACKFILL_REASON, compute_backfill_state
from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.errors import MalformedZnode, UnexpectedTopology

pytestmark = pytest.mark.unit

SHARD = "1.moray.test"
DATE = "2026-11-26T03:59:01.007Z"

# The three peers of manatee-observed.md, in the key order manatee v1 writes.
OBSERVED = {
    "10.77.77.47": "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01",
    "10.77.77.48": "7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02",
    "10.77.77.49": "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03",
}
OBSERVED_BYTES = (
    '{"primary":{"zoneId":"2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01","ip":"10.77.77.47",'
    '"pgUrl":"tcp://postgres@10.77.77.47:5432/postgres","backupUrl":"http://10.77.77.47:12345",'
    '"id":"10.77.77.47:5432:12345"},"sync":{"zoneId":"c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03",'
    '"ip":"10.77.77.49","pgUrl":"tcp://postgres@10.77.77.49:5432/postgres",'
    '"backupUrl":"http://10.77.77.49:12345","id":"10.77.77.49:5432:12345"},"async":[{"zoneId":'
    '"7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02","ip":"10.77.77.48","pgUrl":'
    '"tcp://postgres@10.77.77.48:5432/postgres","backupUrl":"http://10.77.77.48:12345",'
    '"id":"10.77.77.48:5432:12345"}],"deposed":[],"generation":0,"initWal":"0/0000000",'
    '"freeze":{"date":"2026-11-26T03:59:01.007Z","reason":"manatee-adm state-backfill"}}'
)


def node(ip: str, seq: int, zone: str | None = None, **extra: str) -> object:
    data = {"zoneId": zone or str(uuid.uuid5(uuid.NAMESPACE_DNS, ip)), "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
    data.update(extra)
    return parse_election_node(f"{ip}:5432:12345-{seq:010d}", json.dumps(data).encode(), SHARD)


def topology(*nodes: object) -> object:
    return legacy_topology(SHARD, nodes)  # type: ignore[arg-type]


def test_three_nodes_match_upstream_bytes() -> None:
    nodes = [node(ip, i, zone) for i, (ip, zone) in enumerate(OBSERVED.items())]
    state = compute_backfill_state(topology(*nodes), DATE)  # type: ignore[arg-type]
    assert state.to_bytes().decode() == OBSERVED_BYTES


def test_order_is_by_sequence_number_not_by_name() -> None:
    # 10.77.77.8 sorts after 10.77.77.7 by name but joined first
    late = node("10.77.77.7", 7)
    early = node("10.77.77.8", 6)
    state = compute_backfill_state(topology(late, early), DATE)  # type: ignore[arg-type]
    assert state.primary.ip == "10.77.77.8"
    assert state.sync is not None and state.sync.ip == "10.77.77.7"


def test_one_node() -> None:
    state = compute_backfill_state(topology(node("10.0.0.1", 3)), DATE)  # type: ignore[arg-type]
    assert state.document["sync"] is None
    assert state.document["async"] == [] and state.document["deposed"] == []
    assert list(state.document) == [
        "primary", "sync", "async", "deposed", "generation", "initWal", "freeze"
    ]
    assert state.document["freeze"] == {"date": DATE, "reason": BACKFILL_REASON}


def test_two_nodes_keep_their_roles() -> None:
    a, b = node("10.0.0.1", 1), node("10.0.0.2", 2)
    state = compute_backfill_state(topology(a, b), DATE)  # type: ignore[arg-type]
    assert state.primary.ip == "10.0.0.1"
    assert state.sync is not None and state.sync.ip == "10.0.0.2"
    assert state.asyncs == []


def test_four_nodes_last_async_becomes_sync_and_old_sync_goes_last() -> None:
    a, b, c, d = (node(f"10.0.0.{i}", i) for i in range(1, 5))
    state = compute_backfill_state(topology(a, b, c, d), DATE)  # type: ignore[arg-type]
    assert state.primary.ip == "10.0.0.1"
    assert state.sync is not None and state.sync.ip == "10.0.0.4"
    assert [p.ip for p in state.asyncs] == ["10.0.0.3", "10.0.0.2"]


def test_existing_backup_url_is_kept_in_place() -> None:
    n = node("10.0.0.1", 1, backupUrl="http://10.0.0.1:12345/")  # not what would be derived
    state = compute_backfill_state(topology(n), DATE)  # type: ignore[arg-type]
    assert list(state.document["primary"]) == ["zoneId", "ip", "pgUrl", "backupUrl", "id"]
    assert state.primary.backup_url == "http://10.0.0.1:12345/"


def test_backup_url_derived_from_the_node_name() -> None:
    n = parse_election_node(
        "10.0.0.1:5432:23456-0000000001",
        b'{"zoneId":"2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01","ip":"10.0.0.1",'
        b'"pgUrl":"tcp://postgres@10.0.0.1:5432/postgres"}',
        SHARD,
    )
    state = compute_backfill_state(topology(n), DATE)  # type: ignore[arg-type]
    assert state.primary.backup_url == "http://10.0.0.1:23456"
    assert state.primary.id == "10.0.0.1:5432:23456"


def test_same_peer_twice_is_refused_with_the_reason() -> None:
    a1, b, a2 = node("10.0.0.1", 1), node("10.0.0.2", 2), node("10.0.0.1", 3)
    with pytest.raises(UnexpectedTopology) as info:
        compute_backfill_state(topology(a1, b, a2), DATE)  # type: ignore[arg-type]
    assert "10.0.0.1:5432:12345" in info.value.message
    assert "session" in info.value.paragraph()


def test_empty_election_is_refused() -> None:
    with pytest.raises(UnexpectedTopology, match="no peers"):
        compute_backfill_state(topology(), DATE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["10.0.0.1:5432:12345", "10.0.0.1:5432-0000000001", "foo-0000000001",
     "10.0.0.1:5432:12345-12", "10.0.0.1;rm:5432:12345-0000000001"],
)
def test_malformed_election_names(name: str) -> None:
    with pytest.raises(MalformedZnode, match="not shaped"):
        parse_election_node(name, b"{}", SHARD)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json", "does not hold JSON"),
        (b"\xff\xfe", "does not hold JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"ip": "10.0.0.1", "pgUrl": "x"}', "zoneId"),
        (None, "does not hold JSON"),
    ],
)
def test_malformed_election_data(raw: bytes | None, expected: str) -> None:
    with pytest.raises(MalformedZnode, match=expected):
        parse_election_node("10.0.0.1:5432:12345-0000000001", raw, SHARD)
