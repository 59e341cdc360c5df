"""journal restore."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.cli.expert import lock_override, override_option, yes_option
from migrator.cli.options import ShardTarget, shard_target
from migrator.commands import journal as cmd
from migrator.ui.confirm import confirm_typed
from migrator.ui.output import say


@click.group()
def journal() -> None:
    """The run's record: restore a damaged journal from a local audit copy."""


@journal.command()
@shard_target(need_shard=True)
@click.option("--from", "from_file", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The local audit copy: journal.json, runs/NN-KIND.json or an older "
              "audit.jsonl (under "
              "$MIGRATOR_AUDIT_DIR/<ensemble>/<shard>/).")
@yes_option
@override_option
def restore(target: ShardTarget, from_file: Path, yes: bool, override_lock: bool) -> None:
    """Put back a missing or damaged journal from a local audit copy.

    Only a journal that does not exist or cannot be read is replaced; a readable one
    is the run's record and is never rewritten (exit 3). Shows what ZooKeeper holds
    and what the copy holds, asks for the shard name to be typed (--yes for
    scripts), and writes conditionally on what it read.
    """
    name = target.require_shard()
    with target.session() as client:
        planned = cmd.plan_restore(client, name, from_file)
        for line in planned.lines():
            say(line)
        confirm_typed(f"Put this copy back as the journal of shard {name}?", name,
                      assume_yes=yes)
        cmd.restore(client, planned, lock_override(name, override_lock))
    say(f"Restored the journal of shard {name} from {from_file}; `migrator status --shard "
        f"{name}` and `migrator resume` read it again.")
