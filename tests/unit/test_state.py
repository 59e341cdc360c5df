"""Parsing, validating and editing the cluster state without reordering it."""

from __future__ import annotations

import json

import pytest

from migrator.cluster.shard import MODE_BACKFILLED_FROZEN, MODE_LEGACY, MODE_MIGRATED, shard_mode
from migrator.cluster.state import parse_state
from migrator.errors import MalformedZnode, Refused
from migrator.isotime import iso_now_ms

pytestmark = pytest.mark.unit

PEER = {"zoneId": "z1", "ip": "10.0.0.1", "pgUrl": "tcp://postgres@10.0.0.1:5432/postgres",
        "backupUrl": "http://10.0.0.1:12345", "id": "10.0.0.1:5432:12345"}
PEER2 = {**PEER, "zoneId": "z2", "ip": "10.0.0.2", "id": "10.0.0.2:5432:12345"}
PEER_WRITTEN = {"generation": 1, "primary": PEER, "sync": PEER2, "async": [], "deposed": [],
                "initWal": "0/174A4D0"}


def raw(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def test_unfreeze_removes_only_freeze_and_keeps_order() -> None:
    doc = {**PEER_WRITTEN, "freeze": {"date": "d", "reason": "r"}}
    state = parse_state(raw(doc), "s").without_freeze()
    assert list(state.document) == ["generation", "primary", "sync", "async", "deposed", "initWal"]
    assert state.to_bytes() == raw(PEER_WRITTEN)


def test_freeze_appends_freeze_last() -> None:
    state = parse_state(raw(PEER_WRITTEN), "s").with_freeze(
        "maintenance", "2026-01-01T00:00:00.000Z"
    )
    assert list(state.document)[-1] == "freeze"
    assert state.freeze is not None and state.freeze.reason == "maintenance"


def test_freeze_twice_and_unfreeze_unfrozen_are_refused() -> None:
    state = parse_state(raw(PEER_WRITTEN), "s")
    with pytest.raises(Refused, match="not frozen"):
        state.without_freeze()
    frozen = state.with_freeze("a", "d")
    with pytest.raises(Refused, match="already frozen"):
        frozen.with_freeze("b", "d")


def test_roles() -> None:
    doc = {**PEER_WRITTEN, "sync": None, "async": [PEER2]}
    state = parse_state(raw(doc), "s")
    assert state.role_of(PEER["id"]) == "primary"
    assert state.role_of(PEER2["id"]) == "async"
    assert state.role_of("nope") is None


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (b"{", "does not hold JSON"),
        (raw([1]), "not an object"),
        (raw({"primary": PEER, "initWal": "0/0"}), "generation"),
        (raw({**PEER_WRITTEN, "generation": "1"}), "not an integer"),
        (raw({**PEER_WRITTEN, "primary": {"ip": "x"}}), "primary"),
        (raw({**PEER_WRITTEN, "async": {}}), "not a list"),
        (raw({**PEER_WRITTEN, "async": [{**PEER2, "id": "bad"}]}), "not shaped"),
    ],
)
def test_malformed_states(doc: bytes, expected: str) -> None:
    with pytest.raises(MalformedZnode, match=expected):
        parse_state(doc, "The /state of shard s")


def test_modes() -> None:
    assert shard_mode(None) == MODE_LEGACY
    backfilled = {**PEER_WRITTEN, "generation": 0, "freeze": {"date": "d", "reason": "r"}}
    assert shard_mode(parse_state(raw(backfilled), "s")) == MODE_BACKFILLED_FROZEN
    assert shard_mode(parse_state(raw(PEER_WRITTEN), "s")) == MODE_MIGRATED
    one_node = {**backfilled, "sync": None, "oneNodeWriteMode": True}
    assert shard_mode(parse_state(raw(one_node), "s")) == MODE_MIGRATED


def test_iso_now_has_milliseconds_and_z() -> None:
    value = iso_now_ms()
    assert value.endswith("Z") and len(value) == len("2026-11-26T03:59:01.007Z")
