"""The plan of a live shard: its reads, its done-checks and the plan made on them.

``LivePlanner`` reads the shard and the journal, judges which steps are done already
(``migrator.engine.observe``) and makes the plan (``migrator.engine.planner``, pure),
with each pending action as the run will print it and the figures the run will use.
`migrator plan` builds it alone; a run's ``Runner`` (``migrator.engine.runner``) holds
one and plans through it, giving it the run's record of the journal, so a plan and a
run's own plan are one code. Kept apart from the runner so that a plan imports nothing
of the run's step loop (its record, resume, waits, watchdog, locks, summary).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Protocol

from migrator.cluster.history import HistoryRecord
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.writability import Timing
from migrator.engine import consistency
from migrator.engine.console import RunConsole
from migrator.engine.context import Confirmer, EngineContext
from migrator.engine.journal import Journal
from migrator.engine.journal_store import JournalStore
from migrator.engine.observe import observe
from migrator.engine.outage import learnt_reprovision, timing_of
from migrator.engine.planner import Plan, make_plan, resolve_original
from migrator.errors import MigratorError
from migrator.isotime import iso_now_ms
from migrator.playbook.loader import LoadedPlaybook
from migrator.stepkit.registry import Outcome, get_action
from migrator.stepkit.schema import Step
from migrator.stepkit.together import both
from migrator.zk import reads

# the shard and its history, as one read gives them (``migrator.zk.reads.read_view``)
Read = tuple[ShardSnapshot, list[HistoryRecord]]


class JournalHolder(Protocol):
    """Where the planner loads the journal and reads it back: a run's record
    (``migrator.engine.recording.RunRecorder``, whose journal the run then writes) or,
    for a plan alone, a ``JournalReader``."""

    journal: Journal | None

    def load(self) -> Journal | None: ...

    def outputs(self, kind: str, step_id: str) -> Mapping[str, Any]: ...


class JournalReader:
    """The journal as a plan alone reads it: loaded, never written."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.journal: Journal | None = None

    def load(self) -> Journal | None:
        self.journal = self.store.load()
        return self.journal

    def outputs(self, kind: str, step_id: str) -> Mapping[str, Any]:
        return outputs_of(self.journal, kind, step_id)


class LivePlanner:
    """Plans ``loaded`` against the live shard, as a run of ``kind`` would begin it.

    ``record``: where the journal is loaded (a run's ``RunRecorder``); by default a
    ``JournalReader`` of ``store``. ``confirm``: what a check or an action asks through
    (the plan's context becomes the run's). ``inventory_path``: as the commands the
    plan's messages name give it."""

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
        confirm: Confirmer,
        record: JournalHolder | None = None,
        kind: str = "migration",
        inventory_path: str = "INVENTORY",
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
        self.confirm = confirm
        self.record: JournalHolder = record if record is not None else JournalReader(store)
        self.kind = kind
        self.inventory_path = inventory_path
        self.inventory_zones = inventory_zones
        # the sitters' session timeout as the pre-flight read it from their configs
        self.sitters_session_timeout: float | None = None
        # `migrator plan` probes the zones while it plans: the sitters' figure, once the
        # probe has it (None when no zone told it), asked for when the plan is timed
        self.sitters_timeout_source: Callable[[], float | None] | None = None
        # the shard, its history and the journal as read before the run lock: the next
        # plan's done-checks start on them while it reads (``_read_and_look_ahead``)
        self.ahead: tuple[Read, Journal | None] | None = None
        # the shard and its history as the last plan read them
        self.planned_on: Read | None = None

    @property
    def journal(self) -> Journal | None:
        """The shard's journal as last loaded (and, in a run, written)."""
        return self.record.journal

    def plan(self, read: Read | None = None) -> tuple[Plan, EngineContext]:
        """Read the cluster and the journal and plan.

        ``read``: the shard and its history as the caller has just read them
        (`migrator plan` chose the playbook on that read); otherwise read here.
        """

        observed: dict[str, Outcome | None] | None = None
        ahead, self.ahead = self.ahead, None  # a read before the lock serves one plan
        if read is not None:
            snapshot, history = read
            self.record.load()
        elif ahead is not None:
            (snapshot, history), observed = self._read_and_look_ahead(ahead)
        else:
            # the shard and the journal asked at once: a round trip instead of two
            (snapshot, history), _ = both(
                lambda: reads.read_view(self.client, self.shard), self.record.load,
                "plan-read")
        self.planned_on = (snapshot, history)
        original, _ = resolve_original(snapshot, history, self.journal)
        ctx = EngineContext(
            shard=self.shard, zk=self.client, inventory=self.inventory, remote=self.remote,
            original=original, say_func=lambda text: self.console.say(f"  {text}"),
            seen_func=self.console.seen, confirm_func=self.confirm,
            recorded_func=self.record.outputs,
        )
        if observed is None:
            observed = observe(judging(ctx, self.journal), self.loaded, self.journal,
                               self.kind, view=(snapshot, history))
        plan = make_plan(
            snapshot, history, self.loaded, self.journal, observed, now=iso_now_ms(),
            choice=self.choice, inventory_zones=self.inventory_zones,
            run_kind=self.kind, timing=self.timing(),
            inventory=self.inventory,
        )
        if self.journal is not None:
            consistency.require_agreement(
                self.journal, snapshot, self.loaded.playbook, observed, self.kind,
                f"migrator rollback --inventory {self.inventory_path}")
        return self._with_what_actions_do(plan, ctx), ctx

    def _read_and_look_ahead(
        self, ahead: tuple[Read, Journal | None],
    ) -> tuple[Read, dict[str, Outcome | None] | None]:
        """The shard and the journal read (under the lock), and meanwhile the steps'
        done-checks looking on the original topology that ``ahead`` (the same reads made
        before the lock) gives: the ones that ask zones (over SSH, a round trip or more
        each) need not wait for ZooKeeper's answers, and the ZooKeeper ones judge this
        read, once it is in (``look``). Their verdicts stand only when this read gives
        the same journal and the same original topology as ``ahead``, i.e. when they were
        asked exactly what they would have been asked after it; otherwise (None) they
        are looked at again. What they said is said only once they stand."""
        (before, history_before), journal_before = ahead
        try:
            guess = resolve_original(before, history_before, journal_before)[0]
        except MigratorError:
            guess = None  # the plan below says why, on this read
        read: Future[Read] = Future()

        def view() -> Read:
            try:
                found = reads.read_view(self.client, self.shard)
            except BaseException as exc:
                read.set_exception(exc)  # a check waiting on it is told, and discarded
                raise
            read.set_result(found)
            return found

        said: list[str] = []

        def look_ahead() -> dict[str, Outcome | None] | None:
            if guess is None:
                return None
            ctx = EngineContext(
                shard=self.shard, zk=self.client, inventory=self.inventory,
                remote=self.remote, original=guess, say_func=said.append,
                seen_func=self.console.seen, confirm_func=self.confirm,
                recorded_func=functools.partial(outputs_of, journal_before),
                look=read.result)
            try:
                return observe(judging(ctx, journal_before), self.loaded, journal_before,
                               self.kind)
            except Exception:  # looked at again below, where it raises as it always did
                return None

        (found, _), looked = both(
            lambda: both(view, self.record.load, "plan-read"), look_ahead, "plan-ahead")
        if looked is None or self.journal != journal_before \
                or resolve_original(found[0], found[1], self.journal)[0] != guess:
            return found, None
        for text in said:
            self.console.say(f"  {text}")
        return found, looked

    def _with_what_actions_do(self, plan: Plan, ctx: EngineContext) -> Plan:
        """Each pending step's action as the run will print it (its ``describe``: a
        reprovision names its zone, the image and the exact command), so the plan shows
        what will be run, where."""
        if self.inventory is None:
            return plan
        steps = []
        for planned, step in zip(plan.steps, self.loaded.playbook.steps, strict=True):
            does = None
            if planned.status != "done":
                try:
                    does = action_view(ctx, step)[0] if get_action(
                        step.action.name).describe is not None else None
                except MigratorError:
                    does = None  # a zone or image the inventory lacks: the pre-flight says
            steps.append(replace(planned, does=does))
        return replace(plan, steps=steps)

    def timing(self) -> Timing:
        """The plan's figures: the inventory's (or assumed), with the reprovision learnt
        from this run's own reprovisions once there are some (a resume)."""
        base = timing_of(self.inventory)
        learnt = learnt_reprovision(reprovision_lengths(self.journal, self.kind, self.loaded))
        if learnt is not None:
            base = Timing(base.session_timeout, learnt, "run")
        if self.sitters_session_timeout is None and self.sitters_timeout_source is not None:
            self.sitters_session_timeout = self.sitters_timeout_source()
        if self.sitters_session_timeout is not None:
            base = replace(base, session_timeout=self.sitters_session_timeout,
                           session_source="from the sitters' config")
        return base


def action_view(ctx: EngineContext, step: Step) -> tuple[str, str | None]:
    """What the action does, as its ``describe`` says it (else its name), and the
    zone its ``zone`` parameter names, if any: for the operator and the events."""
    registered = get_action(step.action.name)
    params = registered.params.validate(step.action.params)
    what = (registered.describe(ctx, params) if registered.describe is not None
            else step.action.name)
    return what, step_zone(ctx, step)


def step_zone(ctx: EngineContext, step: Step) -> str | None:
    """The zone the step's action names (its ``zone`` parameter), if any."""
    params = get_action(step.action.name).params.validate(step.action.params)
    ref = getattr(params, "zone", None)
    return ctx.zone(ref) if isinstance(ref, str) and ref != "morays" else None


def zones_in_flight(ctx: EngineContext, loaded: LoadedPlaybook,
                    status_of: Callable[[str], str]) -> set[str]:
    """The zones of the steps a stopped run left acting or verifying (``status_of``: a
    step's status in the journal): what the last run set going there may still be at
    work (a headnode's reprovision job), so a resumed run counts them as its own from
    the start, before it reaches those steps."""
    zones: set[str] = set()
    for step in loaded.playbook.steps:
        if status_of(step.id) in ("acting", "verifying"):
            zone = step_zone(ctx, step)
            if zone is not None:
                zones.add(zone)
    return zones


def reprovision_lengths(journal: Journal | None, kind: str,
                        loaded: LoadedPlaybook) -> list[float]:
    """How long the journal's run of ``kind`` took over its finished reprovisions (their
    actions alone)."""
    run = journal.run(kind) if journal is not None else None
    if run is None:
        return []
    return [record.action_seconds for step in loaded.playbook.steps
            if get_action(step.action.name).takes_zone_down
            and (record := run.step(step.id)).status == "done"
            and record.action_seconds is not None]


def judging(ctx: EngineContext, journal: Journal | None) -> EngineContext:
    """The context the done-checks judge in. Without a journal (a migration begun by
    hand, or none yet) the original topology is captured now, so its election nodes say
    nothing about restarts *before* now: the done-checks judge a zone back in the
    election as rejoined (see README)."""
    return ctx if journal is not None else replace(ctx, original=unnamed(ctx.original))


def outputs_of(journal: Journal | None, kind: str, step_id: str) -> dict[str, Any]:
    """What a step of ``journal``'s run of ``kind`` recorded as its outputs."""
    run = journal.run(kind) if journal is not None else None
    return dict(run.step(step_id).outputs) if run is not None else {}


def unnamed(original: Any) -> Any:
    """The original topology without its election node names (unknown before now)."""
    return replace(original, peers=tuple(replace(p, name=None) for p in original.peers))
