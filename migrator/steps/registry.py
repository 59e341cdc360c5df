"""The registry of named checks and actions that playbooks refer to.

A **check** answers "does this hold?" and may wait for it: it is called with a
``timeout`` in seconds (0 = look once, used for preconditions and for deciding
whether a step is already done) and must wait event-driven (ZooKeeper watch,
log follow), never by sleep-polling, returning as soon as the answer is known.

An **action** changes the world once. Before acting, the runner shows
``describe`` (what it would do, including exact ZooKeeper writes) and the
engine's confirmation policy applies; actions that write a computed state ask
the operator through ``ctx.confirm`` with the computed value.

An action that is **not idempotent** (a reprovision, a command in a zone)
registers ``resume``: given the step's journalled intent, it gathers the
evidence (``migrator.engine.inflight.Evidence``) from which a resumed run
decides whether the action happened, is still under way, or never began;
actions without one are simply run again on resume. A check registered as
``persistent`` describes an effect no later step of a migration undoes (a
zone's version): ``migrator.engine.position`` uses that to tell a step undone
by a later one from a step never done.

Both take their parameters as a record (``migrator.record``), validated when the playbook
is loaded, so an unknown or mistyped parameter fails before anything runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from migrator.errors import BadInput
from migrator.record import Record, field


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


class StepContext(Protocol):
    """What the runner hands to checks and actions.

    ``zk`` is a connected kazoo client; ``remote`` gives zone access (SSH) and
    may be None when the run has no inventory zones; ``marks`` is per-step
    scratch persisted in the journal (e.g. log offsets recorded at step start).
    """

    shard: str
    zk: Any
    inventory: Any
    remote: Any
    marks: dict[str, Any]

    def zone(self, ref: str) -> str:
        """Resolve a role of the original topology (``original_async``) or a zone name."""
        ...

    def say(self, text: str) -> None: ...

    def confirm(self, question: str, shown: Any, *, typed: bool = False) -> None:
        """Show ``shown`` and ask; raise ``NotConfirmed`` when declined."""
        ...


CheckFunc = Callable[[StepContext, Any, float], Outcome]
ActionFunc = Callable[[StepContext, Any], Outcome]
DescribeFunc = Callable[[StepContext, Any], str]
# (ctx, params, intent) -> migrator.engine.inflight.Evidence
ResumeFunc = Callable[[StepContext, Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Registered:
    """A named check or action, its parameter record and its one-line summary."""

    name: str
    kind: str  # "check" or "action"
    func: Callable[..., Outcome]
    params: type[Record]
    summary: str
    describe: DescribeFunc | None = None
    resume: ResumeFunc | None = None
    persistent: bool = False
    # False for an action whose step a later step's effect does not imply (the Moray
    # check: its effect can be seen at any time and matters at the takeover)
    implied: bool = True


_CHECKS: dict[str, Registered] = {}
_ACTIONS: dict[str, Registered] = {}


def _summary(func: Callable[..., Any]) -> str:
    return (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""


def check(name: str, params: type[Record] = NoParams, *, persistent: bool = False
          ) -> Callable[[CheckFunc], CheckFunc]:
    def register(func: CheckFunc) -> CheckFunc:
        _CHECKS[name] = Registered(name, "check", func, params, _summary(func),
                                   persistent=persistent)
        return func

    return register


def action(
    name: str, params: type[Record] = NoParams, describe: DescribeFunc | None = None,
    *, resume: ResumeFunc | None = None, implied: bool = True,
) -> Callable[[ActionFunc], ActionFunc]:
    def register(func: ActionFunc) -> ActionFunc:
        _ACTIONS[name] = Registered(name, "action", func, params, _summary(func), describe,
                                    resume=resume, implied=implied)
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
    from migrator.steps import load_all

    load_all()
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise BadInput(
            f"Unknown {kind} {name!r}.",
            f"Known {kind}s: {known}.",
        )
    return table[name]
