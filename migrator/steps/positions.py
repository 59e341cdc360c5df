"""The final data check: does the shard's primary hold everything its peers hold?

Each zone's postgres position (timeline and WAL location) is read with the
inventory's ``commands.pg_position`` and judged by ``migrator.cluster.positions``.
The primary is /state's when there is one (a migration), else the first peer of
the election (a v1 shard, after a rollback). The standbys are read before the
primary, so a shard taking writes is never judged behind by the timing of the
reads. A deposed peer is not compared: it takes no part until it is rebuilt from
the primary, which replaces its data (that choice is the operator's, and is
offered).

A peer holding data the primary lacks is refused (exit 3), not a failed wait: the
step stays unfinished in the journal, and re-running re-checks it. A peer whose
position cannot be read is a failed check (exit 1): nothing can be said about it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from migrator.cluster.positions import (
    DataVerdict,
    Position,
    PositionUnreadable,
    judge_primary,
    parse_position,
)
from migrator.errors import MigratorError, Refused
from migrator.stepkit.context import StepContext, read_shard, shard_view
from migrator.stepkit.registry import NoParams, Outcome, check
from migrator.stepkit.together import side_by_side
from migrator.steps.remote import _remote

RETRY = 1.0
SETTLE = 2.0  # a lacking primary is looked at once more, this much later, before refusing


@dataclass(frozen=True)
class ShardPeers:
    primary: str | None
    others: list[str]
    skipped: list[str]


def shard_peers(ctx: StepContext) -> ShardPeers:
    """The zones to compare: /state's primary, sync and asyncs, or the election's peers
    (on the engine's read of the moment when it has one, ``shard_view``)."""
    view = shard_view(ctx)
    snap = view[0] if view is not None else read_shard(ctx)
    if snap.state is not None:
        roles = [(role, peer.zone_id) for role, peer in snap.state.peers_with_roles()]
        kept = [zone for role, zone in roles if role != "deposed"]
        skipped = [zone for role, zone in roles if role == "deposed"]
        primary = next((zone for role, zone in roles if role == "primary"), None)
        return ShardPeers(primary, [z for z in kept if z != primary], skipped)
    zones: list[str] = []
    for node in snap.topology.nodes:
        zone = node.data.get("zoneId")
        if isinstance(zone, str) and zone not in zones:
            zones.append(zone)
    return ShardPeers(zones[0] if zones else None, zones[1:], [])


def read_position(ctx: StepContext, zone: str) -> Position:
    result = _remote(ctx).run_template(zone, "pg_position")
    if not result.ok:
        raise PositionUnreadable(f"{zone[:8]}: commands.pg_position failed "
                                 f"({result.text.strip()[:200] or 'no output'})")
    try:
        return parse_position(zone, result.text)
    except PositionUnreadable as exc:
        raise PositionUnreadable(f"{zone[:8]}: {exc}") from None


def read_positions(ctx: StepContext, peers: ShardPeers) -> tuple[list[Position], list[str]]:
    """Standbys first, the primary last; (positions, what could not be read)."""
    found: list[Position] = []
    missing: list[str] = []
    # the standbys all at once (a round trip each at datacenter distance), and only then
    # the primary: asked after every standby answered, its position is the later one
    # (a standby never holds more than its primary held when the standby was asked)
    standbys = side_by_side([functools.partial(read_position, ctx, zone)
                             for zone in peers.others], "positions")
    primary = [] if peers.primary is None else side_by_side(
        [functools.partial(read_position, ctx, peers.primary)], "positions")
    for result in [*standbys, *primary]:
        if isinstance(result, (PositionUnreadable, MigratorError)):
            missing.append(result.message if isinstance(result, MigratorError)
                           else str(result))
        elif isinstance(result, BaseException):
            raise result
        else:
            found.append(result)
    return found, missing


def choices(verdict: DataVerdict) -> str:
    """What the operator can do about a primary that lacks data (named in the refusal)."""
    best = verdict.most
    ahead = ", ".join(str(p) for p in verdict.ahead)
    first = (f"make {best.zone} (it holds the most data) the primary again by hand, with "
             "the writers stopped, and rebuild the others from it" if best is not None
             else "compare the peers' data by hand (no single peer holds everything: the "
                  "commits on each side of the fork must be reconciled)")
    return (f"Peers holding data the primary lacks: {ahead}. Choices, all manual: {first}; "
            f"or save what only {', '.join(p.zone[:8] for p in verdict.ahead)} "
            "hold(s) (dump the rows, or keep a copy of the data directory) before "
            "rebuilding it from the primary; or accept the loss and rebuild it from the "
            "primary. Nothing more was done; running the same command again re-checks.")


def _judge(ctx: StepContext) -> tuple[DataVerdict | None, str, list[str]]:
    peers = shard_peers(ctx)
    if peers.primary is None:
        return None, "there is no primary (no /state primary and an empty election)", []
    positions, missing = read_positions(ctx, peers)
    notes = [f"deposed, not compared: {', '.join(z[:8] for z in peers.skipped)}"] if (
        peers.skipped) else []
    if missing:
        return None, "could not read every peer's position: " + "; ".join(missing), notes
    return judge_primary(positions, peers.primary), "", notes


def _position_command(inventory: Any, _params: Any) -> list[str]:
    """The pre-flight checks the command is there in every zone (a site whose psql is
    elsewhere sets `commands.pg_position`), so a run never learns it at its last step."""
    return [inventory.commands.pg_position]


@check("primary_holds_all_data", zone_commands=_position_command)
def primary_holds_all_data(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
    """No peer holds data (a later WAL position, or a forked timeline) that the primary
    lacks; refused, naming the peers, their positions and the choices, when one does."""
    deadline = time.monotonic() + max(timeout, 0.0)
    looked_again = False
    while True:
        verdict, unread, notes = _judge(ctx)
        suffix = f" ({'; '.join(notes)})" if notes else ""
        if verdict is not None and verdict.ok:
            return Outcome(True, verdict.reason + suffix,
                           {"positions": _shown(verdict)})
        if verdict is not None and (looked_again or timeout <= 0):
            raise Refused(
                f"The shard's data check failed: {verdict.reason}{suffix}. The step is not "
                "done, and this is not reported as success: acknowledged writes may be "
                "missing from the primary.",
                choices(verdict),
            )
        if verdict is not None:
            looked_again = True
            time.sleep(min(SETTLE, max(deadline - time.monotonic(), 0.0)))
            continue
        if time.monotonic() >= deadline:
            return Outcome(False, unread + suffix)
        time.sleep(min(RETRY, max(deadline - time.monotonic(), 0.0)))


def _shown(verdict: DataVerdict) -> dict[str, str]:
    return {"primary": str(verdict.primary)} if verdict.primary else {}
