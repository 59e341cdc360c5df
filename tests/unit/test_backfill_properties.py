"""Invariants of the backfill computation over arbitrary elections."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.backfill import compute_backfill_state
from migrator.cluster.election import ElectionNode, legacy_topology, parse_election_node
from migrator.cluster.state import parse_state

pytestmark = pytest.mark.unit

octets = st.integers(min_value=0, max_value=255)
ips = st.builds(lambda a, b, c: f"10.{a}.{b}.{c}", octets, octets, octets)
zone_ids = st.uuids().map(str)


@st.composite
def elections(draw: st.DrawFn) -> list[ElectionNode]:
    peer_ips = draw(st.lists(ips, min_size=1, max_size=6, unique=True))
    seqs = draw(
        st.lists(st.integers(0, 9_999_999_999), min_size=len(peer_ips),
                 max_size=len(peer_ips), unique=True)
    )
    nodes = []
    for ip, seq in zip(peer_ips, seqs, strict=True):
        data = {"zoneId": draw(zone_ids), "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
        if draw(st.booleans()):  # its port is the name's (checked before a backfill)
            data["backupUrl"] = f"http://{ip}:12345"
        nodes.append(
            parse_election_node(f"{ip}:5432:12345-{seq:010d}", json.dumps(data).encode(), "s")
        )
    return nodes


@given(elections())
def test_every_peer_exactly_once_and_primary_is_first(nodes: list[ElectionNode]) -> None:
    state = compute_backfill_state(legacy_topology("s", nodes), "2026-01-01T00:00:00.000Z")
    ids = [peer.id for _, peer in state.peers_with_roles()]
    assert sorted(ids) == sorted(n.peer_id for n in nodes)
    assert len(ids) == len(set(ids))
    first = min(nodes, key=lambda n: n.seq)
    assert state.primary.id == first.peer_id
    assert state.freeze is not None and state.generation == 0


@given(elections())
def test_round_trips_through_json(nodes: list[ElectionNode]) -> None:
    state = compute_backfill_state(legacy_topology("s", nodes), "2026-01-01T00:00:00.000Z")
    again = parse_state(state.to_bytes(), "s")
    assert again.document == state.document
    assert again.to_bytes() == state.to_bytes()
    assert list(json.loads(state.to_bytes())) == list(state.document)


@given(elections())
def test_sync_is_the_last_joined_peer_when_there_are_three_or_more(
    nodes: list[ElectionNode],
) -> None:
    state = compute_backfill_state(legacy_topology("s", nodes), "2026-01-01T00:00:00.000Z")
    ordered = sorted(nodes, key=lambda n: n.seq)
    if len(ordered) >= 3:
        assert state.sync is not None and state.sync.id == ordered[-1].peer_id
        assert state.asyncs[-1].id == ordered[1].peer_id
    elif len(ordered) == 2:
        assert state.sync is not None and state.sync.id == ordered[1].peer_id
    else:
        assert state.sync is None
