"""rollback, rebuild-deposed (and `plan --rollback`): rollbacks on the command line.

Exit statuses (as every command): 0 rolled back, or nothing to roll back;
1 a step or verification failed (resume with `migrator rollback`); 2 bad
input (no inventory, no ``versions.roll_back_to``, a bad option); 3 refused
(the lock is held by another run, a confirmation is needed but there is no
terminal and no --yes, the journal disagrees with the cluster, the watchdog
stopped a run); 130 interrupted. With --json, stdout carries one JSON event
per line (see ``migrator.engine.events``) and nothing else; human text always
goes to stderr. Nothing ever waits on a prompt without a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from migrator.cli.options import target_and_inventory, zk_options
from migrator.commands import rollback as cmd
from migrator.commands.planning import EngineTarget
from migrator.commands.session import zk_session
from migrator.engine.events import EventSink, current
from migrator.engine.render import render_plan
from migrator.errors import MigratorError
from migrator.ui.inert import inert


def _guarded(sink: Any, func: Any) -> Any:
    """Run ``func``; a failure also becomes an ``error`` event before it propagates."""
    try:
        with current(sink):
            return func()
    except MigratorError as exc:
        sink.emit("error", message=exc.message, hint=exc.hint, exitStatus=exc.exit_status)
        raise
    except KeyboardInterrupt:
        sink.emit("error", message="interrupted", hint=None, exitStatus=130)
        raise


def _common(func: Any) -> Any:
    func = click.option("--json", "as_json", is_flag=True,
                        help="JSON events on stdout, one object per line.")(func)
    func = click.option("--break-lock", is_flag=True,
                        help="Remove a dead migrator's lock (asks first).")(func)
    func = click.option("--yes", "-y", is_flag=True,
                        help="Confirm every step without asking; for scripts.")(func)
    func = click.option("--quiet", "-q", is_flag=True,
                        help="Print only the questions, the write outages, the watchdog and "
                        "the end (the transcript keeps everything).")(func)
    return zk_options(func)


@click.command()
@_common
@click.option("--accept-playbook-change", is_flag=True,
              help="Continue a rollback whose playbook has changed since it started.")
@click.pass_context
def rollback(ctx: click.Context, zk: str | None, shard: str | None,
             inventory_path: Path | None, connect_timeout: float, yes: bool,
             break_lock: bool, as_json: bool, accept_playbook_change: bool,
             quiet: bool) -> None:
    """Undo a migration from wherever it stopped (resumable).

    It picks the runbook's rollback for where the shard is, explains why, shows the
    plan and runs it."""

    sink = EventSink(enabled=as_json)
    target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)
    options = cmd.RollbackOptions(assume_yes=yes, break_lock=break_lock,
                                  accept_playbook_change=accept_playbook_change, quiet=quiet)

    def show(plan: Any) -> None:
        click.echo(inert(plan.choice), err=True)
        if not as_json and not quiet:
            render_plan(plan, as_json=False, stream=sys.stderr)

    def go() -> Any:
        if inventory is None:
            cmd.require_rollback_inventory(None, "")
        with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
            return cmd.rollback(
                EngineTarget(client, target.require_shard(), inventory,
                             str(inventory_path or "INVENTORY")),
                options, sink, show_plan=show,
            )

    outcome = _guarded(sink, go)
    if outcome.choice.nothing:
        click.echo(inert(outcome.choice.explanation()), err=True)
    sink.emit("finished", exitStatus=0)


@click.command("rebuild-deposed")
@_common
@click.pass_context
def rebuild_deposed(ctx: click.Context, zk: str | None, shard: str | None,
                    inventory_path: Path | None, connect_timeout: float, yes: bool,
                    break_lock: bool, as_json: bool, quiet: bool) -> None:
    """Rebuild a deposed former primary (`manatee-adm rebuild`).

    Then check it rejoins as an async."""
    sink = EventSink(enabled=as_json)
    target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)
    options = cmd.RollbackOptions(assume_yes=yes, break_lock=break_lock, quiet=quiet)

    def go() -> Any:
        with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
            return cmd.rebuild_deposed(
                EngineTarget(client, target.require_shard(), inventory,
                             str(inventory_path or "INVENTORY")), options, sink)

    if _guarded(sink, go) is None:
        click.echo(inert(f"No peer of shard {target.shard} is deposed; nothing to rebuild."),
                   err=True)
    sink.emit("finished", exitStatus=0)


def plan_rollback(ctx: click.Context, zk: str | None, shard: str | None,
                  inventory_path: Path | None, connect_timeout: float, as_json: bool) -> None:
    """`migrator plan --rollback`: what `migrator rollback` would do; runs nothing."""
    target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)
    if inventory is None:
        cmd.require_rollback_inventory(None, "")
    with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
        outcome = cmd.plan_rollback(EngineTarget(client, target.require_shard(), inventory,
                                                 str(inventory_path or "INVENTORY")))
    if as_json:
        cmd.write_json(cmd.plan_as_json(outcome), sys.stdout)
        return
    if outcome.plan is None:
        click.echo(inert(outcome.choice.explanation()))
        return
    render_plan(outcome.plan, as_json=False)
