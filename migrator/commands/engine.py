"""plan, run, resume: the step engine's verbs, as plain functions the CLI calls.

``plan`` reads and decides only: no lock, no write. ``run`` and ``resume`` take
the shard's run lock, then hand over to the runner. Zone access
(``RemoteSession``) connects every zone in the background from the start of the
command (see ``remote_session``) and is closed at its end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.cluster.history import HistoryRecord, parse_history_record
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import parse_state
from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal, operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.planner import Plan, make_plan, resolve_original
from migrator.engine.runner import Runner, RunOptions, RunResult
from migrator.errors import BadInput, NotConfirmed
from migrator.playbook import catalog
from migrator.playbook.loader import LoadedPlaybook


@dataclass(frozen=True)
class EngineTarget:
    """What the engine commands act on."""

    client: Any  # KazooClient
    shard: str
    inventory: Any  # migrator.inventory.Inventory or None
    inventory_path: str
    journal_root: str = "/manatee-migrator"
    audit_dir: Path | None = None


def inventory_zones(inventory: Any) -> set[str] | None:
    if inventory is None:
        return None
    return {str(z) for z in getattr(inventory, "zones", {}) or {}}


def choose_playbook(
    requested: str, snapshot: ShardSnapshot, history: list[HistoryRecord],
    journal: Journal | None,
) -> tuple[LoadedPlaybook, str]:
    run = journal.run("migration") if journal is not None else None
    if run is not None and requested == "auto":
        return catalog.resolve(run.playbook), (
            f"Continuing the journal's run with playbook {run.playbook}."
        )
    original, _ = resolve_original(snapshot, history, journal)
    return catalog.choose(requested, len(original.peers), snapshot.shard)


@contextmanager
def remote_session(inventory: Any, started: Any = None) -> Iterator[Any]:
    """The command's ``RemoteSession``, every zone being connected in parallel.

    ``started`` is a ``migrator.remote.prewarm.Prewarm`` the CLI began right
    after reading the inventory (so the handshakes overlap with imports and
    ZooKeeper); without one, the connections start here. The session is usable
    at once (a zone's first command waits for that zone's handshake) and is
    closed when the command ends.
    """
    if inventory is None:
        if started is not None:
            started.close()
        yield None
        return
    from migrator.remote.prewarm import Prewarm

    session = (started if started is not None else Prewarm(inventory)).session()
    try:
        yield session
    finally:
        session.close()


def _runner(target: EngineTarget, requested: str, console: RunConsole, options: RunOptions,
            remote: Any) -> Runner:
    return _runner_and_read(target, requested, console, options, remote)[0]


def _runner_and_read(
    target: EngineTarget, requested: str, console: RunConsole, options: RunOptions, remote: Any,
    sink: Any = None, on_status: Any = None,
) -> tuple[Runner, tuple[ShardSnapshot, list[HistoryRecord]]]:
    """The runner, and the read of the shard its playbook was chosen on. With ``sink``
    the journal store also emits step events (and tells ``on_status`` of each change)."""
    from migrator.zk import reads

    if sink is not None:
        from migrator.engine.events import EventingStore

        store: JournalStore = EventingStore(
            target.client, target.shard, root=target.journal_root, audit_dir=target.audit_dir,
            sink=sink, kind=options.kind, on_status=on_status)
    else:
        store = JournalStore(target.client, target.shard, root=target.journal_root,
                             audit_dir=target.audit_dir)
    snapshot = reads.read_shard(target.client, target.shard)
    history = reads.read_history(target.client, target.shard)
    loaded, choice = choose_playbook(requested, snapshot, history, store.load())
    return Runner(
        client=target.client, shard=target.shard, loaded=loaded, choice=choice,
        inventory=target.inventory, remote=remote, console=console, store=store,
        options=options, operator=operator_identity(),
        inventory_zones=inventory_zones(target.inventory),
    ), (snapshot, history)


def plan(target: EngineTarget, requested: str = "auto", prewarmed: Any = None) -> Plan:
    """Dry run against the live cluster: reads only, takes no lock.

    ``prewarmed``: a ``Prewarm`` of the target's inventory already under way.
    """
    console = RunConsole(assume_yes=False, shard=target.shard)
    with remote_session(target.inventory, prewarmed) as remote:
        runner, read = _runner_and_read(target, requested, console, RunOptions(), remote)
        return with_alternatives(runner.plan(read)[0], runner.loaded)


def with_alternatives(plan: Plan, loaded: LoadedPlaybook) -> Plan:
    """Name the other playbooks for this shard size and their trade-offs."""
    from dataclasses import replace

    notes = [
        f"{other.name}: {' '.join((other.playbook.tradeoff or other.playbook.title).split())} "
        f"(use --playbook {other.name})"
        for other in catalog.alternatives(loaded)
    ]
    return replace(plan, alternatives=notes)


def plan_offline(topology_file: Path, requested: str = "auto",
                 inventory: Any = None) -> Plan:
    """Plan from a topology file (a `plan --json` snapshot or a journal's snapshot).

    Offline nothing can be checked, so no step is known to be done.
    """
    from migrator.cluster.state import iso_now_ms

    snapshot, history = load_topology_file(topology_file)
    loaded, choice = choose_playbook(requested, snapshot, history, None)
    from migrator.engine.outage import timing_of

    plan = make_plan(snapshot, history, loaded, None, {}, now=iso_now_ms(), choice=choice,
                     inventory_zones=inventory_zones(inventory), timing=timing_of(inventory))
    return with_alternatives(plan, loaded)


def load_topology_file(path: Path) -> tuple[ShardSnapshot, list[HistoryRecord]]:
    """``{"shard": S, "election": [{"name", "data"}], "state": {...}|null, "history": [...]}``."""
    try:
        doc = json.loads(path.read_text())
        shard = str(doc["shard"])
        nodes = [
            parse_election_node(
                e["name"],
                e["data"].encode() if isinstance(e["data"], str)
                else json.dumps(e["data"]).encode(),
                shard,
            )
            for e in doc["election"]
        ]
        state_doc = doc.get("state")
        state = None
        if state_doc is not None:
            raw = state_doc if isinstance(state_doc, str) else json.dumps(state_doc)
            state = parse_state(raw.encode(), f"The state in {path}")
        history = [
            parse_history_record(h if isinstance(h, str) else h["name"],
                                 None if isinstance(h, str) else
                                 json.dumps(h.get("state")).encode(), None)
            for h in doc.get("history") or []
        ]
    except OSError as exc:
        raise BadInput(f"Cannot read the topology file {path}: {exc.strerror or exc}.",
                       "Give a readable JSON file.") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput(
            f"The topology file {path} is not shaped as expected ({type(exc).__name__}: {exc}).",
            'Write {"shard": NAME, "election": [{"name": "ip:5432:12345-0000000000", "data": '
            '{...}}], "state": null}.',
        ) from exc
    snapshot = ShardSnapshot(shard, legacy_topology(shard, nodes), state,
                             0 if state is not None else None)
    return snapshot, history


def require_terminal_or_yes(assume_yes: bool) -> None:
    if assume_yes:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise NotConfirmed(
            "This run needs confirmations but there is no terminal to ask on; nothing was "
            "done.",
            "Run it in a terminal, or pass --yes (or --plan PLAN.json) once you have "
            "reviewed `migrator plan`.",
        )


def break_lock_when_confirmed(target: EngineTarget, console: RunConsole) -> None:
    """``--break-lock``: name the holder, ask (the shard name typed), then remove it."""
    from migrator.engine.lock import break_lock, holders

    held_by = holders(target.client, target.shard, target.journal_root)
    if held_by:
        console.say(f"The lock of shard {target.shard} is held by {', '.join(held_by)}.")
        console.ask(f"Break the lock held by {', '.join(held_by)}?", None, True)
        break_lock(target.client, target.shard, target.journal_root)
        console.say("Lock broken.")


def run(
    target: EngineTarget, requested: str, options: RunOptions, *, break_lock: bool = False,
    require_journal: bool = False, sink: Any = None,
) -> RunResult:
    """``sink``: an ``EventSink`` (enabled for --json); step events, the outage clock and
    the end-of-run table go through it."""
    from migrator.engine.events import EventConsole, EventSink
    from migrator.engine.lock import RunLock
    from migrator.engine.outage import timing_of
    from migrator.engine.runreport import RunReporting

    if options.saved_plan is None:
        require_terminal_or_yes(options.assume_yes)
    sink = sink if sink is not None else EventSink(enabled=False)
    console = EventConsole(sink, assume_yes=options.assume_yes or options.saved_plan is not None,
                           shard=target.shard)
    if break_lock:
        break_lock_when_confirmed(target, console)
    if require_journal:
        store = JournalStore(target.client, target.shard, root=target.journal_root)
        if store.load() is None:
            raise BadInput(
                f"Shard {target.shard} has no migration journal, so there is nothing to "
                "resume.",
                "Start a migration with `migrator run`.",
            )
    lock = RunLock(target.client, target.shard, operator_identity_pid(), target.journal_root,
                   on_wait=console.say)
    reporting = RunReporting(target.client, target.shard, target.inventory, console,
                             timing_of(target.inventory).session_timeout)
    with lock, remote_session(target.inventory) as remote:
        runner = _runner_and_read(target, requested, console, options, remote, sink=sink,
                                  on_status=reporting.clock)[0]
        reporting.runner = runner
        with reporting:
            return runner.execute()


def operator_identity_pid() -> str:
    import os

    return f"{operator_identity()} pid {os.getpid()}"
