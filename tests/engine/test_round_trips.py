"""Fewer sequential round trips at datacenter distance (issue 25), against the real
ZooKeeper: a step's read-only checks are looked at together and judged in their
declared order; its ZooKeeper checks share one read of the shard; the stamps that
come before nothing irreversible (started, verifying, done) are sent without waiting
for ZooKeeper's reply, which the next journal write collects first, so a journal
changed under our feet still stops the run before it acts; a lock's folders are made
in one round; an election is watched in one round trip. The journal and its run are
created in one transaction (atomic: a journal there already is never overwritten); the
run lock's release goes out right behind the report's save; the plan's done-checks that
ask zones start with its read under the lock, on the original topology read before it,
and stand only if that read gives the same one.

The orders are the real server's (it answers a session's requests in the order sent)
and the client's own (``recording_client`` notes what it sends and what the caller
waits for, in order); nothing here is timed.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal
from migrator.engine.journal_store import JournalStore
from migrator.engine.lock import LockHeld, RunLock, read_holders
from migrator.engine.runner import RunOptions
from migrator.errors import Refused, StateConflict
from migrator.playbook.loader import LoadedPlaybook, load_playbook_text
from migrator.record import field
from migrator.sandbox.zkserver import ZooKeeperServer
from migrator.stepkit.context import StepContext
from migrator.stepkit.registry import NoParams, Outcome, action, check
from migrator.zk import reads, watches, writes
from tests.conftest import V1Shard
from tests.engine.conftest import MakeRunner
from tests.engine.helpers import SHARD

pytestmark = pytest.mark.zk

JOURNAL = f"/manatee-migrator/{SHARD}/journal"
ACTED = f"/manatee-migrator/{SHARD}/acted"

# What each of the test's checks sees, by role, set by the test (the registry is global)
SCENE: dict[str, Callable[[StepContext], Outcome]] = {}


class RoleParams(NoParams):
    role: str = field(pattern=r"[a-z][a-z-]{0,30}")


class TagParams(NoParams):
    tag: str = field(pattern=r"[a-z][a-z-]{0,30}")


@check("round_trip_scene", RoleParams)
def round_trip_scene(ctx: StepContext, p: RoleParams, _timeout: float) -> Outcome:
    """What the test says this check sees (``SCENE[role]``)."""
    return SCENE[p.role](ctx)


@check("round_trip_acted", TagParams)
def round_trip_acted(ctx: StepContext, p: TagParams, _timeout: float) -> Outcome:
    """The action of the step tagged so has run."""
    found = ctx.zk.exists(f"{ACTED}/{p.tag}")
    return Outcome(found is not None, f"{p.tag} acted" if found else f"{p.tag} did not act")


@action("round_trip_act", TagParams, describe=lambda _ctx, p: f"create {ACTED}/{p.tag}")
def round_trip_act(ctx: StepContext, p: TagParams) -> Outcome:
    """Create the step's own znode (create-if-absent)."""
    from kazoo.exceptions import NodeExistsError

    try:
        ctx.zk.create(f"{ACTED}/{p.tag}", b"acted", makepath=True)
    except NodeExistsError:
        return Outcome(True, f"{p.tag} had acted already")
    return Outcome(True, f"{p.tag} acted")


def _refs(roles: list[str]) -> str:
    if not roles:
        return " []"
    return "".join(f"\n      - check: round_trip_scene\n        params: {{role: {r}}}"
                   for r in roles)


def _step(tag: str, pre: list[str] | None = None, done: list[str] | None = None,
          verify: str | None = None, zones: str = "[]", confirm: str = "none") -> str:
    check_line = ("      - check: round_trip_scene\n        params: {role: " + verify + "}"
                  if verify else
                  "      - check: round_trip_acted\n        params: {tag: " + tag + "}")
    return f"""\
  - id: {tag}
    title: Step {tag}
    explain: A step of the round-trip tests.
    zones: {zones}
    preconditions:{_refs(pre or [])}
    action: {{name: round_trip_act, params: {{tag: {tag}}}}}
    confirm: "{confirm}"
    verify:
{check_line}
    done_when:{_refs(done or [])}
    timeout: 30
"""


def _playbook(*steps: str) -> LoadedPlaybook:
    text = ("name: round-trips\ntitle: Round trips\ndescription: Steps of the round-trip "
            "tests.\npeers: 3\nsteps:\n" + "".join(steps))
    return load_playbook_text(text.encode(), "round-trips.yaml")


def recording_client(connection: str) -> Any:
    """A real kazoo client that also notes, in order, each request it sends and each
    reply its caller waits for: (thread, "send" | "wait", request type, path). Nothing
    it does is changed."""
    from kazoo.client import KazooClient

    class Recording(KazooClient):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.log: list[tuple[int, str, str, str | None]] = []
            # a test's hook, called with (request type, path) before each reply waited for
            self.before_wait: Callable[[tuple[str, str | None]], None] | None = None

        def _call(self, request: Any, async_object: Any) -> Any:
            what = (type(request).__name__, getattr(request, "path", None))
            self.log.append((threading.get_ident(), "send", *what))
            answer = async_object.get

            def get(block: bool = True, timeout: float | None = None) -> Any:
                self.log.append((threading.get_ident(), "wait", *what))
                if self.before_wait is not None:
                    self.before_wait(what)
                return answer(block, timeout)

            async_object.get = get
            return super()._call(request, async_object)

        def create_async(self, path: str, *args: Any, **kwargs: Any) -> Any:
            # kazoo answers a create through an async result of its own, not the one
            # ``_call`` sees: its wait is noted here
            result = super().create_async(path, *args, **kwargs)
            answer = result.get

            def get(block: bool = True, timeout: float | None = None) -> Any:
                self.log.append((threading.get_ident(), "wait", "Create", path))
                return answer(block, timeout)

            result.get = get
            return result

    return Recording(hosts=connection, timeout=4.0)


@pytest.fixture
def recording(zk_server: ZooKeeperServer) -> Iterator[Any]:
    client = recording_client(zk_server.connection_string)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()
        SCENE.clear()


def _mine(log: list[tuple[int, str, str, str | None]]) -> list[tuple[str, str, str | None]]:
    """The requests this (the test's, the runner's) thread sent and waited for."""
    me = threading.get_ident()
    return [(kind, op, path) for thread, kind, op, path in log if thread == me]


def _last(log: list[Any], item: Any, before: int) -> int:
    return max(i for i in range(before) if log[i] == item)


def test_the_started_stamp_is_not_waited_for_yet_lands_before_the_checks_read(
    three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    seen: list[str] = []

    def reads_the_journal(ctx: StepContext) -> Outcome:
        data, _ = ctx.zk.get(JOURNAL)
        run = Journal.from_json(json.loads(data)).run("migration")
        assert run is not None
        seen.append(run.step("one").status)
        return Outcome(True, "read the journal")

    SCENE["reads-journal"] = reads_the_journal
    result = make_runner(loaded=_playbook(_step("one", pre=["reads-journal"])),
                         client=recording).execute()
    assert result.ran == ["one"]
    # ZooKeeper answers a session's requests in order: the precondition's read, sent
    # after the stamp, saw it...
    assert seen == ["started"]
    # ...though the run had not waited for the stamp's reply when it read
    log = _mine(recording.log)
    acted = log.index(("send", "Create", f"{ACTED}/one"))
    read = _last(log, ("send", "GetData", JOURNAL), acted)
    stamp = _last(log, ("send", "SetData", JOURNAL), read)
    assert ("wait", "SetData", JOURNAL) not in log[stamp:read]
    # and it collected the reply before acting (the `acting` write follows it)
    collected = log.index(("wait", "SetData", JOURNAL), read)
    assert collected < log.index(("send", "SetData", JOURNAL), collected) < acted


@pytest.mark.parametrize("when", ["before-the-stamp-lands", "after-the-stamp-landed"])
def test_a_journal_changed_under_the_sent_stamp_stops_the_step_before_it_acts(
    zk: Any, three_peers: V1Shard, recording: Any, make_runner: MakeRunner, when: str,
) -> None:
    theirs = b'{"written by": "another migrator"}'
    looks: list[str] = []

    def not_done(_ctx: StepContext) -> Outcome:
        looks.append("done-check")
        if when == "before-the-stamp-lands" and len(looks) == 2:
            # the step's own look (the plan made the first): the stamp goes out next, at
            # the version the run last saw, which this change has just moved on
            zk.set(JOURNAL, theirs)
        return Outcome(False, "not done")

    def holds(ctx: StepContext) -> Outcome:
        if when == "after-the-stamp-landed":
            ctx.zk.get(JOURNAL)  # answered after the stamp: it has landed
            zk.set(JOURNAL, theirs)
        return Outcome(True, "holds")

    SCENE.update({"not-done": not_done, "holds": holds})
    stream = io.StringIO()
    runner = make_runner(loaded=_playbook(_step("one", pre=["holds"], done=["not-done"])),
                         client=recording,
                         console=RunConsole(assume_yes=True, shard=SHARD, stream=stream))
    with pytest.raises(StateConflict):
        runner.execute()
    assert not zk.exists(f"{ACTED}/one")
    assert "action:" not in stream.getvalue()
    assert zk.get(JOURNAL)[0] == theirs  # never overwritten


def test_a_journal_changed_under_the_done_stamp_stops_the_next_step_before_it_acts(
    zk: Any, three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    theirs = b'{"written by": "another migrator"}'

    def verified_then_changed(ctx: StepContext) -> Outcome:
        ctx.zk.get(JOURNAL)  # answered after the `verifying` stamp: it has landed
        zk.set(JOURNAL, theirs)  # the `done` stamp goes out at the version before this
        return Outcome(True, "one acted")

    SCENE["verified-then-changed"] = verified_then_changed
    with pytest.raises(StateConflict):
        make_runner(loaded=_playbook(_step("one", verify="verified-then-changed"),
                                     _step("two")), client=recording).execute()
    assert zk.exists(f"{ACTED}/one") and not zk.exists(f"{ACTED}/two")
    assert zk.get(JOURNAL)[0] == theirs


def test_a_steps_checks_are_looked_at_together(
    three_peers: V1Shard, make_runner: MakeRunner,
) -> None:
    # each pair meets at a barrier: looked at one after the other, the first of a pair
    # would wait for the second in vain (the barrier breaks after 30 s) and fail
    pre, done = threading.Barrier(2, timeout=30), threading.Barrier(2, timeout=30)

    def meeting(barrier: threading.Barrier, ok: bool) -> Callable[[StepContext], Outcome]:
        def meet(_ctx: StepContext) -> Outcome:
            barrier.wait()
            return Outcome(ok, "met the other")
        return meet

    SCENE.update({"pre-a": meeting(pre, True), "pre-b": meeting(pre, True),
                  "done-a": meeting(done, False), "done-b": meeting(done, False)})
    try:
        result = make_runner(loaded=_playbook(_step("one", pre=["pre-a", "pre-b"],
                                                    done=["done-a", "done-b"]))).execute()
    finally:
        SCENE.clear()
    assert result.ran == ["one"]


def test_the_first_check_in_the_declared_order_that_fails_refuses(
    three_peers: V1Shard, make_runner: MakeRunner,
) -> None:
    early_answered = threading.Event()

    def late(_ctx: StepContext) -> Outcome:
        early_answered.wait(30)  # answers after the one declared after it
        return Outcome(False, "the late one does not hold")

    def early(_ctx: StepContext) -> Outcome:
        early_answered.set()
        return Outcome(False, "the early one does not hold")

    SCENE.update({"holds": lambda _ctx: Outcome(True, "holds"), "late": late,
                  "early": early})
    stream = io.StringIO()
    try:
        with pytest.raises(Refused) as refused:
            make_runner(loaded=_playbook(_step("two", pre=["holds", "late", "early"])),
                        console=RunConsole(assume_yes=True, shard=SHARD, stream=stream)
                        ).execute()
    finally:
        SCENE.clear()
    # the first that does not hold in the declared order refuses, as when they were
    # looked at one by one, whichever answered first
    assert "(the late one does not hold)" in refused.value.message
    shown = stream.getvalue()
    assert "precondition round_trip_scene: holds" in shown
    assert "the early one does not hold" not in shown


def test_a_steps_zookeeper_checks_and_start_hooks_share_one_read_of_the_shard(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: dict[str, int] = {"read_shard": 0, "read_history": 0, "read_view": 0}

    def counting(name: str) -> Any:
        real = getattr(reads, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)
        return call

    for name in counted:
        monkeypatch.setattr(reads, name, counting(name))
    book = _playbook(_step("one", zones="[original_primary, original_async]").replace(
        "    preconditions: []\n",
        "    preconditions:\n      - check: state_absent\n"
        "      - check: election_matches_original\n      - check: backfill_checks\n"
    ).replace("    done_when: []\n", "    done_when:\n      - check: history_has_backfill\n"))
    runner = make_runner(loaded=book)
    result = runner.execute()
    assert result.ran == ["one"]
    # the plan's read, then the step's one look: its done-check, the hook recording the
    # zones' election nodes and the three preconditions all judged it
    assert counted == {"read_shard": 0, "read_history": 0, "read_view": 2}
    run = runner.journal.run("migration") if runner.journal is not None else None
    assert run is not None and any(k.startswith("election:") for k in run.step("one").marks)


def test_a_path_and_its_missing_folders_are_made_in_one_round(zk: Any, recording: Any
                                                              ) -> None:
    folders = ["/manatee-migrator", "/manatee-migrator/round-trips",
               "/manatee-migrator/round-trips/lock"]
    writes.settle_path(writes.send_path(recording, folders[-1]))
    # every level sent before the first reply was waited for
    assert _mine(recording.log)[:3] == [("send", "Create", f) for f in folders]
    assert zk.exists(folders[-1]) is not None
    writes.settle_path(writes.send_path(recording, folders[-1]))  # there: nothing fails


def test_an_instant_answer_writes_no_journal_version_of_its_own(
    three_peers: V1Shard, zk: Any, recording: Any, make_runner: MakeRunner,
) -> None:
    """--yes answers at once: the question's time (0.0 s) changes nothing to record."""
    result = make_runner(loaded=_playbook(_step("one", confirm="yes")), client=recording,
                         options=RunOptions(assume_yes=True)).execute()
    assert result.ran == ["one"]
    # created (version 0), the run, then started, acting, verifying, done, the run's
    # end: no other version
    assert zk.get(JOURNAL)[1].version == 6


def test_an_election_is_watched_in_one_round_trip(three_peers: V1Shard, recording: Any
                                                  ) -> None:
    seen: list[list[str]] = []
    watches.watch_election(recording, SHARD, seen.append)
    assert len(seen) == 1 and len(seen[0]) == 3
    # the watch's own read, nothing asked before it
    assert _mine(recording.log) == [
        ("send", "GetChildren", f"/manatee/{SHARD}/election"),
        ("wait", "GetChildren", f"/manatee/{SHARD}/election")]


def test_an_election_not_there_yet_is_made_and_watched(zk: Any, recording: Any) -> None:
    shard = "9.not-yet.test"
    seen: list[list[str]] = []
    joined = threading.Event()

    def changed(children: list[str]) -> None:
        seen.append(children)
        if children:
            joined.set()

    watches.watch_election(recording, shard, changed)
    assert seen == [[]] and zk.exists(f"/manatee/{shard}/election") is not None
    zk.create(f"/manatee/{shard}/election/a-0000000000", b"{}")
    assert joined.wait(30), seen
    assert seen[-1] == ["a-0000000000"]


def test_what_checks_looked_at_together_say_is_said_in_their_declared_order(
    three_peers: V1Shard, make_runner: MakeRunner,
) -> None:
    early_answered = threading.Event()

    def late(ctx: StepContext) -> Outcome:
        early_answered.wait(30)  # answers after the one declared after it
        ctx.say("the late one found its record")
        return Outcome(True, "late holds")

    def early(ctx: StepContext) -> Outcome:
        ctx.say("the early one found its record")
        early_answered.set()
        return Outcome(True, "early holds")

    SCENE.update({"late": late, "early": early})
    stream = io.StringIO()
    try:
        make_runner(loaded=_playbook(_step("one", pre=["late", "early"])),
                    console=RunConsole(assume_yes=True, shard=SHARD, stream=stream)
                    ).execute()
    finally:
        SCENE.clear()
    shown = stream.getvalue()
    order = [shown.index(text) for text in (
        "the late one found its record", "precondition round_trip_scene: late holds",
        "the early one found its record", "precondition round_trip_scene: early holds")]
    assert order == sorted(order), shown


def test_an_absent_state_is_watched_in_one_round_trip(zk: Any, recording: Any) -> None:
    """The read and the exists that sets the creation's watch go out together (kazoo's
    DataWatch waits for the read's NoNode before it asks); the creation is still told."""
    shard = "9.absent-state.test"
    seen: list[bytes | None] = []
    told = threading.Event()

    def changed(data: bytes | None) -> bool:
        seen.append(data)
        if data is not None:
            told.set()
        return True

    watches.watch_state(recording, shard, changed)
    state = f"/manatee/{shard}/state"
    assert seen == [None]
    assert _mine(recording.log) == [("send", "GetData", state), ("send", "Exists", state),
                                    ("wait", "GetData", state), ("wait", "Exists", state)]
    zk.create(state, b'{"generation": 1}', makepath=True)
    assert told.wait(30), seen
    assert seen == [None, b'{"generation": 1}']


def test_a_present_state_is_watched_through_its_changes_and_its_deletion(
    zk: Any, recording: Any,
) -> None:
    shard = "9.present-state.test"
    state = f"/manatee/{shard}/state"
    zk.create(state, b"one", makepath=True)
    seen: list[bytes | None] = []
    arrived = threading.Condition()

    def changed(data: bytes | None) -> bool:
        with arrived:
            seen.append(data)
            arrived.notify_all()
        return True

    def saw(count: int) -> bool:
        with arrived:
            return arrived.wait_for(lambda: len(seen) >= count, 30)

    watches.watch_state(recording, shard, changed)
    assert seen == [b"one"]
    zk.set(state, b"two")
    assert saw(2), seen
    zk.delete(state)
    assert saw(3), seen
    zk.create(state, b"three")
    assert saw(4), seen
    assert seen == [b"one", b"two", None, b"three"]


def test_the_preflight_judges_the_journal_read_with_the_shard(
    three_peers: V1Shard, zk: Any, recording: Any, tmp_path: Path,
) -> None:
    """A run reads the journal once before its lock: the pre-flight judges the read the
    playbook was chosen on. (The lock, held by another run, refuses at the gate.)"""
    from migrator.commands import engine as commands

    with RunLock(zk, SHARD, "other@elsewhere pid 1"), pytest.raises(LockHeld):
        commands.run(commands.EngineTarget(recording, SHARD, None, "inv.yaml",
                                           audit_dir=tmp_path),
                     "auto", RunOptions(assume_yes=True))
    journal_reads = [entry for entry in recording.log
                     if entry[1:] == ("send", "GetData", JOURNAL)]
    assert len(journal_reads) == 1


class _Told(list[tuple[int, str, str, str | None]]):
    """A client's log that a test can wait on (bounded): each entry is told. ``names``:
    the name of the thread of each entry."""

    def __init__(self) -> None:
        super().__init__()
        self.told = threading.Condition()
        self.names: list[str] = []

    def append(self, entry: tuple[int, str, str, str | None]) -> None:
        with self.told:
            super().append(entry)
            self.names.append(threading.current_thread().name)
            self.told.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool]) -> bool:
        with self.told:
            return self.told.wait_for(lambda: predicate(list(self)), 30)


class _NoZones:
    """The run's remote session, for a playbook whose steps reach no zone: only the
    watchdog's arming asks that the run has one; anything used on it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a zone was reached: remote.{name}")


class _JudgingWhenAsked(RunConsole):
    """Notes whether the watchdog judges (its thread runs) when the run asks to proceed,
    after the data gate and before the journal is written."""

    def __init__(self) -> None:
        super().__init__(assume_yes=True, shard=SHARD, stream=io.StringIO())
        self.judging_when_asked: list[bool] = []

    def say(self, text: str, style: str | None = None, *, essential: bool = False) -> None:
        if "Proceed with" in text:
            self.judging_when_asked.append(any(t.name == "migrator-watchdog"
                                               for t in threading.enumerate()))
        super().say(text, style, essential=essential)


def test_the_watchdog_and_the_snapshot_make_their_round_trips_while_the_data_gate_runs(
    three_peers: V1Shard, zk: Any, recording: Any, make_runner: MakeRunner,
) -> None:
    """The watchdog's watches and the journal's snapshot are asked while the data gate
    waits on the zones; the watchdog judges only once the journal is written, and the
    snapshot is not taken again."""
    log = _Told()
    recording.log = log
    main = threading.get_ident()
    state, election = f"/manatee/{SHARD}/state", f"/manatee/{SHARD}/election"
    history = f"/manatee/{SHARD}/history"
    beside = {("GetChildren", election), ("GetData", state), ("Exists", state),
              ("GetChildren", history)}
    during_gate: dict[str, bool] = {}

    def gate(_plan: Any, _ctx: Any) -> None:
        # the gate waits (bounded) for what is asked beside it: asked after it, never
        during_gate["asked"] = log.wait_for(lambda entries: beside <= {
            (op, path) for thread, kind, op, path in entries
            if thread != main and kind == "send"})
        log.append((main, "mark", "gate-end", None))

    console = _JudgingWhenAsked()
    runner = make_runner(loaded=_playbook(_step("one")), client=recording, console=console,
                         options=RunOptions(assume_yes=True, before_steps=gate))
    runner.remote = runner.planner.remote = _NoZones()  # the run's and its plans'
    result = runner.execute()
    assert result.ran == ["one"]
    assert during_gate == {"asked": True}
    # the watchdog judges only once the journal is written, as when it was armed there
    assert console.judging_when_asked == [False]
    written = log.index((main, "send", "Transaction", None))  # the journal and its run
    assert all(i > written for i, name in enumerate(log.names)
               if name == "migrator-watchdog")
    mine = [(kind, op, path) for thread, kind, op, path in log if thread == main]
    end, create = mine.index(("mark", "gate-end", None)), mine.index(
        ("send", "Transaction", None))
    assert ("send", "GetChildren", history) not in mine[end:create]
    journal = JournalStore(zk, SHARD).load()
    assert journal is not None and len(journal.snapshot["election"]) == 3


def test_the_foreign_write_watch_and_the_outage_observation_are_set_at_once(
    three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    """Each waits for its first /state reply only once the other has sent its own:
    set one after the other, the first would wait alone and break the barrier."""
    from migrator.commands.engine import EngineTarget, run_watches
    from migrator.engine.runreport import RunReporting

    state = f"/manatee/{SHARD}/state"
    meet = threading.Barrier(2, timeout=30)
    met: list[int] = []
    guard = threading.Lock()

    def before_wait(what: tuple[str, str | None]) -> None:
        if what != ("GetData", state):
            return
        with guard:
            if len(met) >= 2:
                return
            met.append(threading.get_ident())
        meet.wait()

    recording.before_wait = before_wait
    runner = make_runner(client=recording)
    reporting = RunReporting(recording, SHARD, None, runner.console, 10.0)
    reporting.runner = runner
    with run_watches(EngineTarget(recording, SHARD, None, "inv.yaml"), runner.console,
                     "migrator resume", runner, reporting):
        pass
    assert len(set(met)) == 2


def test_the_run_watches_are_set_while_the_plan_reads(
    three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    """The plan's first reply and the foreign-write watch's first one are each waited
    for only once the other was asked: one after the other, the barrier breaks."""
    from contextlib import ExitStack

    from migrator.commands.engine import EngineTarget, run_watches
    from migrator.engine.runreport import RunReporting

    state = f"/manatee/{SHARD}/state"
    main = threading.get_ident()
    meet = threading.Barrier(2, timeout=30)
    arrived: set[str] = set()
    guard = threading.Lock()

    def before_wait(what: tuple[str, str | None]) -> None:
        if what == ("Exists", f"/manatee/{SHARD}") and threading.get_ident() == main:
            who = "plan"  # the plan's read of the shard
        elif what == ("GetData", state) and threading.get_ident() != main:
            who = "watch"  # a watch set beside it
        else:
            return
        with guard:
            if who in arrived:
                return
            arrived.add(who)
        meet.wait()

    runner = make_runner(loaded=_playbook(_step("one")), client=recording)
    reporting = RunReporting(recording, SHARD, None, runner.console, 10.0)
    reporting.runner = runner
    target = EngineTarget(recording, SHARD, None, "inv.yaml")
    recording.before_wait = before_wait
    with ExitStack() as watches:
        result = runner.execute(beside_plan=lambda: watches.enter_context(
            run_watches(target, runner.console, "migrator resume", runner, reporting)))
    assert result.ran == ["one"]
    assert arrived == {"plan", "watch"}


def test_a_lock_is_asked_for_behind_its_folders_without_waiting(zk: Any, recording: Any
                                                                ) -> None:
    root = "/manatee-migrator-lock-round"
    folders = [root, f"{root}/{SHARD}", f"{root}/{SHARD}/lock"]
    lock = RunLock(recording, SHARD, "test@host pid 1", root=root)
    with lock:
        log = _mine(recording.log)
        # the folders' creates and the lock's own node, all sent before the first wait
        assert [entry[:2] for entry in log[:4]] == [("send", "Create")] * 4
        assert [entry[2] for entry in log[:3]] == folders
        assert str(log[3][2]).startswith(f"{folders[-1]}/")
        assert [h.identity for h in read_holders(zk, SHARD, root)] == ["test@host pid 1"]
    assert read_holders(zk, SHARD, root) == []
    with RunLock(recording, SHARD, "test@host pid 1", root=root):  # made already: no fault
        pass


class _Said(RunConsole):
    """A console that notes what it says, in one list with the events it is handed."""

    def __init__(self, seen: list[str]) -> None:
        super().__init__(assume_yes=True, shard=SHARD, stream=io.StringIO())
        self.seen = seen

    def say(self, text: str, style: str | None = None, *, essential: bool = False) -> None:
        self.seen.append(f"said {text}")
        super().say(text, style, essential=essential)


def _eventing_store(client: Any, tmp_path: Path, seen: list[str]) -> Any:
    from migrator.engine.events import EventingStore, EventSink

    sink = EventSink(enabled=False)
    sink.listeners.append(lambda event: seen.append(
        f"event {event['event']} {event.get('status') or event.get('step') or ''}".rstrip()))
    return EventingStore(client, SHARD, audit_dir=tmp_path / "audit", sink=sink,
                         kind="migration")


def test_the_journal_and_its_run_are_created_in_one_round_trip(
    three_peers: V1Shard, zk: Any, recording: Any, make_runner: MakeRunner, tmp_path: Path,
) -> None:
    """One transaction (create, then set at version 0) makes the journal and its run:
    its versions, its bytes and what is said of them are as with two writes."""
    seen: list[str] = []
    store = _eventing_store(recording, tmp_path, seen)
    runner = make_runner(loaded=_playbook(_step("one")), client=recording,
                         console=_Said(seen), store=store)
    with RunLock(zk, SHARD, "test@host pid 1"):  # as a run does: its folder is made
        assert runner.execute().ran == ["one"]
    mine = _mine(recording.log)
    # no create of its own and no write of the run after it: one transaction
    assert ("send", "Create", JOURNAL) not in mine
    assert mine.count(("send", "Transaction", None)) == 1
    made = mine.index(("send", "Transaction", None))
    assert mine[made + 1] == ("wait", "Transaction", None)
    first_set = mine.index(("send", "SetData", JOURNAL))
    assert first_set > made
    # the journal's versions as before: created (0), its run (1), then started, acting,
    # verifying, done and the run's end
    data, stat = zk.get(JOURNAL)
    assert stat.version == 6
    # the local copy is the last version, and the run's own copy is there
    assert json.loads(data) == json.loads(next((tmp_path / "audit").rglob(
        "journal.json")).read_text())
    assert any((tmp_path / "audit").rglob("runs/01-migration.json"))
    # the creation is said before the run's first event, as when they were two writes
    created = next(i for i, s in enumerate(seen) if s.startswith("said Journal created"))
    assert seen.index("event run running") == created + 1


def test_a_journal_there_already_refuses_the_transaction_and_is_not_touched(
    zk: Any, recording: Any, tmp_path: Path,
) -> None:
    """The create failing fails the set behind it (atomic): the journal that appeared
    meanwhile keeps its bytes and version. A set sent behind a create of its own would
    have overwritten it at version 0."""
    from migrator.engine.journal import new_journal, new_run

    zk.create(JOURNAL, b"theirs", makepath=True)
    store = JournalStore(recording, SHARD, audit_dir=tmp_path / "audit")
    journal = new_journal(SHARD, _original(), {"election": []}, "test@host")
    running = journal.with_run(new_run("migration", "round-trips", "x", "test@host"))
    with pytest.raises(StateConflict):
        store.create(journal, then=running)
    data, stat = zk.get(JOURNAL)
    assert (data, stat.version) == (b"theirs", 0)
    assert not (tmp_path / "audit").exists()


def test_the_journals_transaction_makes_its_folder_when_missing(
    zk: Any, recording: Any, tmp_path: Path,
) -> None:
    from migrator.engine.journal import new_journal, new_run

    store = JournalStore(recording, SHARD, audit_dir=tmp_path / "audit")
    journal = new_journal(SHARD, _original(), {"election": []}, "test@host")
    running = journal.with_run(new_run("migration", "round-trips", "x", "test@host"))
    told: list[int | None] = []
    store.create(journal, then=running, created=lambda: told.append(store.version))
    loaded = JournalStore(zk, SHARD).load()
    assert loaded is not None and loaded.run("migration") is not None
    assert zk.get(JOURNAL)[1].version == 1 and store.version == 1 and told == [1]


def _original() -> Any:
    from migrator.engine.planner import resolve_original
    from tests.engine.helpers import snapshot

    return resolve_original(snapshot([0, 1, 2]), [], None)[0]


def test_the_run_lock_is_released_behind_the_reports_save(
    three_peers: V1Shard, zk: Any, recording: Any, make_runner: MakeRunner, tmp_path: Path,
) -> None:
    """The run's last journal write (the report's, with what was observed) and the
    lock's release go out together: the release is sent before the write's reply is
    waited for, and ZooKeeper, answering in order, writes the journal first."""
    from migrator.engine.runreport import RunReporting

    store = _eventing_store(recording, tmp_path, [])
    runner = make_runner(loaded=_playbook(_step("one")), client=recording, store=store)
    lock = RunLock(recording, SHARD, "test@host pid 1")
    with lock:
        assert runner.execute().ran == ["one"]
        reporting = RunReporting(recording, SHARD, None, runner.console, 10.0)
        reporting.runner = runner
        reporting.release_behind = lock.release
        # something the journal's log keeps arrives after the run's end (as the outages
        # observed do): the report saves it
        store.sink.emit("alarm", kind="test", message="after the end")
        recording.log.clear()
        version = store.version
        reporting.__exit__(None, None, None)
        mine = _mine(recording.log)
        delete = next(i for i, entry in enumerate(mine) if entry[:2] == ("send", "Delete"))
        assert mine[:delete] == [("send", "SetData", JOURNAL)]
        assert ("wait", "SetData", JOURNAL) in mine[delete:]
        assert read_holders(zk, SHARD) == []
        assert store.version == version + 1
    # the lock's own exit finds it released: nothing more is sent
    assert [entry for entry in _mine(recording.log) if entry[1] == "Delete"] == \
        [entry for entry in mine if entry[1] == "Delete"]
    saved = JournalStore(zk, SHARD).load()
    assert saved is not None
    run = saved.run("migration")
    assert run is not None and any(e.get("message") == "after the end" for e in run.log)


def _looked_ahead_runner(make_runner: MakeRunner, recording: Any, stream: io.StringIO
                         ) -> Any:
    """A runner whose one step's done-checks are a zone's (it says a word and notes the
    original topology it was asked on) and a ZooKeeper one (notes the read it judged)."""
    return make_runner(loaded=_playbook(_step("one", done=["zone-look", "zk-look"])),
                       client=recording, console=RunConsole(assume_yes=True, shard=SHARD,
                                                            stream=stream))


def test_the_plans_zone_checks_look_while_it_reads_under_the_lock(
    three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    """The plan's done-checks that ask zones start with its read of the shard, on the
    original topology read before the lock, instead of after that read: the zone check
    and the plan's first reply each wait for the other (a barrier). The ZooKeeper
    checks judge the plan's own read."""
    from migrator.stepkit.context import shard_view

    main = threading.get_ident()
    meet = threading.Barrier(2, timeout=30)
    asked: list[Any] = []
    judged: list[Any] = []

    def zone_look(ctx: StepContext) -> Outcome:
        if not asked:
            meet.wait()  # the plan's read has been sent and not yet answered
        asked.append(ctx.original)
        ctx.say("the zone answered")
        return Outcome(False, "not yet")

    def zk_look(ctx: StepContext) -> Outcome:
        view = shard_view(ctx)
        judged.append(view)
        return Outcome(False, "not yet")

    def before_wait(what: tuple[str, str | None]) -> None:
        if what == ("Exists", f"/manatee/{SHARD}") and threading.get_ident() == main \
                and not judged:
            meet.wait()

    SCENE["zone-look"], SCENE["zk-look"] = zone_look, zk_look
    stream = io.StringIO()
    runner = _looked_ahead_runner(make_runner, recording, stream)
    runner.planner.ahead = (reads.read_view(recording, SHARD), runner.store.load())
    recording.before_wait = before_wait
    plan, _ctx = runner.plan()
    recording.before_wait = None
    assert [s.status for s in plan.steps] == ["pending"]
    # looked at once, on the original the plan then found the same; the ZooKeeper check
    # judged the plan's read; what was said, said once
    assert [[p.zone_id for p in o.peers] for o in asked] == [
        [p.zone_id for p in plan.original.peers]]
    assert runner.planner.planned_on is not None and judged == [runner.planner.planned_on]
    assert stream.getvalue().count("the zone answered") == 1


def test_the_plans_checks_look_again_when_the_reads_under_the_lock_differ(
    three_peers: V1Shard, recording: Any, make_runner: MakeRunner,
) -> None:
    """Read before the lock, the shard gave another original topology: what the checks
    saw on it is dropped unsaid, and they look again on the plan's read."""
    from migrator.engine.planner import resolve_original
    from tests.engine.helpers import snapshot

    asked: list[Any] = []
    SCENE["zone-look"] = lambda ctx: (asked.append(ctx.original), ctx.say(
        f"asked about {ctx.original.peers[0].zone_id}"), Outcome(False, "not yet"))[-1]
    SCENE["zk-look"] = lambda ctx: Outcome(False, "not yet")
    stream = io.StringIO()
    runner = _looked_ahead_runner(make_runner, recording, stream)
    before = (snapshot([1, 0, 2]), [])
    runner.planner.ahead = (before, None)
    guess = resolve_original(before[0], before[1], None)[0]
    runner.plan()
    assert runner.planner.planned_on is not None
    fresh = resolve_original(runner.planner.planned_on[0], runner.planner.planned_on[1], None)[0]
    assert fresh.peers[0].zone_id != guess.peers[0].zone_id
    assert [o.peers[0].zone_id for o in asked] == [guess.peers[0].zone_id,
                                                    fresh.peers[0].zone_id]
    said = stream.getvalue()
    assert f"asked about {fresh.peers[0].zone_id}" in said
    assert f"asked about {guess.peers[0].zone_id}" not in said
