"""Before a rollback or a resume changes anything: does the peer that will be the primary
hold every other peer's data?

Each zone's postgres position (``commands.pg_position``) is judged by
``migrator.cluster.positions``. A peer that took writes the chosen primary lacks (a
ZooKeeper pause that expired every session can leave one: a v1 peer rebuilds itself
from whichever peer it rejoined behind) would be rebuilt from it, and its writes lost:
refused (exit 3, nothing done), naming the peers, their positions and the manual
choices, rather than picking one. Positions that cannot be read leave a note, not a
refusal: a rollback is often what brings the shard back, and the final data check of
every playbook still judges the end.
"""

from __future__ import annotations

from typing import Any

from migrator.cluster.positions import judge_primary
from migrator.errors import Refused
from migrator.steps.positions import ShardPeers, choices, read_positions


def refuse_when_behind(ctx: Any, zone: str, others: list[str], console: Any,
                       doing: str) -> None:
    """Refuse ``doing`` (e.g. "This rollback would make Z the v1 primary") when ``zone``
    lacks data one of ``others`` holds; say what was seen otherwise."""
    positions, missing = read_positions(ctx, ShardPeers(zone, others, []))
    if missing:
        console.say("  Note: the peers' data could not be compared first ("
                    + "; ".join(missing) + "); the final data check judges the end.",
                    "yellow")
        return
    verdict = judge_primary(positions, zone)
    if not verdict.ok:
        raise Refused(
            f"{doing}, but {verdict.reason}. Going on would rebuild the peers that hold "
            "more from it and lose their writes; nothing was done.", choices(verdict))
    console.say(f"  The peers' data: {verdict.reason}.")
