"""The pure planner: statuses, predicted writes as diffs, risks, facts; journal model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.original import capture
from migrator.engine import consistency
from migrator.engine.journal import (
    Journal,
    StepRecord,
    new_journal,
    new_run,
    stamp,
)
from migrator.engine.planner import facts_of, make_plan
from migrator.errors import BadInput, UnexpectedTopology
from migrator.stepkit.registry import Outcome
from migrator.steps import shard_rules as rules
from tests.engine.helpers import SHARD, ZONES, snapshot, v2_record, zk_only_playbook

pytestmark = pytest.mark.unit

NOW = "2026-11-26T05:00:00.000Z"


def _journal(done: list[str], status: dict[str, str] | None = None) -> Journal:
    original = capture(snapshot([0, 1, 2]))
    loaded = zk_only_playbook()
    journal = new_journal(SHARD, original, {"election": []}, "op@host")
    journal = journal.with_run(new_run("migration", loaded.name, loaded.digest, "op@host"))
    for step_id in done:
        journal = journal.with_step("migration", step_id,
                                    stamp(StepRecord(), "done", "op@host", done_by="verified"))
    for step_id, value in (status or {}).items():
        journal = journal.with_step("migration", step_id, StepRecord(status=value))
    return journal


def test_fresh_shard_plans_every_step_with_exact_writes() -> None:
    plan = make_plan(snapshot([0, 1, 2]), [], zk_only_playbook(), None, {}, now=NOW)
    assert [s.status for s in plan.steps] == ["pending", "pending"]
    backfill, unfreeze = plan.steps
    assert backfill.write is not None and backfill.write.op == "create"
    assert backfill.write.after is not None
    assert backfill.write.after.document["sync"]["zoneId"] == ZONES[2]
    diff = backfill.write.diff()
    assert diff.startswith("--- /dev/null\n+++ /manatee/1.moray.test/state (after)")
    assert '+  "freeze": {' in diff
    # the unfreeze is predicted from the state the backfill will have written
    assert unfreeze.write is not None and unfreeze.write.op == "set"
    assert '-  "freeze": {' in unfreeze.write.diff()
    assert backfill.zones == {"original_primary": ZONES[0], "original_async": ZONES[2],
                              "original_sync": ZONES[1]}
    assert plan.facts.state_digest is None and len(plan.facts.election) == 3
    assert not plan.complete


def test_a_step_whose_check_holds_is_done_without_acting() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, NOW)
    observed = {"backfill": Outcome(True, "history record 0-0000000004 holds it"),
                "unfreeze": Outcome(False, "still frozen")}
    plan = make_plan(snapshot([0, 1, 2], state), [v2_record(4, state.document)],
                     zk_only_playbook(), None, observed, now=NOW)
    assert plan.steps[0].status == "done" and "already holds" in plan.steps[0].reason
    assert plan.steps[0].write is None
    assert plan.steps[1].status == "pending"
    assert plan.original.source == "history"
    assert any("half-migrated" in note for note in plan.notes)
    assert any("mixed [A, [B, C']] window" in risk for risk in plan.risks)


def test_journal_statuses_decide_done_and_resume() -> None:
    journal = _journal(["backfill"], {"unfreeze": "acting"})
    original = journal.original
    state = rules.expected_backfill(original, NOW)
    plan = make_plan(snapshot([0, 1, 2], state), [], zk_only_playbook(), journal, {}, now=NOW)
    assert plan.steps[0].status == "done"
    assert plan.steps[1].status == "resume" and "acting" in plan.steps[1].reason
    assert plan.facts.done_steps == ("backfill",)


def test_migrated_shard_without_journal_has_nothing_to_do() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, NOW).without_freeze()
    history = [v2_record(4, rules.expected_backfill(original, NOW).document),
               v2_record(5, state.document)]
    migrated = dict(state.document)
    migrated["generation"] = 1
    from migrator.cluster.state import ClusterState

    observed = {"backfill": Outcome(True, "x"), "unfreeze": Outcome(True, "y")}
    plan = make_plan(snapshot([2, 1, 0], ClusterState(migrated)), history, zk_only_playbook(),
                     None, observed, now=NOW)
    assert plan.complete
    assert any("already migrated; nothing to do" in note for note in plan.notes)


def test_state_without_backfill_history_is_refused() -> None:
    original = capture(snapshot([0, 1, 2]))
    state = rules.expected_backfill(original, NOW)
    with pytest.raises(UnexpectedTopology) as info:
        make_plan(snapshot([0, 1, 2], state), [], zk_only_playbook(), None, {}, now=NOW)
    assert "no backfill record" in info.value.message


def test_inventory_missing_a_zone_is_bad_input() -> None:
    with pytest.raises(BadInput) as info:
        make_plan(snapshot([0, 1, 2]), [], zk_only_playbook(), None, {}, now=NOW,
                  inventory_zones={ZONES[0], ZONES[1]})
    assert ZONES[2] in info.value.message


def test_facts_name_what_changed() -> None:
    before = facts_of(snapshot([0, 1, 2]), [])
    original = capture(snapshot([0, 1, 2]))
    after = facts_of(snapshot([0, 1, 2], rules.expected_backfill(original, NOW), version=0),
                     ["backfill"])
    changes = before.differences(after)
    assert any("/state was absent and is now at version 0" in c for c in changes)
    assert any("done steps" in c for c in changes)
    assert before.differences(before) == []


def test_journal_disagreeing_with_cluster_is_named() -> None:
    journal = _journal(["backfill"])
    playbook = zk_only_playbook().playbook
    observed: dict[str, Outcome | None] = {
        "backfill": Outcome(False, "no history record holds the backfilled state"),
        "unfreeze": Outcome(False, "there is no /state yet"),
    }
    found = consistency.conflicts(journal, snapshot([0, 1, 2]), playbook, observed)
    assert found and "records step backfill as done" in found[0]
    observed["unfreeze"] = Outcome(True, "unfrozen")  # a later step holds: consistent
    assert consistency.conflicts(journal, snapshot([0, 1, 2]), playbook, observed) == []


_records = st.builds(
    StepRecord,
    status=st.sampled_from(["pending", "started", "acting", "verifying", "done"]),
    started=st.none() | st.just(NOW),
    detail=st.none() | st.text(max_size=20),
    outputs=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                            max_size=3),
    attempts=st.integers(min_value=0, max_value=5),
)


@given(st.dictionaries(st.sampled_from(["backfill", "unfreeze"]), _records))
def test_journal_round_trips_through_json(steps: dict[str, Any]) -> None:
    import json

    journal = _journal([])
    for step_id, record in steps.items():
        journal = journal.with_step("migration", step_id, record)
    again = Journal.from_json(json.loads(json.dumps(journal.to_json())))
    assert again == journal


def test_stamp_moves_times_and_attempts() -> None:
    started = stamp(StepRecord(), "started", "a@b")
    assert started.attempts == 1 and started.started and started.finished is None
    done = stamp(started, "done", "a@b", done_by="verified")
    assert done.finished and done.started == started.started and done.done_by == "verified"
    with pytest.raises(ValueError):
        stamp(done, "bogus", "a@b")


@given(st.lists(st.tuples(st.sampled_from(["migration", "rollback"]), st.booleans()),
                max_size=8))
def test_the_journal_only_grows_a_later_run_never_replaces_an_earlier_one(
    moves: list[tuple[str, bool]],
) -> None:
    """Each move either starts a new run of a kind (a distinct start) or records a step
    in that kind's latest run: earlier runs stay exactly as they were."""
    from dataclasses import replace

    journal = _journal(["backfill"])
    for number, (kind, new) in enumerate(moves):
        before = journal.runs
        latest = journal.run(kind)
        if new or latest is None:
            run = replace(new_run(kind, "zk-only", "sha256:x", "op@host"),
                          started=f"2026-11-26T06:00:{number:02d}.000Z")
            journal = journal.with_run(run)
            assert journal.runs == (*before, run)
        else:
            journal = journal.with_step(kind, f"step-{number}", StepRecord(status="done"))
            index = max(i for i, r in enumerate(before) if r.kind == kind)
            assert journal.runs[:index] == before[:index]
            assert journal.runs[index + 1:] == before[index + 1:]
            assert journal.runs[index].steps == {**latest.steps,
                                                 f"step-{number}": StepRecord(status="done")}
