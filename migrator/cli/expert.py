"""Expert single writes: backfill, freeze, unfreeze, delete-state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from migrator.cli.options import ShardTarget, shard_target
from migrator.cluster.state import ClusterState
from migrator.commands import expert
from migrator.ui.confirm import confirm, confirm_typed
from migrator.ui.output import say

if TYPE_CHECKING:
    from migrator.commands.expert import LockOverride

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask; for scripts.")
override_option = click.option(
    "--override-lock", is_flag=True,
    help="Write even while a migration run holds the shard's lock (asks for the shard name "
         "to be typed, even with --yes).")


def lock_override(name: str, override: bool) -> LockOverride | None:
    """None (refuse under a run's lock), or the typed confirmation ``--override-lock`` asks."""
    if not override:
        return None

    def ask(holder: str) -> None:
        say(f"WARNING: {holder} holds the run lock of shard {name}: a migration is running. "
            "Writing now changes the shard under it; that run will stop when it sees the "
            "write.")
        confirm_typed(f"Write to shard {name} while {holder} runs?", name, assume_yes=False,
                      no_terminal_hint="Writing under a run's lock always asks for the shard "
                      "name typed in a terminal (--yes does not answer that question): run "
                      "the command in a terminal, or let the run finish first.")

    return ask


def _show_state(title: str, state: ClusterState | None) -> None:

    say(title)
    if state is not None:
        say(json.dumps(state.document, indent=2, ensure_ascii=False))
        roles = ", ".join(f"{role} {peer.zone_id} ({peer.id})" for role, peer in
                          state.peers_with_roles())
        say(f"Roles: {roles}")


@click.command()
@shard_target(need_shard=True)
@yes_option
@override_option
def backfill(target: ShardTarget, yes: bool, override_lock: bool) -> None:
    """Create /state from the election order, as `manatee-adm state-backfill`."""
    name = target.require_shard()

    def ask(state: ClusterState | None) -> None:
        _show_state("Computed new cluster state (it will be created frozen):", state)
        confirm(f"Write this state to shard {name}?", assume_yes=yes)

    with target.session() as client:
        outcome = expert.backfill(client, name, ask,
                                  lock_override=lock_override(name, override_lock))
    say(f"Backfilled: created /state and history record {outcome.history_node}.")


@click.command()
@shard_target(need_shard=True)
@click.option("--reason", "-r", required=True, help="Why the shard is frozen (recorded).")
@yes_option
@override_option
def freeze(target: ShardTarget, reason: str, yes: bool, override_lock: bool) -> None:
    """Freeze the cluster state: peers will not take over or change the topology."""
    name = target.require_shard()

    def ask(state: ClusterState | None) -> None:
        _show_state("The state after freezing:", state)
        say("While frozen no peer takes over: if the primary fails, the shard takes no "
            "writes until it is back or the shard is unfrozen.")
        confirm(f"Freeze shard {name}?", assume_yes=yes)

    with target.session() as client:
        outcome = expert.freeze(client, name, reason, ask,
                                lock_override=lock_override(name, override_lock))
    say(f"Frozen: {reason} (history record {outcome.history_node}).")


@click.command()
@shard_target(need_shard=True)
@yes_option
@override_option
def unfreeze(target: ShardTarget, yes: bool, override_lock: bool) -> None:
    """Remove the freeze so that the sync may take over if the primary fails."""
    name = target.require_shard()

    def ask(state: ClusterState | None) -> None:
        _show_state("The state after unfreezing:", state)
        say(
            "Unfreezing lets the sync take over when the primary goes away. Make sure the "
            "primary replicates synchronously to the sync and it has caught up: with initWal "
            "0/0000000 after a backfill, a sync that is behind could take over and lose data."
        )
        confirm(f"Unfreeze shard {name}?", assume_yes=yes)

    with target.session() as client:
        outcome = expert.unfreeze(client, name, ask,
                                  lock_override(name, override_lock))
    say(f"Unfrozen (history record {outcome.history_node}).")


@click.command("delete-state")
@shard_target(need_shard=True)
@yes_option
@override_option
def delete_state(target: ShardTarget, yes: bool, override_lock: bool) -> None:
    """Delete /state (rollback): back to election-order topology."""
    name = target.require_shard()

    def ask(state: ClusterState | None) -> None:
        _show_state("This /state will be deleted:", state)
        say(
            "Deleting /state returns the shard to election-order topology. Do it only in a "
            "rollback, with the v2 peers rolled back or their sitters disabled."
        )
        confirm_typed(f"Delete the /state of shard {name}?", name, assume_yes=yes)

    with target.session() as client:
        expert.delete_state(client, name, ask,
                            lock_override(name, override_lock))
    say(f"Deleted /state of shard {name}.")
