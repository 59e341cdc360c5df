"""Pure decisions: which /state changes are someone else's, and --break-lock's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.engine.lock import BreakDecision, LockHolder, break_decision
from migrator.engine.statewatch import foreign_change

pytestmark = pytest.mark.unit

PEER = {"zoneId": "z1", "ip": "10.0.0.1", "pgUrl": "tcp://postgres@10.0.0.1:5432/postgres",
        "backupUrl": "http://10.0.0.1:12345", "id": "10.0.0.1:5432:12345"}


def _state(**changes: Any) -> bytes:
    doc: dict[str, Any] = {"primary": PEER, "sync": None, "async": [], "generation": 0,
                           "initWal": "0/0000000",
                           "freeze": {"date": "2024-01-01T00:00:00.000Z", "reason": "backfill"}}
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_our_own_writes_and_unchanged_content_are_not_alarms() -> None:
    frozen, unfrozen = _state(), _state(freeze=...)
    assert foreign_change(frozen, frozen, []) is None
    assert foreign_change(frozen, unfrozen, [unfrozen]) is None
    assert foreign_change(None, frozen, [frozen]) is None
    assert foreign_change(frozen, None, [None]) is None


def test_peer_changes_are_not_alarms() -> None:
    before = _state(freeze=...)
    assert foreign_change(before, _state(freeze=..., generation=1), []) is None
    assert foreign_change(before, _state(freeze=..., initWal="0/174A4D0"), []) is None


def test_our_write_then_a_peers_seen_as_one_change_is_not_an_alarm() -> None:
    """The watch may fire once for our unfreeze and the takeover right after it."""
    frozen, unfrozen = _state(), _state(freeze=...)
    taken_over = _state(freeze=..., generation=1)
    assert foreign_change(frozen, taken_over, [unfrozen]) is None
    # but not when our write was something else: the unfreeze is still someone else's
    assert foreign_change(frozen, taken_over, [frozen]) == (
        "the shard was unfrozen (it was frozen 2024-01-01T00:00:00.000Z: backfill)")
    refrozen = _state(freeze={"date": "2024-02-02T00:00:00.000Z", "reason": "hands"})
    assert foreign_change(frozen, refrozen, [unfrozen]) == (
        "the freeze was changed to 2024-02-02T00:00:00.000Z: hands")


def test_operator_changes_are_alarms_saying_what_changed() -> None:
    frozen, unfrozen = _state(), _state(freeze=...)
    assert foreign_change(frozen, unfrozen, []) == (
        "the shard was unfrozen (it was frozen 2024-01-01T00:00:00.000Z: backfill)")
    assert "the shard was frozen (" in (foreign_change(unfrozen, frozen, []) or "")
    assert foreign_change(frozen, None, []) == "/state was deleted"
    assert (foreign_change(None, frozen, []) or "").startswith("/state was created")
    refrozen = _state(freeze={"date": "2024-02-02T00:00:00.000Z", "reason": "other"})
    assert "the freeze was changed" in (foreign_change(frozen, refrozen, []) or "")
    onwm = _state(oneNodeWriteMode=True)
    assert foreign_change(frozen, onwm, []) == "oneNodeWriteMode was set"
    assert "not a cluster state" in (foreign_change(frozen, b"{nope", []) or "")


def _holder(identity: str, created_ms: int = 0) -> LockHolder:
    return LockHolder(identity, "f00-lock-0000000001", 0xABC, created_ms)


def test_break_refuses_a_live_holder_on_this_machine_naming_its_pid() -> None:
    decision = break_decision([_holder("me@here pid 42")], 10_000,
                              lambda identity: 42 if identity.endswith("pid 42") else None)
    assert decision == BreakDecision(False, [decision.lines[0]])
    assert "alive (pid 42)" in decision.lines[0]


def test_break_of_a_holder_elsewhere_shows_its_session_age() -> None:
    decision = break_decision([_holder("op@far pid 7", created_ms=1_000)], 3_601_000,
                              lambda _identity: None)
    assert decision.allowed
    assert decision.lines == [
        "op@far pid 7 holds lock node f00-lock-0000000001 in ZooKeeper session 0xabc, which "
        "has existed for at least 60 min (its node's creation); a dead holder's session "
        "ends by itself after the session timeout."]
