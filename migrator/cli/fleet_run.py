"""`migrator fleet run` and `migrator fleet resume` (the work is ``migrator.fleet.run``'s)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from migrator.cli.types import FiniteFloatRange
from migrator.errors import NotConfirmed
from migrator.fleet.model import Fleet, load_fleet
from migrator.fleet.schedule import MAX_PARALLEL


def _fleet_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--fleet", "fleet_path", required=True,
                     type=click.Path(path_type=Path, dir_okay=False),
                     help="The fleet file (FLEET.yaml, written by `migrator fleet discover`)."),
        click.option("--plan", "plan_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="PLANDIR/fleet-plan.json from `migrator fleet plan --out PLANDIR`: "
                     "each shard runs its saved plan, without prompts."),
        click.option("--parallel", type=click.IntRange(1, MAX_PARALLEL), default=1,
                     show_default=True, help="At most this many shards at once."),
        click.option("--yes", "-y", is_flag=True,
                     help="Ask nothing (not even the fleet's name); every step confirmed."),
        click.option("--json", "as_json", is_flag=True,
                     help="Every shard's JSON events (with `shard`) and the fleet's own on "
                     "stdout."),
        click.option("--keep-going", is_flag=True,
                     help="A shard that stops does not stop the others."),
        click.option("--allow-shared-nodes", is_flag=True,
                     help="Let shards sharing a compute node be in write outages at once."),
        click.option("--connect-timeout", type=FiniteFloatRange(0.1, 300), default=10.0,
                     show_default=True, help="Seconds to wait for each ZooKeeper."),
    ]):
        func = option(func)
    return func


def _execute(ctx: click.Context, verb: str, fleet_path: Path, plan_path: Path | None,
             parallel: int, yes: bool, as_json: bool, keep_going: bool,
             allow_shared_nodes: bool, connect_timeout: float) -> None:
    # deferred: the fleet's machinery, only when a fleet is run
    from migrator.fleet.display import JsonDisplay, LiveDisplay, PlainDisplay
    from migrator.fleet.plans import load_fleet_plans, require_readable
    from migrator.fleet.run import FleetOptions, run_fleet

    fleet = load_fleet(fleet_path)
    plans = None
    if plan_path is not None:
        plans = load_fleet_plans(plan_path, fleet)
        require_readable({s.shard: plans[s.shard] for s in fleet.to_run})
    if not yes and not _terminal():
        raise NotConfirmed(
            f"`migrator fleet {verb}` without --yes asks for the fleet's name to be typed"
            + (" and relays every shard's questions" if plans is None else "")
            + ", and there is no terminal to ask on; nothing was started.",
            f"Run it in a terminal, or pass --yes once you have reviewed `migrator fleet plan "
            f"--fleet {fleet_path}` (or --plan PLANDIR/fleet-plan.json with --yes).")
    options = FleetOptions(
        verb=verb, parallel=parallel, yes=yes, keep_going=keep_going,
        allow_shared_nodes=allow_shared_nodes, plans=plans, connect_timeout=connect_timeout,
        debug=bool((ctx.find_root().obj or {}).get("debug")))
    display: Any
    if as_json:
        display = JsonDisplay()
    elif sys.stderr.isatty():
        display = LiveDisplay()
    else:
        display = PlainDisplay()
    try:
        status = run_fleet(fleet, options, display, _confirmer(fleet, verb, yes, plans),
                           _relayed_question)
    finally:
        close = getattr(display, "close", None)
        if close is not None:
            close()
    if status:
        raise SystemExit(status)


def _terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _confirmer(fleet: Fleet, verb: str, yes: bool, plans: Any) -> Callable[[int], None]:
    """The fleet's one typed question (its name), asked once its lock is held."""

    def confirm(count: int) -> None:
        if yes:
            return
        # deferred: questionary costs ~95 ms to import; only questions pay it
        from migrator.ui.confirm import confirm_typed

        skipped = len(fleet.shards) - len(fleet.to_run)
        then = (" with their saved plans (no more questions)" if plans is not None
                else "; each shard's questions follow, one at a time, naming the shard")
        confirm_typed(
            f"{verb.capitalize()} {count} shard(s) of fleet {fleet.name}"
            + (f" ({skipped} skipped)" if skipped else "") + f"{then}?",
            fleet.name, assume_yes=False, noun="fleet")

    return confirm


def _relayed_question(shard: str, event: dict[str, Any]) -> str:
    """A shard's ``question`` event asked as its own run would ask it, the shard named;
    the line that answers it (``no`` when declined)."""
    # deferred: questionary costs ~95 ms to import; only questions pay it
    from migrator.ui.confirm import confirm, confirm_typed
    from migrator.ui.inert import inert

    write = event.get("write")
    if isinstance(write, dict) and write.get("diff"):
        click.echo(inert(f"{shard}: ZooKeeper write {write.get('summary') or ''}"), err=True)
        click.echo(inert(str(write["diff"])), err=True)
    question = f"[{shard}] {event.get('question')}"
    expected = str(event.get("expected"))
    try:
        if event.get("typed"):
            confirm_typed(question, expected, assume_yes=False)
        else:
            confirm(question, assume_yes=False)
    except NotConfirmed:
        return "no"
    return expected


@click.command()
@_fleet_options
@click.pass_context
def run(ctx: click.Context, /, **options: Any) -> None:
    """Migrate the fleet's shards, at most --parallel at once, with one live view.

    Each shard is migrated by `migrator run` (or `resume` when its journal holds an
    unfinished run) in a child process; a shard already migrated is not started. When a
    shard stops, no other starts and those running stop after their current step
    (unless --keep-going)."""
    _execute(ctx, "run", **options)


@click.command()
@_fleet_options
@click.pass_context
def resume(ctx: click.Context, /, **options: Any) -> None:
    """Continue every unfinished shard of the fleet.

    As `migrator fleet run`: each shard continues from its own journal; shards already
    migrated are reported and not started."""
    _execute(ctx, "resume", **options)
