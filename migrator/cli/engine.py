"""plan, playbooks: the step engine's dry run and its playbooks on the command line.

`migrator run` and `migrator resume` are in ``migrator.cli.run``: a plan imports only
the plan's part of the engine (``migrator.commands.planning``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from migrator.cli.options import target_and_inventory, zk_options
from migrator.commands import planning
from migrator.commands import playbooks as cmd
from migrator.commands.session import zk_session
from migrator.engine.render import render_plan
from migrator.engine.savedplan import save_plan
from migrator.errors import BadInput, Refused
from migrator.inventory.load import load_inventory
from migrator.ui import preflight
from migrator.ui.inert import inert
from migrator.ui.output import Output

playbook_option = click.option(
    "--playbook", default="auto", show_default=True,
    help="A built-in playbook name, a YAML file, or auto (by the number of peers).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


@click.command()
@zk_options
@playbook_option
@click.option("--topology", "topology_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Plan offline from a topology JSON file instead of the live cluster.")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the plan (with the facts it was computed from) for `run --plan`.")
@json_option
@click.option("--rollback", "rollback", is_flag=True,
              help="Show what `migrator rollback` would do instead (runs nothing).")
@click.pass_context
def plan(ctx: click.Context, zk: str | None, shard: str | None, inventory_path: Path | None,
         connect_timeout: float, playbook: str, topology_file: Path | None,
         out_file: Path | None, as_json: bool, rollback: bool) -> None:
    """Dry run: every step, its zones, preconditions, exact writes, the risks.

    Also what is done already, and the pre-flight a run would meet now."""
    if rollback:
        ignored = [name for name, given in (("--playbook", playbook != "auto"),
                                            ("--topology", topology_file is not None),
                                            ("--out", out_file is not None)) if given]
        if ignored:
            raise BadInput(
                f"`migrator plan --rollback` does not take {', '.join(ignored)}: the rollback "
                "variant is chosen from the journal and the live cluster, and a rollback plan "
                "cannot be saved.",
                "Drop those options; `migrator plan --rollback --inventory F` shows the choice "
                "and its reason.",
            )

        # imported here: the rollback's module brings the rollback's run with it (its
        # commands, the run's console, events and reporting, the data gate: 10 modules,
        # ~7 ms CPU); a plain plan does without them
        from migrator.cli.rollback import plan_rollback

        plan_rollback(ctx, zk, shard, inventory_path, connect_timeout, as_json)
        return
    verdict = None  # the pre-flight a run would meet (live plans only)
    if topology_file is not None:
        inventory = None
        if inventory_path is not None:
            inventory = load_inventory(inventory_path)
        result = planning.plan_offline(topology_file, playbook, inventory)
    else:
        target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)

        with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
            result, verdict = planning.plan_checked(
                planning.EngineTarget(client, target.require_shard(), inventory,
                                      str(inventory_path or "INVENTORY")),
                playbook,
            )

    if out_file is not None:
        save_plan(result, out_file)
    if as_json and verdict is not None:
        click.echo(json.dumps({**result.to_json(), "preflight": verdict.to_json()}, indent=2,
                              ensure_ascii=False))
    else:
        render_plan(result, as_json=as_json)
    if verdict is not None and not as_json:

        click.echo("")
        preflight.show(verdict, stream=sys.stdout)
    if out_file is not None:
        click.echo(inert(f"Plan saved to {out_file}; run it with `migrator run --plan "
                         f"{out_file}`."), err=True)
    if verdict is not None and not verdict.ok:
        raise Refused(
            "A run would be refused now by its pre-flight check: "
            + "; ".join(verdict.problems) + ".",
            "Fix what the pre-flight table shows, then plan again.",
        )


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
