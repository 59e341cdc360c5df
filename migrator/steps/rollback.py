"""Checks and actions the rollback and rebuild playbooks name.

Pure rules come first (a snapshot and the original topology in, an
``Outcome`` out); the registered checks wrap them in the same event-driven
waits as ``migrator.steps.zk`` (election and /state watches). Version checks
ask the zones over SSH; they re-ask whenever the election changes (a zone that
was reprovisioned rejoins it), never on a timer.

A step-start hook records, for each zone the step names, the election nodes
it holds when the step starts (``ctx.marks["election:<zone>"]``), so
``rejoined_since_start`` can tell a new session from the old one, also after
a resume (marks are journalled).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any, Literal

from migrator.cluster.original import OriginalPeer, OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.writability import Effect, ShardModel, Timing, sitters_disabled
from migrator.errors import BadInput, MigratorError, StepFailed
from migrator.inventory.values import UUID_RE
from migrator.isotime import iso_now_ms
from migrator.record import field
from migrator.remote.manatee_status import lone_primary_verdict
from migrator.remote.versions import at_least
from migrator.stepkit.context import StepContext, original_of, read_shard, shard_view
from migrator.stepkit.evidence import Evidence
from migrator.stepkit.hooks import on_step_start
from migrator.stepkit.registry import (
    NoParams,
    Outcome,
    ZoneParams,
    action,
    check,
    original_role,
)
from migrator.steps.remote import (
    ReplicationParams,
    _remote,
    _version_of,
    replication_synced,
    status_until,
)
from migrator.steps.zk import wait_shard
from migrator.zk.watches import wait_for, watch_election

RECORD_STEP = "record-topology"


def _distinct_roles(value: list[str]) -> list[str]:
    for role in value:
        original_role(role)
    if len(set(value)) != len(value):
        raise ValueError("a role appears twice in the order")
    return value


class OrderParams(NoParams):
    order: list[str] = field(min_length=1, check=_distinct_roles)


class BelowParams(NoParams):
    zones: Literal["zones", "morays"]
    below: str = field(min_length=1)


class RecordParams(NoParams):
    variant: str = field(min_length=1)
    phase: Literal["start", "final"] = "start"
    roles: dict[str, str | None] = field(factory=dict)
    morays: bool = False


# ---- pure rules ------------------------------------------------------------------------


def _label(peer: OriginalPeer) -> str:
    return f"{peer.role} {peer.zone_id[:8]} ({peer.peer_id})"


def election_names(snap: ShardSnapshot, peer_id: str) -> list[str]:
    return [n.name for n in snap.topology.nodes if n.peer_id == peer_id]


def in_election(snap: ShardSnapshot, original: OriginalTopology, role: str) -> Outcome:
    peer = original.by_role(role)
    names = election_names(snap, peer.peer_id)
    if not names:
        return Outcome(False, f"{_label(peer)} is not in the election")
    return Outcome(True, f"{_label(peer)} is in the election as {names[-1]}")


def rejoined_since(snap: ShardSnapshot, original: OriginalTopology, role: str,
                   before: list[str]) -> Outcome:
    """The zone holds an election node it did not hold when the step started."""
    peer = original.by_role(role)
    names = election_names(snap, peer.peer_id)
    new = [n for n in names if n not in before]
    if new:
        return Outcome(True, f"{_label(peer)} rejoined the election as {new[-1]} "
                             "(a new session)")
    if names:
        return Outcome(False, f"{_label(peer)} still holds {', '.join(names)}, the node(s) it "
                              "had when the step started")
    return Outcome(False, f"{_label(peer)} has not rejoined the election")


def election_ordered(snap: ShardSnapshot, original: OriginalTopology,
                     order: list[str]) -> Outcome:
    """The election holds exactly these peers, once each, in this order (v1 roles)."""
    want = [original.by_role(r).peer_id for r in order]
    seen = [n.peer_id for n in snap.topology.nodes]
    labels = {p.peer_id: p.role.removeprefix("original_") for p in original.peers}
    shown = ", ".join(labels.get(i, i) for i in seen) or "empty"
    if seen == want:
        roles = ", ".join(f"{('primary', 'sync')[i] if i < 2 else 'async'} "
                          f"{original.by_role(r).zone_id[:8]}" for i, r in enumerate(order))
        return Outcome(True, f"the election gives the v1 roles {roles}")
    twice = sorted({labels.get(i, i) for i in seen if seen.count(i) > 1})
    why = f" ({', '.join(twice)} appear(s) twice: an old session not expired yet)" if twice else ""
    return Outcome(False, f"the election is [{shown}], expected "
                          f"[{', '.join(r.removeprefix('original_') for r in order)}]{why}")


def election_v1(snap: ShardSnapshot, original: OriginalTopology) -> Outcome:
    """Every peer of the shard in the election exactly once: v1 roles by its order.

    Used where the final order depends on the shard's history (a peer that left and came
    back rejoined last), so no particular order can be demanded."""
    labels = {p.peer_id: p for p in original.peers}
    seen = [n.peer_id for n in snap.topology.nodes]
    missing = [_label(p) for p in original.peers if p.peer_id not in seen]
    twice = sorted({i for i in seen if seen.count(i) > 1})
    foreign = sorted({i for i in seen if i not in labels})
    problems = []
    if missing:
        problems.append(f"not in the election: {', '.join(missing)} (a peer that is down "
                        "rejoins at the end when it comes back)")
    if twice:
        problems.append(f"in the election twice: {', '.join(twice)} (an old session not "
                        "expired yet)")
    if foreign:
        problems.append(f"in the election but not of this shard: {', '.join(foreign)}")
    if problems:
        return Outcome(False, "; ".join(problems))
    roles = ", ".join(f"{('primary', 'sync')[i] if i < 2 else 'async'} "
                      f"{labels[peer_id].zone_id[:8]}" for i, peer_id in enumerate(seen))
    return Outcome(True, f"the election gives the v1 roles {roles}",
                   {"order": [labels[i].zone_id for i in seen]})


def election_empty(snap: ShardSnapshot, original: OriginalTopology) -> Outcome:
    ids = {p.peer_id for p in original.peers}
    left = [n.name for n in snap.topology.nodes if n.peer_id in ids]
    if left:
        return Outcome(False, f"still in the election: {', '.join(left)}")
    return Outcome(True, "no peer of the shard is in the election (every sitter is down)")


def zone_deposed(snap: ShardSnapshot, original: OriginalTopology, role: str) -> Outcome:
    peer = original.by_role(role)
    if snap.state is None:
        return Outcome(False, "there is no /state")
    if snap.state.role_of(peer.peer_id) == "deposed":
        return Outcome(True, f"{_label(peer)} is deposed in /state")
    return Outcome(False, f"{_label(peer)} is {snap.state.role_of(peer.peer_id) or 'absent'} "
                          "in /state, not deposed")


def rejoined_as_async(snap: ShardSnapshot, original: OriginalTopology, role: str) -> Outcome:
    peer = original.by_role(role)
    if snap.state is None:
        return Outcome(False, "there is no /state")
    now = snap.state.role_of(peer.peer_id)
    if now != "async":
        return Outcome(False, f"{_label(peer)} is {now or 'absent'} in /state, not an async")
    if not election_names(snap, peer.peer_id):
        return Outcome(False, f"{_label(peer)} is an async in /state but not in the election")
    return Outcome(True, f"{_label(peer)} rejoined as an async (generation "
                         f"{snap.state.generation})")


def rolled_back(version: str | None, roll_back_to: str, migrate_to: str | None) -> bool | None:
    """Is ``version`` the old image? Yes when it is exactly ``roll_back_to``, or (as
    versions compare) at least that and below ``migrate_to``: an image of the old line.
    None when the zone reported nothing."""

    if version is None:
        return None
    if version == roll_back_to:
        return True
    if migrate_to:
        return at_least(version, migrate_to) is False and at_least(version, roll_back_to) is True
    return False


# ---- waits -------------------------------------------------------------------------------


def _on_election(ctx: StepContext, timeout: float, look: Callable[[], Outcome]) -> Outcome:
    """``look()`` now, then again on every election change until it holds or time is up."""
    last = [look()]
    if last[0].ok or timeout <= 0:
        return last[0]

    def predicate(_token: Any) -> Outcome | None:
        last[:] = [look()]
        return last[0] if last[0].ok else None

    found, _ = wait_for(lambda deliver: watch_election(ctx.zk, ctx.shard,
                                                       lambda _c: deliver(object())),
                        predicate, timeout)
    return found if found is not None else last[-1]


def _versions(ctx: StepContext) -> tuple[str, str | None]:
    versions = ctx.inventory.versions if ctx.inventory is not None else None
    target = getattr(versions, "roll_back_to", None)
    if not target:
        raise BadInput(
            "The inventory gives no `versions.roll_back_to`, so the old image is unknown.",
            "Add `versions: {roll_back_to: IMAGE}` to the inventory.",
        )
    return str(target), getattr(versions, "migrate_to", None)


def _zone_version(ctx: StepContext, zone: str) -> str | None:
    try:
        return _version_of(ctx, zone, "manatee")
    except MigratorError:
        return None  # a zone that is down mid-reprovision reports nothing yet


def _zone_image(ctx: StepContext, zone: str) -> str | None:
    """The image UUID the zone reports (``commands.manatee_image``), or None."""
    try:
        result = _remote(ctx).run_template(zone, "manatee_image")
    except MigratorError:
        return None
    words = result.text.split()
    return words[0] if result.ok and words else None


def _rolled_back_outcome(ctx: StepContext, zones: list[tuple[str, str]]) -> Outcome:
    target, newer = _versions(ctx)
    # An image UUID (what `sapiadm reprovision` takes) is compared with the zone's image,
    # not with the package version the zone reports.
    by_image = bool(UUID_RE.match(target))
    seen: dict[str, str | None] = {}
    behind = []
    for label, zone in zones:
        version = _zone_image(ctx, zone) if by_image else _zone_version(ctx, zone)
        seen[zone] = version
        if (version != target if by_image
                else rolled_back(version, target, newer) is not True):
            behind.append(f"{label} reports {version or 'nothing (unreachable or no version)'}")
    if behind:
        return Outcome(False, f"not at the old image {target}: " + "; ".join(behind),
                       {"versions": seen})
    return Outcome(True, f"at the old image {target}: "
                         + ", ".join(f"{z[:8]} {v}" for z, v in seen.items()),
                   {"versions": seen})


# ---- checks ------------------------------------------------------------------------------


@check("zone_rolled_back", ZoneParams)
def zone_rolled_back(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """The zone reports the inventory's roll_back_to version."""
    zone = ctx.zone(p.zone)
    return _on_election(ctx, timeout, lambda: _rolled_back_outcome(ctx, [(zone[:8], zone)]))


@check("zones_rolled_back")
def zones_rolled_back(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """Every zone of the original topology reports the roll_back_to version."""
    original = original_of(ctx)
    zones = [(p.role.removeprefix("original_"), p.zone_id) for p in original.peers]
    return _on_election(ctx, timeout, lambda: _rolled_back_outcome(ctx, zones))


@check("zone_version_below", BelowParams)
def zone_version_below(ctx: StepContext, p: BelowParams, timeout: float) -> Outcome:
    """Every listed zone (or Moray) reports a version below the one given."""
    remote = _remote(ctx)
    table = remote.inventory.morays if p.zones == "morays" else remote.inventory.zones
    component = "moray" if p.zones == "morays" else "manatee"
    if not table:
        return Outcome(True, f"the inventory lists no {p.zones}; the operator confirmed them")
    newer = []
    for zone in table:
        version = _version_of(ctx, zone, component)
        if version is None or at_least(version, p.below) is not False:
            newer.append(f"{zone} reports {version or 'nothing'}")
    if newer:
        return Outcome(False, f"not below {p.below}: " + "; ".join(newer))
    return Outcome(True, f"every listed {component} zone is below {p.below}")


@check("zone_in_election", ZoneParams)
def zone_in_election(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """The zone holds an election node."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: in_election(s, original, p.zone))


@check("rejoined_since_start", ZoneParams)
def rejoined_since_start(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """The zone rejoined the election under a session it did not have at the step's start."""
    original = original_of(ctx)
    before = list(ctx.marks.get(_mark_key(ctx.zone(p.zone))) or [])
    return wait_shard(ctx, timeout, lambda s, _h: rejoined_since(s, original, p.zone, before))


@check("election_ordered", OrderParams)
def election_ordered_check(ctx: StepContext, p: OrderParams, timeout: float) -> Outcome:
    """The election holds exactly these zones, once each, in this order."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: election_ordered(s, original, p.order))


@check("election_v1")
def election_v1_check(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """Every zone of the shard is in the election exactly once (v1 roles by its order)."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: election_v1(s, original))


@check("v1_writes_flow")
def v1_writes_flow(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The first peer of the election streams synchronously to the second, caught up; a
    lone peer is the primary with its database answering."""
    snap = read_shard(ctx)
    zones = [str(n.data.get("zoneId")) for n in snap.topology.nodes]
    if not zones:
        return Outcome(False, "the election is empty: no primary")
    if len(zones) == 1:  # a shard of one: writes flow once its database answers as primary
        return status_until(ctx, zones[0],
                            lambda status: lone_primary_verdict(status, zones[0]), timeout)
    return replication_synced(ctx, ReplicationParams(primary=zones[0], sync=zones[1]), timeout)


@check("election_empty")
def election_empty_check(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """No zone of the shard is in the election (every sitter is down)."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: election_empty(s, original))


@check("zone_deposed", ZoneParams)
def zone_deposed_check(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """/state lists the zone as deposed."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: zone_deposed(s, original, p.zone))


@check("rejoined_as_async", ZoneParams)
def rejoined_as_async_check(ctx: StepContext, p: ZoneParams, timeout: float) -> Outcome:
    """/state lists the zone as an async (no longer deposed) and it is in the election."""
    original = original_of(ctx)
    return wait_shard(ctx, timeout, lambda s, _h: rejoined_as_async(s, original, p.zone))


@check("rollback_recorded")
def rollback_recorded(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """The journal's rollback run holds the topology recorded at its start."""
    roles = ctx.recorded("rollback", RECORD_STEP).get("roles")
    if isinstance(roles, dict) and roles:
        shown = ", ".join(f"{k.removeprefix('current_')}={v}" for k, v in roles.items() if v)
        return Outcome(True, f"the journal records the rollback's roles: {shown}")
    return Outcome(False, "the journal holds no recorded topology for this rollback")


# ---- step-start hook ----------------------------------------------------------------------


def _mark_key(zone: str) -> str:
    return f"election:{zone}"


@on_step_start
def mark_election_nodes(ctx: Any, step: Any) -> None:
    """Record the election nodes each zone the step names holds now."""
    if getattr(ctx, "original", None) is None:
        return
    refs = [r for r in getattr(step, "zones", None) or [] if r.startswith("original_")]
    if not refs:
        return
    # the step's one look at the shard when the engine has it (its done-checks read it)
    view = shard_view(ctx)
    snap = view[0] if view is not None else read_shard(ctx)
    for ref in refs:
        peer = ctx.original.by_role(ref)
        ctx.marks[_mark_key(peer.zone_id)] = election_names(snap, peer.peer_id)


# ---- actions -----------------------------------------------------------------------------


def _describe_record(_ctx: StepContext, p: RecordParams) -> str:
    if p.phase == "final":
        return "record the resulting topology in the journal (no change to the shard)"
    return "record the current topology and roles in the journal (no change to the shard)"


@action("record_topology", RecordParams, describe=_describe_record)
def record_topology(ctx: StepContext, p: RecordParams) -> Outcome:
    """Record the shard's topology (and the rollback's roles) in the journal."""
    original = original_of(ctx)
    snap = read_shard(ctx)
    zones = {current: None if role is None else original.by_role(role).zone_id
             for current, role in p.roles.items()}
    data: dict[str, Any] = {
        "phase": p.phase,
        "variant": p.variant,
        "recorded": iso_now_ms(),
        "election": [n.name for n in snap.topology.nodes],
        "state": None if snap.state is None else snap.state.document,
        "stateVersion": snap.state_version,
    }
    if p.phase == "start":
        data.update({"roles": dict(p.roles), "zones": zones, "morays": p.morays})
    shown = ", ".join(f"{c.removeprefix('current_')} {z[:8]}" for c, z in zones.items() if z)
    return Outcome(True, f"recorded the {'final' if p.phase == 'final' else 'current'} "
                         f"topology" + (f" ({shown})" if shown else ""), data)


def _disable_effect(model: ShardModel, _p: Any, _zone_of: Any, timing: Timing) -> Effect:
    return sitters_disabled(model, timing)


@action("disable_sitters", describe=lambda ctx, _p: "disable the manatee-sitter in every zone "
        "of the shard (`commands.sitter_disable`)", effect=_disable_effect,
        zone_commands=lambda inventory, _p: (inventory.commands.sitter_disable,))
def disable_sitters(ctx: StepContext, _p: NoParams) -> Outcome:
    """Disable the sitter in every zone of the original topology."""
    original = original_of(ctx)
    remote = _remote(ctx)
    done, failed = [], []
    for peer in original.peers:
        try:
            remote.run_template(peer.zone_id, "sitter_disable").require_ok()
            done.append(peer.zone_id)
        except MigratorError as exc:
            failed.append((peer, exc.message))
    if failed:
        snap = read_shard(ctx)
        # a zone we cannot reach whose sitter is already gone from the election is fine
        running = [(p, why) for p, why in failed if election_names(snap, p.peer_id)]
        if running:
            raise StepFailed(
                "Could not disable the sitter in "
                + "; ".join(f"{_label(p)}: {why}" for p, why in running) + ".",
                "Disable it by hand (or stop the zone), then `migrator rollback` resumes.",
            )
    return Outcome(True, f"disabled the sitter in {len(done)} zone(s)"
                         + (f"; {len(failed)} unreachable and already out of the election"
                            if failed else ""),
                   {"disabled": done, "unreachable": [p.zone_id for p, _ in failed]})


def rebuild_command(inventory: Any) -> str:
    prefix = shlex.join(["env", f"SHARD={inventory.shard}", f"ZK_IPS={inventory.zookeeper}"])
    return f"{prefix} {inventory.commands.manatee_adm} rebuild -y"


def _describe_rebuild(ctx: StepContext, p: ZoneParams) -> str:
    return f"run `{rebuild_command(ctx.inventory)}` in {ctx.zone(p.zone)}"


def _rebuild_evidence(ctx: StepContext, p: ZoneParams, intent: dict[str, Any]) -> Any:
    """A rebuild left in flight: once the zone is no longer deposed the action skips
    itself, so running it again is harmless; while it is, nothing tells us more."""

    snap = read_shard(ctx)
    still = zone_deposed(snap, original_of(ctx), p.zone).ok
    return Evidence("run_command", zone=ctx.zone(p.zone), begun="command" in intent,
                    command=str(intent.get("command") or rebuild_command(ctx.inventory)),
                    idempotent=not still)


@action("rebuild_deposed", ZoneParams, describe=_describe_rebuild, resume=_rebuild_evidence)
def rebuild_deposed(ctx: StepContext, p: ZoneParams) -> Outcome:
    """Rebuild a deposed peer with `manatee-adm rebuild` so it rejoins as an async."""
    original = original_of(ctx)
    zone = ctx.zone(p.zone)
    snap = read_shard(ctx)
    if not zone_deposed(snap, original, p.zone).ok:
        return Outcome(True, f"{zone} is not deposed; nothing to rebuild", {"skipped": True})
    record = getattr(ctx, "record_intent", None)
    if record is not None:
        record(zone=zone, command=rebuild_command(ctx.inventory))
    result = _remote(ctx).run(zone, rebuild_command(ctx.inventory), timeout=600)
    if not result.ok:
        said = result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise StepFailed(
            f"`manatee-adm rebuild` failed in {zone} (exit status {result.status}): {said}.",
            "Read its output in the zone; fix the cause, then run `migrator rebuild-deposed` "
            "again.",
        )
    return Outcome(True, f"rebuilt {zone}", {"zone": zone,
                                             "stdout": result.text.strip()[-2000:]})
