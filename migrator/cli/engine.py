"""plan, run, resume, playbooks: the step engine on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from migrator.cli.options import target_and_inventory, zk_options
from migrator.cli.rollback import plan_rollback
from migrator.commands import engine
from migrator.commands import playbooks as cmd
from migrator.commands.session import zk_session
from migrator.engine.events import EventSink, current
from migrator.engine.render import render_plan
from migrator.engine.runner import RunOptions, listen_for_stop_requests
from migrator.engine.savedplan import load_plan, save_plan
from migrator.errors import EXIT_INTERRUPTED, BadInput, MigratorError, Refused
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

        plan_rollback(ctx, zk, shard, inventory_path, connect_timeout, as_json)
        return
    verdict = None  # the pre-flight a run would meet (live plans only)
    if topology_file is not None:
        inventory = None
        if inventory_path is not None:
            inventory = load_inventory(inventory_path)
        result = engine.plan_offline(topology_file, playbook, inventory)
    else:
        target, inventory = target_and_inventory(ctx, zk, shard, inventory_path, connect_timeout)

        with zk_session(target.zk, target.connect_timeout, target.debug,
                        target.inventory) as client:
            result, verdict = engine.plan_checked(
                engine.EngineTarget(client, target.require_shard(), inventory,
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
            engine.EngineTarget(client, target.require_shard(), inventory, options.inventory_path),
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
