"""The runner: the only caller of effects (checks, actions, journal writes).

For each step of the plan, in order::

    done already?   journal says done, or its done-checks hold now -> stamp, next
                    (meanwhile the step-start hooks record marks: log offsets)
    started         the marks journalled (sent without waiting for the reply)
    preconditions   each checked once; one failing refuses the step (nothing done)
    confirm         steps whose action shows no computed write are confirmed here;
                    actions that write a computed state confirm it themselves
    acting          journal saved *before* the action, then the action
    verifying       outputs saved, then every verification waited for, event-driven
    done            stamped only after the verification passed

At datacenter distance every request waited for is a round trip, so a step's
done-checks and start hooks look at once, its preconditions without a timeout look at
once (judged in their declared order), and its ZooKeeper checks share one read of the
shard (``EngineContext.look``, dropped before the step asks or acts). The
``started``, ``verifying`` and ``done`` stamps are sent without waiting for
ZooKeeper's reply: the next journal write collects it first, so one that failed
(someone else changed the journal) stops the run there, before anything irreversible,
and ``acting`` is always durable before the action starts (``JournalStore.save``).

Resuming a step left ``acting`` does not re-check the preconditions (they
described the world before the action). ZooKeeper actions are idempotent (they
look at what is there) and are simply run again; a reprovision or a command in a
zone is not, and ``migrator.engine.resuming`` decides from the live evidence what
became of it. A step left ``verifying`` only waits for its verification again.

Ctrl-C during such an action does not abandon it half-way: the first one lets
the action finish (the run then stops before verifying, and says so); a second
one stops waiting for it (a local child runs on in its own process group) and
says what state the zone is in. Both print the `migrator resume` command.

The run's record is ``migrator.engine.recording``'s: every journal write is one
versioned ZooKeeper write, so a crash or Ctrl-C at any moment leaves the previous
or the next journal, both consistent. Which steps are done already is
``migrator.engine.observe``'s to judge. The plan the run follows is made by its
``LivePlanner`` (``migrator.engine.live_plan``), the one `migrator plan` builds alone.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator import cancellation
from migrator.cancellation import Cancellation
from migrator.cluster.writability import Outage
from migrator.engine import (
    asking,
    consistency,
    nodelocks,
    waits,
    watchdog,
)
from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext, OneLook
from migrator.engine.journal import (
    Journal,
)
from migrator.engine.journal_store import JournalStore, capture_shard
from migrator.engine.live_plan import (
    LivePlanner,
    action_view,
    reprovision_lengths,
    step_zone,
    zones_in_flight,
)
from migrator.engine.observe import QUERIES, evaluate_done, look_at_once, run_check
from migrator.engine.outage import learnt_reprovision, timing_of
from migrator.engine.planner import Plan
from migrator.engine.recording import RunRecorder, base_intent, jsonable
from migrator.engine.resuming import InFlight
from migrator.engine.savedplan import require_fresh, require_planned_write
from migrator.engine.summary import announce, proceed, question_for
from migrator.errors import EXIT_INTERRUPTED, MigratorError, NotConfirmed, Refused, StepFailed
from migrator.playbook.loader import LoadedPlaybook
from migrator.stepkit.hooks import run_step_start
from migrator.stepkit.registry import Outcome, get_action, get_check
from migrator.stepkit.schema import Step
from migrator.stepkit.together import both
from migrator.stepkit.writes import ProposedWrite
from migrator.zk import reads
from migrator.zk.faults import guarded

if TYPE_CHECKING:
    from migrator.cluster.history import HistoryRecord
    from migrator.cluster.shard import ShardSnapshot
    from migrator.engine.savedplan import SavedPlan

# seconds between looks at an action left in flight when nothing we can watch changes
# (a headnode job's status has no event to follow)
INFLIGHT_RECHECK = 5.0

# How long a step that stops writes waits for its compute nodes' outage locks
# (``RunOptions.outage_locks``): another shard's outage step there lasts a reprovision
# or so; far longer means that run is stuck, and the operator must look.
OUTAGE_LOCK_TIMEOUT = 3600.0

# SIGUSR1 asks a run to stop at its next safe point: after the step under way has been
# verified, before the next one starts (a fleet's stop-all). A flag, not an exception:
# nothing is raised from a signal handler (docs/design.md, "Stopping a run").
_STOP_ASKED = threading.Event()


def on_stop_request(_signum: int, _frame: object) -> None:
    _STOP_ASKED.set()


def listen_for_stop_requests() -> None:
    """Install the SIGUSR1 handler (main thread only; the CLI does, before any work).
    At exit SIGUSR1 is ignored: Python's finalization would otherwise put back the
    default action (terminate), and a stop asked as the run ends would kill it."""
    _STOP_ASKED.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, on_stop_request)
        atexit.register(signal.signal, signal.SIGUSR1, signal.SIG_IGN)


class StopRequested(MigratorError):
    """The run stopped between two steps because it was asked to (SIGUSR1)."""

    exit_status = EXIT_INTERRUPTED


@dataclass
class RunOptions:
    """How a run was asked for: confirmations, saved plan, kind."""

    assume_yes: bool = False
    accept_playbook_change: bool = False
    saved_plan: SavedPlan | None = None
    kind: str = "migration"
    inventory_path: str = "INVENTORY"
    # --quiet: the terminal gets only the questions, the outages and the end
    quiet: bool = False
    # told the plan and its context once the run knows it has steps to do, before it
    # asks or changes anything (a resume's data check); raises to refuse the run
    before_steps: Callable[[Plan, EngineContext], None] | None = None
    # a folder of lock files, one per compute node: a step that stops writes holds an
    # exclusive flock on DIR/<node>.lock for every node the shard's zones sit on, so
    # that two shards sharing a node are never both in an outage (a fleet's runs)
    outage_locks: Path | None = None
    # a fleet's child: every question is a `question` event on stdout and its answer a
    # line on stdin (the fleet asks the operator), instead of a prompt on a terminal
    ask_via_stdio: bool = False


@dataclass
class RunResult:
    """What a run did: steps run or found done, outcomes, time spent waiting."""

    plan: Plan
    ran: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    complete: bool = False
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # seconds spent inside actions and verification waits, i.e. waiting for the cluster
    cluster_seconds: float = 0.0
    # seconds spent asking the cluster once (preconditions, done-checks, planning reads)
    query_seconds: float = 0.0


class Runner:
    def __init__(
        self,
        *,
        client: Any,
        shard: str,
        loaded: LoadedPlaybook,
        choice: str,
        inventory: Any,
        remote: Any,
        console: RunConsole,
        store: JournalStore,
        options: RunOptions,
        operator: str,
        inventory_zones: set[str] | None = None,
    ) -> None:
        self.client = client
        self.shard = shard
        self.loaded = loaded
        self.choice = choice
        self.inventory = inventory
        self.remote = remote
        self.console = console
        self.store = store
        self.options = options
        self.operator = operator
        self.inventory_zones = inventory_zones
        self.record = RunRecorder(client, shard, store, options.kind, operator, console)
        self.inflight = InFlight(
            client, shard, self.record, console, self._confirm, self._resume_command(),
            refuse_to_ask=console.assume_yes or options.saved_plan is not None,
            waited=self._waited)
        self._current: Step | None = None
        self.outages: dict[str, Outage | None] = {}
        self.cluster_seconds = 0.0
        self._queries_at_start = 0.0
        self._stop_after_action = False
        self._action_seconds: float | None = None  # the last action's length (``_act``)
        # the run's plans: the journal is loaded into the run's record, and what a check
        # asks during them goes through the run's confirmation. It is given the run's
        # client, zones and inventory here: a caller that swaps one swaps it in both.
        self.planner = LivePlanner(
            client=client, shard=shard, loaded=loaded, choice=choice, inventory=inventory,
            remote=remote, console=console, store=store, confirm=self._confirm,
            record=self.record, kind=options.kind, inventory_path=options.inventory_path,
            inventory_zones=inventory_zones)
        # the one typed answer an attended rollback gave for all its steps (the question)
        self._answered_once: str | None = None
        # the zone the action under way works on (the watchdog leaves its departure alone)
        self._acting_zone: str | None = None
        self._acted_zones: set[str] = set()  # every zone this run acted on (the watchdog)
        # the run's stop: set by another thread (watchdog, /state watch, hopeless wait)
        self.stop = Cancellation()

    @property
    def journal(self) -> Journal | None:
        """The shard's journal as this run last read or wrote it."""
        return self.record.journal

    def _waited(self, seconds: float) -> None:
        self.cluster_seconds += seconds

    # ---- planning -------------------------------------------------------------------

    def plan(
        self, read: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
    ) -> tuple[Plan, EngineContext]:
        """The plan of the shard as it is now (``LivePlanner.plan``): the run's journal
        is loaded into its record, and the plan's context is the run's."""
        return self.planner.plan(read)

    # ---- running --------------------------------------------------------------------

    def execute(self, beside_plan: Callable[[], object] | None = None) -> RunResult:
        """Run the plan's steps. For the run's length ``stop`` is the current
        cancellation: every wait of the run ends when another thread stops it (the
        watchdog, the /state watch, a wait that cannot succeed), and the step loop looks
        at it between phases. ``beside_plan``: something that only looks (the run's
        watches), done while the plan reads, and done before anything else is."""
        with cancellation.active(self.stop):
            try:
                return self._execute(beside_plan)
            except BaseException:
                # a stamp sent without waiting is collected (and copied locally) before
                # the run stops; what its reply says does not replace why it stopped
                with contextlib.suppress(Exception):
                    self.store.settle()
                raise

    def _execute(self, beside_plan: Callable[[], object] | None) -> RunResult:
        self._queries_at_start = QUERIES.seconds
        if beside_plan is None:
            plan, ctx = self.plan()
        else:
            # a round trip less at datacenter distance; what the plan raised comes first
            (plan, ctx), _ = both(self.plan, beside_plan, "beside-plan")
        self.record.refuse_changed_playbook(self.loaded, self.options.accept_playbook_change)
        if plan.conflicts:
            raise consistency.JournalDisagrees(
                f"Shard {self.shard} was taken out of order: " + "; ".join(plan.conflicts)
                + ". Nothing was done.",
                "Someone did a later step by hand before an earlier one. Look with `migrator "
                "status` and the zones' versions; repair by hand or roll back; the engine "
                "will not guess.",
            )
        if self.options.saved_plan is not None:
            require_fresh(self.options.saved_plan, plan)
        result = RunResult(plan)
        if plan.complete:
            if self.journal is not None and self.journal.run(self.options.kind) is not None:
                self._record_proved_done(plan)
                self.record.finish("done")
            self.console.say(
                f"Nothing to do: every step of {plan.playbook} is done for shard {self.shard}.",
                "green",
            )
            result.complete = True
            return result
        dog = self._arm_watchdog(plan)  # made; its watches are set beside the data gate
        try:
            snapshot = self._gate_and_beside(plan, ctx, dog)
            if self.journal is None and plan.original.source == "history":
                self.console.say(plan.notes[0] if plan.notes else "", "yellow")
                self._confirm("Continue the migration from this reconstructed topology?",
                              None, False)
            self.outages = {s.id: s.outage_detail for s in plan.steps}
            # for the zones' status during outage steps (migrator.engine.zonestatus)
            self.outage_zones = {s.id: dict(s.zones) for s in plan.steps}
            self.peer_zones = {p.peer_id: p.zone_id for p in plan.original.peers}
            if self.options.kind == "migration":  # a rollback explains and shows its own
                proceed(self.console, plan, saved_plan=self.options.saved_plan is not None)
            else:
                announce(self.console, plan)
                self._ask_once_for_the_whole(plan)
            self.record.ensure(plan.original, self.loaded, snapshot)
            # a zone a stopped run's action may still be taking down (a headnode's job)
            # is not the watchdog's to alarm on while the steps before it are judged
            self._acted_zones |= zones_in_flight(
                ctx, self.loaded, lambda step_id: self.record.step(step_id).status)
            if dog is not None:
                # it judges from here on, as when it was armed here: what its watches told
                # meanwhile is judged on a snapshot read now, before the first step acts
                dog.start()
            self._steps(plan, ctx, result)
        finally:
            if dog is not None:
                dog.stop()
        result.complete = True
        result.cluster_seconds = self.cluster_seconds
        result.query_seconds = QUERIES.seconds - self._queries_at_start
        self.console.essential(f"\nShard {self.shard}: {plan.playbook} complete.",
                               "bold green")
        return result

    def _record_proved_done(self, plan: Plan) -> None:
        """Steps the run's record does not hold as done (a run stopped after acting) but
        that the plan found done, by their done-check or a later step's effect: recorded
        so, with that proof, before the run is called done."""
        for planned in plan.steps:
            if self.record.step(planned.id).status != "done":
                how = "implied" if planned.implied else "already-held"
                self.record.stamp(planned.id, "done", done_by=how, detail=planned.reason)
                self.console.ok(f"{planned.id}: recorded done ({how}): {planned.reason}")

    def _gate_and_beside(self, plan: Plan, ctx: EngineContext,
                         dog: watchdog.Watchdog | None) -> dict[str, Any] | None:
        """The data gate (``before_steps``), and beside it, since it mostly waits on the
        zones, the round trips that come after it: the watchdog's watches (it starts
        judging only after the journal is written) and, when no question can come
        between the gate and the journal's creation (every answer given at once), the
        shard's snapshot for the journal, which nothing of ours writes to before then.
        Returns that snapshot (None: the journal's creation takes it)."""

        # Either failing here is not said here: the watches are set again by ``start``
        # and the snapshot taken again by the journal's creation, which fail (and are
        # said) where and as they did before they were done beside the gate.
        def watch() -> None:
            if dog is not None:
                with contextlib.suppress(Exception):
                    dog.watch()

        def snapshot() -> dict[str, Any] | None:
            answers_at_once = (self.console.assume_yes
                               or self.options.saved_plan is not None)
            if self.journal is None and answers_at_once:
                with contextlib.suppress(Exception):
                    return capture_shard(self.client, self.shard)
            return None

        def beside() -> dict[str, Any] | None:
            return both(snapshot, watch, "setup-reads")[0]

        if self.options.before_steps is None:
            return beside()
        gate = self.options.before_steps
        # it judges the shard as the plan read it a moment ago, under the run lock
        planned_on = self.planner.planned_on
        assert planned_on is not None
        ctx.look = OneLook(lambda: planned_on)

        def judge() -> None:
            gate(plan, ctx)

        try:
            # the gate's verdict (a refusal) is raised before anything beside it
            return both(judge, beside, "data-gate")[1]
        finally:
            ctx.look = None

    def _arm_watchdog(self, plan: Plan) -> watchdog.Watchdog | None:
        """The watchdog, made but not started (``_execute`` sets its watches and starts
        it), for a migration that reaches zones and has the runbook's [A, [B, C']]
        window (three peers or more); never for a rollback, the remedy."""
        if self.options.kind != "migration" or self.remote is None \
                or len(plan.original.peers) < 3:
            return None
        transcript = getattr(self.console, "transcript", None)
        return watchdog.arm(self.client, self.shard, plan.original, remote=self.remote,
                            run=self.stop, acting_zone=lambda: self._acting_zone,
                            acted_zones=lambda: frozenset(self._acted_zones),
                            said=None if transcript is None else transcript.write,
                            start=False)

    def _steps(self, plan: Plan, ctx: EngineContext, result: RunResult) -> None:
        total = len(plan.steps)
        for index, planned in enumerate(plan.steps, start=1):
            self.stop.check()
            if _STOP_ASKED.is_set():
                self._stop_as_asked(planned.id)
            step = self.loaded.playbook.step(planned.id)
            self.console.step(index, total, step.title, step.id)
            if self.record.step(step.id).status == "done":
                self.console.ok(f"done earlier ({self.record.step(step.id).done_by})")
                result.already.append(step.id)
                continue
            ctx.step_id, ctx.marks = step.id, dict(self.record.step(step.id).marks)
            if planned.status == "done" and self.options.kind == "migration":
                # the plan judged the shard as a whole (a later effect implies this one);
                # only pending operator steps come before it, which change nothing there.
                # (A rollback's steps are judged one by one, when they are reached.)
                how = "implied" if planned.implied else "already-held"
                self.record.stamp(step.id, "done", done_by=how, detail=planned.reason)
                self.console.ok(f"already done: {planned.reason.removeprefix('already holds: ')}")
                result.already.append(step.id)
                continue
            # One read of the shard (made when a check first needs it) for this step's
            # done-checks, start hooks and preconditions: between them the run writes
            # only its journal, outside /manatee, so they judge one instant, as the
            # plan's done-checks do. It is dropped before the step asks or acts
            # (``_run_step``); every wait and every action reads afresh.
            ctx.look = OneLook(lambda: guarded(self.client, "reading the shard",
                                               lambda: reads.read_view(self.client, self.shard)))
            try:
                seen, marks = self._judge_and_mark(ctx, step)
                if seen.ok:
                    self.record.stamp(step.id, "done", done_by="already-held",
                                      detail=seen.detail)
                    self.console.ok(f"already done: {seen.detail}")
                    result.already.append(step.id)
                    continue
                outcome = self._run_step(ctx, step, marks)
            finally:
                ctx.look = None
            result.ran.append(step.id)
            result.outcomes[step.id] = dict(outcome.data)
        self.record.finish("done")

    def _judge_and_mark(self, ctx: EngineContext, step: Step
                        ) -> tuple[Outcome, dict[str, Any] | BaseException]:
        """The step's done-checks, and its step-start hooks (each zone's log offset, its
        election nodes) looking at the same time on a context of their own: a step found
        done drops what they saw, one that starts afresh journals it with its start
        (or stops on what stopped them), a resumed one has its marks already."""
        marked = replace(ctx, marks={})
        afresh = self.record.step(step.id).status not in ("acting", "verifying")

        def hooks() -> BaseException | None:
            try:
                if afresh:
                    run_step_start(marked, step)
            except Exception as exc:  # raised when the step starts (``_run_step``)
                return exc
            return None

        seen, stopped = both(functools.partial(evaluate_done, ctx, step), hooks,
                             f"start-{step.id}")
        return seen, stopped if stopped is not None else marked.marks

    def _stop_as_asked(self, step_id: str) -> None:
        """SIGUSR1 was received: the run is journalled stopped (resumable) before
        ``step_id``, which has not started."""
        self.record.finish("stopped")
        self.console.essential(f"\nShard {self.shard}: stopped before step {step_id} as "
                               "asked (SIGUSR1); every earlier step is done and verified.",
                               "yellow")
        raise StopRequested(
            f"The run of shard {self.shard} was asked to stop (SIGUSR1: a fleet stopping "
            f"every shard) and stopped before step {step_id}, which has not started; every "
            "earlier step is done and verified.",
            f"Continue it with `{self._resume_command()}`"
            + (" (or `migrator fleet resume`)." if self.options.kind == "migration" else "."))

    def _run_step(self, ctx: EngineContext, step: Step,
                  marks: dict[str, Any] | BaseException) -> Outcome:
        """``marks``: what the step-start hooks recorded as the step was judged (or what
        stopped them), journalled with its start."""
        self._current = step
        record = self.record.step(step.id)
        resumed_from = record.status
        held = contextlib.ExitStack()
        try:
            if resumed_from not in ("acting", "verifying"):
                if isinstance(marks, BaseException):
                    raise marks  # a zone that could not be marked: the step stops here
                ctx.marks = dict(marks)
                # sent without waiting: nothing has happened yet (a crash before
                # `acting` resumes the step from the start either way), and the `acting`
                # write below collects its reply first, so a failed one stops the step
                # before it acts (JournalStore.save)
                self.record.stamp(step.id, "started", marks=dict(ctx.marks), detail=None,
                                  wait=False)
                self._preconditions(ctx, step)
                ctx.look = None  # judged: from here the step asks and acts on a fresh read
                outage = self.outages.get(step.id)
                if asking.needs_confirmation(step, outage, get_action(step.action.name)):
                    self._confirm(self._action_question(ctx, step), None,
                                  asking.typed(step, outage))
                self.stop.check()  # stopped while the operator was asked: do not act
            else:
                ctx.look = None  # its action may have changed the shard since the look
                self.console.say(f"  resuming: this step was {resumed_from} when the last run "
                                 "stopped")
                # its action may still be at work on its zone (a headnode's job, a local
                # child): the watchdog must not take that zone's restart for a lost session
                self._acting_zone = step_zone(ctx, step)
                if self._acting_zone is not None:
                    self._acted_zones.add(self._acting_zone)
            if self.outages.get(step.id) is not None and self.options.outage_locks is not None:
                held.enter_context(self._outage_locks(self.options.outage_locks))
            if resumed_from != "verifying":
                ctx.intent_func = lambda fields, sid=step.id: self.record.merge_intent(sid,
                                                                                      fields)
                found: Outcome | None = None
                if resumed_from == "acting" and get_action(step.action.name).resume:
                    found = self.inflight.resume(ctx, step)
                if found is None:
                    if get_action(step.action.name).resume is not None:
                        self.inflight.refuse_while_another_runs(self.options.kind, step)
                    what, zone = action_view(ctx, step)
                    # keys of their own: what an action journals itself (``command``,
                    # ``pid``...) is a resume's evidence that it began
                    self.record.stamp(step.id, "acting", detail=None, action_seconds=None,
                                      intent={**base_intent(step.action.name),
                                              "described": what, "onZone": zone})
                    outcome = self._act(ctx, step, what, zone)
                    timed = {"action_seconds": self._action_seconds}
                else:
                    self.console.ok(found.detail)
                    outcome = found
                    timed = {}  # it ran (part) in an earlier run: its length is unknown
                # sent without waiting: the verification only looks, and the `done`
                # write collects its reply first (a crash before it lands resumes the
                # step as acting: the action's own evidence decides, as it would)
                self.record.stamp(step.id, "verifying", outputs=jsonable(outcome.data),
                                  detail=outcome.detail, wait=False, **timed)
                self.stop.check()  # the action is done and journalled: resume verifies it
                if self._stop_after_action:
                    self.console.say(
                        "  The action finished; stopping before its verification as asked "
                        "(Ctrl-C).", "yellow")
                    raise KeyboardInterrupt
            else:
                outcome = Outcome(True, "action done in an earlier run",
                                  self.record.step(step.id).outputs)
            self._verify(ctx, step)
            # sent without waiting: the next step reads the shard meanwhile, and its first
            # write, before it acts, collects the reply (the run's end does as well)
            self.record.stamp(step.id, "done", done_by="verified", wait=False)
            return outcome
        except NotConfirmed as exc:
            # declined: nothing was written; the step stays resumable from the start
            self.record.amend(step.id, status="pending", detail=f"declined: {exc.message}")
            self.record.finish("stopped")
            raise NotConfirmed(exc.message, (f"{exc.hint} " if exc.hint else "")
                               + f"To continue this run from step {step.id}: "
                               f"`{self._resume_command()}`.") from None
        except KeyboardInterrupt:
            cancellation.ctrl_c_handled()
            self.record.interrupted(step.id)
            self.inflight.say_interrupted(ctx, step)
            raise
        except MigratorError as exc:
            current = self.record.step(step.id)
            # before acting nothing happened: back to pending; after, keep the status so
            # that resume knows whether to act again (acting) or only re-verify (verifying)
            status = "pending" if current.status == "started" else current.status
            self.record.amend(step.id, status=status, detail=f"stopped: {exc.message}")
            self.record.finish("failed")
            raise
        finally:
            held.close()
            self._current = None
            self._acting_zone = None
            self._stop_after_action = False
            ctx.intent_func = None

    def _compute_nodes(self) -> list[str]:
        """The compute nodes the shard's zones sit on (the inventory's zlogin route),
        sorted: every run takes them in one order, so two runs cannot deadlock."""
        if self.inventory is None:
            return []
        return sorted({node for zone in self.inventory.zones
                       if (node := self.inventory.route(zone).node) is not None})

    @contextmanager
    def _outage_locks(self, folder: Path) -> Iterator[None]:
        """Hold every compute node's outage lock for the block; while one is held by
        another shard's run, wait (a ``waiting`` event and heartbeats), bounded."""
        with contextlib.ExitStack() as stack:
            for node in self._compute_nodes():
                stack.enter_context(self._node_lock(folder / f"{node}.lock", node))
            yield

    @contextmanager
    def _node_lock(self, path: Path, node: str) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not nodelocks.try_lock(fd):
                who = nodelocks.holder(fd) or "another run"
                what = (f"compute node {node}'s outage lock ({who} is in a step that stops "
                        "writes there)")
                with self.console.waiting(what, OUTAGE_LOCK_TIMEOUT):
                    if not nodelocks.wait_lock(fd, self.stop, OUTAGE_LOCK_TIMEOUT):
                        raise Refused(
                            f"Waited {OUTAGE_LOCK_TIMEOUT:.0f} s for {what}; this step "
                            "was not started.",
                            f"Look at that run; when it has ended, run "
                            f"`{self._resume_command()}`.")
            nodelocks.mark_held(fd, f"shard {self.shard} ({self.operator} pid {os.getpid()})")
            try:
                yield
            finally:
                nodelocks.release(fd)
        finally:
            os.close(fd)

    def _preconditions(self, ctx: EngineContext, step: Step) -> None:
        """Look once; a precondition with its own ``timeout`` may be waited for.

        The ones without a timeout between two waits are looked at all at once (at
        datacenter distance each look costs a round trip) and judged in the declared
        order, the first that does not hold refusing the step as if they had been
        looked at one by one.

        Some conditions are momentarily false on a healthy shard under load (a sync
        a few hundred bytes behind its primary while writes flow), so a playbook can
        give such a precondition a short wait instead of refusing on one sample.
        """
        refs = step.preconditions
        looked: dict[int, tuple[Outcome | BaseException, list[str]]] = {}
        for index, ref in enumerate(refs):
            if ref.timeout:
                what = ref.why or get_check(ref.check).summary or ref.check
                started = time.monotonic()
                try:
                    with self.console.waiting(what, ref.timeout):
                        outcome = run_check(ctx, ref, ref.timeout)
                finally:
                    self.cluster_seconds += time.monotonic() - started
                ctx.look = None  # older than the wait: the ones after it read afresh
            else:
                if index not in looked:
                    # this one and the untimed ones up to the next wait, all at once (each
                    # only looks); they are judged one by one, in the declared order
                    batch = list(itertools.takewhile(lambda j: not refs[j].timeout,
                                                     range(index, len(refs))))
                    looked.update(zip(batch, look_at_once(ctx, [refs[j] for j in batch],
                                                          f"pre-{step.id}"), strict=True))
                found, said = looked[index]
                for words in said:  # what it said as it looked, in the declared order
                    ctx.say(words)
                if isinstance(found, BaseException):
                    raise found
                outcome = found
            if not outcome.ok:
                self.console.fail(f"precondition {ref.check}: {outcome.detail}")
                raise Refused(
                    f"Step {step.id} ({step.title}) cannot start: precondition {ref.check} "
                    f"does not hold ({outcome.detail}). Nothing was done in this step.",
                    f"Look with `migrator status`; when the shard is as the step expects, run "
                    f"`{self._resume_command()}`.",
                )
            self.console.ok(f"precondition {ref.check}: {outcome.detail}")

    def _act(self, ctx: EngineContext, step: Step, what: str, zone: str | None) -> Outcome:
        registered = get_action(step.action.name)
        params = registered.params.validate(step.action.params)
        if registered.describe is not None:
            self.console.say(f"  action: {what}")
        started = time.monotonic()
        estimate = self._estimate(step) if registered.takes_zone_down else None
        self._acting_zone = zone
        if zone is not None:
            self._acted_zones.add(zone)
        try:
            with self.console.acting(what, zone, estimate):
                if registered.resume is not None:
                    with self._patient_interrupts(step):
                        outcome = registered.func(ctx, params)
                else:
                    outcome = registered.func(ctx, params)
        finally:
            self.cluster_seconds += time.monotonic() - started
        self._action_seconds = round(time.monotonic() - started, 1)
        self._acting_zone = zone  # until the step's verification is over (its sitter
        # rejoins under a new session then); cleared when the step ends
        if not outcome.ok:
            self.console.fail(outcome.detail)
            raise StepFailed(
                f"Step {step.id} ({step.title}): the action {step.action.name} failed: "
                f"{outcome.detail}.",
                f"Look at the zone and `migrator status`; then `{self._resume_command()}` "
                "retries it.",
            )
        self.console.ok(outcome.detail)
        return outcome

    @contextmanager
    def _patient_interrupts(self, step: Step) -> Iterator[None]:
        """The first Ctrl-C lets a non-idempotent action finish; a second stops waiting."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self._stop_after_action:
                cancellation.on_ctrl_c(signum, frame)
            self._stop_after_action = True
            self.console.say(
                f"\n  Ctrl-C: {step.title.lower()} is under way and is left to finish (stopping "
                "it half-way could leave the zone down); the run stops after it. Press Ctrl-C "
                "again to stop waiting for it (it goes on without this run). Then: "
                f"{self._resume_command()}", "yellow")

        previous: Any = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _estimate(self, step: Step) -> tuple[float, str]:
        """A reprovision's expected length and where it comes from: this run's own
        reprovisions when there were some, else the plan's timing."""
        lengths = reprovision_lengths(self.journal, self.options.kind, self.loaded)
        learnt = learnt_reprovision(lengths)
        if learnt is not None:
            return learnt, f"learnt from this run's {len(lengths)} reprovision(s)"
        timing = timing_of(self.inventory)
        return timing.reprovision, ("assumed" if timing.source == "assumed"
                                    else f"from the {timing.source}")

    def _resume_command(self) -> str:
        verb = "rollback" if self.options.kind == "rollback" else "resume"
        return f"migrator {verb} --inventory {self.options.inventory_path}"


    def _verify(self, ctx: EngineContext, step: Step) -> None:
        began = time.monotonic()
        deadline = began + step.timeout
        for ref in step.verify:
            remaining = max(deadline - time.monotonic(), 0.0)
            timeout = min(ref.timeout, remaining) if ref.timeout else remaining
            what = ref.why or get_check(ref.check).summary or ref.check
            started = time.monotonic()
            try:
                with self.console.waiting(what, timeout), waits.guard(
                        ctx, step, ref, what, timeout, self.record.step(step.id).outputs,
                        self.console, self.options.kind,
                        self._resume_command()):
                    outcome = run_check(ctx, ref, timeout)
            finally:
                self.cluster_seconds += time.monotonic() - started
            if not outcome.ok:
                self.console.fail(f"{ref.check}: {outcome.detail}")
                spent = waits.waited(time.monotonic() - began, step.timeout)
                raise StepFailed(
                    f"Step {step.id} ({step.title}) {spent}: "
                    f"expected {what} ({ref.check}), but saw: {outcome.detail}. The cluster "
                    "may still be moving; nothing more was done and the step is not "
                    "stamped done.",
                    f"Look at `migrator status` and the zone's log; when it shows what was "
                    f"expected, run `{self._resume_command()}`: it re-checks this step "
                    "without acting again.",
                )
            self.console.ok(f"{ref.check}: {outcome.detail}")

    def _action_question(self, ctx: EngineContext, step: Step) -> str:
        registered = get_action(step.action.name)
        params = registered.params.validate(step.action.params)
        described = registered.describe(ctx, params) if registered.describe else step.action.name
        return question_for(step, described, self.outages.get(step.id))

    # ---- confirmation ---------------------------------------------------------------

    def _ask_once_for_the_whole(self, plan: Plan) -> None:
        """An attended rollback with two or more steps that ask for the shard name asks
        once, typed, for all of them before its first step: they come while the shard
        takes no writes, and typing the name at each of them lengthens the outage (17 s
        were seen). Every later question of the run is answered by this answer, and the
        journal records it so (``yes (answered once ...)``). A rollback with one such
        step asks at that step, as a migration does."""
        if self.console.assume_yes or self.options.saved_plan is not None:
            return
        typed_steps = [s.id for s in plan.pending if s.asks == asking.TYPED]
        if len(typed_steps) < 2:
            return
        question = (f"Roll back shard {self.shard}: {len(plan.pending)} step(s), of which "
                    f"{', '.join(typed_steps)} stop writes or ask for the shard name; this "
                    "one answer goes ahead with all of them (no more questions)?")
        self.console.ask(question, None, True)
        self._answered_once = question

    def _confirm(self, question: str, shown: Any, typed: bool) -> None:
        step = self._current
        typed = typed or (step is not None and asking.typed(step, self.outages.get(step.id)))
        if self._answered_once is not None:
            self.console.show(shown)
            self.console.say(f"  {question} yes (answered once for the whole rollback)")
            answered = getattr(self.console, "answered", None)  # the journal's log keeps it
            if answered is not None:
                answered(question, typed, "yes (answered once for the whole rollback)", shown)
            return
        saved = self.options.saved_plan
        if saved is not None:
            if isinstance(shown, ProposedWrite) and step is not None:
                require_planned_write(saved, step.id, shown)
            self.console.show(shown)
            self.console.say(f"  {question} yes (saved plan {saved.path})")
            answered = getattr(self.console, "answered", None)  # the journal's log keeps it
            if answered is not None:
                answered(question, typed, f"yes (saved plan {saved.path})", shown)
            return
        asked = time.monotonic()
        try:
            self.console.ask(question, shown, typed)
        finally:
            if step is not None:  # the operator's time, kept apart from the step's own
                took = round(time.monotonic() - asked, 1)
                before = self.record.step(step.id).answered_seconds
                # an answer under 0.05 s (--yes) leaves the figure as it is: no write
                # (a journal write is a round trip to ZooKeeper)
                if round(before + took, 1) != before:
                    self.record.amend(step.id, answered_seconds=round(before + took, 1))

