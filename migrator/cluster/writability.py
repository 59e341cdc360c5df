"""Whether a manatee shard takes writes, and what stops them. Pure: no I/O.

The planner walks a playbook's steps through ``ShardModel`` (election order,
``/state`` roles, freeze, which peers run v2, which sitters run); each action
declares what it does to the model (``migrator.stepkit.registry``'s ``effect``),
built from the rules here. They are manatee's, as the runbook and upstream
manatee running against a real ZooKeeper show them:

- A **v1 primary** replicates synchronously to the second peer of the
  election. When that sync leaves, the primary's commits block until the
  sync's ZooKeeper session expires and the primary picks the next standby (or
  runs alone): a write outage of about one session timeout. Every three-node
  rehearsal shows it during the sync's reprovision.
- A **v1 primary leaving** is taken over by its sync once the primary's
  session expires: about one session timeout.
- A **v2 primary leaving** is taken over only when the shard is unfrozen and
  the sync has an async to take as its own sync (upstream logs ``would
  takeover (primary gone), but no async peers present`` otherwise): then about
  one session timeout; else the shard takes no writes until the primary is
  back, the reprovision's whole length. A two-node shard is always the latter.
- A **v2 sync leaving** is replaced by an async when the shard is unfrozen and
  one exists (about one session timeout); frozen or without an async the
  primary's commits wait for the sync to return: the whole reprovision.
- A **one-node** shard is down for the whole of its peer's reprovision.
- **Sitters disabled** (a rollback after the primary's reprovision): no writes
  until the primary and its sync run again; every step in between is part of
  that outage.
- An async leaving, or a ZooKeeper write (backfill, freeze, unfreeze, delete),
  stops no writes by itself. A playbook can still mark a step ``outage:
  true``; such a step is always reported as one, with the playbook as cause.

Estimates come from two figures, given in the inventory's ``estimates``
(``session_timeout``, ``reprovision``, in seconds) or assumed: see ``Timing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# Assumed when the inventory gives no estimates: a Triton manatee sitter's
# ZooKeeper session timeout is configured in its config.json (zkCfg); these
# are deliberately round figures the operator is told to replace.
DEFAULT_SESSION_TIMEOUT = 60.0
DEFAULT_REPROVISION = 300.0

KIND_TAKEOVER = "takeover"  # about one session timeout
KIND_SYNC_LOST = "sync-lost"  # about one session timeout
KIND_WHOLE = "whole-step"  # the step's whole length
KIND_DOWN = "sitters-down"  # the shard is down from an earlier step until later
KIND_PLAYBOOK = "playbook"  # the playbook says so, no rule explains it
# the primary runs v2 and there is no /state yet: it waits for one, taking no writes,
# from an earlier step until the step that writes /state (as long as its confirmation)
KIND_NO_STATE = "no-state"


@dataclass(frozen=True)
class Timing:
    """The two figures estimates are made of, and where they came from."""

    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    reprovision: float = DEFAULT_REPROVISION
    source: str = "assumed"  # "inventory", "sandbox", "run" (learnt) or "assumed"
    # where the session timeout came from when not from ``source`` (the sitters' config)
    session_source: str | None = None

    def describe(self) -> str:
        text = (f"ZooKeeper session timeout {self.session_timeout:g} s"
                + (f" ({self.session_source})" if self.session_source else "")
                + f", reprovision {self.reprovision:g} s")
        if self.source == "run":
            return f"{text} (the reprovision learnt from this run's own reprovisions)"
        if self.source == "assumed":
            return (text + " (assumed: give `estimates: {session_timeout: S, reprovision: S}` "
                    "in the inventory)")
        return f"{text} (from the {self.source})"


@dataclass(frozen=True)
class Outage:
    """A step's expected write outage: why, and an estimate in seconds."""

    kind: str
    cause: str
    seconds: float

    @property
    def estimate(self) -> str:
        if self.kind in (KIND_TAKEOVER, KIND_SYNC_LOST):
            return f"about {self.seconds:g} s (one ZooKeeper session timeout)"
        if self.kind == KIND_WHOLE:
            return f"the whole reprovision, about {self.seconds:g} s"
        if self.kind == KIND_DOWN:
            return f"this step's length, about {self.seconds:g} s, as part of a longer outage"
        if self.kind == KIND_NO_STATE:
            return ("until this step writes /state: as long as its confirmation takes, as "
                    "part of the outage an earlier step began")
        return f"about {self.seconds:g} s"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "cause": self.cause, "estimateSeconds": self.seconds,
                "estimate": self.estimate}


@dataclass(frozen=True)
class ShardModel:
    """The shard as the rules see it, by zone id."""

    election: tuple[str, ...]
    state: tuple[str, ...] | None = None  # primary, sync, asyncs... (None: no /state)
    frozen: bool = False
    v2: frozenset[str] = frozenset()
    down: frozenset[str] = frozenset()  # zones whose sitter is disabled
    deposed: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> str | None:
        if self.state is not None:
            return self.state[0]
        return self.election[0] if self.election else None

    def sync_of_primary(self) -> str | None:
        """The peer the primary waits for: by election for a v1 primary, else by /state."""
        primary = self.primary
        if primary is None:
            return None
        if primary not in self.v2 or self.state is None:
            others = [z for z in self.election if z != primary]
            return others[0] if others else None
        return self.state[1] if len(self.state) > 1 and self.state[1] else None

    def peers(self) -> int:
        return len(set(self.election) | set(self.state or ()) | set(self.deposed) | self.down)

    def writable(self) -> bool:
        """After sitters were disabled: writable again once the primary runs with a sync
        (or alone, in a one-node shard)."""
        primary = self.primary
        if primary is None or primary in self.down:
            return False
        if self.peers() == 1:
            return True
        sync = self.sync_of_primary()
        return sync is not None and sync not in self.down


def backfill_order(election: Sequence[str]) -> tuple[str, ...]:
    """The roles `manatee-adm state-backfill` writes: the last async becomes the sync and
    the old sync goes last (``migrator.cluster.backfill``)."""
    primary, rest = election[0], list(election[1:])
    if len(rest) >= 2:
        rest = [rest[-1], *rest[1:-1], rest[0]]
    return (primary, *rest)


Effect = tuple[Outage | None, ShardModel]


def backfilled(model: ShardModel) -> ShardModel:
    """/state written from the election, frozen (nothing changes if one exists)."""
    if model.state is not None or not model.election:
        return model
    return replace(model, state=backfill_order(model.election), frozen=True)


def state_deleted(model: ShardModel, timing: Timing) -> Effect:
    """/state deleted: the v1 peers follow the election again."""
    after = replace(model, state=None, frozen=False, deposed=())
    return while_down(model, timing.session_timeout), after


def _until_back(model: ShardModel) -> str:
    """What brings writes back after the sitters were disabled, for this shard's size."""
    return ("its primary runs again" if model.peers() == 1
            else "its primary and its sync run again")


def sitters_disabled(model: ShardModel, timing: Timing) -> Effect:
    """Every sitter stopped: no writes until the primary and its sync run again."""
    zones = frozenset(model.election) | frozenset(model.state or ()) | set(model.deposed)
    after = replace(model, down=zones, election=())
    return (Outage(KIND_WHOLE if model.peers() == 1 else KIND_DOWN,
                   f"every sitter is disabled: the shard takes no writes until "
                   f"{_until_back(model)}", timing.session_timeout), after)


def waiting_for_state(model: ShardModel) -> Outage | None:
    """A v2 primary with no /state takes no writes (upstream's peer waits for a cluster
    state before it runs a database): the step that writes /state is an outage from its
    start until its write. A one-node shard's backfill is one: its only peer was
    reprovisioned to v2 before it."""
    primary = model.primary
    if model.state is None and primary is not None and primary in model.v2:
        return Outage(KIND_NO_STATE, f"the primary {primary} runs v2 and waits for /state: "
                      "the shard takes no writes until this step writes it", 0.0)
    return None


def while_down(model: ShardModel, seconds: float) -> Outage | None:
    """What any other step means for writes: an outage only while sitters disabled
    earlier keep the shard down."""
    if model.down and not model.writable():
        return Outage(KIND_DOWN, "the sitters were disabled earlier: the shard takes no "
                      f"writes until {_until_back(model)}", seconds)
    return None


def zone_cycles(model: ShardModel, zone: str, to_v1: bool, timing: Timing
                ) -> tuple[Outage | None, ShardModel]:
    """A zone's sitter leaves and comes back (a reprovision), at v1 or v2: whether
    writes stop meanwhile, and the shard after."""
    v2 = model.v2 - {zone} if to_v1 else model.v2 | {zone}
    rejoined = (*(z for z in model.election if z != zone), zone)
    back = replace(model, v2=v2, down=model.down - {zone}, election=rejoined)
    if model.down and not model.writable():
        # a rollback bringing the sitters back one by one: writable again once the
        # primary and its sync run
        return (Outage(KIND_DOWN, "the sitters were disabled earlier: the shard takes no "
                       f"writes until {_until_back(model)}", timing.reprovision),
                back)
    peers = model.peers()
    primary = model.primary
    whole = timing.reprovision
    session = timing.session_timeout
    if peers == 1:
        return (Outage(KIND_WHOLE, "the shard has one peer: it is down for the whole "
                       "reprovision", whole), back)
    if zone == primary:
        return _primary_leaves(zone, model, back, session, whole)
    if zone == model.sync_of_primary():
        return _sync_leaves(zone, model, back, session, whole)
    return None, back


def _primary_leaves(zone: str, model: ShardModel, back: ShardModel, session: float,
                    whole: float) -> tuple[Outage, ShardModel]:
    if zone not in model.v2 and model.state is None:
        return (Outage(KIND_TAKEOVER, "the v1 primary leaves: its sync takes over once the "
                       "primary's ZooKeeper session expires", session), back)
    state = model.state or model.election
    sync = state[1] if len(state) > 1 else None
    asyncs = [z for z in state[2:] if z != zone]
    can_take_over = (
        model.state is not None and not model.frozen and sync is not None
        and sync in model.v2 and bool(asyncs)
    )
    if can_take_over:
        assert sync is not None
        new_state = (sync, asyncs[0], *asyncs[1:])
        return (Outage(KIND_TAKEOVER, "the primary leaves: the sync takes over once the "
                       "primary's ZooKeeper session expires (a new generation)", session),
                replace(back, state=new_state, deposed=(*model.deposed, zone)))
    # a two-node shard cannot take over frozen or not: that is the cause to name
    if model.peers() == 2:
        cause = ("the primary of a two-node shard leaves: upstream's sync needs an async to "
                 "take over (frozen or not), so writes stop until the primary is back")
    elif model.state is not None and model.frozen:
        cause = ("the primary leaves while the shard is frozen: nobody may take over, so "
                 "writes stop until it is back")
    else:
        cause = ("the primary leaves and no peer can take over (the sync needs an async and "
                 "v2), so writes stop until it is back")
    return Outage(KIND_WHOLE, cause, whole), back


def _sync_leaves(zone: str, model: ShardModel, back: ShardModel, session: float,
                 whole: float) -> tuple[Outage, ShardModel]:
    primary = model.primary
    assert primary is not None
    if primary not in model.v2 or model.state is None:
        return (Outage(KIND_SYNC_LOST, "the v1 primary's sync leaves: the primary's commits "
                       "block until the sync's ZooKeeper session expires and the primary "
                       "picks the next standby (or runs alone)", session), back)
    state = model.state
    asyncs = [z for z in state[2:] if z != zone]
    if not model.frozen and asyncs:
        return (Outage(KIND_SYNC_LOST, "the sync leaves: the primary's commits block until "
                       "the sync's ZooKeeper session expires and an async becomes the sync",
                       session),
                replace(back, state=(primary, asyncs[0], *asyncs[1:], zone)))
    cause = ("the sync leaves while the shard is frozen: the primary cannot pick another "
             "sync, so commits wait for this one to return") if model.frozen else (
             "the sync leaves and there is no async to replace it: commits wait for it to "
             "return")
    return Outage(KIND_WHOLE, cause, whole), back


def timing_from(estimates: Mapping[str, Any] | None, source: str) -> Timing:
    """Timing from an ``estimates`` mapping (None or empty: the assumed defaults)."""
    if not estimates:
        return Timing()
    return Timing(
        float(estimates.get("session_timeout") or DEFAULT_SESSION_TIMEOUT),
        float(estimates.get("reprovision") or DEFAULT_REPROVISION),
        source,
    )
