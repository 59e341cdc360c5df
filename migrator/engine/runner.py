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

Resuming a step left ``acting`` re-runs its action without re-checking the
preconditions (they described the world before the action): every action is
idempotent (ZooKeeper actions check what is there; remote actions must too).
A step left ``verifying`` only waits for its verification again. Every
journal write is one versioned ZooKeeper write, so a crash or Ctrl-C at any
moment leaves the previous or the next journal, both consistent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from migrator.cluster.state import iso_now_ms
from migrator.engine import consistency
from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext
from migrator.engine.hooks import run_step_start
from migrator.engine.journal import (
    Journal,
    StepRecord,
    new_journal,
    new_run,
    stamp,
)
from migrator.engine.journal_store import JournalStore, capture_shard
from migrator.engine.outage import Outage, timing_of
from migrator.engine.planner import Plan, make_plan
from migrator.engine.summary import needs_confirmation, proceed, question_for
from migrator.engine.writeplan import ProposedWrite
from migrator.errors import MigratorError, NotConfirmed, Refused, StepFailed
from migrator.playbook.loader import LoadedPlaybook
from migrator.playbook.schema import CheckRef, Step
from migrator.steps.registry import Outcome, get_action, get_check
from migrator.zk import reads

if TYPE_CHECKING:
    from migrator.cluster.history import HistoryRecord
    from migrator.cluster.shard import ShardSnapshot
    from migrator.engine.savedplan import SavedPlan

# actions that show the operator their computed write through ctx.confirm themselves
SELF_CONFIRMING = frozenset(
    {"backfill", "unfreeze", "freeze", "delete_state", "set_one_node_write_mode",
     "ask_operator", "confirm_morays"}
)


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
    evaluated (zone unreachable) counts as not holding, with the reason."""
    if not step.done_checks:
        return Outcome(False, "only the journal can say this step was done (done_when: [])")
    details = []
    for ref in step.done_checks:
        try:
            outcome = run_check(ctx, ref, 0.0)
        except MigratorError as exc:
            return Outcome(False, f"{ref.check} could not be checked: {exc.message}")
        if not outcome.ok:
            return Outcome(False, f"{ref.check}: {outcome.detail}")
        details.append(outcome.detail)
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
    from migrator.steps import load_all

    load_all()  # every check module imported here, not first in several threads at once
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

    # ---- planning -------------------------------------------------------------------

    def plan(
        self, read: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
    ) -> tuple[Plan, EngineContext]:
        """Read the cluster and the journal and plan; also used by `migrator plan`.

        ``read``: the shard and its history as the caller has just read them
        (`migrator plan` chose the playbook on that read); otherwise read here.
        """
        from migrator.engine.planner import resolve_original

        if read is not None:
            snapshot, history = read
        else:
            snapshot = reads.read_shard(self.client, self.shard)
            history = reads.read_history(self.client, self.shard)
        self.journal = self.store.load()
        original, _ = resolve_original(snapshot, history, self.journal)
        ctx = EngineContext(
            shard=self.shard, zk=self.client, inventory=self.inventory, remote=self.remote,
            original=original, say_func=lambda text: self.console.say(f"  {text}"),
            confirm_func=self._confirm,
        )
        observed = observe(ctx, self.loaded, self.journal, self.options.kind,
                           view=(snapshot, history))
        plan = make_plan(
            snapshot, history, self.loaded, self.journal, observed, now=iso_now_ms(),
            choice=self.choice, inventory_zones=self.inventory_zones,
            run_kind=self.options.kind, timing=timing_of(self.inventory),
        )
        if self.journal is not None:
            consistency.require_agreement(self.journal, snapshot, self.loaded.playbook,
                                          observed, self.options.kind)
        self._snapshot_mode = snapshot.mode
        return plan, ctx

    # ---- running --------------------------------------------------------------------

    def execute(self) -> RunResult:
        # Imported for its step-start hook, which arms the watchdog for the run
        # (a plan, which starts no step, never needs it).
        from migrator.engine import watchdog  # noqa: F401
        from migrator.engine.savedplan import require_fresh

        self._queries_at_start = QUERIES.seconds
        plan, ctx = self.plan()
        self._refuse_changed_playbook()
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
        if self.options.kind == "migration":  # a rollback explains and shows its own plan
            proceed(self.console, plan, saved_plan=self.options.saved_plan is not None)
        self._ensure_journal(plan)
        total = len(plan.steps)
        for index, planned in enumerate(plan.steps, start=1):
            step = self.loaded.playbook.step(planned.id)
            self.console.step(index, total, step.title, step.id)
            if self._record(step.id).status == "done":
                self.console.ok(f"done earlier ({self._record(step.id).done_by})")
                result.already.append(step.id)
                continue
            ctx.step_id, ctx.marks = step.id, dict(self._record(step.id).marks)
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
        result.complete = True
        result.cluster_seconds = self.cluster_seconds
        result.query_seconds = QUERIES.seconds - self._queries_at_start
        self.console.say(f"\nShard {self.shard}: {plan.playbook} complete.", "bold green")
        return result

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
                if needs_confirmation(step, outage, step.action.name in SELF_CONFIRMING):
                    self._confirm(self._action_question(ctx, step), None,
                                  step.confirm == "typed" or outage is not None)
            else:
                self.console.say(f"  resuming: this step was {resumed_from} when the last run "
                                 "stopped")
            if resumed_from != "verifying":
                self._save_step(step.id, replace(stamp(self._record(step.id), "acting",
                                                       self.operator), detail=None))
                outcome = self._act(ctx, step)
                self._save_step(step.id, stamp(self._record(step.id), "verifying", self.operator,
                                               outputs=_jsonable(outcome.data),
                                               detail=outcome.detail))
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

    def _verify(self, ctx: EngineContext, step: Step) -> None:
        deadline = time.monotonic() + step.timeout
        for ref in step.verify:
            remaining = max(deadline - time.monotonic(), 0.0)
            timeout = min(ref.timeout, remaining) if ref.timeout else remaining
            what = ref.why or get_check(ref.check).summary or ref.check
            started = time.monotonic()
            try:
                with self.console.waiting(what, timeout):
                    outcome = run_check(ctx, ref, timeout)
            finally:
                self.cluster_seconds += time.monotonic() - started
            if not outcome.ok:
                self.console.fail(f"{ref.check}: {outcome.detail}")
                raise StepFailed(
                    f"Step {step.id} ({step.title}) timed out after {step.timeout:g} s: "
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
            from migrator.engine.savedplan import require_planned_write

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


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    import json

    return dict(json.loads(json.dumps(dict(data), default=str)))
