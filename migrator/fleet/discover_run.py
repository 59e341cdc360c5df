"""Ask the headnode and ZooKeeper once for the whole fleet, then discover each shard.

One SSH connection to the headnode and one ZooKeeper session per ensemble (through it
with ``zookeeper_via: headnode``) carry everything: Manta's and Triton's ensembles (SAPI's
manta and sdc applications), /manatee's shards and their modes, the headnode's postgres
zones, Triton's own shard on its ensemble (the same session when it is Manta's), then
each shard's discovery (``migrator.discovery.build``, exactly as `migrator inventory
discover` runs it), ``PARALLEL`` shards at a time. A headnode without Manta (SAPI lists
no manta application) has Triton's shard alone. The headnode connection bounds its own
commands (``build.MAX_COMMANDS``). Nothing is written here; any shard's failure fails
the whole discovery. The decisions are ``discover_match`` and ``discover_triton``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.commands.read import all_shards, shard_summaries
from migrator.discovery import parse
from migrator.discovery.build import (
    Discovered,
    DiscoveryFailed,
    Ensemble,
    Headnode,
    SharedAccess,
    application_ensemble,
    discover,
    triton_ensemble,
    zookeeper_client,
)
from migrator.discovery.headnode_inventory import HeadnodeInventory
from migrator.errors import BadInput, MigratorError
from migrator.fleet.discover_match import Matched, Pick, ZkShard, match_shards, zone_warnings
from migrator.fleet.discover_triton import same_ensemble, split_triton, triton_row, with_triton

PARALLEL = 4  # shards discovered at once


@dataclass
class FleetDiscovery:
    matched: Matched
    found: dict[str, Discovered] = field(default_factory=dict)  # shard -> its inventory
    warnings: list[str] = field(default_factory=list)
    triton: str | None = None  # Triton's own shard, when it is one of the rows
    datacenter: str | None = None  # SAPI's datacenter_name of Triton's application


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
    triton_name = inventory.discovery.triton_shard_name
    headnode = Headnode(inventory, path)
    headnode.start_connect()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            # Manta's postgres zones are asked at once; on a headnode without Manta the
            # question fails and its answer is never used
            postgres_future = pool.submit(_postgres_zones, headnode)
            triton_future = (pool.submit(triton_ensemble, headnode) if triton_name
                             else None)
            manta = application_ensemble(headnode, "zookeeper", inventory.zookeeper)
            triton = triton_future.result() if triton_future is not None else None
            if manta is None:
                postgres_future.exception()  # waited for: a headnode without manta-adm
                if triton is None:
                    raise _no_shards(inventory, triton_name)

            def postgres() -> dict[str, list[str]]:
                return postgres_future.result() if manta is not None else {}

            with ExitStack() as sessions:
                result = _read_and_discover(sessions, headnode, manta, triton, triton_name,
                                            postgres, inventory, raw, path, out_dir, glob,
                                            migrate_to)
    finally:
        headnode.close()
    for pick in result.matched.to_discover:
        found = result.found[pick.shard]
        if pick.shard != result.triton:  # manta-adm lists none of Triton's zones
            result.warnings += zone_warnings(pick.shard,
                                             list(found.document.get("zones") or {}),
                                             pick.headnode_zones)
        result.warnings += [f"Shard {pick.shard}: {w}" for w in found.warnings]
    return result


def _read_and_discover(sessions: ExitStack, headnode: Headnode, manta: Ensemble | None,
                       triton: Ensemble | None, triton_name: str | None,
                       postgres: Callable[[], dict[str, list[str]]],
                       inventory: HeadnodeInventory,
                       raw: dict[str, Any], path: Path, out_dir: Path, glob: str | None,
                       migrate_to: str | None) -> FleetDiscovery:
    """Both ensembles' shards read (one session each, one when they are the same
    ensemble), matched, and every shard to discover discovered."""
    timeout = inventory.ssh.connect_timeout
    manta_client = triton_client = None
    if manta is not None:
        manta_client = sessions.enter_context(
            zookeeper_client(manta.connection, timeout, headnode))
    same = (manta is not None and triton is not None
            and same_ensemble(manta.connection, triton.connection))
    if triton is not None:
        triton_client = manta_client if same else sessions.enter_context(
            zookeeper_client(triton.connection, timeout, headnode))
    summaries, unnamed = all_shards(manta_client) if manta_client is not None else ([], [])
    split = split_triton([ZkShard(s.shard, s.mode, s.generation, s.problem)
                          for s in summaries], triton_name if triton else None, same)
    triton_found = split.triton
    if triton_client is not None and triton_name is not None and not same:
        triton_found = _one_shard(triton_client, triton_name)
    row, said = triton_row(triton_found, glob)
    matched = with_triton(match_shards(split.manta, postgres(), glob), row,
                          [*split.warnings, *said])
    result = FleetDiscovery(matched, warnings=list(matched.warnings),
                            triton=row.shard if row is not None else None,
                            datacenter=triton.datacenter if triton is not None else None)
    result.warnings += [f"ZooKeeper's /manatee has a child {name!r} that is not "
                        "a shard name: left out." for name in unnamed]
    manta_picks = [p for p in matched.to_discover if p.shard != result.triton]
    triton_picks = [p for p in matched.to_discover if p.shard == result.triton]
    shared: list[tuple[list[Pick], SharedAccess]] = []
    if manta is not None and manta_client is not None:
        shared.append((manta_picks, SharedAccess(headnode, manta.connection, manta.source,
                                                 manta_client)))
    if triton is not None and triton_client is not None:
        shared.append((triton_picks, SharedAccess(headnode, triton.connection,
                                                  triton.source, triton_client)))
    result.found = _discover_each(shared, inventory, raw, path, out_dir, migrate_to)
    return result


def _one_shard(client: Any, shard: str) -> ZkShard | None:
    """One shard's mode on its own ensemble; None when ZooKeeper has no such shard."""
    if client.exists(f"/manatee/{shard}") is None:
        return None
    found = shard_summaries(client, [shard])[0]
    return ZkShard(found.shard, found.mode, found.generation, found.problem)


def _no_shards(inventory: HeadnodeInventory, triton_name: str | None) -> BadInput:
    asked = inventory.discovery.zookeeper
    if triton_name is None:
        return DiscoveryFailed(
            f"`{asked}` on the headnode lists no application: it knows no Manta, and "
            "`discovery.triton_shard` is off, so there is no shard to look for; nothing "
            "was written.",
            "Give `zookeeper: HOST:PORT,...` in HEADNODE.yaml, or set "
            "`discovery.triton_shard` (default sdc) to find Triton's own shard.")
    return DiscoveryFailed(
        f"Neither `{asked}` nor `{inventory.discovery.triton_zookeeper}` on the headnode "
        "lists an application: it knows no Manta and no Triton ZooKeeper; nothing was "
        "written.",
        "Check that these are the headnode's SAPI commands (`discovery.zookeeper`, "
        "`discovery.triton_zookeeper`), or give `zookeeper:` / `triton_zookeeper:` in "
        "HEADNODE.yaml.")


def _postgres_zones(headnode: Headnode) -> dict[str, list[str]]:
    template = headnode.inventory.discovery.shards
    text = headnode.ask(template, "shards", "the fleet file (`migrator fleet discover` "
                        "cannot list the shards without it)")
    try:
        return parse.parse_postgres_rows(text)
    except parse.Unparseable as exc:
        raise headnode.failed(template, f"it printed {exc}", "shards",
                              "the fleet file by hand") from None


def _discover_each(groups: list[tuple[list[Pick], SharedAccess]],
                   inventory: HeadnodeInventory, raw: dict[str, Any], path: Path,
                   out_dir: Path, migrate_to: str | None) -> dict[str, Discovered]:
    def one(pick: Pick, shared: SharedAccess) -> Discovered:
        return discover(inventory, raw, path, shard=pick.shard, migrate_to=migrate_to,
                        out_dir=out_dir, shared=shared)

    picks = [p for group, _ in groups for p in group]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {p.shard: pool.submit(one, p, shared) for group, shared in groups
                   for p in group}
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
