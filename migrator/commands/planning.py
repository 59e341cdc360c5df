"""plan: the step engine's dry run, as plain functions the CLI (and a fleet's plan) call.

Reads and decides only: no lock, no write. This is the part of the engine's verbs that
`migrator plan` needs: the plan is made by the engine's ``LivePlanner``
(``migrator.engine.live_plan``), the one a run's runner plans through, without the
runner. ``run`` and ``resume`` (``migrator.commands.engine``) build on it (the target,
the read its playbook was chosen on, the pre-flight's facts), so a plan does not import
what only a run uses: the runner and its step loop, the operator's console with its
events and transcript, the run's watches and reporting, the data gate. Zone access
(``RemoteSession``) connects every zone in the background from the start of the command
(``migrator.remote.prewarm.remote_session``, which the caller opens as early as it
safely can: ``migrator.commands.zk_and_zones``) and is closed at its end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.cluster.history import HistoryRecord, parse_history_record
from migrator.cluster.shard import ShardSnapshot
from migrator.cluster.state import parse_state
from migrator.engine import preflight as gate
from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal, operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.live_plan import LivePlanner
from migrator.engine.loglevel_notes import debug_dependencies, debug_notes, sample_debug
from migrator.engine.outage import sitters_session_timeout, timing_of
from migrator.engine.planner import Plan, make_plan, resolve_original
from migrator.errors import MISSHAPEN, BadInput, MigratorError, misshapen
from migrator.inputfile import read_input_text
from migrator.isotime import iso_now_ms
from migrator.playbook import catalog
from migrator.playbook.loader import LoadedPlaybook
from migrator.remote.prewarm import remote_session
from migrator.remote.session import RemoteSession
from migrator.stepkit.together import both
from migrator.strictjson import loads
from migrator.zk import reads


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


class Unread(Enum):
    """The journal was not read with the shard: the pre-flight reads it."""

    UNREAD = "unread"


def read_and_choose(
    target: EngineTarget, requested: str, store: JournalStore,
    on_empty: Callable[[tuple[ShardSnapshot, list[HistoryRecord]]],
                       tuple[ShardSnapshot, list[HistoryRecord]]] | None = None,
) -> tuple[tuple[LoadedPlaybook, str], tuple[ShardSnapshot, list[HistoryRecord]],
           Journal | None]:
    """The playbook and why it was chosen, the read of the shard it was chosen on and the
    journal read with it (which the pre-flight judges, not reading it again). ``on_empty``:
    told the read when the election is empty, returns the read to go on with (a run waits
    there for the peers to rejoin); the journal is then read again, as it is after the
    wait."""

    # the shard and the journal asked at once: one round trip instead of two
    (snapshot, history), journal = both(
        lambda: reads.read_view(target.client, target.shard), store.load, "run-read")
    if on_empty is not None and not snapshot.topology.nodes:
        snapshot, history = on_empty((snapshot, history))
        journal = store.load()  # as it is after the wait
    return choose_playbook(requested, snapshot, history, journal), (snapshot, history), journal


def plan(target: EngineTarget, requested: str = "auto") -> Plan:
    """Dry run against the live cluster: reads only, takes no lock."""
    with remote_session(target.inventory) as remote:
        return plan_checked(target, requested, remote)[0]


def plan_checked(target: EngineTarget, requested: str, remote: RemoteSession | None
                 ) -> tuple[Plan, Any]:
    """The plan and the pre-flight verdict a run would meet now (reads only).

    ``remote``: the zones' session (None without an inventory), which the caller opens
    with ZooKeeper's in the order that waits least
    (``migrator.commands.zk_and_zones``): the zones' handshakes are a plan's longest
    chain. The gate's probes run in a thread alongside the plan's own
    reads and checks: both mostly wait on SSH and ZooKeeper.
    """

    console = RunConsole(assume_yes=False, shard=target.shard)
    with remote.shared_reads() if remote is not None else nullcontext():
        # one look at the shard: the gate's probes and the done-checks share their reads
        store = JournalStore(target.client, target.shard, root=target.journal_root,
                             audit_dir=target.audit_dir)
        (loaded, choice), read, journal = read_and_choose(target, requested, store)
        # a plan asks nothing: a check that would ask (none does while it only looks)
        # asks on the console, as a run's question outside a step does
        planner = LivePlanner(
            client=target.client, shard=target.shard, loaded=loaded, choice=choice,
            inventory=target.inventory, remote=remote, console=console, store=store,
            confirm=console.ask, inventory_zones=inventory_zones(target.inventory))
        with ThreadPoolExecutor(max_workers=1) as pool:
            facts = pool.submit(gather_preflight, target, planner, remote, read, journal)

            def sitters_figure() -> float | None:
                # the plan's estimates, as the run's, use the sitters' configured session
                # timeout: the probe has usually read it by the time the plan is timed
                try:
                    zones = facts.result().zones
                except Exception:  # said where the facts are used, below
                    return None
                return sitters_session_timeout([report.session_timeout for report in zones])

            planner.sitters_timeout_source = sitters_figure
            planned = with_alternatives(planner.plan(read)[0], planner.loaded)
            gathered = facts.result()
            verdict = gate.decide(gathered)
        # the pre-flight probe has sampled each zone's sitter log already: reuse it
        sampled = {r.zone: r.debug_records for r in gathered.zones if r.kind == "manatee"}
        planned = with_log_level_notes(planned, planner.loaded, remote, sampled)
        return planned, verdict


def with_log_level_notes(plan: Plan, loaded: LoadedPlaybook, remote: Any,
                         sampled: Mapping[str, bool | None] | None = None) -> Plan:
    """Warn about steps waiting for DEBUG records that a zone's sitter will not write.

    ``sampled``: zones whose log was already sampled (the pre-flight probe's
    ``debug_records``); only the other zones' logs are sampled here."""
    if remote is None:
        return plan

    deps = debug_dependencies(plan, loaded.playbook)
    if not deps:
        return plan
    known = dict(sampled or {})
    zones = sorted({d.zone for d in deps} - known.keys())
    if zones:
        with ThreadPoolExecutor(max_workers=len(zones)) as pool:  # one round trip, not N
            known.update(zip(zones, pool.map(sample_debug(remote), zones), strict=True))
    notes = debug_notes(deps, known.__getitem__)
    return replace(plan, notes=[*plan.notes, *notes]) if notes else plan


def with_alternatives(plan: Plan, loaded: LoadedPlaybook) -> Plan:
    """Name the other playbooks for this shard size and their trade-offs."""
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

    snapshot, history = load_topology_file(topology_file)
    loaded, choice = choose_playbook(requested, snapshot, history, None)

    plan = make_plan(snapshot, history, loaded, None, {}, now=iso_now_ms(), choice=choice,
                     inventory_zones=inventory_zones(inventory), timing=timing_of(inventory),
                     inventory=inventory)
    return with_alternatives(plan, loaded)


def load_topology_file(path: Path) -> tuple[ShardSnapshot, list[HistoryRecord]]:
    """``{"shard": S, "election": [{"name", "data"}], "state": {...}|null, "history": [...]}``."""
    try:
        doc = loads(read_input_text(path, "topology file", hint="Give a readable JSON file."))
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
    except MISSHAPEN as exc:
        raise misshapen(
            f"The topology file {path} is not shaped as expected", exc,
            'Write {"shard": NAME, "election": [{"name": "ip:5432:12345-0000000000", "data": '
            '{...}}], "state": null}.',
        ) from exc
    snapshot = ShardSnapshot(shard, legacy_topology(shard, nodes), state,
                             0 if state is not None else None)
    return snapshot, history


def gather_preflight(target: EngineTarget, planner: LivePlanner, remote: Any,
                     read: tuple[ShardSnapshot, list[HistoryRecord]] | None = None,
                     journal: Journal | Unread | None = Unread.UNREAD) -> Any:
    """The pre-flight's facts, read only (``migrator.engine.preflight.gather``), for the
    playbook and the kind of run ``planner`` plans. ``read`` and ``journal``: as the
    caller has just read them (a round trip less at datacenter distance); a run reads
    both again under the lock."""
    if isinstance(journal, Unread):
        journal = planner.store.load()
    try:
        if read is None:
            read = reads.read_view(target.client, target.shard)
        original: Any = resolve_original(read[0], read[1], journal)[0]
    except MigratorError:
        original = None  # the run itself explains why; the gate judges the rest
    return gate.gather(target.client, target.shard, target.journal_root, remote,
                       target.inventory, planner.loaded, journal, original,
                       planner.kind, operator_identity_pid(),
                       snapshot=read[0] if read is not None else None)


def operator_identity_pid() -> str:
    return f"{operator_identity()} pid {os.getpid()}"
