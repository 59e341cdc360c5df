"""Which steps of a plan stop the shard's writes, why, and for about how long. Pure.

``assess`` walks a playbook's steps through the shard's writability model
(``migrator.cluster.writability``, where manatee's rules are written down): each
action's registered ``effect`` says what it does to the model and whether writes
stop meanwhile (``migrator.stepkit.registry``). A step whose action declares no
effect stops writes only while sitters an earlier step disabled keep the shard
down. A playbook can still mark a step ``outage: true``; such a step is always
reported as one, with the playbook as cause.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migrator.cluster.writability import (
    KIND_PLAYBOOK,
    Outage,
    ShardModel,
    Timing,
    timing_from,
    while_down,
)
from migrator.stepkit.registry import get_action


@dataclass(frozen=True)
class StepSpec:
    """What the rules need of one step: its action and its parameters."""

    id: str
    action: str
    params: Mapping[str, Any]
    marked: bool = False  # the playbook's `outage: true`
    skip: bool = False  # done, and already part of the model it is walked over


def sitters_session_timeout(reported: Sequence[float | None]) -> float | None:
    """The sitters' ZooKeeper session timeout as their configs give it (the pre-flight
    reads them): the longest, since the slowest session to expire bounds how long a
    departed peer keeps its place; None when no zone's config could be read."""
    found = [value for value in reported if value is not None and value > 0]
    return max(found) if found else None


def learnt_reprovision(durations: Sequence[float]) -> float | None:
    """The reprovision estimate learnt from this run's own reprovisions (the actions'
    lengths, confirmation and verification left out): their median, or None before the
    first. A datacenter's reprovisions take about the same time as each other, and far
    from the round figure assumed without an inventory estimate."""
    if not durations:
        return None
    ordered = sorted(durations)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return round(ordered[middle], 1)
    return round((ordered[middle - 1] + ordered[middle]) / 2, 1)


def assess(steps: Sequence[StepSpec], model: ShardModel, timing: Timing,
           zone_of: Callable[[str], str | None]) -> list[Outage | None]:
    """Each step's outage (None: writes go on), walking the model through the steps.
    ``zone_of`` resolves a role of the original topology to a zone id (None: this
    topology has no such role)."""
    out: list[Outage | None] = []
    for spec in steps:
        if spec.skip:
            out.append(None)
            continue
        registered = get_action(spec.action)
        params = registered.params.validate(spec.params)
        if registered.effect is not None:
            outage, model = registered.effect(model, params, zone_of, timing)
        else:
            outage = while_down(model, timing.session_timeout)
        if outage is None and spec.marked:
            outage = Outage(KIND_PLAYBOOK, "the playbook marks this step as a write outage",
                            timing.reprovision if registered.takes_zone_down
                            else timing.session_timeout)
        out.append(outage)
    return out


def timing_of(inventory: Any) -> Timing:
    """The inventory's ``estimates`` (a sandbox's inventory writes its own), else assumed."""
    estimates = getattr(inventory, "estimates", None)
    if estimates is None:
        return Timing()
    given = {"session_timeout": getattr(estimates, "session_timeout", None),
             "reprovision": getattr(estimates, "reprovision", None)}
    if not any(given.values()):
        return Timing()
    return timing_from(given, "inventory")
