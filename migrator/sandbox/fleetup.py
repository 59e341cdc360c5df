"""`sandbox up --shards K`: K manatee shards on one ZooKeeper, one headnode and shared
compute nodes, each shard a sub-sandbox in DIR/shards/<shard> (layout: config.py).

What the shards share is started once, in order (ZooKeeper, the nodes and headnode,
the relays); then the shards come up concurrently, one thread each: their sitters
start one at a time within a shard (the election order is the zones' order) but the
shards' elections are independent, so waiting for one shard's primary never holds
up another's. Everything a shard needs is in place before any thread starts (zone
directories, pid directories, the shared known_hosts and key copies), so the
threads write only their own shard's files.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from migrator.sandbox.config import (
    SHARDS_DIR,
    SandboxConfig,
    ZoneConfig,
    new_zone_uuid,
)
from migrator.sandbox.fleetlayout import shard_addresses, shard_names
from migrator.sandbox.inventory_file import write_inventory
from migrator.sandbox.nodes import start_compute_nodes
from migrator.sandbox.pgdata import clone_template, make_searchable
from migrator.sandbox.ports import free_ports
from migrator.sandbox.startup import (
    UpOptions,
    compute_nodes,
    pg_template,
    start_relays,
    start_shard,
    start_zookeeper,
)
from migrator.sandbox.zones import CLIENT_KEY, KNOWN_HOSTS, ensure_client_key, prepare_zone

# what each shard's directory gets a copy of, so it reads as a one-shard sandbox (its
# inventory's relative `known_hosts` and `identity`, the tests' ssh helpers)
SHARED_FILES = (KNOWN_HOSTS, CLIENT_KEY, f"{CLIENT_KEY}.pub", "authorized_keys")


def bring_up_fleet(directory: Path, options: UpOptions) -> SandboxConfig:
    """The fleet's top config (``shards`` names them); every shard is up and writable,
    its inventory written, its client started with ``options.with_client``."""
    sizes = options.shard_sizes()
    zk_port = start_zookeeper(directory)
    names = shard_names(len(sizes))
    shard_zones = [[ZoneConfig(new_zone_uuid(), ip, free_ports(ip, 1)[0], 0, "v1")
                    for ip in ips] for ips in shard_addresses(sizes)]
    every_zone = [zone for zones in shard_zones for zone in zones]
    nodes, headnode = compute_nodes(every_zone, options)
    top = options.config(directory, zk_port, [], nodes, headnode, shards=names)
    top.save()
    members = [replace(top, directory=directory / SHARDS_DIR / name, zones=zones, shard=name,
                       shards=[], fleet_root=str(directory), relay_ports={})
               for name, zones in zip(names, shard_zones, strict=True)]
    for member in members:
        member.directory.mkdir(parents=True, exist_ok=True)
        member.save()
    ensure_client_key(top)
    template = pg_template(top)
    if template is not None:  # the postgres user walks down to every zone's data
        make_searchable(directory / SHARDS_DIR)
        for member in members:
            (member.directory / "zones").mkdir(exist_ok=True)
            make_searchable(member.directory)
            make_searchable(member.directory / "zones")
    links = directory / "zones"
    links.mkdir(exist_ok=True)
    for member in members:
        for zone in member.zones:
            prepare_zone(member, zone)
            (links / zone.uuid).symlink_to(member.zone_dir(zone), target_is_directory=True)
    known_hosts = start_compute_nodes(top, every_zone)
    if top.latency_ms:
        known_hosts.append(start_relays(top, headnode, known_hosts[-1]))
        for member in members:
            member.relay_ports = dict(top.relay_ports)
            member.save()
    if template is not None:  # copies in parallel: most of `up --pg real`'s time
        with ThreadPoolExecutor(min(len(every_zone), 8)) as pool:
            list(pool.map(lambda pair: clone_template(template, pair[0].zone_dir(pair[1])),
                          [(m, z) for m in members for z in m.zones]))
    (directory / KNOWN_HOSTS).write_text("\n".join(known_hosts) + "\n")
    for member in members:
        for name in SHARED_FILES:
            shutil.copy2(directory / name, member.directory / name)
    with ThreadPoolExecutor(len(members)) as pool:
        list(pool.map(lambda member: start_shard(member, options.with_client), members))
    write_inventory(top)  # DIR/headnode.yaml, naming no shard
    return top
