"""rollback, plan --rollback, rebuild-deposed: plain functions the CLI calls.

Order of refusals, all before anything is touched: no inventory, or one
without ``versions.roll_back_to`` (bad input); nothing to roll back (exit 0);
a confirmation needed with no terminal and no ``--yes`` (refused); the lock
held by another run (refused, naming the holder). Then the rollback runs
through the engine's runner with ``kind="rollback"``: same journal, same lock,
same resume semantics as a migration. When it completes, the journal is moved
to ``<root>/<shard>/archive/journal-<time>`` (one transaction) so that a new
migration starts from the v1 topology as it now is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migrator.commands.console import operator_console
from migrator.commands.datagate import refuse_when_behind
from migrator.commands.engine import guard_run, pass_preflight, require_terminal_or_yes
from migrator.commands.planning import (
    EngineTarget,
    inventory_zones,
    operator_identity_pid,
)
from migrator.engine import rollback as decide
from migrator.engine.events import EventConsole, EventingStore, EventSink
from migrator.engine.journal import operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.journal_znode import journal_path, journal_root
from migrator.engine.lock import RunLock
from migrator.engine.outage import timing_of
from migrator.engine.planner import Plan, resolve_original
from migrator.engine.runner import Runner, RunOptions, RunResult
from migrator.engine.runreport import RunReporting
from migrator.errors import BadInput, StateConflict
from migrator.isotime import iso_now_ms
from migrator.playbook import catalog
from migrator.playbook.loader import LoadedPlaybook
from migrator.remote.prewarm import remote_session
from migrator.steps.positions import shard_peers
from migrator.zk import reads


@dataclass
class RollbackOutcome:
    choice: decide.RollbackChoice
    plan: Plan | None = None
    result: RunResult | None = None
    archived: str | None = None
    notes: list[str] = field(default_factory=list)


def require_rollback_inventory(inventory: Any, path: str) -> None:
    """Refuse before touching anything when the old image is unknown."""
    if inventory is None:
        raise BadInput(
            "A rollback reprovisions zones, so it needs the inventory; none was given.",
            "Pass --inventory FILE (the one the migration used).",
        )
    if not getattr(inventory.versions, "roll_back_to", None):
        raise BadInput(
            f"The inventory {path} gives no `versions.roll_back_to`: the image to roll the "
            "zones back to is unknown. Nothing was done.",
            "Add `versions: {roll_back_to: IMAGE}` (the manatee image the shard ran before "
            "the migration) and run the rollback again.",
        )


def _template(variant: str) -> tuple[bytes, str]:
    path = catalog.playbooks_dir() / f"{variant}.yaml"
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise BadInput(f"Cannot read the rollback playbook {path}: {exc.strerror or exc}.",
                       "Reinstall migrator: its playbooks come with the package.") \
            from exc


def choose(target: EngineTarget) -> decide.RollbackChoice:
    snapshot = reads.read_shard(target.client, target.shard)
    history = reads.read_history(target.client, target.shard)
    journal = JournalStore(target.client, target.shard, root=target.journal_root).load()
    return decide.choose(snapshot, history, journal)


def resolved_playbook(choice: decide.RollbackChoice) -> LoadedPlaybook:
    assert choice.variant is not None
    template, source = _template(choice.variant)
    return decide.resolve_playbook(choice, template, source)


def _runner(target: EngineTarget, loaded: LoadedPlaybook, choice_text: str,
            console: EventConsole, sink: EventSink, options: RunOptions,
            remote: Any) -> Runner:
    store = EventingStore(target.client, target.shard, root=target.journal_root,
                          audit_dir=target.audit_dir, sink=sink, kind=options.kind)
    return Runner(
        client=target.client, shard=target.shard, loaded=loaded, choice=choice_text,
        inventory=target.inventory, remote=remote, console=console, store=store,
        options=options, operator=operator_identity(),
        inventory_zones=inventory_zones(target.inventory),
    )


def plan_rollback(target: EngineTarget, sink: EventSink | None = None) -> RollbackOutcome:
    """What `migrator rollback` would do: reads only, takes no lock."""
    require_rollback_inventory(target.inventory, target.inventory_path)
    sink = sink or EventSink(enabled=False)
    choice = choose(target)
    if choice.nothing:
        return RollbackOutcome(choice)
    loaded = resolved_playbook(choice)
    console = EventConsole(sink, assume_yes=False, shard=target.shard)
    options = RunOptions(kind="rollback", inventory_path=target.inventory_path)
    with remote_session(target.inventory) as remote:
        runner = _runner(target, loaded, choice.explanation(), console, sink, options, remote)
        plan = runner.plan()[0]
    return RollbackOutcome(choice, plan)


@dataclass
class RollbackOptions:
    assume_yes: bool = False
    break_lock: bool = False
    accept_playbook_change: bool = False
    quiet: bool = False  # the terminal gets only the questions, the outages and the end


def rollback(target: EngineTarget, options: RollbackOptions, sink: EventSink,
             show_plan: Any = None) -> RollbackOutcome:
    """Choose, explain, show the plan, run it (resumable), archive the journal when done."""
    require_rollback_inventory(target.inventory, target.inventory_path)
    choice = choose(target)
    sink.emit("choice", **choice.to_json(), explanation=choice.explanation())
    if choice.nothing:
        sink.emit("nothing", reason=choice.explanation())
        return RollbackOutcome(choice)
    loaded = resolved_playbook(choice)
    require_terminal_or_yes(options.assume_yes)
    run_options = RunOptions(assume_yes=options.assume_yes, kind="rollback",
                             accept_playbook_change=options.accept_playbook_change,
                             inventory_path=target.inventory_path, quiet=options.quiet)
    with operator_console(target, sink, assume_yes=options.assume_yes, quiet=options.quiet,
                          verb="rollback") as console, \
            remote_session(target.inventory) as remote:
        runner = _runner(target, loaded, choice.explanation(), console, sink, run_options,
                         remote)
        with _gated_and_locked(target, runner, remote, "rollback", console,
                               break_lock=options.break_lock):
            return _rollback_locked(target, runner, choice, console, sink, show_plan)


@contextmanager
def _gated_and_locked(target: EngineTarget, runner: Runner, remote: Any, verb: str,
                      console: EventConsole, *, break_lock: bool) -> Iterator[None]:
    """The pre-flight gate, then the run lock and the ZooKeeper fault guard for
    `migrator VERB`. Reads only until the gate has passed (no lock node on a refusal)."""

    pass_preflight(target, runner, remote, verb, console, break_lock=break_lock)
    lock = RunLock(target.client, target.shard, operator_identity_pid(), target.journal_root)
    with lock, guard_run(target, console, lock, runner,
                         f"migrator {verb} --inventory {target.inventory_path}"):
        yield


def refuse_a_v1_primary_behind(ctx: Any, choice: decide.RollbackChoice,
                               console: Any) -> None:
    """Before a rollback changes anything, the peer it will make the v1 primary must hold
    every other peer's data (``migrator.cluster.positions``: the same timeline and at
    least as far, or a timeline its history left where the other stopped); a peer that
    took writes the chosen one lacks (a ZooKeeper pause that expired every session can
    leave one) would be rebuilt from it, and its writes lost. Refused (exit 3, nothing
    done), naming the peers, their positions and the manual choices, rather than
    picking one. A deposed peer is not compared (it rejoins by a rebuild from the
    primary, by design). A resumed rollback has changed the shard already and is not
    re-judged; positions that cannot be read leave a note, not a refusal (a rollback is
    often what brings the shard back, and the final data check still judges the end).
    """
    zone = choice.zones().get("current_primary")
    if choice.resumed or zone is None:
        return
    base = shard_peers(ctx)
    if zone in base.skipped:
        return
    others = [z for z in (base.primary, *base.others)
              if z is not None and z != zone and z not in base.skipped]
    for other in choice.zones().values():  # zones out of the election and /state too
        if other is not None and other != zone and other not in others + base.skipped:
            others.append(other)
    refuse_when_behind(ctx, zone, others, console,
                       f"This rollback would make {zone} the v1 primary")


def _rollback_locked(target: EngineTarget, runner: Runner, choice: decide.RollbackChoice,
                     console: EventConsole, sink: EventSink,
                     show_plan: Any) -> RollbackOutcome:
    plan, ctx = runner.plan()
    sink.emit("plan", plan=plan.to_json())
    if show_plan is not None:
        show_plan(plan)
    if target.inventory is not None and runner.remote is not None:
        refuse_a_v1_primary_behind(ctx, choice, console)
    reporting = _reporting(target, console, runner)
    with reporting:
        result = runner.execute()
    outcome = RollbackOutcome(choice, plan, result)
    if result.complete:
        outcome.archived = archive_journal(target)
        if outcome.archived:
            console.essential(f"The journal was archived at {outcome.archived}; the shard "
                              "is a v1 shard again and a new migration starts afresh.")
            sink.emit("journal-archived", path=outcome.archived)
    return outcome


def _reporting(target: EngineTarget, console: EventConsole, runner: Runner) -> Any:
    """The outage clock and the end-of-run table, as for a migration."""
    reporting = RunReporting(target.client, target.shard, target.inventory, console,
                             timing_of(target.inventory).session_timeout)
    reporting.runner = runner
    if isinstance(runner.store, EventingStore):
        runner.store.on_status = reporting.clock
    return reporting


def archive_journal(target: EngineTarget) -> str | None:
    """Move the journal aside in one transaction (create the copy, delete at the version
    read); None when there is no journal. The local audit copy is kept as it is."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    client = target.client
    path = journal_path(target.shard, target.journal_root)
    try:
        data, stat = client.get(path)
    except NoNodeError:
        return None
    archive = f"{journal_root(target.shard, target.journal_root)}/archive"
    client.ensure_path(archive)
    stamp = iso_now_ms().replace(":", "").replace(".", "")
    copy = f"{archive}/journal-{stamp}"
    transaction = client.transaction()
    transaction.create(copy, data)
    transaction.delete(path, version=stat.version)
    results = transaction.commit()
    if any(isinstance(r, Exception) for r in results):
        raise StateConflict(
            f"The journal at {path} changed while it was being archived; it was left as it is.",
            "Another migrator is at work on this shard; look with `migrator plan --rollback`.",
        )
    return copy


# ---- rebuild-deposed ---------------------------------------------------------------------


def rebuild_deposed(target: EngineTarget, options: RollbackOptions,
                    sink: EventSink) -> RollbackOutcome | None:
    """Detect a deposed peer, explain it, rebuild it and verify it rejoins as an async.
    None when no peer is deposed."""

    if target.inventory is None:
        raise BadInput("The rebuild runs `manatee-adm rebuild` in a zone, so it needs the "
                       "inventory; none was given.", "Pass --inventory FILE.")
    snapshot = reads.read_shard(target.client, target.shard)
    history = reads.read_history(target.client, target.shard)
    journal = JournalStore(target.client, target.shard, root=target.journal_root).load()
    if snapshot.state is None or not snapshot.state.deposed:
        sink.emit("nothing", reason=f"No peer of shard {target.shard} is deposed.")
        return None
    original, _ = resolve_original(snapshot, history, journal)
    role = decide.deposed_role(snapshot, original)
    if role is None:
        raise BadInput(
            f"/state lists a deposed peer of shard {target.shard} that is not in the "
            "topology the migration captured.",
            "Rebuild it by hand with `manatee-adm rebuild` in that zone.",
        )
    sink.emit("deposed", role=role, zone=original.by_role(role).zone_id,
              explanation=decide.DEPOSED_EXPLANATION)
    template = catalog.playbooks_dir() / "rebuild-deposed.yaml"
    loaded = decide.resolve_rebuild(template.read_bytes(), str(template), role,
                                    len(original.peers))
    require_terminal_or_yes(options.assume_yes)
    run_options = RunOptions(assume_yes=options.assume_yes, kind="rebuild",
                             accept_playbook_change=True,
                             inventory_path=target.inventory_path, quiet=options.quiet)

    with operator_console(target, sink, assume_yes=options.assume_yes, quiet=options.quiet,
                          verb="rebuild-deposed") as console, \
            remote_session(target.inventory) as remote:
        console.say(decide.DEPOSED_EXPLANATION, "yellow")
        runner = _runner(target, loaded, f"The deposed peer is the {role}.", console, sink,
                         run_options, remote)
        with _gated_and_locked(target, runner, remote, "rebuild-deposed", console,
                               break_lock=options.break_lock):
            result = runner.execute()
    return RollbackOutcome(decide.RollbackChoice("rebuild-deposed", [
        decide.DEPOSED_EXPLANATION]), None, result)


def plan_as_json(outcome: RollbackOutcome) -> dict[str, Any]:
    return {"choice": outcome.choice.to_json(),
            "explanation": outcome.choice.explanation(),
            "plan": None if outcome.plan is None else outcome.plan.to_json()}


def write_json(document: Any, stream: Any) -> None:
    stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
