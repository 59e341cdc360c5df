"""ZooKeeper-side checks and actions that playbooks name.

Checks wait event-driven: they subscribe to watches on the shard's /state,
election (and history when they read it) and re-evaluate a pure rule from
``migrator.steps.shard_rules`` on every change, returning as soon as it holds
or the timeout passes (timeout 0: look once). Actions reuse the decisions of
``migrator.commands.expert`` and the conditional transactions of
``migrator.zk.writes``; each shows the exact write (``ProposedWrite``) through
``ctx.confirm`` before making it, and each is idempotent: if what it would
write is already there it says so and writes nothing. ``migrator.zk.writes`` is
imported by the actions themselves, so that a plan, which writes nothing, does
not load it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from migrator.cluster.backfill import ONE_NODE_NOTE, plan_backfill
from migrator.cluster.history import HistoryRecord
from migrator.cluster.original import OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import ClusterState
from migrator.cluster.writability import (
    Effect,
    ShardModel,
    Timing,
    backfilled,
    state_deleted,
    waiting_for_state,
)
from migrator.errors import Refused
from migrator.isotime import iso_now_ms
from migrator.record import field
from migrator.stepkit.context import StepContext, original_of, shard_view
from migrator.stepkit.registry import (
    NoParams,
    Outcome,
    ZoneParams,
    action,
    check,
    original_role,
)
from migrator.stepkit.writes import ProposedWrite
from migrator.steps import shard_rules as rules
from migrator.zk import paths, reads, writes
from migrator.zk.faults import guarded, wait_guarded
from migrator.zk.watches import wait_for, watch_election, watch_state

Rule = Callable[[ShardSnapshot, list[HistoryRecord]], Outcome]
Act = Callable[[StepContext, Any], Outcome]


def through_faults(func: Act) -> Act:
    """Run a ZooKeeper action through a connection loss or a new session.

    Every action here re-reads the shard and writes only what is still missing,
    so running it again after a lost reply finds its own write already done
    instead of writing it twice.
    """

    @functools.wraps(func)
    def wrapper(ctx: StepContext, p: Any) -> Outcome:
        return guarded(ctx.zk, f"the {func.__name__.replace('_', ' ')} action",
                       lambda: func(ctx, p))

    return wrapper




class GenerationParams(NoParams):
    generation: int = field(ge=0)


class PresentParams(NoParams):
    allow_deposed: bool = True


class SettledParams(NoParams):
    takeover: str = field(check=original_role)
    stayed: str = field(check=original_role)


class MatchParams(NoParams):
    expect: Literal["backfill"] = "backfill"


class HistoryParams(NoParams):
    events: list[Literal["backfill", "unfreeze", "generation"]] = field(min_length=1)


class FreezeParams(NoParams):
    reason: str = field(min_length=1)


def wait_shard(ctx: StepContext, timeout: float, rule: Rule, *, history: bool = False) -> Outcome:
    """Evaluate ``rule`` now and on every watched change until it holds or time is up.

    With timeout 0 (preconditions, "is this step already done?") the rule is
    evaluated once, without setting watches that nothing would wait on, on the
    engine's read of the moment when it has one (``shard_view``), else on a fresh
    read.
    """

    client = ctx.zk
    if timeout <= 0:
        view = shard_view(ctx)
        if view is not None:
            return rule(view[0], view[1] if history else [])
    # through a ZooKeeper pause or a new session: the deadline stays where it was
    return wait_guarded(client, "waiting on the shard", timeout,
                        lambda left: _wait_shard(ctx, left, rule, history))


def _wait_shard(ctx: StepContext, timeout: float, rule: Rule, history: bool) -> Outcome:
    client = ctx.zk
    if timeout <= 0:
        return rule(reads.read_shard(client, ctx.shard),
                    reads.read_history(client, ctx.shard) if history else [])
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.recipe.watchers import ChildrenWatch

    last: list[Outcome] = []

    def subscribe(deliver: Callable[[Any], Any]) -> None:
        # the values are tokens: the predicate re-reads one consistent snapshot itself
        watch_state(client, ctx.shard, lambda _data: deliver(object()))
        watch_election(client, ctx.shard, lambda _children: deliver(object()))
        if history:
            client.ensure_path(paths.history_path(ctx.shard))
            ChildrenWatch(client, paths.history_path(ctx.shard),
                          lambda _children: deliver(object()))

    def predicate(_token: Any) -> Outcome | None:
        snap = reads.read_shard(client, ctx.shard)
        hist = reads.read_history(client, ctx.shard) if history else []
        outcome = rule(snap, hist)
        last[:] = [outcome]
        return outcome if outcome.ok else None

    result, _ = wait_for(subscribe, predicate, max(timeout, 0.0))
    return result if result is not None else last[-1]


@check("state_absent")
def state_absent(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The shard has no /state (legacy mode)."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.state_absent(s))


@check("state_present")
def state_present(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The shard has a /state."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.state_present(s))


@check("shard_frozen")
def shard_frozen(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """/state carries a freeze."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.shard_frozen(s))


@check("shard_unfrozen")
def shard_unfrozen(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """/state exists and carries no freeze."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.shard_unfrozen(s))


@check("generation_at_least", GenerationParams)
def generation_at_least(ctx: StepContext, p: GenerationParams, timeout: float) -> Outcome:
    """/state's generation is at least the one given."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.generation_at_least(s, p.generation))


@check("election_matches_original")
def election_matches_original(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The election order is the one captured when the migration began."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: rules.election_matches_original(s, original))


@check("election_rejoined", ZoneParams)
def election_rejoined(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """The zone's election node came back under a new session."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: rules.election_rejoined(s, original, p.zone))


@check("state_matches", MatchParams)
def state_matches(ctx: StepContext, _p: MatchParams, timeout: float) -> Outcome:
    """/state equals the backfill of the original topology (freeze date aside)."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: rules.state_matches_backfill(s, original))


@check("backfill_checks")
def backfill_checks(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The runbook's four backfill checks, the election order, and no /state yet."""
    original = original_of(ctx)
    now = iso_now_ms()
    return wait_shard(ctx, timeout, lambda s, _h: rules.backfill_checks(s, original, now))


@check("peers_all_present", PresentParams)
def peers_all_present(ctx: StepContext, p: PresentParams, timeout: float) -> Outcome:
    """Every peer of the original topology is in /state."""
    original = original_of(ctx)
    return wait_shard(
        ctx, timeout, lambda s, _h: rules.peers_all_present(s, original, p.allow_deposed)
    )


@check("primary_settled", SettledParams)
def primary_settled(ctx: StepContext, p: SettledParams, timeout: float) -> Outcome:
    """After the primary's reprovision: a takeover, or the primary came back in time."""
    original = original_of(ctx)
    return wait_shard(
        ctx, timeout, lambda s, _h: rules.primary_settled(s, original, p.takeover, p.stayed)
    )


@check("primary_is", ZoneParams)
def primary_is(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """/state names that zone as primary."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: rules.primary_is(s, original, p.zone))


@check("one_node_write_mode")
def one_node_write_mode(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """/state has oneNodeWriteMode set."""
    return wait_shard(ctx, timeout, lambda s, _h: rules.one_node_write_mode(s))


@check("history_has_backfill")
def history_has_backfill(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """A history record of the current attempt holds the backfill of the original topology."""
    original = original_of(ctx)
    return wait_shard(
        ctx, timeout, lambda s, h: rules.history_has_backfill(h, original, s), history=True
    )


@check("history_progression", HistoryParams)
def history_progression(ctx: StepContext, p: HistoryParams, timeout: float) -> Outcome:
    """History shows the listed events (backfill, unfreeze, the current generation)."""
    original = original_of(ctx)
    return wait_shard(
        ctx, timeout, lambda s, h: rules.history_progression(h, s, original, p.events),
        history=True,
    )


# ---- actions ---------------------------------------------------------------------------
# Each declares, where it is registered, what it writes to /state (``predicts``, shown
# by the plan) and what it does to the shard's writability (``effect``): ZooKeeper
# writes stop no writes by themselves, but they change who may take over.


def _predict_backfill(state: ClusterState | None, original: OriginalTopology, _p: Any,
                      shard: str, now: str) -> tuple[ProposedWrite | None, ClusterState | None]:
    if state is not None:
        return None, state
    new = rules.expected_backfill(original, now)
    note = "the freeze date is the time of the write"
    if new.sync is None:
        note += "; " + ONE_NODE_NOTE
    return ProposedWrite("create", paths.state_path(shard), None, new, True, note=note), new


def _predict_set(change: Callable[[ClusterState, Any, str], ClusterState | None]) -> Any:
    """The prediction of an action that sets /state to ``change(state, params, now)``
    (None: nothing to change)."""

    def predicts(state: ClusterState | None, _original: OriginalTopology, params: Any,
                 shard: str, now: str) -> tuple[ProposedWrite | None, ClusterState | None]:
        if state is None:
            return None, state
        new = change(state, params, now)
        if new is None:
            return None, state
        return ProposedWrite("set", paths.state_path(shard), state.document, new, True), new

    return predicts


def _predict_delete(state: ClusterState | None, _original: OriginalTopology, _p: Any,
                    shard: str, _now: str) -> tuple[ProposedWrite | None, ClusterState | None]:
    if state is None:
        return None, state
    return ProposedWrite("delete", paths.state_path(shard), state.document, None, False), None


def _unfrozen(state: ClusterState, _p: Any, _now: str) -> ClusterState | None:
    return None if state.freeze is None else state.without_freeze()


def _frozen(state: ClusterState, p: Any, now: str) -> ClusterState | None:
    return None if state.freeze is not None else state.with_freeze(str(p.reason), now)


def _with_onwm(state: ClusterState, _p: Any, _now: str) -> ClusterState | None:
    return with_one_node_write_mode(state)


def _effect_backfill(model: ShardModel, _p: Any, _zone_of: Any, _timing: Timing) -> Effect:
    return waiting_for_state(model), backfilled(model)


def _effect_frozen(frozen: bool) -> Any:
    def effect(model: ShardModel, _p: Any, _zone_of: Any, _timing: Timing) -> Effect:
        return None, replace(model, frozen=frozen)

    return effect


def _effect_delete(model: ShardModel, _p: Any, _zone_of: Any, timing: Timing) -> Effect:
    return state_deleted(model, timing)




def propose_backfill(snap: ShardSnapshot, original: Any, now: str) -> ProposedWrite:
    """The backfill write, refused unless the live election gives the captured topology."""
    state = plan_backfill(snap, now)  # refuses an existing /state or a v1 error node
    verdict = rules.backfill_checks(snap, original, now)
    if not verdict.ok:
        raise Refused(
            f"The backfill of shard {snap.shard} was not written: {verdict.detail}.",
            "Look at `migrator status`; the election no longer gives the topology this run "
            "captured. Resume once it does, or roll back.",
        )
    return ProposedWrite("create", paths.state_path(snap.shard), None, state, True,
                         checks=list(verdict.data["checks"]),
                         note=ONE_NODE_NOTE if state.sync is None else None)


def _describe_backfill(ctx: StepContext, _p: Any) -> str:
    return f"create {paths.state_path(ctx.shard)} with the backfilled state (frozen) + history/0-"


@action("backfill", describe=_describe_backfill, confirms_itself=True,
        predicts=_predict_backfill, effect=_effect_backfill)
@through_faults
def backfill(ctx: StepContext, _p: NoParams) -> Outcome:
    """Create /state from the captured topology, frozen, as `manatee-adm state-backfill`."""
    original = original_of(ctx)
    snap = reads.read_shard(ctx.zk, ctx.shard)
    if snap.state is not None and rules.state_matches_backfill(snap, original).ok:
        return Outcome(True, "the backfilled /state is already there; nothing written",
                       {"written": False})
    proposal = propose_backfill(snap, original, iso_now_ms())
    ctx.confirm(f"Create the /state of shard {ctx.shard}?", proposal)
    assert proposal.after is not None

    result = writes.create_state(ctx.zk, ctx.shard, proposal.after)
    return Outcome(True, f"created /state and {result.history_node}",
                   {"written": True, "history": result.history_node,
                    "state": proposal.after.document})


def _replace(ctx: StepContext, verb: str, change: Callable[[ClusterState], ClusterState | None],
             question: str, typed: bool = False) -> Outcome:
    found = reads.read_state(ctx.zk, ctx.shard)
    if found is None:
        raise Refused(f"Shard {ctx.shard} has no /state to {verb}.",
                      "Run the backfill step first (`migrator plan` shows where the run is).")
    state, version = found
    new_state = change(state)
    if new_state is None:
        return Outcome(True, f"nothing to {verb}: /state already is as wanted",
                       {"written": False})
    proposal = ProposedWrite("set", paths.state_path(ctx.shard), state.document, new_state,
                             True)
    ctx.confirm(question, proposal, typed=typed)

    result = writes.replace_state(ctx.zk, ctx.shard, new_state, version, verb)
    return Outcome(True, f"{verb}: set /state to version {result.version}, "
                         f"{result.history_node}",
                   {"written": True, "history": result.history_node, "version": result.version,
                    "state": new_state.document})


def _describe_unfreeze(ctx: StepContext, _p: Any) -> str:
    return f"set {paths.state_path(ctx.shard)} without its freeze + history/0-"


@action("unfreeze", describe=_describe_unfreeze, confirms_itself=True,
        predicts=_predict_set(_unfrozen), effect=_effect_frozen(False))
@through_faults
def unfreeze(ctx: StepContext, _p: NoParams) -> Outcome:
    """Remove the freeze so the sync may take over, as `manatee-adm unfreeze`."""
    return _replace(ctx, "unfreeze", lambda s: _unfrozen(s, None, ""),
                    f"Unfreeze shard {ctx.shard}?")


def _describe_freeze(ctx: StepContext, p: Any) -> str:
    return f"set {paths.state_path(ctx.shard)} with a freeze ({p.reason}) + history/0-"


@action("freeze", FreezeParams, describe=_describe_freeze, confirms_itself=True,
        predicts=_predict_set(_frozen), effect=_effect_frozen(True))
@through_faults
def freeze(ctx: StepContext, p: FreezeParams) -> Outcome:
    """Freeze the cluster state, as `manatee-adm freeze -r`."""
    return _replace(ctx, "freeze", lambda s: _frozen(s, p, iso_now_ms()),
                    f"Freeze shard {ctx.shard}?")


def with_one_node_write_mode(state: ClusterState) -> ClusterState | None:
    if state.one_node_write_mode:
        return None
    document = dict(state.document)
    document["oneNodeWriteMode"] = True  # appended last, as `manatee-adm set-onwm -m on`
    return ClusterState(document)


def _describe_onwm(ctx: StepContext, _p: Any) -> str:
    return f"set {paths.state_path(ctx.shard)} with oneNodeWriteMode + history/0-"


@action("set_one_node_write_mode", describe=_describe_onwm, confirms_itself=True,
        predicts=_predict_set(_with_onwm))
@through_faults
def set_one_node_write_mode(ctx: StepContext, _p: NoParams) -> Outcome:
    """Set oneNodeWriteMode in /state, as `manatee-adm set-onwm -m on`."""
    return _replace(ctx, "set one-node-write mode", with_one_node_write_mode,
                    f"Put shard {ctx.shard} in one-node-write mode?", typed=True)


def _describe_delete(ctx: StepContext, _p: Any) -> str:
    return f"delete {paths.state_path(ctx.shard)} at the version read"


@action("delete_state", describe=_describe_delete, confirms_itself=True,
        predicts=_predict_delete, effect=_effect_delete)
@through_faults
def delete_state(ctx: StepContext, _p: NoParams) -> Outcome:
    """Delete /state (rollback), only at the version read; asks for the shard name."""
    found = reads.read_state(ctx.zk, ctx.shard)
    if found is None:
        return Outcome(True, "there is no /state; nothing to delete", {"written": False})
    state, version = found
    proposal = ProposedWrite("delete", paths.state_path(ctx.shard), state.document, None, False)
    ctx.confirm(f"Delete the /state of shard {ctx.shard}?", proposal, typed=True)

    writes.delete_state(ctx.zk, ctx.shard, version)
    return Outcome(True, "deleted /state", {"written": True})
