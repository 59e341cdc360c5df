"""One shard as `status --shard` shows it: peers by election order and by /state side
by side, disagreements explained, the migration under way (for the command and its
``--watch``)."""

from __future__ import annotations

from typing import Any

from migrator.cluster.shard import PeerRow
from migrator.ui.output import Cell


def render_shard(out: Any, result: Any, underway: Any, versions: dict[str, str] | None,
                 replication: dict[str, str] | None = None) -> None:
    """The one-shard view: peers by election and by /state, the migration under way;
    with an inventory, each zone's version and each peer's replication (below the
    table: ``manatee-adm status`` in the primary's zone, as ``manatee-adm show``)."""
    snap = result.snapshot
    has_state = snap.state is not None
    header = f"shard {snap.shard}: mode {snap.mode}"
    if snap.state is not None:
        header += f", generation {snap.state.generation}"
        if snap.state.freeze is not None:
            header += f", frozen ({snap.state.freeze.date}: {snap.state.freeze.reason})"
    rows = []
    for row in result.rows:
        mark = ""
        if has_state and not row.agrees:
            mark = "DIFFERS"
        rows.append(
            [
                row.zone_id,
                row.peer_id,
                "-" if row.election_position is None else str(row.election_position),
                row.election_role or "(not in election)",
                (row.state_role or "(not in state)") if has_state else "(no /state)",
                *([versions.get(row.zone_id, "-")] if versions is not None else []),
                Cell(mark, "bold red") if mark else "",
            ]
        )
    out.table(["ZONE", "PEER", "POS", "BY ELECTION", "BY /STATE",
               *(["VERSION"] if versions is not None else []), ""], rows, title=header)
    progress = underway.progress
    if progress is not None:
        out.heading(f"migration journal: {progress.line()}")
    elif underway.journal_problem:
        out.heading(f"migration journal: unreadable: {underway.journal_problem}")
    else:
        out.heading("migration journal: none (no migration with this tool in progress)")
    out.heading("run lock: " + (", ".join(underway.lock_holders) if underway.lock_holders
                                else "free"))
    if replication:
        out.heading("replication (manatee-adm status in the primary's zone):")
        for zone, text in replication.items():
            out.heading(f"  {zone[:8]} {text}")
    if snap.error is not None:
        out.heading(f"v1 error node present: {snap.error!r}")
    note = disagreement_note(snap.mode, result.rows)
    if note:
        out.heading(note)


def disagreement_note(mode: str, rows: list[PeerRow]) -> str | None:
    """Why election order and /state disagree, and whether that matters, by mode."""
    differing = [r for r in rows if not r.agrees]
    if mode == "legacy" or not differing:
        return None
    if mode == "backfilled-frozen":
        return (
            "Roles by election and by /state differ, as expected between the backfill and "
            "the primary's reprovision: the backfill writes [A, C, B] while v1 peers still "
            "follow the election [A, B, C]."
        )
    if any("primary" in (r.election_role, r.state_role) for r in differing):
        return (
            "The first peer in the election is not the /state primary: Morays that predate "
            "/state would send writes to the wrong peer. Upgrade them (or find out why the "
            "election order is stale) before relying on this shard."
        )
    return (
        "Sync/async positions in the election differ from /state; v2 peers follow /state, "
        "so this only matters to tools that still read the election order."
    )


def mode_style(mode: str) -> str:
    return {"legacy": "yellow", "backfilled-frozen": "cyan", "migrated": "green"}.get(mode, "red")
