"""The playbook schema (records, see ``migrator.record``).

A playbook is data: ordered steps, each naming registered checks and one
registered action with their parameters. Zone roles are named by the
*original* topology captured when the migration started (``original_primary``,
``original_sync``, ``original_async``) because roles change mid-migration.

Decisions where the spec is silent:
  * ``done_when`` defaults to ``verify``: a step is "already done" when what we
    would wait for after acting already holds. ``done_when: []`` means only the
    journal can say the step was done (steps that ask the operator something).
  * ``confirm: typed`` (the operator types the shard name) is required, not
    just allowed, on steps marked ``outage``: validation refuses an outage
    step that asks less.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from migrator.cluster.original import ROLES, ROLES_BY_PEERS
from migrator.record import Record, field

_STEP_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")


def _step_id(value: str) -> str:
    if not _STEP_ID.fullmatch(value):
        raise ValueError(
            "a step id is lower-case letters, digits and dashes, starting with a letter"
        )
    return value


def _zone_roles(value: list[str]) -> list[str]:
    for role in value:
        if role not in (*ROLES, "morays"):
            raise ValueError(f"unknown zone role {role!r}; use one of {', '.join(ROLES)}")
    return value


class CheckRef(Record):
    """A registered check with its parameters."""

    check: str = field(min_length=1)
    params: dict[str, Any] = field(factory=dict)
    why: str | None = None  # what the operator should understand while it is awaited
    timeout: float | None = field(default=None, gt=0, le=86400)


class ActionRef(Record):
    """The one registered action a step performs."""

    name: str = field(min_length=1)
    params: dict[str, Any] = field(factory=dict)


class Step(Record):
    id: str = field(check=_step_id)
    title: str = field(min_length=1)
    explain: str = field(min_length=1)
    zones: list[str] = field(factory=list, check=_zone_roles)
    preconditions: list[CheckRef] = field(factory=list)
    action: ActionRef
    verify: list[CheckRef] = field(min_length=1)
    done_when: list[CheckRef] | None = None
    timeout: float = field(default=300.0, gt=0, le=86400)
    confirm: Literal["none", "yes", "typed"] = "none"
    outage: bool = False

    def check_record(self) -> None:
        if self.outage and self.confirm != "typed":
            raise ValueError(
                "a step marked outage must use confirm: typed (the operator types the shard name)"
            )

    @property
    def done_checks(self) -> list[CheckRef]:
        return list(self.done_when if self.done_when is not None else self.verify)


class Playbook(Record):
    name: str = field(pattern=r"^[a-z][a-z0-9-]*\Z")
    title: str = field(min_length=1)
    description: str = field(min_length=1)
    peers: int = field(ge=1, le=5)
    kind: Literal["migration", "rollback"] = "migration"
    tradeoff: str | None = None
    risks: list[str] = field(factory=list)
    steps: list[Step] = field(min_length=1)

    def check_record(self) -> None:
        seen: set[str] = set()
        allowed = ROLES_BY_PEERS[self.peers]
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
            for role in step.zones:
                if role != "morays" and role not in allowed:
                    raise ValueError(
                        f"step {step.id!r} names {role}, but a {self.peers}-node shard has "
                        f"only {', '.join(allowed)}"
                    )

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
