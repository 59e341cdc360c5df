"""run, resume: the step engine's runs on the command line.

Their own module, so that `migrator plan` (``migrator.cli.plan``) does not import what
only a run uses (``migrator.commands.engine``: the operator's console with its events and
transcript, the run's watches and reporting, the data gate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from migrator.cli.options import playbook_option, target_and_inventory, zk_options
from migrator.commands import engine
from migrator.commands.planning import EngineTarget
from migrator.commands.session import zk_session
from migrator.engine.events import EventSink, current
from migrator.engine.runner import RunOptions, listen_for_stop_requests
from migrator.engine.savedplan import load_plan
from migrator.errors import EXIT_INTERRUPTED, BadInput, MigratorError


def _run_options(func: Any) -> Any:
    func = click.option("--accept-playbook-change", is_flag=True,
                        help="Continue a journal whose playbook has changed since.")(func)
    func = click.option("--break-lock", is_flag=True,
                        help="Remove a dead migrator's lock (asks first).")(func)
    func = click.option("--yes", "-y", is_flag=True,
                        help="Confirm every step without asking; for scripts.")(func)
    func = click.option("--json", "as_json", is_flag=True,
                        help="JSON events on stdout, one object per line; human text on "
                        "stderr.")(func)
    func = click.option("--quiet", "-q", is_flag=True,
                        help="Print only the questions, the write outages, the watchdog and "
                        "the end (the transcript keeps everything).")(func)
    # `migrator fleet run` gives its children a folder of per-compute-node lock files:
    # a step that stops writes holds DIR/<node>.lock for each node the shard's zones use
    func = click.option("--outage-locks", "outage_locks", hidden=True,
                        type=click.Path(path_type=Path, file_okay=False, exists=True))(func)
    # and, without --yes, asks its questions through it: a `question` event out, the
    # answer in on stdin (migrator.commands.engine.relay_questions)
    func = click.option("--ask-via-stdio", "ask_via_stdio", is_flag=True, hidden=True)(func)
    return func


def _execute(ctx: click.Context, zk: str | None, shard: str | None,
             inventory_path: Path | None, connect_timeout: float, playbook: str, yes: bool,
             break_lock: bool, accept_playbook_change: bool, plan_file: Path | None,
             require_journal: bool, as_json: bool = False, quiet: bool = False,
             outage_locks: Path | None = None, ask_via_stdio: bool = False) -> None:
    # SIGUSR1 (a fleet's stop-all) stops the run before its next step; heard from the
    # start, so one sent during the pre-flight is not lost
    listen_for_stop_requests()
    if ask_via_stdio and not as_json:
        raise BadInput("--ask-via-stdio asks through `question` events: it needs --json.",
                       "Pass --json too (`migrator fleet run` does).")
    sink = EventSink(enabled=as_json)
    with current(sink):
        status = _guarded(sink, lambda: _execute_inner(
            ctx, zk, shard, inventory_path, connect_timeout, playbook, yes, break_lock,
            accept_playbook_change, plan_file, require_journal, sink, quiet, outage_locks,
            ask_via_stdio))
    sink.emit("finished", exitStatus=status)


def _guarded(sink: Any, func: Any) -> int:
    """Run ``func``; a failure also becomes ``error`` and ``finished`` events (with the
    exit status the command is about to return) before it propagates."""

    try:
        func()
    except MigratorError as exc:
        sink.emit("error", message=exc.message, hint=exc.hint, exitStatus=exc.exit_status)
        sink.emit("finished", exitStatus=exc.exit_status)
        raise
    except (KeyboardInterrupt, click.exceptions.Abort):
        sink.emit("error", message="interrupted", hint=None, exitStatus=EXIT_INTERRUPTED)
        sink.emit("finished", exitStatus=EXIT_INTERRUPTED)
        raise
    return 0


def _execute_inner(ctx: click.Context, zk: str | None, shard: str | None,
                   inventory_path: Path | None, connect_timeout: float, playbook: str,
                   yes: bool, break_lock: bool, accept_playbook_change: bool,
                   plan_file: Path | None, require_journal: bool, sink: Any,
                   quiet: bool, outage_locks: Path | None = None,
                   ask_via_stdio: bool = False) -> None:
    saved = None
    if plan_file is not None:
        saved = load_plan(plan_file)
        playbook = saved.playbook if playbook == "auto" else playbook
    target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)
    options = RunOptions(assume_yes=yes, accept_playbook_change=accept_playbook_change,
                         saved_plan=saved, inventory_path=str(inventory_path or "INVENTORY"),
                         quiet=quiet, outage_locks=outage_locks, ask_via_stdio=ask_via_stdio)
    with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
        engine.run(
            EngineTarget(client, target.require_shard(), inventory, options.inventory_path),
            playbook, options, break_lock=break_lock, require_journal=require_journal,
            sink=sink,
        )


@click.command()
@zk_options
@playbook_option
@_run_options
@click.option("--plan", "plan_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Execute exactly this saved plan, without prompts; refuse if it is stale.")
@click.pass_context
def run(ctx: click.Context, zk: str | None, shard: str | None, inventory_path: Path | None,
        connect_timeout: float, playbook: str, yes: bool, break_lock: bool,
        accept_playbook_change: bool, plan_file: Path | None, as_json: bool,
        quiet: bool, outage_locks: Path | None, ask_via_stdio: bool) -> None:
    """Migrate the shard step by step (resumable).

    A summary and one "proceed?", then every write and every zone reprovision
    confirmed. What the operator saw is kept as a transcript beside the audit
    record (its path is said at the end)."""
    _execute(ctx, zk, shard, inventory_path, connect_timeout, playbook, yes, break_lock,
             accept_playbook_change, plan_file, require_journal=False, as_json=as_json,
             quiet=quiet, outage_locks=outage_locks, ask_via_stdio=ask_via_stdio)


@click.command()
@zk_options
@playbook_option
@_run_options
@click.pass_context
def resume(ctx: click.Context, zk: str | None, shard: str | None, inventory_path: Path | None,
           connect_timeout: float, playbook: str, yes: bool, break_lock: bool,
           accept_playbook_change: bool, as_json: bool, quiet: bool,
           outage_locks: Path | None, ask_via_stdio: bool) -> None:
    """Continue a migration from its journal, from this or another machine.

    After a crash, a Ctrl-C or a stop, from where the journal and the shard say it is."""
    _execute(ctx, zk, shard, inventory_path, connect_timeout, playbook, yes, break_lock,
             accept_playbook_change, None, require_journal=True, as_json=as_json,
             quiet=quiet, outage_locks=outage_locks, ask_via_stdio=ask_via_stdio)

