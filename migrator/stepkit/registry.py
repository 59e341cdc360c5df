"""The registry of named checks and actions that playbooks refer to.

A **check** answers "does this hold?" and may wait for it: it is called with a
``timeout`` in seconds (0 = look once, used for preconditions and for deciding
whether a step is already done) and must wait event-driven (ZooKeeper watch,
log follow), never by sleep-polling, returning as soon as the answer is known.

An **action** changes the world once. Before acting, the runner shows
``describe`` (what it would do, including exact ZooKeeper writes) and the
engine's confirmation policy applies.

Everything the engine must know about an action is declared here, where it is
registered, and the engine reads it; the engine names no action. An action
declares:

``confirms_itself``
    It shows the operator what it is about to write (a computed ``/state``, a
    question) and asks through ``ctx.confirm`` itself; the engine does not ask
    again before it.
``always_confirmed``
    The engine asks before it every time, whatever the playbook says (a zone's
    reprovision).
``predicts``
    Its write to ``/state``, computed at plan time from the state before it:
    ``predicts(state, original, params, shard, now)`` returns the
    ``ProposedWrite`` (None: nothing to write) and the state after. The plan
    shows the exact bytes; a saved plan binds them.
``effect``
    What it does to whether the shard takes writes:
    ``effect(model, params, zone_of, timing)`` returns the outage it causes
    (None: writes go on) and the ``ShardModel`` after it
    (``migrator.cluster.writability``). Without one, the step stops writes only
    while sitters an earlier step disabled keep the shard down.
``zone_commands`` / ``local_commands``
    The commands it runs in the zones, or on this machine:
    ``(inventory, params)`` -> command lines; the pre-flight checks their
    programs exist before anything runs. Checks may declare ``zone_commands``
    too.
``inventory_needs``
    What it needs the inventory to give that the inventory's own validation cannot
    know is needed: ``(inventory, params)`` -> sentences, one per thing missing
    (a reprovision's target image). The pre-flight refuses with them before
    anything is written, instead of the step failing mid-run.
``takes_zone_down``
    While it acts, the zone its outputs name (``zone``) is out of the election on
    purpose: a wait on that zone is not hopeless.
``resume``
    It is **not idempotent** (a reprovision, a command in a zone): given the
    step's journalled intent it gathers the evidence
    (``migrator.stepkit.evidence.Evidence``) from which a resumed run decides
    whether it happened, is still under way, or never began. Actions without one
    are simply run again on resume.
``implied``
    False for an action whose step a later step's effect does not imply (the
    Moray check: its effect can be seen at any time and matters at the takeover).

A check registered as ``persistent`` describes an effect no later step of a
migration undoes (a zone's version): ``migrator.engine.position`` uses that to
tell a step undone by a later one from a step never done.

Both take their parameters as a record (``migrator.record``), validated when the
playbook is loaded, so an unknown or mistyped parameter fails before anything
runs. The built-in ones register when ``migrator.steps`` is imported; a new one
registers the same way from any module imported before its playbook is loaded
(the README's "Adding a step").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migrator.cluster.original import OriginalTopology
from migrator.cluster.state import ClusterState
from migrator.cluster.writability import Outage, ShardModel, Timing
from migrator.errors import BadInput
from migrator.record import Record, field
from migrator.stepkit.context import StepContext
from migrator.stepkit.writes import ProposedWrite


class NoParams(Record):
    """Parameters are strict: an unknown or misspelt key is a playbook error."""


def original_role(value: str) -> str:
    """Zones are named by their role in the topology captured at the start, since
    roles change mid-migration."""
    if not value.startswith("original_"):
        raise ValueError("name a zone by its original role (original_primary, original_sync, "
                         "original_async)")
    return value


class ZoneParams(NoParams):
    zone: str = field(check=original_role)


@dataclass(frozen=True)
class Outcome:
    """What a check saw or an action did, in a sentence for the operator."""

    ok: bool
    detail: str
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)


CheckFunc = Callable[[StepContext, Any, float], Outcome]
ActionFunc = Callable[[StepContext, Any], Outcome]
DescribeFunc = Callable[[StepContext, Any], str]
# (ctx, params, intent) -> migrator.stepkit.evidence.Evidence
ResumeFunc = Callable[[StepContext, Any, dict[str, Any]], Any]
# (state before or None, original topology, params, shard, now) -> (write or None, state after)
PredictFunc = Callable[[ClusterState | None, OriginalTopology, Any, str, str],
                       tuple[ProposedWrite | None, ClusterState | None]]
# (model, params, zone_of(role) -> zone id or None, timing) -> (outage or None, model after)
EffectFunc = Callable[[ShardModel, Any, Callable[[str], str | None], Timing],
                      tuple[Outage | None, ShardModel]]
# (inventory, params) -> the command lines it runs
CommandsFunc = Callable[[Any, Any], Sequence[str]]


def _none(_inventory: Any, _params: Any) -> Sequence[str]:
    return ()


@dataclass(frozen=True)
class Registered:
    """A named check or action, its parameter record, its one-line summary and the
    properties the engine reads (see the module docstring)."""

    name: str
    kind: str  # "check" or "action"
    func: Callable[..., Outcome]
    params: type[Record]
    summary: str
    describe: DescribeFunc | None = None
    resume: ResumeFunc | None = None
    persistent: bool = False
    implied: bool = True
    confirms_itself: bool = False
    always_confirmed: bool = False
    predicts: PredictFunc | None = None
    effect: EffectFunc | None = None
    zone_commands: CommandsFunc = _none
    local_commands: CommandsFunc = _none
    takes_zone_down: bool = False
    inventory_needs: CommandsFunc = _none


_CHECKS: dict[str, Registered] = {}
_ACTIONS: dict[str, Registered] = {}


def _summary(func: Callable[..., Any]) -> str:
    """The docstring's first paragraph on one line: the sentence ``migrator plan`` and the
    run show for a check without a ``why`` (a first line alone may stop mid-sentence)."""
    paragraph = (func.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def check(name: str, params: type[Record] = NoParams, *, persistent: bool = False,
          zone_commands: CommandsFunc = _none) -> Callable[[CheckFunc], CheckFunc]:
    def register(func: CheckFunc) -> CheckFunc:
        _CHECKS[name] = Registered(name, "check", func, params, _summary(func),
                                   persistent=persistent, zone_commands=zone_commands)
        return func

    return register


def action(
    name: str, params: type[Record] = NoParams, describe: DescribeFunc | None = None, *,
    resume: ResumeFunc | None = None, implied: bool = True, confirms_itself: bool = False,
    always_confirmed: bool = False, predicts: PredictFunc | None = None,
    effect: EffectFunc | None = None, zone_commands: CommandsFunc = _none,
    local_commands: CommandsFunc = _none, takes_zone_down: bool = False,
    inventory_needs: CommandsFunc = _none,
) -> Callable[[ActionFunc], ActionFunc]:
    def register(func: ActionFunc) -> ActionFunc:
        _ACTIONS[name] = Registered(
            name, "action", func, params, _summary(func), describe, resume=resume,
            implied=implied, confirms_itself=confirms_itself,
            always_confirmed=always_confirmed, predicts=predicts, effect=effect,
            zone_commands=zone_commands, local_commands=local_commands,
            takes_zone_down=takes_zone_down, inventory_needs=inventory_needs)
        return func

    return register


def get_check(name: str) -> Registered:
    return _lookup(_CHECKS, name, "check")


def get_action(name: str) -> Registered:
    return _lookup(_ACTIONS, name, "action")


def checks() -> dict[str, Registered]:
    return dict(_CHECKS)


def actions() -> dict[str, Registered]:
    return dict(_ACTIONS)


def _lookup(table: dict[str, Registered], name: str, kind: str) -> Registered:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise BadInput(
            f"Unknown {kind} {name!r}.",
            f"Known {kind}s: {known}.",
        )
    return table[name]
