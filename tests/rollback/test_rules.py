"""Pure rules behind the rollback checks, and the event stream's classification."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from migrator.cluster.original import capture
from migrator.cluster.state import ClusterState
from migrator.engine.events import EventConsole, EventSink
from migrator.steps import rollback as r
from tests.engine.helpers import snapshot

pytestmark = pytest.mark.unit

ORIGINAL = capture(snapshot([0, 1, 2]))
P, S, A = "original_primary", "original_sync", "original_async"


def _doc(role: str) -> dict[str, Any]:
    peer = ORIGINAL.by_role(role)
    return {**peer.data, "id": peer.peer_id}


def test_election_ordered_wants_exactly_these_peers_in_order() -> None:
    assert r.election_ordered(snapshot([0, 1, 2]), ORIGINAL, [P, S, A]).ok
    assert not r.election_ordered(snapshot([0, 2, 1]), ORIGINAL, [P, S, A]).ok
    missing = r.election_ordered(snapshot([0, 1]), ORIGINAL, [P, S, A])
    assert not missing.ok and "expected [primary, sync, async]" in missing.detail
    twice = r.election_ordered(snapshot([0, 1, 1], seqs=[0, 1, 2]), ORIGINAL, [P, S])
    assert not twice.ok and "twice" in twice.detail


def test_election_v1_wants_every_peer_once_in_any_order() -> None:
    assert r.election_v1(snapshot([1, 2, 0]), ORIGINAL).ok
    assert r.election_v1(snapshot([0, 1, 2]), ORIGINAL).data["order"] == [
        p.zone_id for p in ORIGINAL.peers]
    down = r.election_v1(snapshot([1, 2]), ORIGINAL)
    assert not down.ok and "rejoins at the end" in down.detail
    assert "twice" in r.election_v1(snapshot([0, 1, 2, 2], seqs=[0, 1, 2, 3]), ORIGINAL).detail


def test_rejoined_since_tells_a_new_session_from_the_old_one() -> None:
    before = snapshot([0, 1, 2])
    names = r.election_names(before, ORIGINAL.by_role(A).peer_id)
    assert not r.rejoined_since(before, ORIGINAL, A, names).ok
    gone = snapshot([0, 1])
    assert "has not rejoined" in r.rejoined_since(gone, ORIGINAL, A, names).detail
    back = snapshot([0, 1, 2], seqs=[0, 1, 7])
    assert r.rejoined_since(back, ORIGINAL, A, names).ok


def test_election_empty_only_when_no_peer_of_the_shard_is_left() -> None:
    assert not r.election_empty(snapshot([1]), ORIGINAL).ok
    assert r.election_empty(snapshot([]), ORIGINAL).ok


def test_deposed_and_rejoined_as_async() -> None:
    deposed = ClusterState({"generation": 1, "primary": _doc(A), "sync": _doc(S), "async": [],
                            "deposed": [_doc(P)], "initWal": "0/1"})
    rejoined = ClusterState({"generation": 1, "primary": _doc(A), "sync": _doc(S),
                             "async": [_doc(P)], "deposed": [], "initWal": "0/1"})
    assert r.zone_deposed(snapshot([2, 1, 0], deposed), ORIGINAL, P).ok
    assert not r.rejoined_as_async(snapshot([2, 1, 0], deposed), ORIGINAL, P).ok
    assert r.rejoined_as_async(snapshot([2, 1, 0], rejoined), ORIGINAL, P).ok
    not_in_election = r.rejoined_as_async(snapshot([2, 1], rejoined), ORIGINAL, P)
    assert not not_in_election.ok and "not in the election" in not_in_election.detail


@pytest.mark.parametrize(("version", "expected"), [
    ("1.0.0-sandbox", True), ("1.0.0", True), ("1.4.2", True), ("0.9", False),
    ("2.1.1-sandbox", False), ("2.1.1", False), ("9.0", False), ("garbage", False),
])
def test_rolled_back_means_the_old_image_or_between_it_and_the_new(
    version: str, expected: bool
) -> None:
    assert r.rolled_back(version, "1.0.0-sandbox", "2.1.1-sandbox") is expected


def test_rolled_back_without_a_report_or_a_newer_version() -> None:
    assert r.rolled_back(None, "1.0.0", "2.1.1") is None
    assert r.rolled_back("1.0.0", "1.0.0", None) is True
    assert r.rolled_back("2.1.1", "1.0.0", None) is False


def test_event_console_reports_checks_not_other_lines() -> None:
    out = io.StringIO()
    console = EventConsole(EventSink(stream=out), assume_yes=True, shard="s",
                           stream=io.StringIO())
    console.ok("precondition state_absent: no /state")
    with console.waiting("the zone reports the old image", 5):
        pass
    console.fail("zone_rolled_back: not at the old image")
    console.ok("already done: state_absent: no /state")
    console.ok("reprovisioned z to 1.0.0")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    checks = [(e["check"], e["kind"], e["passed"]) for e in lines if e["event"] == "check"]
    assert checks == [("state_absent", "precondition", True),
                      ("zone_rolled_back", "verify", False)]
    assert [e["event"] for e in lines] == ["check", "waiting", "check"]
