"""status, state, history."""

from __future__ import annotations

from typing import Any

import click

from migrator.cli.options import ShardTarget, shard_target
from migrator.cluster.shard import PeerRow

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command()
@shard_target(need_shard=False)
@json_option
@click.option("--watch", "-W", "watch", is_flag=True,
              help="With a shard: keep a live view, updated on every ZooKeeper change, until "
              "Ctrl-C.")
def status(target: ShardTarget, as_json: bool, watch: bool) -> None:
    """Every shard with its mode; with a shard, peers by election and by /state, and the
    migration in progress (step n/N, lock holder; versions with --inventory)."""
    from migrator.commands import read
    from migrator.ui.output import Cell, Output

    if watch:
        from migrator.ui.watch import watch_status

        if target.shard is None or as_json:
            from migrator.errors import BadInput

            raise BadInput("`status --watch` follows one shard on a terminal.",
                           "Pass --shard NAME (or --inventory), without --json.")
        with target.session() as client:
            watch_status(client, target.shard, target.inventory)
        return
    out = Output(as_json)
    with target.session() as client:
        if target.shard is None:
            summaries = read.all_shards(client)
            if as_json:
                out.json([s.to_json() for s in summaries])
                return
            out.table(
                ["SHARD", "MODE", "PEERS", "GENERATION", "FROZEN"],
                [
                    [
                        s.shard,
                        Cell(s.mode, _mode_style(s.mode)) if not s.problem
                        else Cell(f"unknown: {s.problem}", "red"),
                        str(s.peers_in_election),
                        "-" if s.generation is None else str(s.generation),
                        s.frozen or "-",
                    ]
                    for s in summaries
                ],
            )
            return
        result = read.shard_status(client, target.shard)
        from migrator.commands.progress import read_progress, zone_versions

        underway = read_progress(client, target.shard)
    versions = (zone_versions(target.inventory, [r.zone_id for r in result.rows])
                if target.inventory is not None else None)
    if as_json:
        out.json({**result.to_json(), **underway.to_json(), "versions": versions})
        return
    render_shard(out, result, underway, versions)


def render_shard(out: Any, result: Any, underway: Any, versions: dict[str, str] | None) -> None:
    """The one-shard view: peers by election and by /state, the migration under way."""
    from migrator.ui.output import Cell

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


def _mode_style(mode: str) -> str:
    return {"legacy": "yellow", "backfilled-frozen": "cyan", "migrated": "green"}.get(mode, "red")


@click.command()
@shard_target(need_shard=True)
@json_option
def state(target: ShardTarget, as_json: bool) -> None:
    """Print the shard's /state as stored (with --json: the state and its version)."""
    import json

    from migrator.commands import read
    from migrator.errors import Refused
    from migrator.ui.output import Output

    name = target.require_shard()
    with target.session() as client:
        found = read.shard_state(client, name)
    if found is None:
        raise Refused(
            f"Shard {name} has no /state: it is in legacy (v1) mode.",
            "`migrator status --shard` shows its election order; the backfill creates /state.",
        )
    data, version = found
    out = Output(as_json)
    if as_json:
        out.json({"version": version, "state": json.loads(data)})
    else:
        out.raw(data.decode("utf-8"))


@click.command()
@shard_target(need_shard=True)
@json_option
def history(target: ShardTarget, as_json: bool) -> None:
    """The shard's history records, oldest first, v1 events and v2 states."""
    import json

    from migrator.commands import read
    from migrator.ui.output import Output

    name = target.require_shard()
    with target.session() as client:
        records = read.shard_history(client, name)
    out = Output(as_json)
    if as_json:
        # one object per line, as `manatee-adm history` prints, plus our summary
        for record, summary in records:
            out.raw(json.dumps({**record.to_json(), "summary": summary}, ensure_ascii=False))
        return
    out.table(
        ["SEQ", "DATE", "KIND", "SUMMARY"],
        [
            [
                f"{r.seq:010d}",
                r.to_json().get("date", "-"),
                r.kind,
                summary,
            ]
            for r, summary in records
        ],
    )
