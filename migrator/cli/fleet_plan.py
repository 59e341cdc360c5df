"""migrator fleet plan: every shard's plan in one table; saved, once confirmed, with --out."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.cli.types import FiniteFloatRange
from migrator.errors import BadInput, MigratorError, Refused, StepFailed
from migrator.fleet.model import load_fleet
from migrator.fleet.plan_rows import (
    REFUSED,
    TABLE_HEADERS,
    Row,
    exit_status,
    notes,
    row_of,
    table_rows,
    totals,
)
from migrator.fleet.plan_run import plan_fleet
from migrator.fleet.plan_save import save_fleet_plan
from migrator.ui.confirm import confirm
from migrator.ui.inert import inert
from migrator.ui.output import Cell, CellLike, Output

TABLE_WIDTH = 120
_STYLES = {"ready": None, "done": "green", "skip": "yellow", REFUSED: "red"}


@click.command()
@click.option("--fleet", "fleet_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="The fleet file.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Save each shard's plan (PLANDIR/<shard>.json, for `migrator "
              "run --plan`) and PLANDIR/fleet-plan.json, once confirmed.")
@click.option("--yes", is_flag=True, help="With --out: save without asking.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, a row per shard.")
@click.option("--connect-timeout", type=FiniteFloatRange(0.1, 300), default=10.0,
              show_default=True, help="Seconds to wait for each shard's ZooKeeper.")
def plan(fleet_path: Path, out_dir: Path | None, yes: bool, as_json: bool,
         connect_timeout: float) -> None:
    """One table for the fleet: each shard's mode, playbook, steps and outages.

    Each shard is planned as `migrator plan --inventory` plans it (reads only,
    a few shards at a time): its mode (v1, mixed, v2), the playbook chosen, the
    steps left, the write outages expected, and why a run would be refused now.
    A shard that cannot be planned shows its error in its row; the others are
    planned all the same.

    With --out, every /state each shard's run would write is shown, and one
    question (or --yes) saves all the plans: a saved plan is its run's answer,
    so `migrator run --plan` then writes exactly those states without asking
    again. Nothing is saved when any shard is refused.

    Exit 0: every shard planned; otherwise the highest status of the refused
    shards (3 refused, 2 bad input, 1 failed).
    """
    fleet = load_fleet(fleet_path)
    planned = plan_fleet(fleet, connect_timeout)
    rows = [row_of(p.outcome) for p in planned]
    summed = totals(rows)
    status = exit_status(rows)
    output = Output(as_json)
    if as_json:
        output.json({"fleet": fleet.name, "fleetFile": str(fleet.path),
                     "rows": [r.to_json() for r in rows], "totals": summed.to_json(),
                     "exitStatus": status})
    else:
        cells: list[list[CellLike]] = [
            [*text[:-1], Cell(text[-1], _STYLES.get(row.status))]
            for row, text in zip(rows, table_rows(rows), strict=True)]
        output.table(TABLE_HEADERS, cells, title=f"Fleet {fleet.name} ({fleet.path})",
                     max_width=TABLE_WIDTH)
        for line in notes(rows):
            click.echo(inert(line))
        click.echo(inert(summed.sentence()))
    if status:
        raise _refusal(rows, status, out_dir is not None)
    if out_dir is None:
        if not as_json:
            click.echo(inert("Save the plans with --out PLANDIR: every /state each run would "
                             "write is shown then, and confirmed once for the fleet."),
                       err=True)
        return
    if not as_json:
        _show_writes(rows)
    to_save = sum(1 for p in planned if p.plan is not None)
    confirm(f"Save the plans of {to_save} shard(s) to {out_dir}? `migrator run --plan` then "
            "makes exactly the writes shown, without asking again", assume_yes=yes)
    written = save_fleet_plan(fleet, planned, out_dir)
    click.echo(inert(f"Saved {to_save} plan(s) and {written}; run one with `migrator run "
                     f"--plan {out_dir}/SHARD.json --inventory INVENTORY`."), err=True)


def _show_writes(rows: list[Row]) -> None:
    for row in rows:
        if not row.writes:
            continue
        click.echo("")
        click.echo(inert(f"Shard {row.shard} ({row.playbook}): {len(row.writes)} ZooKeeper "
                         "write(s)"))
        for write in row.writes:
            click.echo(inert(f"  {write.step}: {write.summary}"))
            for line in write.diff.splitlines():
                click.echo(inert(f"    {line}"))


def _refusal(rows: list[Row], status: int, saving: bool) -> MigratorError:
    refused = [r.shard for r in rows if r.status == REFUSED]
    kind = {2: BadInput, 3: Refused}.get(status, StepFailed)
    return kind(f"{len(refused)} of {len(rows)} shard(s) cannot be planned now: "
                f"{', '.join(refused)}" + ("; no plan was saved." if saving else "."),
                "Each one's row says why; fix it and plan again (`migrator plan --inventory "
                "INVENTORY` shows one shard in full).")
