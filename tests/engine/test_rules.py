"""Pure shard rules: the backfill checks, either outcome of the primary's reprovision."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.original import capture, reconstruct
from migrator.cluster.state import ClusterState
from migrator.steps import shard_rules as rules
from tests.engine.helpers import IPS, ZONES, snapshot, v2_record

pytestmark = pytest.mark.unit

DATE = "2026-11-26T03:59:01.007Z"


def _original() -> object:
    return capture(snapshot([0, 1, 2]))


def test_backfill_checks_tick_the_runbook_four_and_more() -> None:
    original = capture(snapshot([0, 1, 2]))
    outcome = rules.backfill_checks(snapshot([0, 1, 2]), original, DATE)
    assert outcome.ok
    assert len(outcome.data["checks"]) == 6
    assert all(line.startswith("[x]") for line in outcome.data["checks"])
    state = outcome.data["state"]
    assert state["primary"]["zoneId"] == ZONES[0]
    assert state["sync"]["zoneId"] == ZONES[2]  # the original async
    assert [p["zoneId"] for p in state["async"]] == [ZONES[1]]  # the original sync


def test_backfill_checks_fail_when_the_election_moved() -> None:
    original = capture(snapshot([0, 1, 2]))
    moved = snapshot([1, 2, 0], seqs=[3, 4, 5])  # the primary restarted and queued last
    outcome = rules.backfill_checks(moved, original, DATE)
    assert not outcome.ok
    assert "election order still matches" in outcome.detail
    assert any(line.startswith("[ ]") for line in outcome.data["checks"])


def test_backfill_checks_fail_when_state_exists() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, DATE)
    outcome = rules.backfill_checks(snapshot([0, 1, 2], state), original, DATE)
    assert not outcome.ok and "/state does not exist yet" in outcome.detail


def test_state_matches_backfill_ignores_only_the_freeze_date() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, DATE)
    assert rules.state_matches_backfill(snapshot([0, 1, 2], state), original).ok
    unfrozen = state.without_freeze()
    outcome = rules.state_matches_backfill(snapshot([0, 1, 2], unfrozen), original)
    assert not outcome.ok and "freeze" in outcome.detail


def test_election_rejoined_needs_a_new_session() -> None:
    original = capture(snapshot([0, 1, 2]))
    assert not rules.election_rejoined(snapshot([0, 1, 2]), original, "original_async").ok
    gone = snapshot([0, 1])
    assert "has no election node" in rules.election_rejoined(gone, original,
                                                             "original_async").detail
    back = snapshot([0, 1, 2], seqs=[0, 1, 7])
    assert rules.election_rejoined(back, original, "original_async").ok


def _takeover_state(original: object) -> ClusterState:
    doc = rules.expected_backfill(original, DATE).without_freeze().document  # type: ignore[arg-type]
    doc = dict(doc)
    old_primary, new_primary = doc["primary"], doc["sync"]
    doc.update(primary=new_primary, sync=doc["async"][0], async_=None)
    doc.pop("async_")
    doc["async"] = [old_primary]
    doc["generation"] = 1
    return ClusterState(doc)


def test_primary_settled_accepts_a_takeover() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = _takeover_state(original)
    outcome = rules.primary_settled(snapshot([2, 1, 0], state, seqs=[5, 6, 9]), original,
                                    "original_async", "original_primary")
    assert outcome.ok and outcome.data["outcome"] == "takeover"


def test_primary_settled_accepts_the_primary_back_in_time() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, DATE).without_freeze()
    still_old = snapshot([1, 2, 0], state, seqs=[5, 6, 0])  # its original node: not restarted
    assert not rules.primary_settled(still_old, original, "original_async",
                                     "original_primary").ok
    back = snapshot([1, 2, 0], state, seqs=[5, 6, 9])
    outcome = rules.primary_settled(back, original, "original_async", "original_primary")
    assert outcome.ok and outcome.data["outcome"] == "stayed"


def test_peers_all_present_and_deposed() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = _takeover_state(original)
    doc = dict(state.document)
    doc["deposed"], doc["async"] = doc["async"], []
    deposed = ClusterState(doc)
    assert rules.peers_all_present(snapshot([2, 1], deposed), original, True).ok
    outcome = rules.peers_all_present(snapshot([2, 1], deposed), original, False)
    assert not outcome.ok and "deposed" in outcome.detail
    doc2 = dict(doc)
    doc2["deposed"] = []
    missing = rules.peers_all_present(snapshot([2, 1], ClusterState(doc2)), original, True)
    assert not missing.ok and ZONES[0][:8] in missing.detail


def test_history_progression_and_reconstruction() -> None:
    original = capture(snapshot([0, 1, 2]))
    backfill = rules.expected_backfill(original, DATE)
    unfrozen = backfill.without_freeze()
    takeover = _takeover_state(original)
    history = [v2_record(4, backfill.document), v2_record(5, unfrozen.document),
               v2_record(6, takeover.document)]
    snap = snapshot([2, 1, 0], takeover, seqs=[5, 6, 9])
    assert rules.history_progression(history, snap, original,
                                     ["backfill", "unfreeze", "generation"]).ok
    partial = rules.history_progression(history[:1], snap, original,
                                        ["backfill", "unfreeze", "generation"])
    assert not partial.ok and "unfreeze" in partial.detail and "generation" in partial.detail
    rebuilt = reconstruct("1.moray.test", history)
    assert rebuilt is not None
    assert [p.zone_id for p in rebuilt.peers] == ZONES
    assert [p.role for p in rebuilt.peers] == ["original_primary", "original_sync",
                                              "original_async"]
    # recomputing the backfill from the reconstruction gives the same bytes
    assert rules.expected_backfill(rebuilt, DATE).to_bytes() == backfill.to_bytes()
    assert IPS[0] in rebuilt.peers[0].peer_id


@given(st.integers(min_value=1, max_value=5), st.permutations(range(5)),
       st.lists(st.integers(min_value=0, max_value=10**6), min_size=5, max_size=5,
                unique=True))
def test_reconstruction_from_the_backfill_record_recovers_the_original(
    size: int, order: list[int], seqs: list[int]
) -> None:
    """Whatever the election, the topology rebuilt from the backfill's history record is
    the one captured, role for role, and recomputes the same bytes."""
    import json as _json

    from migrator.cluster.election import legacy_topology, parse_election_node
    from migrator.cluster.shard import ShardSnapshot

    nodes = []
    for position in range(size):
        k = order[position]
        ip = f"127.0.2.{k + 1}"
        data = {"zoneId": f"{k:08d}-0000-4000-8000-000000000000", "ip": ip,
                "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
        nodes.append(parse_election_node(f"{ip}:5432:12345-{seqs[position]:010d}",
                                         _json.dumps(data).encode(), "s"))
    snap = ShardSnapshot("s", legacy_topology("s", nodes), None, None)
    original = capture(snap)
    assert rules.backfill_checks(snap, original, DATE).ok
    state = rules.expected_backfill(original, DATE)
    rebuilt = reconstruct("s", [v2_record(9, state.document)])
    assert rebuilt is not None
    assert [(p.role, p.peer_id) for p in rebuilt.peers] == [
        (p.role, p.peer_id) for p in original.peers]
    assert rules.expected_backfill(rebuilt, DATE).to_bytes() == state.to_bytes()
