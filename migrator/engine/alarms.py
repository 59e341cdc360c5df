"""What the watchdog looks for: the runbook's one data-corrupting situation, named in a
snapshot of the shard. Pure: no I/O.

The runbook's design section: "A doesn't fail while in the [A, [B, C']]
topology. If that does happen, both B and C' will think they are the primary.
If this does happen, C *must* be rolled back since it is an async that
believes it is a sync (this is dangerous)."

``assess`` names what is wrong in a snapshot, by phase:

* **mixed** — /state is the backfill (generation 0, frozen) and the original
  sync still runs v1 (its zone's version, or the run's own record of its
  reprovision, says so; only when neither is known, it still holds the
  election node it had when the migration began): the original primary's
  election node disappearing is the
  split-brain risk. The run stops; the remedy offered is the rollback plan
  (``rollback-before-primary``, which rolls the original async back).
* **frozen** — same /state, the original sync already reprovisioned, not yet
  unfrozen: the sync (the original async) leaving the election means it
  fell out of synchronous replication, and unfreezing now could let a peer
  that is not caught up take over. The run stops before the unfreeze.
  The sync can also fall out of synchronous replication while it stays in the
  election; ``LagClock`` decides when that has lasted long enough to stop the run
  (``migrator.engine.watchdog``'s replication monitor feeds it).
* in either window, any other peer whose election node changed or went (a session
  that expired) while the run was not acting on its zone: the run stops, naming
  the peers that rejoined and the election's order (``peer_rejoined``).
* at any time, a peer in ``deposed``: explained, with the rebuild offered;
  the run goes on (current manatee deposes the old primary by design).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.cluster.original import OriginalTopology
from migrator.cluster.shard import MODE_BACKFILLED_FROZEN, ShardSnapshot
from migrator.engine.rollback import DEPOSED_EXPLANATION
from migrator.errors import Refused

RUNBOOK_WARNING = (
    "A doesn't fail while in the [A, [B, C']] topology. If that does happen, both B and "
    "C' will think they are the primary. If this does happen, C *must* be rolled back "
    "since it is an async that believes it is a sync (this is dangerous)."
)


MIXED = "mixed"  # phases of the migration the watchdog tells apart


FROZEN = "frozen"


OTHER = "other"


PRIMARY_LOST = "primary-lost"  # alarm kinds


SYNC_LOST = "sync-lost"


DEPOSED = "deposed"


SYNC_BEHIND = "sync-behind"


PRIMARY_REJOINED = "primary-rejoined"


PEER_REJOINED = "peer-rejoined"


@dataclass(frozen=True)
class Alarm:
    kind: str
    stop: bool  # whether the run must stop
    zone: str
    message: str
    remedy: str
    plan: list[str] = field(default_factory=list)  # the ready remedy, step by step

    def paragraph(self) -> str:
        return f"{self.message} {self.remedy}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "stop": self.stop, "zone": self.zone,
                "message": self.message, "remedy": self.remedy, "plan": self.plan}


class WatchdogTripped(Refused):
    """The watchdog stopped the run: the cluster reached a dangerous state."""


def phase(snapshot: ShardSnapshot, original: OriginalTopology,
          sync_runs_v2: bool | None = None) -> str:
    """The phase, from ``/state`` and what the original sync runs (``sync_runs_v2``: its
    zone's reported version, or the run's verified reprovision of it; None when
    neither is known). Only without that knowledge is its election node the evidence,
    and there it misleads: after a ZooKeeper pause expires every session, a sync that
    already runs v2 has no node for a while, exactly like a v1 sync being reprovisioned.
    """
    roles = {p.role for p in original.peers}
    if snapshot.mode != MODE_BACKFILLED_FROZEN or "original_async" not in roles:
        return OTHER
    if sync_runs_v2 is not None:
        return FROZEN if sync_runs_v2 else MIXED
    sync = original.by_role("original_sync")
    names = [n.name for n in snapshot.topology.nodes if n.peer_id == sync.peer_id]
    # its original node (the same session) means the v1 sync has not been reprovisioned;
    # absent altogether means it is being reprovisioned right now: still the mixed window
    if not names or sync.name is None or sync.name in names:
        return MIXED
    return FROZEN


def primary_rejoined(snapshot: ShardSnapshot, original: OriginalTopology,
                     acting_zone: str | None = None, primary_v1: bool = True
                     ) -> Alarm | None:
    """The original primary, still v1, lost its ZooKeeper session while v1 and v2 peers
    run side by side (after the backfill, frozen): its election node is gone, or back
    under a new session. A v1 peer follows the election order, so rejoined behind a
    peer it becomes that peer's standby and may rebuild itself from it, discarding
    writes only it holds (issue 24: an 8 s ZooKeeper pause did exactly that). Not when
    the run itself is acting on that zone (its own reprovision), nor once it runs v2."""
    if snapshot.mode != MODE_BACKFILLED_FROZEN or not primary_v1:
        return None
    primary = original.by_role("original_primary")
    if primary.zone_id == acting_zone or primary.name is None:
        return None
    names = [n.name for n in snapshot.topology.nodes if n.peer_id == primary.peer_id]
    if primary.name in names:
        return None
    order = election_order(snapshot, original)
    what = ("is gone" if not names else f"came back as {names[-1]}, under a new session")
    return Alarm(
        PRIMARY_REJOINED, True, primary.zone_id,
        f"The original primary {primary.zone_id} ({primary.peer_id}), still v1, lost its "
        f"ZooKeeper session: its election node {primary.name} {what}. The election is now: "
        f"{order}. A v1 peer follows the election order: behind another peer it becomes "
        "its standby and may rebuild itself from it (pg_basebackup), discarding writes "
        "only it holds. The migration stopped.",
        "Remedy: compare the peers' data before anything else: `migrator rollback "
        "--inventory INVENTORY` compares them first and refuses, naming the peers and "
        "their positions, when the peer it would make the primary lacks data. If the "
        "original primary still holds the most, disable its sitter (`svcadm disable "
        "manatee-sitter` in its zone) so that it cannot rebuild, then roll back.")


def election_order(snapshot: ShardSnapshot, original: OriginalTopology,
                   seen: Mapping[str, str | None] | None = None) -> str:
    """The election as an operator reads it: each peer's zone and id, ``(rejoined)``
    where its node is not the one it held at the start (or when the run began
    watching, ``seen``)."""
    def before(peer_id: str, name: str) -> str | None:
        if seen is not None and peer_id in seen:
            return seen[peer_id]
        return next((p.name for p in original.peers if p.peer_id == peer_id), name)

    return ", ".join(
        f"{str(n.data.get('zoneId'))[:8]} ({n.peer_id})"
        + (" (rejoined)" if n.name != before(n.peer_id, n.name) else "")
        for n in snapshot.topology.nodes) or "empty"


def peer_rejoined(snapshot: ShardSnapshot, original: OriginalTopology,
                  seen: Mapping[str, str | None], acted: Collection[str]) -> Alarm | None:
    """A peer other than the original primary (``primary_rejoined`` covers that one) lost
    its ZooKeeper session while v1 and v2 peers run side by side (after the backfill,
    frozen): the election node it held when the run began watching (``seen``) is gone
    or replaced, and the run never acted on its zone (``acted``: its own reprovisions
    rename nodes on purpose). Whatever the peer, a session that expired means ZooKeeper
    paused or the peer lost it, and the others' may be next; a v1 peer rejoins by
    election order, behind a peer it then follows (and may rebuild from)."""
    if snapshot.mode != MODE_BACKFILLED_FROZEN:
        return None
    for peer in original.peers:
        if peer.role == "original_primary" or peer.zone_id in acted:
            continue
        held = seen.get(peer.peer_id)
        if held is None:
            continue
        names = [n.name for n in snapshot.topology.nodes if n.peer_id == peer.peer_id]
        if held in names:
            continue
        what = ("is gone" if not names else f"came back as {names[-1]}, under a new session")
        role = peer.role.removeprefix("original_")
        return Alarm(
            PEER_REJOINED, True, peer.zone_id,
            f"The original {role} {peer.zone_id} ({peer.peer_id}) lost its ZooKeeper "
            f"session while v1 and v2 peers run side by side: its election node {held} "
            f"{what}. The election is now: {election_order(snapshot, original, seen)}. "
            "A v1 peer follows the election order: behind another peer it becomes its "
            "standby and may rebuild itself from it (pg_basebackup); a session that "
            "expired also means the other peers' may expire next. The migration stopped.",
            "Remedy: compare the peers' data before anything else: `migrator rollback "
            "--inventory INVENTORY` compares them first and refuses, naming the peers and "
            "their positions, when the peer it would make the primary lacks data; "
            "`migrator resume` compares them too before it goes on.")
    return None


def assess(snapshot: ShardSnapshot, original: OriginalTopology,
           sync_runs_v2: bool | None = None, acting_zone: str | None = None,
           primary_v1: bool = True, seen: Mapping[str, str | None] | None = None,
           acted: Collection[str] = ()) -> list[Alarm]:
    """What is dangerous (or worth explaining) in this snapshot (``sync_runs_v2``: see
    ``phase``; ``acting_zone``: the zone the run acts on now; ``primary_v1``: whether
    the original primary still runs v1; ``seen``: each peer's election node when the
    run began watching, and ``acted``: the zones the run acted on, for
    ``peer_rejoined``)."""
    alarms: list[Alarm] = []
    present = {n.peer_id for n in snapshot.topology.nodes}
    now = phase(snapshot, original, sync_runs_v2)
    rejoined = primary_rejoined(snapshot, original, acting_zone, primary_v1)
    if rejoined is not None and (now != MIXED or original.by_role(
            "original_primary").peer_id in present):
        alarms.append(rejoined)  # (gone in the mixed window: PRIMARY_LOST says more)
    if now == MIXED:
        primary = original.by_role("original_primary")
        if primary.peer_id not in present:
            sync, async_ = original.by_role("original_sync"), original.by_role("original_async")
            alarms.append(Alarm(
                PRIMARY_LOST, True, primary.zone_id,
                f"The original primary {primary.zone_id} ({primary.peer_id}) left the "
                "election while the shard is in the mixed [A, [B, C']] topology (after the "
                "backfill, before the sync's reprovision). Now the original sync "
                f"{sync.zone_id} (v1, by election order) and the original async "
                f"{async_.zone_id} (v2, by /state) can both believe they are the primary. "
                f"The runbook: \"{RUNBOOK_WARNING}\" The migration stopped.",
                f"Remedy: roll back the original async {async_.zone_id} now, with the "
                "rollback plan below (`migrator rollback --inventory INVENTORY`); it rolls "
                "back the current async, then the current sync (the original async), then "
                "deletes /state, leaving a v1 shard that follows the election.",
            ))
    elif now == FROZEN:
        sync = original.by_role("original_async")
        if sync.peer_id not in present:
            alarms.append(Alarm(
                SYNC_LOST, True, sync.zone_id,
                f"The sync {sync.zone_id} ({sync.peer_id}, the original async) left the "
                "election before the unfreeze: it has fallen out of synchronous "
                "replication. After a backfill initWal is 0/0000000, so unfreezing now "
                "could let a peer that is not caught up take over and lose writes. The "
                "migration stopped before the unfreeze.",
                "Remedy: wait for the sync to rejoin and catch up, then `migrator resume` "
                "(the unfreeze re-checks synchronous replication first); or roll back with "
                "`migrator rollback --inventory INVENTORY`.",
            ))
    if seen is not None and not any(a.stop for a in alarms):
        lost = peer_rejoined(snapshot, original, seen,
                             {*acted, *([acting_zone] if acting_zone else [])})
        if lost is not None:
            alarms.append(lost)
    if snapshot.state is not None and snapshot.state.deposed:
        zones = ", ".join(p.zone_id for p in snapshot.state.deposed)
        alarms.append(Alarm(
            DEPOSED, False, zones, f"Deposed peer(s) in /state: {zones}. {DEPOSED_EXPLANATION}",
            "Optional: `migrator rebuild-deposed --inventory INVENTORY` rebuilds it and checks "
            "it rejoins as an async.",
        ))
    return alarms


@dataclass
class LagClock:
    """Pure: how long the sync has been out of synchronous replication, sample by sample."""

    grace: float
    since: float | None = None  # monotonic time of the first bad sample in a row

    def observe(self, ok: bool | None, now: float) -> bool:
        """Record a sample (None: could not be taken); True once the grace has run out."""
        if ok is None:
            return self.due(now)
        if ok:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return self.due(now)

    def due(self, now: float) -> bool:
        return self.since is not None and now - self.since >= self.grace

    def next_check(self, now: float, recheck: float) -> float:
        """When to look again without an event: the fallback, or the grace's end."""
        fallback = now + recheck
        if self.since is None:
            return fallback
        return min(fallback, self.since + self.grace)


def replication_alarm(original: OriginalTopology, reason: str, seconds: float) -> Alarm:
    primary, sync = original.by_role("original_primary"), original.by_role("original_async")
    return Alarm(
        SYNC_BEHIND, True, sync.zone_id,
        f"The sync {sync.zone_id} (the original async) has been out of synchronous "
        f"replication from the primary {primary.zone_id} for {seconds:.0f} s before the "
        f"unfreeze, while still in the election: {reason}. After a backfill initWal is "
        "0/0000000, so unfreezing now could let a sync that has not caught up take over "
        "and lose writes. The migration stopped before the unfreeze.",
        f"Remedy: look at `manatee-adm status` in {sync.zone_id}, wait for the sync to "
        "stream synchronously and catch up (replay_lsn reaching sent_lsn; replay_location and "
        "sent_location before PostgreSQL 10), then "
        "`migrator resume` (the unfreeze re-checks synchronous replication first); or "
        "roll back with `migrator rollback --inventory INVENTORY`.",
    )
