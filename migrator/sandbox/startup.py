"""The pieces `sandbox up` starts a sandbox with, shared by a one-shard sandbox
(``migrator.sandbox.manage``) and a fleet (``migrator.sandbox.fleetup``): the options,
ZooKeeper, compute nodes and headnode, the relays, the postgres template, a shard's
sitters and client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import Refused, StepFailed
from migrator.sandbox import procs
from migrator.sandbox.config import (
    COMPUTE_NODES,
    HEADNODE_ADDRESS,
    RELAY_ADDRESS,
    SESSION_TIMEOUT,
    SHARD,
    NodeConfig,
    SandboxConfig,
    ZoneConfig,
    new_zone_uuid,
    node_address,
)
from migrator.sandbox.inventory_file import write_inventory
from migrator.sandbox.peers import start_sitter
from migrator.sandbox.pgdata import make_searchable, make_template
from migrator.sandbox.pgquery import ensure_table, wait_receiving
from migrator.sandbox.ports import common_free_port, free_ports
from migrator.sandbox.relay import start_relay
from migrator.sandbox.sshd import known_hosts_host
from migrator.sandbox.waits import wait_writable
from migrator.sandbox.zkserver import ZooKeeperServer

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class UpOptions:
    nodes: int = 3
    reuse: bool = False
    with_client: bool = False
    deposed_mode: str = "deposed"
    sitter_log_level: str = "debug"  # or "info": no DEBUG records (see remote/loglevels.py)
    # the v2 sitters' level, when not sitter_log_level (v1 at debug, v2 at info: issue 22)
    v2_sitter_log_level: str | None = None
    reprovision_log: str = "append"  # or "fresh": a reprovision starts a new sitter log
    pg: str = "sim"  # the CLI's default is "real"; tests about the engine alone keep "sim"
    # zlogin: zones without sshd behind compute nodes and a headnode; ssh: an sshd per zone
    access: str = "zlogin"
    compute_nodes: int = COMPUTE_NODES
    # one-way delay on the operator's route to the headnode and ZooKeeper (zlogin only)
    latency_ms: float = 0.0
    # every reprovision's length (None: until the zone's node expires, then 0.5 s)
    reprovision_seconds: float | None = None
    # the sitters' ZooKeeper session timeout: short by default so rehearsals and tests
    # are quick; longer ones rehearse production's gap between a peer's loss and its
    # election node's expiry
    session_timeout: float = SESSION_TIMEOUT
    # a ZooKeeper already running on 127.0.0.1 at this port, used instead of starting
    # one and never stopped by the sandbox (one-shard sandboxes only): the test suite
    # lends one server to the sandboxes its worker brings up one after another, and
    # empties it after each (a JVM's start is about 0.9 CPU-seconds)
    zookeeper_port: int | None = None
    # `up --shards K`: K >= 2 brings up a fleet of K shards sharing ZooKeeper, the
    # compute nodes and the headnode, shard i of shard_nodes[i] zones (empty: `nodes`
    # zones each)
    shards: int = 1
    shard_nodes: tuple[int, ...] = ()
    # the name of a one-shard sandbox (`up --shard NAME`): two sandboxes side by side can
    # then stand for two shards of a fleet file, which lists a shard once
    shard: str = SHARD
    # `up --triton-shard`: the fleet also has Triton's own shard, of this many zones
    triton_zones: int | None = None

    def shard_sizes(self) -> list[int]:
        return list(self.shard_nodes) if self.shard_nodes else [self.nodes] * self.shards

    def config(self, directory: Path, zk_port: int, zones: list[ZoneConfig],
               nodes: list[NodeConfig], headnode: NodeConfig | None,
               **more: Any) -> SandboxConfig:
        """The sandbox's description with these options (a shard's, or a fleet's top)."""
        return SandboxConfig(directory, zk_port, zones, deposed_mode=self.deposed_mode,
                             access=self.access, nodes=nodes, headnode=headnode,
                             sitter_log_level=self.sitter_log_level,
                             v2_sitter_log_level=self.v2_sitter_log_level,
                             reprovision_log=self.reprovision_log, pg=self.pg,
                             latency_ms=self.latency_ms,
                             reprovision_seconds=self.reprovision_seconds,
                             session_timeout=self.session_timeout, **more)


def start_zookeeper(directory: Path) -> int:
    """The sandbox's ZooKeeper, recorded in DIR/pids/zookeeper.pid; its port."""
    server = ZooKeeperServer(directory / "zookeeper")
    server.start()
    assert server.process is not None
    procs.write_pid_file(directory / "pids" / "zookeeper.pid", server.process.pid)
    server.process.returncode = 0  # stopped by pid file from now on
    return server.port


def start_shard(config: SandboxConfig, with_client: bool) -> None:
    """Start the shard's sitters, wait until it takes writes, write its inventory, start
    its client."""
    zones = config.zones
    for zone in zones:  # one at a time, so the election order is the zones' order
        start_sitter(config, zone)
    primary = wait_writable(config, READY_TIMEOUT)
    if config.pg == "real":
        # the primary may be writable before it has seen its standby: `up` returns with
        # every standby streaming
        for zone in zones:
            if zone is not primary and not wait_receiving(zone.ip, zone.pg_port, READY_TIMEOUT):
                raise StepFailed(
                    f"The postgres of zone {zone.uuid} is not streaming from its upstream "
                    f"within {READY_TIMEOUT:g} s.",
                    f"See {config.zone_dir(zone) / 'sitter.log'} and postgres.log there.",
                )
        ensure_table(primary.ip, primary.pg_port)
        wait_writable(config, READY_TIMEOUT)

    write_inventory(config)
    if with_client:
        start_client(config)


def start_relays(config: SandboxConfig, headnode: NodeConfig, headnode_line: str) -> str:
    """The delaying relays in front of the headnode and ZooKeeper; the known_hosts line
    for the headnode as the operator reaches it (its own key at the relay's address)."""
    config.relay_ports["headnode"] = start_relay(config, "headnode",
                                                 (headnode.ip, headnode.ssh_port))
    config.relay_ports["zookeeper"] = start_relay(config, "zookeeper",
                                                  ("127.0.0.1", config.zk_port))
    config.save()
    key = headnode_line.split(" ", 1)[1]
    return f"{known_hosts_host(RELAY_ADDRESS, config.relay_ports['headnode'])} {key}"


def pg_template(config: SandboxConfig) -> Path | None:
    """For `--pg real`: one initdb, searchable directories for the postgres user."""
    if config.pg != "real":
        return None

    make_searchable(config.directory)
    (config.directory / "zones").mkdir(exist_ok=True)
    make_searchable(config.directory / "zones")
    return make_template()


def compute_nodes(zones: list[ZoneConfig], options: UpOptions
                  ) -> tuple[list[NodeConfig], NodeConfig]:
    """Compute nodes on their own addresses, zones spread over them in turn (in a fleet,
    ``zones`` is every shard's in order); a headnode."""
    addresses = [node_address(index) for index in range(options.compute_nodes)]
    port = common_free_port(addresses)
    nodes = [NodeConfig(new_zone_uuid(), ip, port, f"cn{index}")
             for index, ip in enumerate(addresses)]
    for index, zone in enumerate(zones):
        zone.node = nodes[index % len(nodes)].uuid
    headnode = NodeConfig(new_zone_uuid(), HEADNODE_ADDRESS,
                          free_ports(HEADNODE_ADDRESS, 1)[0], "headnode")
    return nodes, headnode


def start_client(config: SandboxConfig, interval: float | None = None) -> int:
    pid_file = config.pid_file("client")
    if procs.recorded_pid(pid_file) is not None:
        raise Refused("The sandbox's client is already running.", "Nothing to do.")
    (config.directory / "client").mkdir(exist_ok=True)
    return procs.spawn(
        procs.python_argv("migrator.sandbox.client", str(config.directory),
                          *([] if interval is None else [str(interval)])),
        pid_file,
        config.directory / "client" / "client.out",
        config.directory,
    )
