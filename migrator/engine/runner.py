"""The runner: the only caller of effects (checks, actions, journal writes).

For each step of the plan, in order::
    done already?   journal says done, or its done-checks hold now -> stamp, next
    started         step-start hooks record marks (log offsets); journal saved
    preconditions   each checked once; one failing refuses the step (nothing done)
    confirm         steps whose action shows no computed write are confirmed here;
                    actions that write a computed state confirm it themselves
    acting          journal saved *before* the action, then the action
    verifying       outputs saved, then every verification waited for, event-driven
    done            stamped only after the verification passed

Resuming a step left ``acting`` does not re-check the preconditions (they
described the world before the action). ZooKeeper actions are idempotent (they
look at what is there) and are simply run again. A reprovision or a command in
a zone is not: before it does anything it journals its *intent* (zone, image,
time, this machine, a local child's pid and process group), and on resume the
evidence from the live zone, the election, this machine and the headnode is
compared with it (``migrator.engine.inflight.decide``, a pure function): done
-> verify; still under way -> wait for it (never a second one at once); never
happened -> act again; no evidence either way -> ask the operator to type the
shard name, or with ``--yes`` refuse (exit 3) saying what to look at.

Ctrl-C during such an action does not abandon it half-way: the first one lets
the action finish (the run then stops before verifying, and says so); a second
one stops waiting for it (a local child runs on in its own process group) and
says what state the zone is in. Both print the `migrator resume` command.

A step left ``verifying`` only waits for its verification again. Every
journal write is one versioned ZooKeeper write, so a crash or Ctrl-C at any
moment leaves the previous or the next journal, both consistent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from migrator import cancellation
from migrator.cancellation import Cancellation
from migrator.cluster.state import iso_now_ms
from migrator.cluster.writability import Outage
from migrator.engine import (
    consistency,
    waits,
    watchdog,
)
from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext
from migrator.engine.inflight import decide, describe_evidence
from migrator.engine.journal import (
    Journal,
    StepRecord,
    new_journal,
    new_run,
    stamp,
)
from migrator.engine.journal_store import JournalStore, capture_shard
from migrator.engine.outage import timing_of
from migrator.engine.planner import Plan, make_plan, resolve_original
from migrator.engine.savedplan import require_fresh, require_planned_write
from migrator.engine.summary import needs_confirmation, proceed, question_for
from migrator.errors import MigratorError, NotConfirmed, Refused, StepFailed
from migrator.playbook.loader import LoadedPlaybook
from migrator.remote.localchild import child_state, wait_gone
from migrator.stepkit.hooks import run_step_start
from migrator.stepkit.registry import Outcome, get_action, get_check
from migrator.stepkit.schema import CheckRef, Step
from migrator.stepkit.writes import ProposedWrite
from migrator.zk import reads
from migrator.zk.watches import wait_for, watch_election

if TYPE_CHECKING:
    from migrator.cluster.history import HistoryRecord
    from migrator.cluster.shard import ShardSnapshot
    from migrator.engine.savedplan import SavedPlan

# seconds between looks at an action left in flight when nothing we can watch changes
# (a headnode job's status has no event to follow)
INFLIGHT_RECHECK = 5.0



@dataclass
class RunOptions:
    """How a run was asked for: confirmations, saved plan, kind."""

    assume_yes: bool = False
    accept_playbook_change: bool = False
    saved_plan: SavedPlan | None = None
    kind: str = "migration"
    inventory_path: str = "INVENTORY"


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


class Stopwatch:
    """Accumulates the seconds spent asking the cluster, for the overhead figures.

    Queries may run concurrently (``observe``), so it counts the time during
    which at least one is under way, not the sum of their durations.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._running = 0
        self._since = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def timing(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._since = time.monotonic()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.seconds += time.monotonic() - self._since


QUERIES = Stopwatch()


def run_check(ctx: EngineContext, ref: CheckRef, timeout: float) -> Outcome:
    registered = get_check(ref.check)
    params = registered.params.validate(ref.params)
    if timeout > 0:
        return registered.func(ctx, params, timeout)
    with QUERIES.timing():
        return registered.func(ctx, params, timeout)


def evaluate_done(ctx: EngineContext, step: Step) -> Outcome:
    """Do the step's done-checks hold right now (timeout 0)? A check that cannot be
    evaluated (zone unreachable) counts as not holding, with the reason.

    Every check is looked at, not only up to the first that fails: a failing
    *persistent* check (one no later step undoes, e.g. a zone's version) is
    reported in ``data["persistent_failed"]``, which tells a step undone by a later
    one from a step never done (``migrator.engine.position``).
    """
    if not step.done_checks:
        return Outcome(False, "only the journal can say this step was done (done_when: [])")
    details: list[str] = []
    failed: list[str] = []
    persistent: list[str] = []
    for ref in step.done_checks:
        try:
            outcome = run_check(ctx, ref, 0.0)
        except MigratorError as exc:
            failed.append(f"{ref.check} could not be checked: {exc.message}")
            continue
        if outcome.ok:
            details.append(outcome.detail)
            continue
        failed.append(f"{ref.check}: {outcome.detail}")
        if get_check(ref.check).persistent:
            persistent.append(outcome.detail)
    if failed:
        return Outcome(False, failed[0], {"persistent_failed": persistent})
    return Outcome(True, "; ".join(details))


def observe(ctx: EngineContext, loaded: LoadedPlaybook, journal: Journal | None,
            kind: str, view: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
            ) -> dict[str, Outcome | None]:
    """Which steps are already done.

    The steps are judged concurrently, each in its own copy of the context: a
    done-check only looks (timeout 0), the ZooKeeper ones all judge ``view``
    (one read), and the ones that ask zones over SSH spend their time waiting
    for the answer, so asking three zones costs one round trip instead of three.
    """
    run = journal.run(kind) if journal is not None else None
    steps = loaded.playbook.steps
    results: list[Outcome | BaseException | None] = [None] * len(steps)

    def judge(index: int) -> None:
        step = steps[index]
        record = run.step(step.id) if run is not None else StepRecord()
        own = replace(ctx, step_id=step.id, marks=dict(record.marks), view=view)
        try:
            results[index] = evaluate_done(own, step)
        except BaseException as exc:  # re-raised in the caller's thread below
            results[index] = exc

    workers = [threading.Thread(target=judge, args=(i,), name=f"observe-{steps[i].id}",
                                daemon=True) for i in range(1, len(steps))]
    for worker in workers:
        worker.start()
    if steps:
        judge(0)
    for worker in workers:
        worker.join()
    observed: dict[str, Outcome | None] = {}
    for step, result in zip(steps, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        observed[step.id] = result
    return observed


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
        self.journal: Journal | None = None
        self._current: Step | None = None
        self.outages: dict[str, Outage | None] = {}
        self.cluster_seconds = 0.0
        self._queries_at_start = 0.0
        self._stop_after_action = False
        # the run's stop: set by another thread (watchdog, /state watch, hopeless wait)
        self.stop = Cancellation()

    # ---- planning -------------------------------------------------------------------

    def plan(
        self, read: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
    ) -> tuple[Plan, EngineContext]:
        """Read the cluster and the journal and plan; also used by `migrator plan`.

        ``read``: the shard and its history as the caller has just read them
        (`migrator plan` chose the playbook on that read); otherwise read here.
        """

        if read is not None:
            snapshot, history = read
        else:
            snapshot, history = reads.read_view(self.client, self.shard)
        self.journal = self.store.load()
        original, _ = resolve_original(snapshot, history, self.journal)
        ctx = EngineContext(
            shard=self.shard, zk=self.client, inventory=self.inventory, remote=self.remote,
            original=original, say_func=lambda text: self.console.say(f"  {text}"),
            confirm_func=self._confirm, recorded_func=self._recorded_outputs,
        )
        # Without a journal (a migration begun by hand, or none yet) the original topology
        # is captured now, so its election nodes say nothing about restarts *before* now:
        # the done-checks judge a zone back in the election as rejoined (see README).
        judge = ctx if self.journal is not None else replace(ctx, original=_unnamed(original))
        observed = observe(judge, self.loaded, self.journal, self.options.kind,
                           view=(snapshot, history))
        plan = make_plan(
            snapshot, history, self.loaded, self.journal, observed, now=iso_now_ms(),
            choice=self.choice, inventory_zones=self.inventory_zones,
            run_kind=self.options.kind, timing=timing_of(self.inventory),
        )
        if self.journal is not None:
            consistency.require_agreement(self.journal, snapshot, self.loaded.playbook,
                                          observed, self.options.kind)
        return plan, ctx

    # ---- running --------------------------------------------------------------------

    def execute(self) -> RunResult:
        """Run the plan's steps. For the run's length ``stop`` is the current
        cancellation: every wait of the run ends when another thread stops it (the
        watchdog, the /state watch, a wait that cannot succeed), and the step loop looks
        at it between phases."""
        with cancellation.active(self.stop):
            return self._execute()

    def _execute(self) -> RunResult:
        self._queries_at_start = QUERIES.seconds
        plan, ctx = self.plan()
        self._refuse_changed_playbook()
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
            self.console.say(
                f"Nothing to do: every step of {plan.playbook} is done for shard {self.shard}.",
                "green",
            )
            if self.journal is not None:
                self._finish_run("done")
            result.complete = True
            return result
        if self.journal is None and plan.original.source == "history":
            self.console.say(plan.notes[0] if plan.notes else "", "yellow")
            self._confirm("Continue the migration from this reconstructed topology?", None,
                          False)
        self.outages = {s.id: s.outage_detail for s in plan.steps}
        # for the zones' status during outage steps (migrator.engine.zonestatus)
        self.outage_zones = {s.id: dict(s.zones) for s in plan.steps}
        self.peer_zones = {p.peer_id: p.zone_id for p in plan.original.peers}
        if self.options.kind == "migration":  # a rollback explains and shows its own plan
            proceed(self.console, plan, saved_plan=self.options.saved_plan is not None)
        self._ensure_journal(plan)
        dog = self._arm_watchdog(plan)
        try:
            self._steps(plan, ctx, result)
        finally:
            if dog is not None:
                dog.stop()
        result.complete = True
        result.cluster_seconds = self.cluster_seconds
        result.query_seconds = QUERIES.seconds - self._queries_at_start
        self.console.say(f"\nShard {self.shard}: {plan.playbook} complete.", "bold green")
        return result

    def _arm_watchdog(self, plan: Plan) -> watchdog.Watchdog | None:
        """The watchdog, for a migration that reaches zones and has the runbook's
        [A, [B, C']] window (three peers or more); never for a rollback, the remedy."""
        if self.options.kind != "migration" or self.remote is None \
                or len(plan.original.peers) < 3:
            return None
        return watchdog.arm(self.client, self.shard, plan.original, remote=self.remote,
                            run=self.stop)

    def _steps(self, plan: Plan, ctx: EngineContext, result: RunResult) -> None:
        total = len(plan.steps)
        for index, planned in enumerate(plan.steps, start=1):
            self.stop.check()
            step = self.loaded.playbook.step(planned.id)
            self.console.step(index, total, step.title, step.id)
            if self._record(step.id).status == "done":
                self.console.ok(f"done earlier ({self._record(step.id).done_by})")
                result.already.append(step.id)
                continue
            ctx.step_id, ctx.marks = step.id, dict(self._record(step.id).marks)
            if planned.status == "done" and self.options.kind == "migration":
                # the plan judged the shard as a whole (a later effect implies this one);
                # only pending operator steps come before it, which change nothing there.
                # (A rollback's steps are judged one by one, when they are reached.)
                how = "implied" if planned.implied else "already-held"
                self._save_step(step.id, stamp(self._record(step.id), "done", self.operator,
                                               done_by=how, detail=planned.reason))
                self.console.ok(f"already done: {planned.reason.removeprefix('already holds: ')}")
                result.already.append(step.id)
                continue
            seen = evaluate_done(ctx, step)
            if seen.ok:
                self._save_step(step.id, stamp(self._record(step.id), "done", self.operator,
                                               done_by="already-held", detail=seen.detail))
                self.console.ok(f"already done: {seen.detail}")
                result.already.append(step.id)
                continue
            outcome = self._run_step(ctx, step)
            result.ran.append(step.id)
            result.outcomes[step.id] = dict(outcome.data)
        self._finish_run("done")

    def _run_step(self, ctx: EngineContext, step: Step) -> Outcome:
        self._current = step
        record = self._record(step.id)
        resumed_from = record.status
        try:
            if resumed_from not in ("acting", "verifying"):
                ctx.marks = {}
                run_step_start(ctx, step)
                self._save_step(step.id, stamp(record, "started", self.operator,
                                               marks=dict(ctx.marks), detail=None))
                self._preconditions(ctx, step)
                outage = self.outages.get(step.id)
                if needs_confirmation(step, outage, get_action(step.action.name)):
                    self._confirm(self._action_question(ctx, step), None,
                                  step.confirm == "typed" or outage is not None)
                self.stop.check()  # stopped while the operator was asked: do not act
            else:
                self.console.say(f"  resuming: this step was {resumed_from} when the last run "
                                 "stopped")
            if resumed_from != "verifying":
                ctx.intent_func = lambda fields, sid=step.id: self._merge_intent(sid, fields)
                found: Outcome | None = None
                if resumed_from == "acting" and get_action(step.action.name).resume:
                    found = self._resume_in_flight(ctx, step)
                if found is None:
                    if get_action(step.action.name).resume is not None:
                        self._refuse_while_another_runs(step)
                    self._save_step(step.id, replace(
                        stamp(self._record(step.id), "acting", self.operator), detail=None,
                        intent=_base_intent(step.action.name)))
                    outcome = self._act(ctx, step)
                else:
                    self.console.ok(found.detail)
                    outcome = found
                self._save_step(step.id, stamp(self._record(step.id), "verifying", self.operator,
                                               outputs=_jsonable(outcome.data),
                                               detail=outcome.detail))
                self.stop.check()  # the action is done and journalled: resume verifies it
                if self._stop_after_action:
                    self.console.say(
                        "  The action finished; stopping before its verification as asked "
                        "(Ctrl-C).", "yellow")
                    raise KeyboardInterrupt
            else:
                outcome = Outcome(True, "action done in an earlier run",
                                  self._record(step.id).outputs)
            self._verify(ctx, step)
            self._save_step(step.id, stamp(self._record(step.id), "done", self.operator,
                                           done_by="verified"))
            return outcome
        except NotConfirmed as exc:
            # declined: nothing was written; the step stays resumable from the start
            self._save_step(step.id, replace(self._record(step.id), status="pending",
                                             detail=f"declined: {exc.message}"))
            self._finish_run("stopped")
            raise
        except KeyboardInterrupt:
            self._best_effort_interrupt(step.id)
            self._say_interrupted(ctx, step)
            raise
        except MigratorError as exc:
            current = self._record(step.id)
            # before acting nothing happened: back to pending; after, keep the status so
            # that resume knows whether to act again (acting) or only re-verify (verifying)
            status = "pending" if current.status == "started" else current.status
            self._save_step(step.id, replace(current, status=status,
                                             detail=f"stopped: {exc.message}"))
            self._finish_run("failed")
            raise
        finally:
            self._current = None
            self._stop_after_action = False
            ctx.intent_func = None

    def _preconditions(self, ctx: EngineContext, step: Step) -> None:
        """Look once; a precondition with its own ``timeout`` may be waited for.

        Some conditions are momentarily false on a healthy shard under load (a sync
        a few hundred bytes behind its primary while writes flow), so a playbook can
        give such a precondition a short wait instead of refusing on one sample.
        """
        for ref in step.preconditions:
            if ref.timeout:
                what = ref.why or get_check(ref.check).summary or ref.check
                started = time.monotonic()
                try:
                    with self.console.waiting(what, ref.timeout):
                        outcome = run_check(ctx, ref, ref.timeout)
                finally:
                    self.cluster_seconds += time.monotonic() - started
            else:
                outcome = run_check(ctx, ref, 0.0)
            if not outcome.ok:
                self.console.fail(f"precondition {ref.check}: {outcome.detail}")
                raise Refused(
                    f"Step {step.id} ({step.title}) cannot start: precondition {ref.check} "
                    f"does not hold ({outcome.detail}). Nothing was done in this step.",
                    f"Look with `migrator status`; when the shard is as the step expects, run "
                    f"`migrator resume --inventory {self.options.inventory_path}`.",
                )
            self.console.ok(f"precondition {ref.check}: {outcome.detail}")

    def _act(self, ctx: EngineContext, step: Step) -> Outcome:
        registered = get_action(step.action.name)
        params = registered.params.validate(step.action.params)
        if registered.describe is not None:
            self.console.say(f"  action: {registered.describe(ctx, params)}")
        started = time.monotonic()
        try:
            if registered.resume is not None:
                with self._patient_interrupts(step):
                    outcome = registered.func(ctx, params)
            else:
                outcome = registered.func(ctx, params)
        finally:
            self.cluster_seconds += time.monotonic() - started
        if not outcome.ok:
            self.console.fail(outcome.detail)
            raise StepFailed(
                f"Step {step.id} ({step.title}): the action {step.action.name} failed: "
                f"{outcome.detail}.",
                f"Look at the zone and `migrator status`; then `migrator resume --inventory "
                f"{self.options.inventory_path}` retries it.",
            )
        self.console.ok(outcome.detail)
        return outcome

    @contextmanager
    def _patient_interrupts(self, step: Step) -> Iterator[None]:
        """The first Ctrl-C lets a non-idempotent action finish; a second stops waiting."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(_signum: int, _frame: Any) -> None:
            if self._stop_after_action:
                raise KeyboardInterrupt
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

    def _resume_command(self) -> str:
        verb = "rollback" if self.options.kind == "rollback" else "resume"
        return f"migrator {verb} --inventory {self.options.inventory_path}"

    def _say_interrupted(self, ctx: EngineContext, step: Step) -> None:
        """After Ctrl-C: what state the zone of an action left in flight is in, and the
        command that continues. Best effort: it must not hide the interruption."""
        try:
            record = self._record(step.id)
            registered = get_action(step.action.name)
            if record.status == "acting" and registered.resume is not None:

                params = registered.params.validate(step.action.params)
                evidence = registered.resume(ctx, params, dict(record.intent or {}))
                self.console.say(f"  Stopped waiting for {step.title.lower()}; it was left "
                                 f"as it is. {describe_evidence(evidence)}", "yellow")
                self.console.say("  The step stays `acting`: resuming decides from the zone "
                                 "whether the action happened, waits for it while it runs, "
                                 "and never starts a second one at the same time.", "yellow")
            self.console.say(f"  To continue: {self._resume_command()}", "yellow")
        except (Exception, KeyboardInterrupt):
            pass

    def _merge_intent(self, step_id: str, fields: Mapping[str, Any]) -> None:
        record = self._record(step_id)
        self._save_step(step_id, replace(record, intent={**(record.intent or {}),
                                                         **_jsonable(fields)}))

    def _resume_in_flight(self, ctx: EngineContext, step: Step) -> Outcome | None:
        """Decide from the live evidence what became of an action left ``acting``.

        Returns the outcome when it is done, None when it must be run (again); waits
        while it is under way; asks (typed) when nothing tells, and refuses with --yes.
        """

        registered = get_action(step.action.name)
        assert registered.resume is not None
        params = registered.params.validate(step.action.params)
        intent = dict(self._record(step.id).intent or {})
        limit = float(getattr(params, "timeout", None) or step.timeout)
        deadline = time.monotonic() + limit
        said = waited_for = ""
        while True:
            with QUERIES.timing():
                evidence = registered.resume(ctx, params, intent)
            decision = decide(evidence)
            if decision.reason != said:
                self.console.say(f"  left in flight by the last run: {decision.reason}")
                said = decision.reason
            if decision.verdict == "done":
                return Outcome(True, f"done in an earlier run: {decision.reason}",
                               {"resumed": "done", "reason": decision.reason})
            if decision.verdict == "redo":
                return None
            if decision.verdict == "ask":
                self._ask_redo(step, decision)
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StepFailed(
                    f"Step {step.id} ({step.title}): {decision.reason}, still after waiting "
                    f"{limit:g} s for it; nothing was started.",
                    f"Look at it; once it has ended, `{self._resume_command()}` decides "
                    "again from what it finds.",
                )
            started = time.monotonic()
            try:
                if decision.reason != waited_for:  # one waiting line per new reason
                    waited_for = decision.reason
                    with self.console.waiting(decision.reason, remaining):
                        self._wait_in_flight(evidence, intent, min(remaining,
                                                                   INFLIGHT_RECHECK))
                else:
                    self._wait_in_flight(evidence, intent, min(remaining, INFLIGHT_RECHECK))
            finally:
                self.cluster_seconds += time.monotonic() - started

    def _refuse_while_another_runs(self, step: Step) -> None:
        """Never two non-idempotent actions at once: a local child an earlier run left
        (in any step, migration or rollback) must have ended first."""

        assert self.journal is not None
        for run in self.journal.runs:
            for step_id, record in run.steps.items():
                if (run.kind, step_id) == (self.options.kind, step.id):
                    continue
                intent = record.intent or {}
                if record.status == "acting" and child_state(intent) == "alive":
                    raise Refused(
                        f"Step {step.id} ({step.title}) was not started: the {run.kind}'s "
                        f"step {step_id} left an action running (pid {intent.get('pid')}, "
                        f"process group {intent.get('pgid')}, in {intent.get('zone')}).",
                        "Wait for it to end (its output is in "
                        f"{intent.get('output')}), then run this again.",
                    )

    def _ask_redo(self, step: Step, decision: Any) -> None:
        look = "; ".join(decision.look_at) or "the zone"
        if self.console.assume_yes or self.options.saved_plan is not None:
            raise Refused(
                f"Step {step.id} ({step.title}) was interrupted while acting, and "
                f"{decision.reason}. Running it again without knowing could start a second "
                "one; nothing was done.",
                f"Look at: {look}. If it did not happen, run `{self._resume_command()}` "
                "without --yes and confirm; if it did, wait until the zone is back and "
                "resume.",
            )
        self.console.say(f"  Before answering, look at: {look}.", "yellow")
        self._confirm(f"{step.title}: run the action again (it may have happened already)?",
                      None, True)

    def _wait_in_flight(self, evidence: Any, intent: Mapping[str, Any],
                        timeout: float) -> None:
        """Until the local child exits, or the election changes, or ``timeout``."""
        if evidence.child == "alive" and isinstance(intent.get("pid"), int):
            wait_gone(int(intent["pid"]), timeout)
            return

        first: list[Any] = []

        def changed(children: Any) -> Any:
            if not first:
                first.append(sorted(children))
                return None
            return True if sorted(children) != first[0] else None

        wait_for(lambda deliver: watch_election(self.client, self.shard, deliver), changed,
                 timeout)

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
                        ctx, step, ref, what, timeout, self._record(step.id).outputs,
                        self.console, self.options.kind,
                        f"migrator resume --inventory {self.options.inventory_path}"):
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
                    f"expected, run `migrator resume --inventory "
                    f"{self.options.inventory_path}`: it re-checks this step without acting "
                    "again.",
                )
            self.console.ok(f"{ref.check}: {outcome.detail}")

    def _action_question(self, ctx: EngineContext, step: Step) -> str:
        registered = get_action(step.action.name)
        params = registered.params.validate(step.action.params)
        described = registered.describe(ctx, params) if registered.describe else step.action.name
        return question_for(step, described, self.outages.get(step.id))

    # ---- confirmation ---------------------------------------------------------------

    def _confirm(self, question: str, shown: Any, typed: bool) -> None:
        step = self._current
        typed = typed or (step is not None and (step.confirm == "typed"
                                                or self.outages.get(step.id) is not None))
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
        self.console.ask(question, shown, typed)

    # ---- journal --------------------------------------------------------------------

    def _refuse_changed_playbook(self) -> None:
        run = self.journal.run(self.options.kind) if self.journal else None
        if run is None or run.status == "done" or run.playbook_digest == self.loaded.digest:
            return
        if self.options.accept_playbook_change:
            self.console.say(f"Accepting the changed playbook ({run.playbook_digest} -> "
                             f"{self.loaded.digest}) as asked.", "yellow")
            return
        raise Refused(
            f"The journal's {run.kind} of shard {self.shard} was started with playbook "
            f"{run.playbook} {run.playbook_digest}; the playbook now is {self.loaded.name} "
            f"{self.loaded.digest}. Nothing was done.",
            "Resume with the same playbook, or pass --accept-playbook-change after reading "
            "what changed.",
        )

    def _ensure_journal(self, plan: Plan) -> None:
        if self.journal is None:
            snapshot = capture_shard(self.client, self.shard)
            journal = new_journal(self.shard, plan.original, snapshot, self.operator)
            self.store.create(journal)
            self.journal = journal
            self.console.say(f"Journal created at {self.store.path} (shard snapshot taken).")
        run = self.journal.run(self.options.kind)
        if run is None or run.status == "done":
            run = new_run(self.options.kind, self.loaded.name, self.loaded.digest, self.operator)
        else:
            run = replace(run, status="running", playbook=self.loaded.name,
                          playbook_digest=self.loaded.digest)
        self.journal = self.journal.with_run(run)
        self.store.save(self.journal)

    def _recorded_outputs(self, kind: str, step_id: str) -> Mapping[str, Any]:
        run = self.journal.run(kind) if self.journal is not None else None
        return dict(run.step(step_id).outputs) if run is not None else {}

    def _record(self, step_id: str) -> StepRecord:
        run = self.journal.run(self.options.kind) if self.journal else None
        return run.step(step_id) if run is not None else StepRecord()

    def _save_step(self, step_id: str, record: StepRecord) -> None:
        assert self.journal is not None
        self.journal = self.journal.with_step(self.options.kind, step_id, record)
        self.store.save(self.journal)

    def _finish_run(self, status: str) -> None:
        assert self.journal is not None
        run = self.journal.run(self.options.kind)
        if run is None or run.status == status:
            return
        self.journal = self.journal.with_run(replace(run, status=status))
        self.store.save(self.journal)

    def _best_effort_interrupt(self, step_id: str) -> None:
        try:
            current = self._record(step_id)
            if current.status in ("acting", "verifying"):
                # keep the status: resume must know the action may have happened
                self._save_step(step_id, replace(current, detail="interrupted (Ctrl-C)"))
            else:
                self._save_step(step_id, replace(current, status="pending",
                                                 detail="interrupted (Ctrl-C) before acting"))
            self._finish_run("interrupted")
        except (Exception, KeyboardInterrupt):
            pass  # the journal holds its previous, consistent version


def _unnamed(original: Any) -> Any:
    """The original topology without its election node names (unknown before now)."""
    return replace(original, peers=tuple(replace(p, name=None) for p in original.peers))


def _base_intent(action: str) -> dict[str, Any]:
    """What every action journals as it starts: what, when, from which machine."""
    return {"action": action, "started": iso_now_ms(), "host": socket.gethostname(),
            "operatorPid": os.getpid()}


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(data), default=str)))
