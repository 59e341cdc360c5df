"""report: what a migration or rollback did, from its journal (ZooKeeper or a local copy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from migrator.cli.options import resolve_target, zk_options
from migrator.commands import report as cmd
from migrator.engine.journal_znode import JOURNAL_ROOT
from migrator.errors import BadInput
from migrator.ui.inert import inert


@click.command()
@zk_options
@click.option("--file", "journal_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Report from a local audit copy (journal.json, runs/NN-KIND.json, or an "
              "older audit.jsonl) instead of "
              "ZooKeeper.")
@click.option("--archive", metavar="latest|NAME",
              help="An archived journal (a completed rollback archives it); the latest is "
              "used when the shard has no current journal.")
@click.option("--list-archived", is_flag=True, help="List the shard's archived journals.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="markdown for the change ticket, json for programs.")
@click.pass_context
def report(ctx: click.Context, zk: str | None, shard: str | None, inventory_path: Path | None,
           connect_timeout: float, journal_file: Path | None, archive: str | None,
           list_archived: bool, fmt: str) -> None:
    """Who ran what, when and from where: the report for the change ticket.

    Each step's times; every ZooKeeper write with its diff; confirmations, alarms and
    write outages. Reads only."""

    if journal_file is not None:
        if archive is not None or list_archived:
            raise BadInput("--file reports a local copy; --archive and --list-archived read "
                           "ZooKeeper.", "Give one or the other.")
        found = cmd.from_file(journal_file)
    else:
        target = resolve_target(ctx, zk, shard, inventory_path, connect_timeout,
                                need_shard=True)

        with target.session() as client:
            if list_archived:
                for name in cmd.archived_names(client, target.require_shard(), JOURNAL_ROOT):
                    click.echo(inert(name, one_line=True))
                return
            found = cmd.from_zookeeper(client, target.require_shard(), JOURNAL_ROOT, archive)
    document = cmd.report_document(found)
    if fmt == "json":
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(inert(cmd.render_markdown(document)))
