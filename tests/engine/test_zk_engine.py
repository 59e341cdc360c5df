"""Journal, lock, checks and the runner against a real ZooKeeper (v1 shard of three)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.cluster.original import capture
from migrator.cluster.state import compact_json
from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext
from migrator.engine.journal import Journal, new_journal
from migrator.engine.journal_store import JournalStore, capture_shard, cluster_key
from migrator.engine.lock import LockHeld, RunLock, break_lock, holders
from migrator.engine.observe import run_check
from migrator.engine.outagewatch import parse_iso
from migrator.engine.runner import RunOptions
from migrator.engine.runreport import step_times
from migrator.engine.savedplan import StalePlan, load_plan, save_plan
from migrator.errors import NotConfirmed, Refused, StateConflict, StepFailed
from migrator.stepkit.schema import CheckRef
from migrator.steps import shard_rules as rules
from migrator.zk import reads
from tests.conftest import V1Shard
from tests.engine.conftest import DecliningConsole, MakeRunner
from tests.engine.helpers import SHARD, ZK_ONLY_PLAYBOOK, ZONES, zk_only_playbook

pytestmark = pytest.mark.zk


def _history_names(zk: Any) -> list[str]:
    return sorted(zk.get_children(f"/manatee/{SHARD}/history"))


def _journal(zk: Any) -> Journal:
    data, _ = zk.get(f"/manatee-migrator/{SHARD}/journal")
    return Journal.from_json(json.loads(data))


def test_journal_writes_are_versioned_and_audited(zk: Any, three_peers: V1Shard,
                                                  tmp_path: Path) -> None:
    snap = reads.read_shard(zk, SHARD)
    store = JournalStore(zk, SHARD, audit_dir=tmp_path)
    journal = new_journal(SHARD, capture(snap), capture_shard(zk, SHARD), "a@b")
    store.create(journal)
    assert store.version == 0
    store.save(journal)
    assert store.version == 1
    other = JournalStore(zk, SHARD, audit_dir=tmp_path / "other")
    assert other.load() == journal
    other.save(journal)  # the other writer moves the version on
    with pytest.raises(StateConflict) as info:
        store.save(journal)  # ours is now stale: refused, not clobbered
    assert "expected version 1" in info.value.message
    with pytest.raises(StateConflict):
        JournalStore(zk, SHARD, audit_dir=tmp_path).create(journal)
    audit = json.loads((store.audit_dir / "journal.json").read_text())
    assert store.audit_dir == tmp_path / cluster_key(zk) / SHARD
    assert audit["shard"] == SHARD
    assert not (store.audit_dir / "audit.jsonl").exists()  # not one snapshot per save
    # the snapshot holds election names and data, history names and no state
    assert [e["name"] for e in journal.snapshot["election"]] == [
        n.name for n in snap.topology.nodes]
    assert journal.snapshot["state"] is None


def test_the_audit_copy_keeps_one_journal_per_run(zk: Any, three_peers: V1Shard,
                                                  tmp_path: Path) -> None:
    from migrator.engine.journal import new_run

    store = JournalStore(zk, SHARD, audit_dir=tmp_path)
    journal = new_journal(SHARD, capture(reads.read_shard(zk, SHARD)),
                          capture_shard(zk, SHARD), "a@b")
    store.create(journal)
    journal = journal.with_run(new_run("migration", "three-node", "sha256:x", "a@b"))
    for _ in range(3):  # a run saves many times: its file is rewritten, not appended to
        store.save(journal)
    journal = journal.with_run(new_run("rollback", "rollback-before-primary", "sha256:y",
                                       "a@b"))
    store.save(journal)
    runs = store.audit_dir / "runs"
    assert sorted(p.name for p in runs.glob("*.json")) == ["01-migration.json",
                                                          "02-rollback.json"]
    first = json.loads((runs / "01-migration.json").read_text())
    assert [r["kind"] for r in first["runs"]] == ["migration"]
    assert json.loads((runs / "02-rollback.json").read_text()) == json.loads(
        (store.audit_dir / "journal.json").read_text())


def test_second_operator_is_refused_at_once_with_the_holder(zk: Any, kazoo: Any) -> None:
    first = RunLock(zk, SHARD, "alice@laptop pid 1")
    first.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld) as info:
            RunLock(kazoo, SHARD, "bob@desk pid 2").acquire()
        elapsed = time.monotonic() - started
        assert "alice@laptop pid 1" in info.value.message
        assert info.value.exit_status == 3
        assert elapsed < 1.0
        assert holders(kazoo, SHARD) == ["alice@laptop pid 1"]
        assert break_lock(kazoo, SHARD) == ["alice@laptop pid 1"]
        second = RunLock(kazoo, SHARD, "bob@desk pid 2")
        second.acquire()
        second.release()
    finally:
        first.release()


def _ctx(client: Any) -> EngineContext:
    snap = reads.read_shard(client, SHARD)
    return EngineContext(shard=SHARD, zk=client, inventory=None, remote=None,
                         original=capture(snap))


class CountingClient:
    """The engine's kazoo client, counting the reads it is asked to make (a polling
    check reads again and again; a watch reads once, and once more per change), and
    saying when the first one was made (the check is now watching)."""

    READS = frozenset({"get", "exists", "get_children", "get_async", "exists_async",
                       "get_children_async"})

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads = 0
        self.first_read = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self.READS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            self.first_read.set()
            return attribute(*args, **kwargs)

        return counted


def test_checks_wait_for_a_watch_not_a_poll(zk: Any, kazoo: Any, three_peers: V1Shard) -> None:
    ctx = _ctx(kazoo)
    present = CheckRef(check="state_present")
    assert not run_check(ctx, present, 0.0).ok
    state = rules.expected_backfill(ctx.original, "2026-11-26T05:00:00.000Z")
    counting = CountingClient(kazoo)
    ctx.zk = counting

    def write_once_watched() -> None:
        assert counting.first_read.wait(10)
        zk.create(f"/manatee/{SHARD}/state", state.to_bytes())

    writer = threading.Thread(target=write_once_watched)
    writer.start()
    try:
        outcome = run_check(ctx, present, 10.0)
    finally:
        writer.join()
    assert outcome.ok
    assert run_check(ctx, CheckRef(check="state_matches"), 0.0).ok
    # Nothing changes during these waits: a watch reads to set itself and to judge the
    # shard once, however long it then waits; a poll would read again and again.
    unfrozen = CheckRef(check="shard_unfrozen")
    counting.reads = 0
    short = run_check(ctx, unfrozen, 0.2)
    read_in_short, counting.reads = counting.reads, 0
    long = run_check(ctx, unfrozen, 1.5)
    assert not short.ok and not long.ok and "still frozen" in long.detail
    assert read_in_short > 0 and counting.reads == read_in_short, (read_in_short,
                                                                   counting.reads)


def test_election_rejoined_sees_a_new_session(kazoo: Any, three_peers: V1Shard) -> None:
    ctx = _ctx(kazoo)
    ref = CheckRef(check="election_rejoined", params={"zone": "original_async"})
    assert not run_check(ctx, ref, 0.0).ok
    three_peers.leave("127.0.1.49")
    counting = CountingClient(kazoo)
    ctx.zk = counting

    def rejoin() -> None:
        assert counting.first_read.wait(10)  # the check is watching the election
        three_peers.join("127.0.1.49", ZONES[2])

    thread = threading.Thread(target=rejoin)
    thread.start()
    try:
        outcome = run_check(ctx, ref, 10.0)
    finally:
        thread.join()
    assert outcome.ok and "new session" in outcome.detail


def test_run_backfill_and_unfreeze_then_nothing_to_do(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    result = make_runner().execute()
    assert result.ran == ["backfill", "unfreeze"] and result.complete
    state = reads.read_state(zk, SHARD)
    assert state is not None and state[0].freeze is None
    names = _history_names(zk)
    assert len(names) == 2 and all(n.startswith("0-") for n in names)
    journal = _journal(zk)
    run = journal.run("migration")
    assert run is not None and run.status == "done"
    assert {k: v.status for k, v in run.steps.items()} == {"backfill": "done",
                                                          "unfreeze": "done"}
    assert run.steps["backfill"].done_by == "verified"
    assert run.steps["backfill"].outputs["history"].startswith(f"/manatee/{SHARD}/history/0-")
    assert journal.snapshot["state"] is None and len(journal.snapshot["election"]) == 3
    again = make_runner().execute()
    assert again.ran == [] and again.complete
    assert _history_names(zk) == names  # nothing written twice


def test_declined_confirmation_writes_nothing_and_stays_resumable(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    console = DecliningConsole()
    with pytest.raises(NotConfirmed):
        make_runner(console=console, options=RunOptions(assume_yes=False)).execute()
    assert console.asked == [f"Create the /state of shard {SHARD}?"]
    shown = console.stream.getvalue()
    assert "[x] the original async d0c715ab is the sync" in shown
    assert '+  "freeze": {' in shown
    assert not zk.exists(f"/manatee/{SHARD}/state")
    assert _history_names(zk) == []
    run = _journal(zk).run("migration")
    assert run is not None and run.steps["backfill"].status == "pending"
    assert "declined" in (run.steps["backfill"].detail or "")
    result = make_runner().execute()  # resumable: a later run completes
    assert result.ran == ["backfill", "unfreeze"]


def test_resume_after_a_crash_between_write_and_stamp(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    """The backfill was written but the run died before stamping it: resume sees the
    step's check hold, stamps it done without writing again."""
    runner = make_runner()
    runner.plan()
    ctx = _ctx(zk)
    state = rules.expected_backfill(ctx.original, "2026-11-26T05:00:00.000Z")
    from migrator.zk import writes

    writes.create_state(zk, SHARD, state)
    result = make_runner().execute()
    assert result.already == ["backfill"] and result.ran == ["unfreeze"]
    assert len(_history_names(zk)) == 2  # the backfill once, the unfreeze once
    run = _journal(zk).run("migration")
    assert run is not None and run.steps["backfill"].done_by == "already-held"


def test_precondition_failure_refuses_and_writes_nothing(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    # a first run captures the topology in the journal, then is declined
    with pytest.raises(NotConfirmed):
        make_runner(console=DecliningConsole(), options=RunOptions()).execute()
    three_peers.leave("127.0.1.47")  # the primary restarted: it queues last now
    three_peers.join("127.0.1.47", ZONES[0])
    with pytest.raises(Refused) as info:
        make_runner().execute()
    assert "precondition election_matches_original does not hold" in info.value.message
    assert "Nothing was done in this step" in info.value.message
    assert not zk.exists(f"/manatee/{SHARD}/state")
    run = _journal(zk).run("migration")
    assert run is not None and run.steps["backfill"].status == "pending"


def test_verification_timeout_says_expected_seen_and_next_action(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    text = ZK_ONLY_PLAYBOOK.replace(
        "      - check: shard_unfrozen\n    done_when:",
        "      - check: generation_at_least\n        params: {generation: 1}\n"
        "        why: a new generation\n    done_when:",
    ).replace("    timeout: 5\n", "    timeout: 0.5\n")
    from migrator.playbook.loader import load_playbook_text

    loaded = load_playbook_text(text.encode(), "slow.yaml")
    with pytest.raises(StepFailed) as info:
        make_runner(loaded=loaded).execute()
    message = info.value.paragraph()
    assert "expected a new generation (generation_at_least)" in message
    assert "saw: generation is 0 (want at least 1)" in message
    assert "may still be moving" in message and "migrator resume" in message
    run = _journal(zk).run("migration")
    assert run is not None and run.steps["unfreeze"].status == "verifying"
    assert run.status == "failed"


def _saved_plan(make_runner: MakeRunner, tmp_path: Path) -> Path:
    """`plan --out` of the test's shard, as a file."""
    plan, _ = make_runner().plan()
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    return path


def test_saved_plan_runs_and_refuses_when_stale(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, tmp_path: Path
) -> None:
    path = _saved_plan(make_runner, tmp_path)
    saved = load_plan(path)
    # someone changes the cluster between plan and run: the election is different now
    three_peers.leave("127.0.1.48")
    three_peers.join("127.0.1.48", ZONES[1])
    with pytest.raises(StalePlan) as info:
        make_runner(options=RunOptions(saved_plan=saved)).execute()
    assert "the election was [" in info.value.message
    assert not zk.exists(f"/manatee/{SHARD}/state")


def _forged(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a saved plan and give it a matching digest, as a careful forger would."""
    from migrator.engine.savedplan import _digest

    doc = json.loads(path.read_text())
    change(doc)
    doc["digest"] = _digest(doc)
    path.write_text(json.dumps(doc))


def test_an_edited_saved_plan_is_refused_when_loaded(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, tmp_path: Path
) -> None:
    path = _saved_plan(make_runner, tmp_path)
    doc = json.loads(path.read_text())
    doc["steps"][0]["write"]["after"]["generation"] = 7
    path.write_text(json.dumps(doc))
    with pytest.raises(StalePlan) as info:
        load_plan(path)
    assert "changed after `migrator plan --out` wrote it" in info.value.message


@pytest.mark.parametrize("edit,words", [
    (lambda doc: doc["steps"].pop(), "step(s) unfreeze are not in the saved plan"),
    (lambda doc: doc["steps"][0]["write"]["after"].update(generation=7),
     "step backfill's /state differs in generation"),
    (lambda doc: doc["steps"][1].update(action="write_state"),
     "step unfreeze's action was"),
    (lambda doc: doc.update(inventoryDigest="sha256:0"), "inventory"),
    # a check edited out of what the operator reviewed binds as much as an action
    (lambda doc: doc["steps"][1].update(verify=[]), "step unfreeze's verify was"),
    (lambda doc: doc["steps"][0]["preconditions"].pop(0), "step backfill's preconditions was"),
])
def test_a_run_compares_the_whole_saved_plan_before_its_first_action(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, tmp_path: Path,
    edit: Callable[[dict[str, Any]], None], words: str,
) -> None:
    """A forged plan (digest recomputed) that differs from what the run computes now in
    any step, write or the inventory is refused before anything is done (exit 3)."""
    path = _saved_plan(make_runner, tmp_path)
    _forged(path, edit)
    with pytest.raises(StalePlan) as info:
        make_runner(options=RunOptions(saved_plan=load_plan(path))).execute()
    assert words in info.value.message and "Nothing was written" in info.value.message
    assert info.value.exit_status == 3
    assert not zk.exists(f"/manatee/{SHARD}/state")
    assert _history_names(zk) == []


def test_saved_plan_executes_exactly_without_prompts(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, tmp_path: Path
) -> None:
    path = _saved_plan(make_runner, tmp_path)
    console = RunConsole(assume_yes=False, shard=SHARD, stream=io.StringIO())
    result = make_runner(console=console,
                         options=RunOptions(saved_plan=load_plan(path))).execute()
    assert result.ran == ["backfill", "unfreeze"]
    assert "(saved plan" in console.stream.getvalue()


def test_state_changed_after_plan_aborts_the_write(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, tmp_path: Path
) -> None:
    """A /state that appears between the plan and the write: the conditional create fails
    and nothing of ours is written."""
    runner = make_runner(console=_WritesStateWhenAsked(zk))
    with pytest.raises(Refused):
        runner.execute()
    data, _ = zk.get(f"/manatee/{SHARD}/state")
    assert json.loads(data) == {"intruder": True}
    assert _history_names(zk) == []


class _WritesStateWhenAsked(RunConsole):
    """While the operator reads the proposed state, another tool creates /state."""

    def __init__(self, zk: Any) -> None:
        super().__init__(assume_yes=True, shard=SHARD, stream=io.StringIO())
        self.zk = zk

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        self.zk.create(f"/manatee/{SHARD}/state", compact_json({"intruder": True}))


def test_changed_playbook_is_refused_unless_accepted(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    with pytest.raises(NotConfirmed):
        make_runner(console=DecliningConsole(), options=RunOptions()).execute()
    changed = zk_only_playbook(ZK_ONLY_PLAYBOOK.replace("Remove the freeze.", "Thaw it."))
    with pytest.raises(Refused) as info:
        make_runner(loaded=changed).execute()
    assert "--accept-playbook-change" in (info.value.hint or "")
    result = make_runner(loaded=changed,
                         options=RunOptions(assume_yes=True,
                                            accept_playbook_change=True)).execute()
    assert result.complete


def test_a_dead_local_holder_is_removed_not_waited_for(zk: Any, kazoo: Any) -> None:
    import socket
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()  # a pid that no longer exists
    dead = f"root@{socket.gethostname()} pid {process.pid}"
    stale = RunLock(zk, SHARD, dead)
    stale.acquire()
    said: list[str] = []
    lock = RunLock(kazoo, SHARD, "me@here pid 1", on_wait=said.append)
    lock.acquire()
    assert said and dead in said[0]
    assert holders(kazoo, SHARD) == ["me@here pid 1"]
    lock.release()
    # a holder on another host is never presumed dead
    other = RunLock(zk, SHARD, "root@elsewhere pid 1")
    other.acquire()
    with pytest.raises(LockHeld):
        RunLock(kazoo, SHARD, "me@here pid 1").acquire()
    other.release()


class _AskedConsole(RunConsole):
    """Says yes to everything, recording each step question and whether it was typed."""

    def __init__(self) -> None:
        super().__init__(assume_yes=False, shard=SHARD, stream=io.StringIO())
        self.asked: list[tuple[str, bool]] = []

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        if not question.startswith("Proceed with "):
            self.asked.append((question, typed))
            time.sleep(0.3)  # the operator reads before answering


def test_the_plan_says_which_question_each_step_asks_and_the_run_asks_it(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    """One rule (``migrator.engine.asking``) for the plan's ``asks`` and the run's
    questions: a write that shows itself asks y/n; a step whose playbook says typed asks
    for the shard name (so does one the plan finds stops writes: the sandbox tests)."""
    loaded = zk_only_playbook(ZK_ONLY_PLAYBOOK.replace(
        'action: {name: unfreeze}\n    confirm: "yes"', 'action: {name: unfreeze}\n'
        '    confirm: "typed"'))
    plan, _ = make_runner(loaded=loaded).plan()
    planned = {s.id: s.asks for s in plan.steps}
    assert planned == {"backfill": "yes", "unfreeze": "typed"}
    console = _AskedConsole()
    make_runner(loaded=loaded, console=console,
                options=RunOptions(assume_yes=False)).execute()
    assert [typed for _q, typed in console.asked] == [False, True]
    assert [planned[i] == "typed" for i in ("backfill", "unfreeze")] == [False, True]
    # the operator's time is kept apart from each step's own length
    run = _journal(zk).run("migration")
    assert run is not None
    for step_id in ("backfill", "unfreeze"):
        record = run.step(step_id)
        assert record.answered_seconds >= 0.3
        assert record.started is not None and record.finished is not None
        whole = (parse_iso(record.finished) - parse_iso(record.started)).total_seconds()
        (own,) = [t.seconds for t in step_times(run, [step_id])]
        assert own is not None and abs(own - (whole - record.answered_seconds)) < 0.01


def test_an_attended_rollback_with_several_typed_steps_asks_once(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    """Its typed questions would come while writes are down: one typed answer before the
    first step goes ahead with all of them, and the journal says each was answered so."""
    typed_both = ZK_ONLY_PLAYBOOK.replace(
        'action: {name: unfreeze}\n    confirm: "yes"', 'action: {name: unfreeze}\n'
        '    confirm: "typed"').replace('confirm: "yes"', 'confirm: "typed"')
    loaded = zk_only_playbook(typed_both)
    console = _AskedConsole()
    make_runner(loaded=loaded, console=console,
                options=RunOptions(assume_yes=False, kind="rollback")).execute()
    assert len(console.asked) == 1
    question, typed = console.asked[0]
    assert typed and question.startswith(f"Roll back shard {SHARD}: 2 step(s)")
    run = _journal(zk).run("rollback")
    assert run is not None and run.steps["unfreeze"].status == "done"
    shown = console.stream.getvalue()
    assert shown.count("yes (answered once for the whole rollback)") == 2, shown
