"""playbooks: list, show and validate the step engine's playbooks."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.commands import playbooks as cmd
from migrator.ui.inert import inert
from migrator.ui.output import Output

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


@click.group()
def playbooks() -> None:
    """List, show and validate playbooks."""


@playbooks.command("list")
@click.option("--checks", is_flag=True, help="Also list the registered checks and actions.")
@json_option
def playbooks_list(checks: bool, as_json: bool) -> None:
    """The built-in playbooks (and with --checks, every registered check and action)."""
    out = Output(as_json)
    listing = cmd.list_playbooks()
    registry = cmd.list_registry() if checks else []
    if as_json:
        out.json({"playbooks": listing, "registry": registry})
        return
    out.table(["NAME", "PEERS", "STEPS", "TITLE"],
              [[p["name"], str(p["peers"]), str(p["steps"]), p["title"]] for p in listing])
    if checks:
        out.table(["KIND", "NAME", "PARAMETERS", "SUMMARY"],
                  [[r["kind"], r["name"], r["params"], r["summary"]] for r in registry])


@playbooks.command("show")
@click.argument("name")
@json_option
def playbooks_show(name: str, as_json: bool) -> None:
    """Print a playbook: its steps and their explanations."""
    cmd.show(name, as_json)


@playbooks.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def playbooks_validate(file: Path) -> None:
    """Validate a playbook file: schema, registered names and their parameters."""
    loaded = cmd.validate(file)
    click.echo(inert(f"{file}: valid playbook {loaded.name} ({len(loaded.playbook.steps)} "
                     f"steps, {loaded.digest})."))
