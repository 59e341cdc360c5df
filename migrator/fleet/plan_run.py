"""Plan every shard of a fleet as `migrator plan --inventory` plans one, a few at a time.

Each shard: its inventory loaded (and checked to name that very shard), a ZooKeeper
session of its own (through the headnode when the inventory says so), its mode read,
then ``migrator.commands.planning.plan_checked``: the plan and the pre-flight verdict a
run would meet now. Reads only: no lock, no write. A shard that cannot be planned
becomes an ``Outcome`` with its error; the others go on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.commands import planning
from migrator.commands.read import shard_status
from migrator.commands.zk_and_zones import zk_and_zones
from migrator.engine.planner import Plan
from migrator.errors import BadInput, MigratorError
from migrator.fleet.discover_match import fleet_mode
from migrator.fleet.model import Fleet, FleetShard
from migrator.fleet.plan_rows import Figures, Outcome, StateWrite
from migrator.inventory.load import load_inventory

PARALLEL = 4  # shards planned at once


@dataclass(frozen=True)
class Planned:
    """A shard's outcome, with its plan when one was made (to save it)."""

    entry: FleetShard
    outcome: Outcome
    plan: Plan | None = None


def figures_of(plan: Plan, verdict: Any) -> Figures:
    outages = plan.outages
    return Figures(
        playbook=plan.playbook,
        steps_total=len(plan.steps),
        steps_left=len(plan.pending),
        outages=len(outages),
        outage_seconds=sum(s.outage_detail.seconds for s in outages
                           if s.outage_detail is not None),
        writes=tuple(StateWrite(s.id, s.write.summary(), s.write.diff()) for s in plan.writes
                     if s.write is not None),
        conflicts=tuple(plan.conflicts),
        preflight_problems=tuple(verdict.problems) if verdict is not None and not verdict.ok
        else (),
    )


def plan_fleet(fleet: Fleet, connect_timeout: float = 10.0) -> list[Planned]:
    """Every shard's outcome, in the fleet file's order."""
    def one(entry: FleetShard) -> Planned:
        if entry.skip is not None:
            return Planned(entry, Outcome(entry.shard, skip=entry.skip))
        try:
            return _plan_one(entry, connect_timeout)
        except MigratorError as exc:
            return Planned(entry, Outcome(entry.shard, error=exc.paragraph(),
                                          error_status=exc.exit_status))

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, fleet.shards))


def _plan_one(entry: FleetShard, connect_timeout: float) -> Planned:
    assert entry.inventory is not None  # FleetShard: no skip means an inventory
    path: Path = entry.inventory
    inventory = load_inventory(path)
    if inventory.shard != entry.shard:
        raise BadInput(f"The inventory {path} is for shard {inventory.shard}, not "
                       f"{entry.shard}.", "Fix the fleet file's `inventory:` of this shard.")
    with zk_and_zones(inventory.zookeeper, connect_timeout, False, inventory) as (client,
                                                                                 remote):
        mode = fleet_mode(shard_status(client, entry.shard).snapshot.mode)
        try:
            plan, verdict = planning.plan_checked(
                planning.EngineTarget(client, entry.shard, inventory, str(path)), "auto",
                remote)
        except MigratorError as exc:
            return Planned(entry, Outcome(entry.shard, mode=mode, error=exc.paragraph(),
                                          error_status=exc.exit_status))
    return Planned(entry, Outcome(entry.shard, mode=mode, figures=figures_of(plan, verdict)),
                   plan)
