"""run, resume: the step engine's verbs that change the shard, as plain functions the
CLI calls.

``run`` and ``resume`` take the shard's run lock, then hand over to the runner. They
build on the plan's part (``migrator.commands.planning``: the target, the read its
playbook was chosen on, the pre-flight's facts, the zones' session), which `migrator
plan` imports alone, without the runner.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any

from migrator.cluster.history import HistoryRecord
from migrator.cluster.shard import ShardSnapshot
from migrator.commands.console import operator_console
from migrator.commands.datagate import refuse_when_behind
from migrator.commands.planning import (
    EngineTarget,
    Unread,
    gather_preflight,
    inventory_zones,
    operator_identity_pid,
    read_and_choose,
)

# the plan's functions that tests written before the split reach through this module
from migrator.commands.planning import (
    load_topology_file as load_topology_file,
)
from migrator.commands.planning import (
    with_log_level_notes as with_log_level_notes,
)
from migrator.engine import preflight as gate
from migrator.engine.console import RunConsole
from migrator.engine.events import EventConsole, EventingStore, EventSink
from migrator.engine.journal import Journal, operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.lock import (
    LockHeld,
    RunLock,
    break_decision,
    break_lock,
    local_pid,
    pid_alive,
    read_holders,
)
from migrator.engine.outage import sitters_session_timeout, timing_of
from migrator.engine.planner import Plan
from migrator.engine.runner import Runner, RunOptions, RunResult
from migrator.engine.runreport import RunReporting
from migrator.engine.savedplan import require_fresh
from migrator.engine.statewatch import watching
from migrator.errors import BadInput, NotConfirmed
from migrator.remote.prewarm import remote_session
from migrator.stepkit.together import side_by_side
from migrator.stepkit.writes import ProposedWrite
from migrator.steps.positions import shard_peers
from migrator.ui import preflight as preflight_table
from migrator.zk import reads
from migrator.zk.faults import SessionLost, guard_for
from migrator.zk.watches import wait_for, watch_election


def _runner(target: EngineTarget, requested: str, console: RunConsole, options: RunOptions,
            remote: Any) -> Runner:
    return _runner_and_read(target, requested, console, options, remote)[0]


def _runner_and_read(
    target: EngineTarget, requested: str, console: RunConsole, options: RunOptions, remote: Any,
    sink: Any = None, on_status: Any = None,
) -> tuple[Runner, tuple[ShardSnapshot, list[HistoryRecord]], Journal | None]:
    """The runner, the read of the shard its playbook was chosen on and the journal read
    with it (``planning.read_and_choose``). With ``sink`` the journal store also emits
    step events (and tells ``on_status`` of each change), and an empty election is waited
    on (``_after_the_peers_rejoin``)."""

    on_empty = None
    if sink is not None:
        store: JournalStore = EventingStore(
            target.client, target.shard, root=target.journal_root, audit_dir=target.audit_dir,
            sink=sink, kind=options.kind, on_status=on_status)

        def on_empty(read: tuple[ShardSnapshot, list[HistoryRecord]]
                     ) -> tuple[ShardSnapshot, list[HistoryRecord]]:
            return _after_the_peers_rejoin(target, console, read)
    else:
        store = JournalStore(target.client, target.shard, root=target.journal_root,
                             audit_dir=target.audit_dir)
    (loaded, choice), read, journal = read_and_choose(target, requested, store, on_empty)
    return Runner(
        client=target.client, shard=target.shard, loaded=loaded, choice=choice,
        inventory=target.inventory, remote=remote, console=console, store=store,
        options=options, operator=operator_identity(),
        inventory_zones=inventory_zones(target.inventory),
    ), read, journal

# takes it as the shard's (the sitters rejoin within moments of each other)
REJOIN_QUIET = 1.0


def _after_the_peers_rejoin(target: EngineTarget, console: RunConsole,
                            read: tuple[ShardSnapshot, list[HistoryRecord]]
                            ) -> tuple[ShardSnapshot, list[HistoryRecord]]:
    """An empty election when a run starts is most often a moment after a ZooKeeper
    pause: every session expired, and the sitters are rejoining. A run waits for them
    as its other waits wait (on an election watch), up to one session timeout, then
    reads the shard again; an election still empty is refused as before."""
    timeout = timing_of(target.inventory).session_timeout
    console.say(f"  The election of shard {target.shard} is empty (after a ZooKeeper pause "
                "every session expires and the sitters rejoin): waiting up to "
                f"{timeout:g} s for the peers.", "yellow")
    deadline = time.monotonic() + timeout

    def watch(deliver: Any) -> Any:
        return watch_election(target.client, target.shard, deliver)

    seen, _ = wait_for(watch, lambda children: sorted(children) or None, timeout)
    if seen is None:
        return read
    # the sitters rejoin one after another: go on once the election has been quiet a
    # moment (or the session timeout is over), not at the first one
    def changed_from(before: list[str]) -> Callable[[list[str]], list[str] | None]:
        return lambda children: sorted(children) if sorted(children) != before else None

    while time.monotonic() < deadline:
        changed, _ = wait_for(watch, changed_from(seen),
                              min(REJOIN_QUIET, max(deadline - time.monotonic(), 0.0)))
        if changed is None:
            break
        seen = changed
    return reads.read_view(target.client, target.shard)


def require_terminal_or_yes(assume_yes: bool) -> None:
    if assume_yes:
        return
    # answers from stdin; questions on stdout, or on stderr when stdout carries --json
    if not (sys.stdin.isatty() and (sys.stdout.isatty() or sys.stderr.isatty())):
        raise NotConfirmed(
            "This run needs confirmations but there is no terminal to ask on; nothing was "
            "done.",
            "Run it in a terminal, or pass --yes (or --plan PLAN.json) once you have "
            "reviewed `migrator plan`.",
        )


def break_lock_when_confirmed(target: EngineTarget, console: RunConsole) -> None:
    """``--break-lock``: refuse a holder alive on this machine (naming its pid); for any
    other, say how long its ZooKeeper session has existed, ask (the shard name typed),
    then remove it."""

    def alive_here(identity: str) -> int | None:
        pid = local_pid(identity)
        return pid if pid is not None and pid_alive(pid) else None

    found = read_holders(target.client, target.shard, target.journal_root)
    if not found:
        return
    decision = break_decision(found, int(time.time() * 1000), alive_here)
    if not decision.allowed:
        raise LockHeld(
            decision.lines[0] + " Nothing was done.",
            "Let that run finish, or stop it (Ctrl-C) and use `migrator resume`.",
        )
    for line in decision.lines:
        console.say(line)
    who = ", ".join(h.identity for h in found)
    console.ask(f"Break the lock held by {who}?", None, True)
    break_lock(target.client, target.shard, target.journal_root)
    console.say("Lock broken.")


def pass_preflight(target: EngineTarget, runner: Runner, remote: Any, verb: str,
                   console: RunConsole, *, break_lock: bool = False,
                   read: tuple[ShardSnapshot, list[HistoryRecord]] | None = None,
                   journal: Journal | Unread | None = Unread.UNREAD) -> Any:
    """The pre-flight gate (``migrator.engine.preflight``): show the table; refuse (exit
    3) before any write when anything fails. With ``--break-lock`` a lock held by
    another run does not refuse by itself: once everything else passed, the lock is
    broken after asking. Returns the verdict."""

    facts = gather_preflight(target, runner.planner, remote, read, journal)
    # the run's estimates use the session timeout the sitters are configured with
    runner.planner.sitters_session_timeout = sitters_session_timeout(
        [report.session_timeout for report in facts.zones])
    verdict = gate.decide(facts)
    # --quiet: the table only when it refuses (the refusal points at it); the transcript
    # keeps it either way
    if not (verdict.ok and getattr(console, "quiet", False)):
        preflight_table.show(verdict)
    transcript = getattr(console, "transcript", None)
    if transcript is not None:
        kept = io.StringIO()
        preflight_table.show(verdict, stream=kept)
        transcript.write(kept.getvalue().rstrip("\n"))
    if not verdict.ok and break_lock and gate.decide(replace(facts, holders=[])).ok:
        break_lock_when_confirmed(target, console)
        return verdict
    if not verdict.ok:
        raise verdict.refusal(verb)
    return verdict


@contextmanager
def guard_run(target: EngineTarget, console: RunConsole, lock: Any, runner: Runner,
              resume_command: str) -> Iterator[None]:
    """ZooKeeper faults during the run (``migrator.zk.faults``): pause messages on the
    console; after a session expiry, re-take the lock (only if free) and check the
    journal is still the version this run wrote, or stop (exit 2)."""

    guard = guard_for(target.client)

    def journal_unchanged() -> None:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NoNodeError

        store = runner.store
        if store.version is None:
            return
        try:
            data, stat = target.client.get(store.path)
        except NoNodeError:
            data, stat = None, None
        if stat is not None and (stat.version == store.version or (
                store.pending is not None and data == store.pending
                and stat.version == store.version + 1)):
            return
        raise SessionLost(
            f"This run's ZooKeeper session expired, and meanwhile the journal of shard "
            f"{target.shard} was changed by someone else (this run wrote version "
            f"{store.version}); this run stopped without writing more.",
            f"Look with `migrator plan`, then run `{resume_command}` from one machine only.",
        )

    guard.say = lambda text: console.say(f"  {text}", "yellow")
    guard.resume_command = resume_command
    guard.hooks = [lock.retake, journal_unchanged]
    guard.fenced = None
    try:
        yield
    finally:
        guard.hooks = []
        guard.say = lambda _text: None


def run(
    target: EngineTarget, requested: str, options: RunOptions, *, break_lock: bool = False,
    require_journal: bool = False, sink: Any = None,
) -> RunResult:
    """``sink``: an ``EventSink`` (enabled for --json); step events, the outage clock and
    the end-of-run table go through it."""

    if options.saved_plan is None and not options.ask_via_stdio:
        require_terminal_or_yes(options.assume_yes)
    sink = sink if sink is not None else EventSink(enabled=False)
    if require_journal:
        store = JournalStore(target.client, target.shard, root=target.journal_root)
        if store.load() is None:
            raise BadInput(
                f"Shard {target.shard} has no migration journal, so there is nothing to "
                "resume.",
                "Start a migration with `migrator run`.",
            )
    verb = "resume" if require_journal else "run"
    with operator_console(target, sink, verb=verb, quiet=options.quiet,
                          assume_yes=options.assume_yes or options.saved_plan is not None
                          ) as console:
        if options.ask_via_stdio and not console.assume_yes:
            relay_questions(console, sink, target.shard)
        # a fresh run as well as a resume: the playbook rebuilds every peer from the
        # primary, so a peer holding commits the primary lacks is refused before step one
        options = replace(options,
                          before_steps=_refuse_a_primary_behind(console, verb))
        return _run_with(target, requested, options, console, sink, verb,
                         break_lock=break_lock)


def _run_with(target: EngineTarget, requested: str, options: RunOptions,
              console: EventConsole, sink: EventSink, verb: str, *, break_lock: bool
              ) -> RunResult:
    reporting = RunReporting(target.client, target.shard, target.inventory, console,
                             timing_of(target.inventory).session_timeout)
    with remote_session(target.inventory) as remote:
        # reads only until the gate has passed: a refused run leaves no lock node behind
        runner, read, journal = _runner_and_read(target, requested, console, options,
                                                 remote, sink=sink, on_status=reporting.clock)
        reporting.runner = runner
        # the pre-flight judges the reads the playbook was chosen on (the shard and the
        # journal, a moment ago, and before the lock as well): the runner reads both
        # again under the lock
        pass_preflight(target, runner, remote, verb, console, break_lock=break_lock,
                       read=read, journal=journal)
        if options.saved_plan is not None:
            # a saved plan that no longer matches is refused before the lock as well (the
            # runner compares again under it, since the cluster may move in between)
            require_fresh(options.saved_plan, runner.plan()[0])
        # the plan under the lock starts its done-checks on these reads while it reads
        # again (the zones' ones need not wait for ZooKeeper), keeping them only if the
        # reads under the lock give the same original topology and journal
        runner.planner.ahead = (read, journal)
        lock = RunLock(target.client, target.shard, operator_identity_pid(),
                       target.journal_root, on_wait=console.say)
        # the report's save is the run's last write: the lock is released right behind it
        # (its own release at the block's end then has nothing left to do)
        reporting.release_behind = lock.release

        resume = f"migrator resume --inventory {options.inventory_path}"
        with lock, guard_run(target, console, lock, runner, resume), ExitStack() as watches:
            # the watches are set while the run's plan reads under the lock (both only
            # look), and are set before it goes on; they end when the run does
            return runner.execute(beside_plan=lambda: watches.enter_context(
                run_watches(target, console, resume, runner, reporting)))


@contextmanager
def run_watches(target: EngineTarget, console: Any, resume_command: str, runner: Runner,
                reporting: RunReporting) -> Iterator[None]:
    """The foreign-write watch (``watching``) and the outage observation (``reporting``)
    for the block, their watches set at once (a round trip each at datacenter distance).
    Each ends as it would nested, ``reporting`` first. The foreign-write watch failing to
    start fails the run before it begins, as before; the observation, begun beside it,
    is then dropped unsaid (it never fails a run and had observed nothing yet)."""

    foreign = watching(target.client, target.shard, console.say, resume_command,
                       runner.stop)
    entered = side_by_side([foreign.__enter__, reporting.__enter__], "run-watches")
    if isinstance(entered[0], BaseException):
        reporting.abandon()
        raise entered[0]
    with ExitStack() as stack:
        stack.push(foreign.__exit__)
        stack.push(reporting.__exit__)
        yield


def _refuse_a_primary_behind(console: Any, verb: str) -> Callable[[Plan, Any], None]:
    """A run or a resume goes on with the shard's primary as it is now (/state's, else
    the election's first): it must hold every other peer's data (``datagate``). Given to
    the runner, which calls it with its own plan once steps remain (no second read)."""

    def check(_plan: Plan, ctx: Any) -> None:
        if ctx.remote is None or ctx.inventory is None:
            return
        peers = shard_peers(ctx)
        if peers.primary is not None:
            refuse_when_behind(ctx, peers.primary, peers.others, console,
                               f"This {verb} would go on with {peers.primary} as the primary")

    return check


def relay_questions(console: EventConsole, sink: EventSink, shard: str) -> None:
    """``--ask-via-stdio`` (a fleet's child): each question the run would ask on a
    terminal is a ``question`` event (with ``expected``: ``yes``, or the shard name for a
    typed one) and its answer one line read from stdin; any other line, or the end of
    stdin, is a no. The ``confirm`` event and the journal's log record it as usual."""

    def ask(question: str, shown: Any, typed: bool) -> None:
        console.show(shown, essential=True)
        expected = shard if typed else "yes"
        write = None
        if isinstance(shown, ProposedWrite):
            write = {**shown.to_json(), "diff": shown.diff()}
        sink.emit("question", question=question, typed=typed, expected=expected,
                  step=console.current_step, write=write)
        answer = sys.stdin.readline().strip()
        confirmed = answer == expected
        console.answered(question, typed, "yes" if confirmed else "no", shown)
        if not confirmed:
            raise NotConfirmed(
                f"Not confirmed through the fleet ({question}); nothing was written.",
                "Run the fleet again when ready (`migrator fleet resume`), or this shard "
                "alone with `migrator resume --inventory INVENTORY`.")

    console.ask = ask  # type: ignore[method-assign]


