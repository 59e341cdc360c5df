"""plan: the step engine's dry run on the command line.

A live plan connects its zones first, as soon as the inventory is read: their
handshakes (the headnode's, then the compute nodes' through it) are the longest chain
a plan waits for (with ZooKeeper through the headnode, right after the forward's
check: ``migrator.remote.prewarm.zones_before_zookeeper``). What plans, saves and
prints (``migrator.cli.planned``, which brings the engine's planning half) loads while
those handshakes wait on the zones and ZooKeeper's connection is being made, so this
module imports nothing of it at load time. `migrator run` and `migrator resume` are in
``migrator.cli.run``.
"""

from __future__ import annotations

from pathlib import Path

import click

from migrator.cli.options import loading, playbook_option, target_and_inventory, zk_options
from migrator.commands.zk_and_zones import zk_and_zones
from migrator.errors import BadInput
from migrator.inventory.load import load_inventory


@click.command()
@zk_options
@playbook_option
@click.option("--topology", "topology_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Plan offline from a topology JSON file instead of the live cluster.")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the plan (with the facts it was computed from) for `run --plan`.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
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
    if topology_file is not None:
        inventory = None if inventory_path is None else load_inventory(inventory_path)
        from migrator.cli import planned  # see the module's docstring

        planned.offline(topology_file, playbook, inventory, out_file, as_json)
        return
    target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)
    with zk_and_zones(target.zk, target.connect_timeout, target.debug, inventory,
                      meanwhile=loading("migrator.cli.planned")) as (client, remote):
        from migrator.cli import planned  # loaded while connecting (see the docstring)

        planned.live(client, target.require_shard(), inventory,
                     str(inventory_path or "INVENTORY"), playbook, remote, out_file, as_json)
