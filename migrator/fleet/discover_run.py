"""Ask the headnode and ZooKeeper once for the whole fleet, then discover each shard.

One SSH connection to the headnode and one ZooKeeper session (through it with
``zookeeper_via: headnode``) carry everything: /manatee's shards and their modes, the
headnode's postgres zones, then each shard's discovery (``migrator.discovery.build``,
exactly as `migrator inventory discover` runs it), ``PARALLEL`` shards at a time. The
headnode connection bounds its own commands (``build.MAX_COMMANDS``). Nothing is
written here; any shard's failure fails the whole discovery.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.commands.read import all_shards
from migrator.discovery import parse
from migrator.discovery.build import (
    Discovered,
    DiscoveryFailed,
    Headnode,
    SharedAccess,
    discover,
    zookeeper_address,
    zookeeper_client,
)
from migrator.discovery.headnode_inventory import HeadnodeInventory
from migrator.errors import BadInput, MigratorError
from migrator.fleet.discover_match import Matched, Pick, ZkShard, match_shards, zone_warnings

PARALLEL = 4  # shards discovered at once


@dataclass
class FleetDiscovery:
    matched: Matched
    found: dict[str, Discovered] = field(default_factory=dict)  # shard -> its inventory
    warnings: list[str] = field(default_factory=list)


def discover_fleet(inventory: HeadnodeInventory, raw: dict[str, Any], path: Path, *,
                   out_dir: Path, glob: str | None, migrate_to: str | None) -> FleetDiscovery:
    if inventory.shard is not None:
        raise BadInput(f"{path} names one shard (`shard: {inventory.shard}`); a fleet is every "
                       "shard the headnode knows.", "Drop `shard:` from it (narrow the fleet "
                       "with --shards GLOB instead).")
    if inventory.morays is not None:
        raise BadInput(f"{path} gives `morays:` by hand: those serve one shard, and a fleet's "
                       "shards each have their own.", "Drop `morays:` from it: each shard's "
                       "Morays are asked of the headnode (`discovery.morays`).")
    if not inventory.zookeeper and "{shard}" in inventory.discovery.zookeeper:
        raise BadInput(f"`discovery.zookeeper` in {path} names {{shard}}: the fleet asks "
                       "ZooKeeper's address once, before it knows the shards.",
                       "Give `zookeeper: HOST:PORT,...` in it, or a command without {shard}.")
    headnode = Headnode(inventory, path)
    headnode.start_connect()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            postgres_future = pool.submit(_postgres_zones, headnode)
            zookeeper, source = zookeeper_address(headnode, "")
            with zookeeper_client(zookeeper, inventory.ssh.connect_timeout,
                                  headnode) as client:
                summaries, unnamed = all_shards(client)
                postgres = postgres_future.result()
                matched = match_shards(
                    [ZkShard(s.shard, s.mode, s.generation, s.problem) for s in summaries],
                    postgres, glob)
                result = FleetDiscovery(matched, warnings=list(matched.warnings))
                result.warnings += [f"ZooKeeper's /manatee has a child {name!r} that is not "
                                    "a shard name: left out." for name in unnamed]
                shared = SharedAccess(headnode, zookeeper, source, client)
                result.found = _discover_each(matched.to_discover, inventory, raw, path,
                                              out_dir, migrate_to, shared)
    finally:
        headnode.close()
    for pick in matched.to_discover:
        found = result.found[pick.shard]
        result.warnings += zone_warnings(pick.shard, list(found.document.get("zones") or {}),
                                         pick.headnode_zones)
        result.warnings += [f"Shard {pick.shard}: {w}" for w in found.warnings]
    return result


def _postgres_zones(headnode: Headnode) -> dict[str, list[str]]:
    template = headnode.inventory.discovery.shards
    text = headnode.ask(template, "shards", "the fleet file (`migrator fleet discover` "
                        "cannot list the shards without it)")
    try:
        return parse.parse_postgres_rows(text)
    except parse.Unparseable as exc:
        raise headnode.failed(template, f"it printed {exc}", "shards",
                              "the fleet file by hand") from None


def _discover_each(picks: list[Pick], inventory: HeadnodeInventory, raw: dict[str, Any],
                   path: Path, out_dir: Path, migrate_to: str | None,
                   shared: SharedAccess) -> dict[str, Discovered]:
    def one(pick: Pick) -> Discovered:
        return discover(inventory, raw, path, shard=pick.shard, migrate_to=migrate_to,
                        out_dir=out_dir, shared=shared)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {p.shard: pool.submit(one, p) for p in picks}
        found: dict[str, Discovered] = {}
        failed: list[tuple[str, MigratorError]] = []
        for shard, future in futures.items():
            try:
                found[shard] = future.result()
            except MigratorError as exc:
                failed.append((shard, exc))
    if failed:
        said = "; ".join(f"shard {shard}: {exc.message}" for shard, exc in failed)
        raise DiscoveryFailed(
            f"Discovery failed for {len(failed)} of {len(picks)} shard(s), so nothing was "
            f"written: {said}",
            " ".join(filter(None, [failed[0][1].hint, "Or narrow the fleet with --shards "
                                   "GLOB and list the failing shard by hand."])))
    return found
