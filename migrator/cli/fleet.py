"""`migrator fleet ...`: every shard of a region, each migrated by the single-shard engine.

Each verb's module is imported only when it is used, as the top-level commands are.
"""

from __future__ import annotations

import importlib

import click

# verb -> ("module:attribute" of its click command, its one-line help)
FLEET_COMMANDS: dict[str, tuple[str, str]] = {
    "discover": ("migrator.cli.fleet_discover:discover",
                 "Find every manatee shard the headnode knows; write FLEET.yaml and inventories."),
    "plan": ("migrator.cli.fleet_plan:plan",
             "One table for the fleet: each shard's mode, playbook, steps and outages."),
    "run": ("migrator.cli.fleet_run:run",
            "Migrate the fleet's shards, at most --parallel at once, with one live view."),
    "resume": ("migrator.cli.fleet_run:resume",
               "Continue every unfinished shard of the fleet."),
    "status": ("migrator.cli.fleet_status:status",
               "Each shard of the fleet: its mode, its run, its step (--watch: live)."),
    "report": ("migrator.cli.fleet_status:report",
               "One document for the change ticket with every shard's run."),
}


class FleetGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(FLEET_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = FLEET_COMMANDS.get(cmd_name)
        if found is None:
            return None
        module_name, attribute = found[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, line) for name, (_target, line) in sorted(FLEET_COMMANDS.items())]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=FleetGroup)
def fleet() -> None:
    """Every shard of a region: discover, plan, run a few at a time, one view."""
