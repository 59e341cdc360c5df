"""`sandbox up --shards K`: K manatee shards on one ZooKeeper, one headnode and shared
compute nodes, each shard a sub-sandbox in DIR/shards/<shard> (layout: config.py).

What the shards share is started once, in order (ZooKeeper, the nodes and headnode,
the relays); then the shards come up concurrently, one thread each: their sitters
start one at a time within a shard (the election order is the zones' order) but the
shards' elections are independent, so waiting for one shard's primary never holds
up another's. Everything a shard needs is in place before any thread starts (zone
directories, pid directories, the shared known_hosts and key copies), so the
threads write only their own shard's files.

With Triton's own shard (`up --triton-shard`, ``UpOptions.triton_zones``) the fleet also has
``sdc`` (config.py says how): its ZooKeeper, the binder, is started beside Manta's when
there are Manta shards, and its Moray zones are zone directories with a package.json
that the compute nodes' zlogin reaches (their `cat` shows Triton's
/opt/smartdc/moray/package.json as that file, since the zones share the host's root).
"""

from __future__ import annotations

import json
import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from migrator.sandbox import procs
from migrator.sandbox.config import (
    BINDER,
    IMAGES,
    MORAY_VERSION,
    SHARDS_DIR,
    TRITON_IMAGES,
    TRITON_MORAYS,
    TRITON_SHARD,
    VERSIONS,
    SandboxConfig,
    ZoneConfig,
    new_zone_uuid,
    zone_address,
)
from migrator.sandbox.fleetlayout import moray_address, shard_addresses, shard_names
from migrator.sandbox.inventory_file import write_inventory
from migrator.sandbox.nodes import start_compute_nodes, write_zone_env
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
from migrator.sandbox.zkserver import ZooKeeperServer
from migrator.sandbox.zones import CLIENT_KEY, KNOWN_HOSTS, ensure_client_key, prepare_zone

# what each shard's directory gets a copy of, so it reads as a one-shard sandbox (its
# inventory's relative `known_hosts` and `identity`, the tests' ssh helpers)
SHARED_FILES = (KNOWN_HOSTS, CLIENT_KEY, f"{CLIENT_KEY}.pub", "authorized_keys")


def bring_up_fleet(directory: Path, options: UpOptions) -> SandboxConfig:
    """The fleet's top config (``shards`` names them); every shard is up and writable,
    its inventory written, its client started with ``options.with_client``; with
    ``options.triton_zones``, Triton's own shard of that many zones last."""
    sizes = options.shard_sizes()
    triton_size = options.triton_zones
    zk_port = start_zookeeper(directory)
    binder_port = (start_binder(directory) if triton_size is not None and sizes
                   else None)
    names = shard_names(len(sizes))
    shard_zones = [[ZoneConfig(new_zone_uuid(), ip, free_ports(ip, 1)[0], 0, "v1")
                    for ip in ips] for ips in shard_addresses(sizes)]
    morays: list[ZoneConfig] = []
    if triton_size is not None:
        names.append(TRITON_SHARD)
        shard_zones.append([ZoneConfig(new_zone_uuid(), ip, free_ports(ip, 1)[0], 0, "v1")
                            for ip in (zone_address(k, len(sizes))
                                       for k in range(triton_size))])
        morays = [ZoneConfig(new_zone_uuid(), moray_address(k, len(sizes)), 0, 0, "v2")
                  for k in range(TRITON_MORAYS)]
    every_zone = [zone for zones in shard_zones for zone in zones]
    nodes, headnode = compute_nodes([*every_zone, *morays], options)
    top = options.config(directory, zk_port, [], nodes, headnode, shards=names,
                         binder_port=binder_port)
    top.save()
    members = [replace(top, directory=directory / SHARDS_DIR / name, zones=zones, shard=name,
                       shards=[], fleet_root=str(directory), relay_ports={},
                       binder_port=None)
               for name, zones in zip(names, shard_zones, strict=True)]
    if triton_size is not None:
        members[-1] = replace(members[-1], triton=True, morays=morays,
                              zk_port=binder_port or zk_port)
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
            if member.triton:
                triton_image_command(member, zone)
            (links / zone.uuid).symlink_to(member.zone_dir(zone), target_is_directory=True)
        for zone in member.morays:
            prepare_moray(member, zone)
            (links / zone.uuid).symlink_to(member.zone_dir(zone), target_is_directory=True)
    known_hosts = start_compute_nodes(top, [*every_zone, *morays])
    if triton_size is not None and not sizes:  # Triton alone: no Manta, no manta-adm
        (directory / "headnode" / "bin" / "manta-adm").unlink()
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


def start_binder(directory: Path) -> int:
    """Triton's own ZooKeeper (the binder), recorded in DIR/pids/zookeeper-binder.pid."""
    server = ZooKeeperServer(directory / BINDER)
    server.start()
    assert server.process is not None
    procs.write_pid_file(directory / "pids" / f"{BINDER}.pid", server.process.pid)
    server.process.returncode = 0  # stopped by pid file from now on
    return server.port


def triton_image_command(member: SandboxConfig, zone: ZoneConfig) -> None:
    """The zone's `mdata-get sdc:image_uuid` names Triton's manatee images."""
    path = member.zone_dir(zone) / "bin" / "mdata-get"
    text = path.read_text()
    for version in VERSIONS:
        text = text.replace(IMAGES[version], TRITON_IMAGES[version])
    path.write_text(text)


# A Moray zone's `cat`: Triton's path of its package.json is the zone's own file (the
# sandbox's zones share the host's root, so a zone's files live in its directory).
MORAY_CAT = """#!/bin/sh
if [ "$#" -eq 1 ] && [ "$1" = /opt/smartdc/moray/package.json ]; then
    exec /bin/cat {package}
fi
exec /bin/cat "$@"
"""


def prepare_moray(member: SandboxConfig, zone: ZoneConfig) -> None:
    """A Moray zone of Triton's shard: its package.json, its PATH, nothing running."""
    zone_dir = member.zone_dir(zone)
    bindir = zone_dir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (zone_dir / "package.json").write_text(
        json.dumps({"name": "moray", "version": MORAY_VERSION}, indent=2) + "\n")
    cat = bindir / "cat"
    cat.write_text(MORAY_CAT.format(package=shlex.quote(str(zone_dir / "package.json"))))
    cat.chmod(0o755)
    write_zone_env(zone_dir, {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
                              "ZONENAME": zone.uuid})
