"""Election data is checked before it becomes /state (pure, no I/O)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.backfill import compute_backfill_state
from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.cluster.peer_checks import MAX_PEERS, InvalidPeerData, require_valid_peers
from migrator.errors import EXIT_BAD_INPUT

pytestmark = pytest.mark.unit

SHARD = "1.moray.test"
ZONE = "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"
IP = "10.77.77.47"
NAME = f"{IP}:5432:12345-0000000001"


def _good() -> dict[str, str]:
    return {"zoneId": ZONE, "ip": IP, "pgUrl": f"tcp://postgres@{IP}:5432/postgres",
            "backupUrl": f"http://{IP}:12345"}


def _refusal(raw: bytes, name: str = NAME) -> str:
    topology = legacy_topology(SHARD, [parse_election_node(name, raw, SHARD)])
    with pytest.raises(InvalidPeerData) as caught:
        compute_backfill_state(topology, "2026-01-01T00:00:00.000Z")
    assert caught.value.exit_status == EXIT_BAD_INPUT
    assert name in caught.value.message and "nothing was written" in caught.value.message
    return caught.value.message


def test_what_manatee_writes_is_accepted() -> None:
    for data in (_good(), {k: v for k, v in _good().items() if k != "backupUrl"}):
        node = parse_election_node(NAME, json.dumps(data).encode(), SHARD)
        require_valid_peers(legacy_topology(SHARD, [node]))


@pytest.mark.parametrize("field,value,words", [
    ("zoneId", "not-a-uuid", "not a UUID"),
    ("zoneId", f"{ZONE}\x1b]0;title\x07", "not a UUID"),
    ("zoneId", "[bold red]x[/]", "not a UUID"),
    ("ip", f"{IP};touch /tmp/PWNED", "not an IPv4 address"),
    ("ip", "10.77.77.48", "but its name says"),
    ("pgUrl", f"tcp://postgres@{IP}:5432/$(touch /tmp/PWNED)", "not tcp://"),
    ("pgUrl", "tcp://postgres@10.77.77.48:5432/postgres", "does not point at its own"),
    ("pgUrl", f"tcp://postgres@{IP}:5433/postgres", "does not point at its own"),
    ("backupUrl", f"http://{IP}:12345/`id`", "not http://IP:PORT"),
    ("backupUrl", f"http://{IP}:9999", "does not point at its own"),
    ("extra", "a\x1b[2Jb", "not short printable text"),
    ("extra", ["nested"], "not short printable text"),
])
def test_hostile_fields_are_refused_naming_the_node_and_field(
        field: str, value: object, words: str) -> None:
    assert words in _refusal(json.dumps({**_good(), field: value}).encode())


def test_a_key_given_twice_is_refused() -> None:
    raw = (f'{{"zoneId":"{ZONE}","ip":"{IP}","pgUrl":"tcp://postgres@{IP}:5432/postgres",'
           f'"zoneId":"{ZONE}"}}').encode()
    assert "'zoneId' twice" in _refusal(raw)


def test_more_peers_than_any_shard_has_are_refused() -> None:
    nodes = [parse_election_node(
        f"10.0.{i // 250}.{i % 250 + 1}:5432:12345-{i:010d}", json.dumps({
            "zoneId": ZONE, "ip": f"10.0.{i // 250}.{i % 250 + 1}",
            "pgUrl": f"tcp://postgres@10.0.{i // 250}.{i % 250 + 1}:5432/postgres"}).encode(),
        SHARD) for i in range(500)]
    with pytest.raises(InvalidPeerData) as caught:
        require_valid_peers(legacy_topology(SHARD, nodes))
    assert "500 nodes" in caught.value.message and str(MAX_PEERS) in caught.value.message


@given(st.text(max_size=60))
def test_any_text_in_a_peer_field_either_is_what_manatee_writes_or_is_refused(
        text: str) -> None:
    """Whatever lands in /state from a field is a UUID, the address, or a URL to it."""
    for field in ("zoneId", "ip", "pgUrl", "backupUrl"):
        node = parse_election_node(NAME, json.dumps({**_good(), field: text}).encode(),
                                   SHARD)
        try:
            require_valid_peers(legacy_topology(SHARD, [node]))
        except InvalidPeerData:
            continue
        assert text.isascii() and text.isprintable() and not any(
            c in text for c in " ;$`'\"\\|&<>(){}[]*?!#~")
