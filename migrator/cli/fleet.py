"""`migrator fleet ...`: every shard of a region, each migrated by the single-shard engine.

Each verb's module is imported only when it is used, as the top-level commands are.
"""

from __future__ import annotations

import click

from migrator.cli.lazy import LazyGroup

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


@click.group(cls=LazyGroup, lazy_commands=FLEET_COMMANDS)
def fleet() -> None:
    """Every shard of a region: discover, plan, run a few at a time, one view."""
