"""`migrator fleet status` and `migrator fleet report`: the fleet seen from any terminal.

Both read only: each shard's journal, run lock and mode, as `migrator status
--inventory` and `migrator report --inventory` read them (``migrator.fleet.status_*``,
``migrator.fleet.report``), one ZooKeeper session per ensemble.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import click

from migrator.cli.types import FiniteFloatRange
from migrator.errors import BadInput
from migrator.fleet.model import Fleet, load_fleet
from migrator.fleet.status_rows import (
    HEADERS,
    TABLE_WIDTH,
    ShardRow,
    counts,
    counts_line,
    notes,
    table_cells,
)
from migrator.fleet.status_sessions import combined_error, load_members
from migrator.ui.inert import inert
from migrator.ui.output import Cell, Output

STATE_STYLES = {"running": "cyan", "done": "green", "failed": "red", "stopped": "yellow",
                "error": "red", "skipped": "dim"}

fleet_option = click.option(
    "--fleet", "fleet_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
    help="The fleet file (`migrator fleet discover` writes DIR/fleet.yaml).")
timeout_option = click.option(
    "--connect-timeout", type=FiniteFloatRange(0.1, 300), default=10.0, show_default=True,
    help="Seconds to wait for each ZooKeeper.")


def _debug() -> bool:
    return bool((click.get_current_context().find_root().obj or {}).get("debug"))


@click.command()
@fleet_option
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a row per shard.")
@click.option("--watch", "-W", "watch", is_flag=True,
              help="Keep the table live, redrawn on every change ZooKeeper reports, until "
              "Ctrl-C.")
def status(fleet_path: Path, connect_timeout: float, as_json: bool, watch: bool) -> None:
    """Each shard of the fleet: its mode, its run, its step (--watch: live).

    A row per shard of the fleet file: its mode (v1, mixed, v2), its migration's state
    from its journal and run lock (no run, running, stopped, failed, done; skipped, or
    error when it could not be read), who runs it, its current or last step, the time
    it has taken and the write outages seen so far. Reads only; works while `migrator
    fleet run` runs elsewhere."""

    if watch and as_json:
        raise BadInput("`fleet status --watch` is a live view for a terminal.",
                       "Drop --json (or --watch, for one JSON document).")
    fleet = load_fleet(fleet_path)
    members = load_members(fleet)
    if watch:
        _watch(fleet, members, connect_timeout)
        return
    # deferred: the reads load kazoo and the inventory model; `--help` needs neither
    from migrator.fleet.status_reads import fleet_rows

    rows, errors = fleet_rows(members, connect_timeout, _debug())
    out = Output(as_json)
    if as_json:
        out.json({"fleet": fleet.name, "file": str(fleet.path), "counts": counts(rows),
                  "shards": [r.to_json() for r in rows]})
    else:
        _table(out, fleet, rows)
    if errors:
        raise combined_error(errors)


def _table(out: Output, fleet: Fleet, rows: list[ShardRow]) -> None:
    cells: list[list[str | Cell]] = []
    for row in rows:
        texts: list[str | Cell] = list(table_cells(row))
        texts[2] = Cell(str(texts[2]), STATE_STYLES.get(row.state))
        cells.append(texts)
    out.table(list(HEADERS), cells, title=f"fleet {fleet.name} ({fleet.path})",
              max_width=TABLE_WIDTH)
    for line in notes(rows):
        # the table fits TABLE_WIDTH columns; the whole reasons below it do too
        out.heading(textwrap.fill(line, TABLE_WIDTH, subsequent_indent="  ",
                                  break_long_words=False, break_on_hyphens=False))
    out.heading(counts_line(rows))


def _watch(fleet: Fleet, members: list[Any], connect_timeout: float) -> None:
    # deferred: rich costs ~30 ms to import; only terminal views pay it
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from migrator import cancellation
    from migrator.fleet.status_watch import fleet_watch

    console = Console(highlight=False)
    with fleet_watch(members, connect_timeout, _debug()) as watching:

        def view() -> Any:
            rows, _ = watching.rows()
            buffer = io.StringIO()
            _table(Output(stream=buffer), fleet, rows)
            footer = (f"updated {time.strftime('%H:%M:%S')}; {watching.wakes.count} "
                      "ZooKeeper change(s) seen; Ctrl-C to stop")
            return Group(Text(buffer.getvalue().rstrip("\n")), Text(footer, style="dim"))

        try:
            with Live(view(), console=console, auto_refresh=False, redirect_stdout=False,
                      redirect_stderr=False) as live:
                while True:
                    watching.wait()  # a watch delivery, or the refresh of elapsed times
                    live.update(view(), refresh=True)
                    # a Ctrl-C that kazoo swallowed while the rows were read stops the
                    # watch now, not at the next change
                    cancellation.current().check()
        except KeyboardInterrupt:
            cancellation.ctrl_c_handled()
            console.print(f"Stopped watching fleet {inert(fleet.name, one_line=True)}.")


@click.command()
@fleet_option
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Markdown for the change ticket (the default).")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to FILE instead of standard output.")
def report(fleet_path: Path, connect_timeout: float, as_json: bool, as_markdown: bool,
           out_path: Path | None) -> None:
    """One document for the change ticket with every shard's run.

    A fleet summary (shards migrated, not migrated, skipped; the write outages the runs
    observed; the first start and the last end), then for each shard exactly what
    `migrator report --inventory` gives for it. Reads only."""

    if as_json and as_markdown:
        raise BadInput("--json and --markdown both name the report's format.",
                       "Give one of them (markdown is the default).")
    fleet = load_fleet(fleet_path)
    members = load_members(fleet)
    # deferred: the reads load kazoo and the journal model; `--help` needs neither
    from migrator.fleet.report import fleet_document, read_reports, render_fleet_markdown

    reports, errors = read_reports(members, connect_timeout, _debug())
    document = fleet_document(fleet, reports)
    text = (json.dumps(document, indent=2, ensure_ascii=False) + "\n" if as_json
            else inert(render_fleet_markdown(document)))
    if out_path is None:
        sys.stdout.write(text)
    else:
        try:
            out_path.write_text(text)
        except OSError as exc:
            raise BadInput(f"Cannot write the report to {out_path}: {exc.strerror or exc}.",
                           "Give --out a writable file path.") from None
    if errors:
        raise combined_error(errors)
