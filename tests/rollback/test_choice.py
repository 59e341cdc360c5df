"""Pure rollback decisions: the variant, the current roles, the resolved playbook, the
watchdog's assessment. No I/O beyond reading the playbook files."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.original import OriginalTopology, capture
from migrator.cluster.state import ClusterState
from migrator.engine import alarms, rollback, watchdog
from migrator.engine.journal import Journal, StepRecord, new_journal, new_run, stamp
from migrator.errors import UnexpectedTopology
from migrator.playbook import catalog
from migrator.steps import shard_rules as rules
from tests.engine.helpers import SHARD, ZONES, snapshot, v2_record

pytestmark = pytest.mark.unit

NOW = "2026-11-26T05:00:00.000Z"
ORIGINAL = capture(snapshot([0, 1, 2]))


def _peer(original: OriginalTopology, role: str) -> dict[str, Any]:
    peer = original.by_role(role)
    return {**peer.data, "id": peer.peer_id}


def _state(original: OriginalTopology, primary: str, sync: str | None, asyncs: list[str],
           deposed: list[str] | None = None, generation: int = 1,
           frozen: bool = False) -> ClusterState:
    document: dict[str, Any] = {
        "generation": generation, "primary": _peer(original, primary),
        "sync": None if sync is None else _peer(original, sync),
        "async": [_peer(original, r) for r in asyncs],
        "deposed": [_peer(original, r) for r in deposed or []], "initWal": "0/174A4D0",
    }
    if frozen:
        document["freeze"] = {"date": NOW, "reason": "test"}
    return ClusterState(document)


def _journal(steps: dict[str, str], original: OriginalTopology = ORIGINAL,
             outputs: dict[str, dict[str, Any]] | None = None) -> Journal:
    journal = new_journal(SHARD, original, {"election": []}, "op@host")
    journal = journal.with_run(new_run("migration", "three-node", "sha256:x", "op@host"))
    for step_id, status in steps.items():
        record = (stamp(StepRecord(), "done", "op@host", done_by=status.split(":")[1],
                        outputs=(outputs or {}).get(step_id, {}))
                  if status.startswith("done") else StepRecord(status=status))
        journal = journal.with_step("migration", step_id, record)
    return journal


def _template(variant: str) -> tuple[bytes, str]:
    path = catalog.playbooks_dir() / f"{variant}.yaml"
    return path.read_bytes(), str(path)


def _resolved(choice: rollback.RollbackChoice) -> Any:
    assert choice.variant is not None
    return rollback.resolve_playbook(choice, *_template(choice.variant)).playbook


def test_nothing_to_roll_back_without_journal_or_state() -> None:
    choice = rollback.choose(snapshot([0, 1, 2]), [], None)
    assert choice.nothing
    assert "nothing to roll back" in choice.explanation()


def test_after_the_backfill_rolls_back_the_original_sync_then_the_original_async() -> None:
    backfill = rules.expected_backfill(ORIGINAL, NOW)
    snap = snapshot([0, 1, 2], backfill)
    choice = rollback.choose(snap, [], _journal({"reprovision-async": "done:verified",
                                                 "backfill": "done:verified"}))
    assert choice.variant == rollback.BEFORE_PRIMARY
    assert choice.roles == {"current_primary": "original_primary",
                            "current_sync": "original_async", "current_async": "original_sync"}
    book = _resolved(choice)
    assert [s.id for s in book.steps] == ["record-topology", "roll-back-async",
                                          "roll-back-sync", "delete-state", "confirm-v1"]
    assert book.step("roll-back-async").zones == ["original_sync"]
    assert book.step("roll-back-sync").action.params["zone"] == "original_async"
    assert [r.check for r in book.step("confirm-v1").verify] == [
        "state_absent", "zones_rolled_back", "election_v1", "v1_writes_flow",
        "primary_holds_all_data"]  # and no peer holds data the v1 primary lacks


def test_before_the_backfill_the_election_gives_the_current_roles() -> None:
    choice = rollback.choose(snapshot([0, 1, 2]), [], _journal(
        {"reprovision-async": "acting"}))
    assert choice.variant == rollback.BEFORE_PRIMARY
    book = _resolved(choice)
    # the current async is the original async (reprovisioned, no /state yet): it goes first
    assert book.step("roll-back-async").zones == ["original_async"]
    assert book.step("roll-back-sync").zones == ["original_sync"]
    # the final check asks for a v1 election, whatever was rolled back first
    assert "election_v1" in [r.check for r in book.step("confirm-v1").verify]


def test_a_v2_zone_heading_the_election_is_still_rolled_back() -> None:
    """Killed after the async's reprovision, then the primary's and the sync's sitters
    restarted (or every session expired): the election is [async (v2), primary, sync]
    with no /state. The original primary keeps the primary's role, so the v2 zone is one
    the rollback reprovisions (the zones' versions decide which steps are done)."""
    choice = rollback.choose(snapshot([2, 0, 1]), [], _journal(
        {"reprovision-async": "done:verified"}))
    assert choice.variant == rollback.BEFORE_PRIMARY
    assert choice.roles["current_primary"] == "original_primary"
    book = _resolved(choice)
    rolled = {book.step(i).action.params["zone"] for i in ("roll-back-async",
                                                           "roll-back-sync")}
    assert rolled == {"original_async", "original_sync"}
    assert book.step("roll-back-sync").action.params["zone"] == "original_async"


def test_a_takeover_picks_after_primary_with_the_deposed_peer_last() -> None:
    state = _state(ORIGINAL, "original_async", "original_sync", [], ["original_primary"])
    choice = rollback.choose(snapshot([2, 1, 0], state), [], _journal(
        {"reprovision-primary": "done:verified"}))
    assert choice.variant == rollback.AFTER_PRIMARY
    assert "journal shows the primary's reprovision began" in choice.explanation()
    book = _resolved(choice)
    assert [s.id for s in book.steps] == [
        "record-topology", "disable-sitters", "delete-state", "roll-back-primary",
        "roll-back-sync", "roll-back-async", "confirm-v1"]
    assert [book.step(i).zones[0] for i in ("roll-back-primary", "roll-back-sync",
                                            "roll-back-async")] == [
        "original_async", "original_sync", "original_primary"]
    assert book.step("disable-sitters").outage and book.step("disable-sitters").confirm == "typed"


def test_primary_that_stayed_is_rolled_back_first() -> None:
    state = _state(ORIGINAL, "original_primary", "original_async", ["original_sync"],
                   generation=0)
    # no journal: the live /state alone does not show the reprovision, the journal does
    choice = rollback.choose(snapshot([0, 2, 1], state), [], _journal(
        {"reprovision-primary": "verifying"}))
    assert choice.variant == rollback.AFTER_PRIMARY
    book = _resolved(choice)
    assert [book.step(i).zones[0] for i in ("roll-back-primary", "roll-back-sync",
                                            "roll-back-async")] == [
        "original_primary", "original_async", "original_sync"]
    order = next(r for r in book.step("confirm-v1").verify if r.check == "election_ordered")
    assert order.params["order"] == ["original_primary", "original_async", "original_sync"]
    synced = next(r for r in book.step("confirm-v1").verify if r.check == "replication_synced")
    assert synced.params == {"primary": "original_primary", "sync": "original_async"}


def test_live_state_alone_shows_a_takeover() -> None:
    state = _state(ORIGINAL, "original_async", "original_sync", ["original_primary"])
    choice = rollback.choose(snapshot([2, 1, 0], state), [], _journal({}))
    assert choice.variant == rollback.AFTER_PRIMARY
    assert "not the original primary" in choice.explanation()


def test_two_and_one_node_shards_drop_the_missing_roles() -> None:
    two = capture(snapshot([0, 1]))
    state = _state(two, "original_primary", "original_sync", [], generation=0)
    choice = rollback.choose(snapshot([0, 1], state), [], _journal(
        {"reprovision-primary": "done:verified"}, two))
    book = _resolved(choice)
    assert book.peers == 2
    assert [s.id for s in book.steps] == ["record-topology", "disable-sitters", "delete-state",
                                          "roll-back-primary", "roll-back-sync", "confirm-v1"]
    assert book.step("roll-back-primary").zones == ["original_primary"]
    order = next(r for r in book.step("confirm-v1").verify if r.check == "election_ordered")
    assert order.params["order"] == ["original_primary", "original_sync"]

    one = capture(snapshot([0]))
    state = _state(one, "original_primary", None, [], generation=0)
    choice = rollback.choose(snapshot([0], state), [], _journal(
        {"reprovision-primary": "done:verified"}, one))
    book = _resolved(choice)
    assert [s.id for s in book.steps] == ["record-topology", "disable-sitters", "delete-state",
                                          "roll-back-primary", "confirm-v1"]
    assert not any(r.check == "replication_synced" for r in book.step("confirm-v1").verify)


def test_morays_upgraded_in_the_run_come_first() -> None:
    journal = _journal({"upgrade-morays": "done:verified", "reprovision-async": "done:verified"},
                       outputs={"upgrade-morays": {"morays": ["moray0"]}})
    choice = rollback.choose(snapshot([0, 1, 2]), [], journal)
    assert choice.morays
    assert [s.id for s in _resolved(choice).steps][:2] == ["record-topology", "roll-back-morays"]
    # vouched for by the operator (none listed) or found already done: no Moray step
    for outputs, done_by in (({"morays": []}, "verified"), ({"morays": ["m"]}, "already-held")):
        journal = _journal({"upgrade-morays": f"done:{done_by}"},
                           outputs={"upgrade-morays": outputs})
        choice = rollback.choose(snapshot([0, 1, 2]), [], journal)
        assert not choice.morays
        assert "roll-back-morays" not in [s.id for s in _resolved(choice).steps]


def test_a_resumed_rollback_keeps_the_roles_it_recorded() -> None:
    journal = _journal({"reprovision-primary": "done:verified"})
    recorded = {"current_primary": "original_async", "current_sync": "original_sync",
                "current_async": "original_primary"}
    run = new_run("rollback", rollback.AFTER_PRIMARY, "sha256:y", "op@host")
    journal = journal.with_run(run).with_step(
        "rollback", rollback.RECORD_STEP,
        stamp(StepRecord(), "done", "op@host", outputs={"roles": recorded, "morays": False}))
    # half way: /state is gone and only the old primary's zone is back, first in the election
    choice = rollback.choose(snapshot([2]), [], journal)
    assert choice.resumed and choice.variant == rollback.AFTER_PRIMARY
    assert choice.roles == recorded
    first = rollback.resolve_playbook(choice, *_template(choice.variant))
    again = rollback.resolve_playbook(choice, *_template(choice.variant))
    assert first.digest == again.digest  # a resume is not refused as a changed playbook


def test_more_peers_than_the_playbooks_cover_is_refused() -> None:
    from migrator.cluster.election import legacy_topology, parse_election_node
    from migrator.cluster.shard import ShardSnapshot

    nodes = [parse_election_node(f"127.0.1.{50 + i}:5432:12345-{i:010d}",
                                 f'{{"zoneId":"z{i}","ip":"127.0.1.{50 + i}",'
                                 f'"pgUrl":"tcp://postgres@127.0.1.{50 + i}:5432/postgres"}}'
                                 .encode(), SHARD) for i in range(4)]
    snap = ShardSnapshot(SHARD, legacy_topology(SHARD, nodes), None, None)
    original = capture(snap)
    with pytest.raises(UnexpectedTopology, match="cover shards of 1 to 3"):
        rollback.choose(snap, [], _journal({}, original))


ROLES = ["original_primary", "original_sync", "original_async"]


@given(st.permutations(ROLES), st.booleans())
def test_after_primary_rolls_back_every_zone_once_in_the_current_order(
    order: list[str], deposed_last: bool
) -> None:
    state = _state(ORIGINAL, order[0], order[1], [] if deposed_last else [order[2]],
                   [order[2]] if deposed_last else [])
    choice = rollback.choose(snapshot([0, 1, 2], state), [], _journal({}))
    assert choice.variant == rollback.AFTER_PRIMARY or order[0] == "original_primary"
    choice = rollback.RollbackChoice(rollback.AFTER_PRIMARY, [], choice.roles, False, ORIGINAL)
    book = _resolved(choice)
    rolled = [s.zones[0] for s in book.steps if s.id.startswith("roll-back-")]
    assert rolled == order  # primary first: the v1 election comes back in the current order
    confirm = next(r for r in book.step("confirm-v1").verify if r.check == "election_ordered")
    assert confirm.params["order"] == order


@given(st.sampled_from(list(itertools.permutations(range(3)))))
def test_before_primary_touches_each_non_primary_zone_once(perm: tuple[int, ...]) -> None:
    snap = snapshot(list(perm))
    roles = rollback.current_roles(snap, ORIGINAL)
    choice = rollback.RollbackChoice(rollback.BEFORE_PRIMARY, [], roles, False, ORIGINAL)
    book = _resolved(choice)
    rolled = [s.zones[0] for s in book.steps if s.id.startswith("roll-back-")]
    assert sorted(rolled) == sorted(r for r in ROLES if r != roles["current_primary"])


# ---- the watchdog's assessment -----------------------------------------------------------


def _mixed(order: list[int], seqs: list[int] | None = None) -> Any:
    return snapshot(order, rules.expected_backfill(ORIGINAL, NOW), seqs=seqs)


def test_primary_gone_in_the_mixed_window_is_the_split_brain_alarm() -> None:
    assert alarms.assess(_mixed([0, 1, 2]), ORIGINAL) == []
    found = alarms.assess(_mixed([1, 2], seqs=[1, 2]), ORIGINAL)
    assert [a.kind for a in found] == [alarms.PRIMARY_LOST]
    alarm = found[0]
    assert alarm.stop and alarm.zone == ZONES[0]
    assert alarms.RUNBOOK_WARNING in alarm.message
    assert "roll back the original async" in alarm.remedy and ZONES[2] in alarm.remedy


def test_the_phase_follows_what_the_sync_runs_not_its_election_node() -> None:
    """After a ZooKeeper pause expires every session, the v2 sync has no node for a
    while, as a v1 sync under reprovision would: with its version known the watchdog
    says "frozen" (and does not tell the split-brain story of a v1 sync); with it
    unknown, the election's evidence stands."""
    gone = _mixed([2], seqs=[5])  # only the original async rejoined so far
    assert alarms.phase(gone, ORIGINAL) == alarms.MIXED  # no version known: by the node
    assert alarms.phase(gone, ORIGINAL, sync_runs_v2=True) == alarms.FROZEN
    assert alarms.phase(gone, ORIGINAL, sync_runs_v2=False) == alarms.MIXED
    assert [a.kind for a in alarms.assess(gone, ORIGINAL)] == [alarms.PRIMARY_LOST]
    assert alarms.PRIMARY_LOST not in [
        a.kind for a in alarms.assess(gone, ORIGINAL, sync_runs_v2=True)]
    # a v1 sync that still holds its node is "mixed" however the election looks
    assert alarms.phase(_mixed([0, 2, 1], seqs=[0, 2, 3]), ORIGINAL,
                        sync_runs_v2=False) == alarms.MIXED


def test_after_the_sync_rejoined_only_the_sync_leaving_stops_the_run() -> None:
    # the original sync (index 1) came back under a new session (sequence 3)
    assert alarms.phase(_mixed([0, 2, 1], seqs=[0, 2, 3]), ORIGINAL) == alarms.FROZEN
    # frozen: nobody takes over from A, but A itself, still v1, rejoins by election order
    # (issue 24): its session's end stops the run, unless the run is reprovisioning it or
    # it runs v2 already
    away = _mixed([2, 1], seqs=[2, 3])
    assert [a.kind for a in alarms.assess(away, ORIGINAL)] == [alarms.PRIMARY_REJOINED]
    assert alarms.assess(away, ORIGINAL, acting_zone=ZONES[0]) == []
    assert alarms.assess(away, ORIGINAL, primary_v1=False) == []
    back = _mixed([2, 1, 0], seqs=[2, 3, 4])  # A rejoined at the end, under a new session
    (rejoined,) = alarms.assess(back, ORIGINAL)
    assert rejoined.kind == alarms.PRIMARY_REJOINED and rejoined.stop
    assert "came back as" in rejoined.message and "(rejoined)" in rejoined.message
    assert "compare the peers' data" in rejoined.remedy and "migrator rollback" in (
        rejoined.remedy)
    found = alarms.assess(_mixed([0, 1], seqs=[0, 3]), ORIGINAL)
    assert [a.kind for a in found] == [alarms.SYNC_LOST]
    assert "before the unfreeze" in found[0].message


def test_any_peer_losing_its_session_in_the_mixed_window_stops_the_run() -> None:
    """Issue 24: the session of any peer, not only the primary's. In the mixed window the
    original sync (still v1) that rejoins under a new session follows the election order
    from then on; the run stops, naming the peers that rejoined and the order. Its own
    reprovisions (zones it acted on) rename nodes on purpose and do not count."""
    start = _mixed([0, 1, 2], seqs=[0, 1, 2])
    seen = {n.peer_id: n.name for n in start.topology.nodes}
    assert alarms.assess(start, ORIGINAL, seen=seen) == []
    back = _mixed([0, 2, 1], seqs=[0, 2, 7])  # the sync rejoined at the end (sequence 7)
    found = alarms.assess(back, ORIGINAL, seen=seen)
    assert [(a.kind, a.stop, a.zone) for a in found] == [
        (alarms.PEER_REJOINED, True, ZONES[1])]
    message = found[0].message
    assert "original sync" in message and "came back as" in message
    order = message.split("The election is now: ")[1]
    assert "(rejoined)" in order
    assert order.index(ZONES[2][:8]) < order.index(ZONES[1][:8])  # the election's order
    assert "migrator rollback" in found[0].remedy
    gone = _mixed([0, 2], seqs=[0, 2])
    assert [a.kind for a in alarms.assess(gone, ORIGINAL, sync_runs_v2=False, seen=seen)
            ] == [alarms.PEER_REJOINED]
    # the run's own reprovision of the sync, now or earlier in the run: no alarm
    assert alarms.assess(back, ORIGINAL, seen=seen, acting_zone=ZONES[1]) == []
    assert alarms.assess(back, ORIGINAL, seen=seen, acted={ZONES[1]}) == []
    # without what the run saw first (a caller that does not track it): as before
    assert alarms.assess(back, ORIGINAL) == []
    # once unfrozen the window is over
    unfrozen = snapshot([0, 2, 1], rules.expected_backfill(ORIGINAL, NOW).without_freeze(),
                        seqs=[0, 2, 7])
    assert alarms.assess(unfrozen, ORIGINAL, seen=seen) == []


def test_unfrozen_or_migrated_shards_raise_no_stop_but_explain_deposed() -> None:
    unfrozen = snapshot([0, 2, 1], rules.expected_backfill(ORIGINAL, NOW).without_freeze())
    assert alarms.assess(snapshot([2, 1], unfrozen.state), ORIGINAL) == []
    deposed = _state(ORIGINAL, "original_async", "original_sync", [], ["original_primary"])
    found = alarms.assess(snapshot([2, 1, 0], deposed), ORIGINAL)
    assert [(a.kind, a.stop) for a in found] == [(alarms.DEPOSED, False)]
    assert "rebuild-deposed" in found[0].remedy


def test_remedy_plan_is_the_before_primary_rollback() -> None:
    journal = _journal({"backfill": "done:verified"})
    lines = watchdog.remedy_plan(_mixed([1, 2], seqs=[1, 2]), [v2_record(4, {})], journal)
    assert lines[0].startswith("rollback-before-primary")
    assert any("Roll back the current sync" in line and ZONES[2] in line for line in lines)


@pytest.mark.parametrize("peers,after,words", [
    (1, "the primary).", "the sync"),
    (2, "the primary and the sync).", "the async"),
    (3, "the primary, the sync and the async).", None),
])
def test_a_rollback_describes_the_roles_the_shard_has(peers: int, after: str,
                                                      words: str | None) -> None:
    """A one-node rollback speaks of no sync or async, a two-node one of no async."""
    from migrator.cluster.writability import ShardModel, Timing, sitters_disabled

    original = capture(snapshot(list(range(peers))))
    journal = _journal({"reprovision-primary": "done:verified"}, original)
    text = rollback.choose(snapshot(list(range(peers))), [], journal).explanation()
    assert after in text and (words is None or words not in text.split("So:")[1])
    zones = tuple(p.zone_id for p in original.peers)
    outage, _ = sitters_disabled(ShardModel(zones, state=zones), Timing())
    assert outage is not None and (("its sync" in outage.cause) == (peers > 1))
