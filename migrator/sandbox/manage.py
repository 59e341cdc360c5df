"""up, down, reprovision, stop-peer, start-peer: the sandbox's lifecycle.

Every process is started detached with a pid file under DIR/pids, so `down`
(from any later command) stops exactly what `up` started, and is a no-op the
second time. Waits are bounded and event-driven: ZooKeeper watches for peers
joining, the simulated postgres's own "wait until writable" request for the
shard being ready.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import BadInput, Refused, StepFailed
from migrator.sandbox import pgdata, procs
from migrator.sandbox.config import (
    ACCESS_MODES,
    COMPUTE_NODES,
    DEPOSED_MODES,
    HEADNODE_ADDRESS,
    LOG_LEVELS,
    MAX_NODES,
    MAX_SESSION_TIMEOUT,
    MIN_SESSION_TIMEOUT,
    PG_MODES,
    RELAY_ADDRESS,
    REPROVISION_LOGS,
    SANDBOX_FILE,
    SESSION_TIMEOUT,
    NodeConfig,
    SandboxConfig,
    ZoneConfig,
    load_config,
    new_zone_uuid,
    node_address,
    zone_address,
)
from migrator.sandbox.inventory_file import write_inventory
from migrator.sandbox.nodes import start_compute_nodes
from migrator.sandbox.peers import start_sitter
from migrator.sandbox.pgdata import (
    DATA,
    clone_template,
    make_searchable,
    make_template,
    stop_leftover,
)
from migrator.sandbox.pgquery import ensure_table, wait_receiving
from migrator.sandbox.ports import common_free_port, free_ports
from migrator.sandbox.relay import start_relay
from migrator.sandbox.sshd import check_installed, known_hosts_host
from migrator.sandbox.waits import wait_writable
from migrator.sandbox.zkserver import ZooKeeperServer, check_prerequisites
from migrator.sandbox.zones import (
    KNOWN_HOSTS,
    ensure_client_key,
    prepare_zone,
    start_sshd,
)

READY_TIMEOUT = 30.0
OWNED_ENTRIES = ("zones", "zookeeper", "pids", "client", "inventory.yaml", KNOWN_HOSTS,
                 "authorized_keys", "id_ed25519", "id_ed25519.pub", SANDBOX_FILE,
                 "nodes", "headnode", "headnode.yaml", "relays")
MAX_LATENCY_MS = 1000.0


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
    # every reprovision's length (None: the session timeout plus two seconds)
    reprovision_seconds: float | None = None
    # the sitters' ZooKeeper session timeout: short by default so rehearsals and tests
    # are quick; longer ones rehearse production's gap between a peer's loss and its
    # election node's expiry
    session_timeout: float = SESSION_TIMEOUT


def check_nodes(nodes: int) -> None:
    if not 1 <= nodes <= MAX_NODES:
        raise BadInput(
            f"--nodes {nodes} is out of range: a sandbox shard has 1 to {MAX_NODES} nodes.",
            "Pass --nodes 1, 2, 3, 4 or 5 (3 is the runbook's shard).",
        )


MAX_REPROVISION_SECONDS = 600.0


def check_reprovision_seconds(options: UpOptions) -> None:
    seconds = options.reprovision_seconds
    if seconds is not None and not 0.0 <= seconds <= MAX_REPROVISION_SECONDS:
        raise BadInput(
            f"--reprovision-seconds {seconds:g} is out of range.",
            f"Give 0 to {MAX_REPROVISION_SECONDS:g} seconds (production reprovisions take "
            "minutes; the default is the session timeout plus two seconds).")


def check_session_timeout(options: UpOptions) -> None:
    seconds = options.session_timeout
    if not MIN_SESSION_TIMEOUT <= seconds <= MAX_SESSION_TIMEOUT:
        raise BadInput(
            f"--session-timeout {seconds:g} is out of range.",
            f"Give {MIN_SESSION_TIMEOUT:g} to {MAX_SESSION_TIMEOUT:g} seconds (what the "
            f"sandbox's ZooKeeper grants; the default is {SESSION_TIMEOUT:g}).")


def check_sitter_logs(options: UpOptions) -> None:
    for option, value in (("--sitter-log-level", options.sitter_log_level),
                          ("--v2-sitter-log-level", options.v2_sitter_log_level)):
        if value is not None and value not in LOG_LEVELS:
            raise BadInput(f"{option} {value!r} is not one of {', '.join(LOG_LEVELS)}.",
                           "Use `debug` (Triton's -vvv) or `info` (the sitter's default).")
    if options.reprovision_log not in REPROVISION_LOGS:
        raise BadInput(
            f"--reprovision-log {options.reprovision_log!r} is not one of "
            f"{', '.join(REPROVISION_LOGS)}.",
            "Use `append` (the new sitter appends to the log) or `fresh` (a new log file, "
            "as after Triton's reprovision).")


def check_latency(options: UpOptions) -> None:
    if not 0.0 <= options.latency_ms <= MAX_LATENCY_MS:
        raise BadInput(
            f"--latency {options.latency_ms:g} is out of range.",
            f"Give a one-way delay in milliseconds from 0 to {MAX_LATENCY_MS:g} (25 is a "
            "laptop reaching a datacenter on the same continent).",
        )
    if options.latency_ms and options.access != "zlogin":
        raise BadInput(
            "--latency applies to the route through the headnode (--access zlogin).",
            "Drop --access ssh: with a latency the operator reaches the zones through the "
            "headnode, as in Triton.",
        )


def live_processes(directory: Path) -> list[str]:
    pids = directory / "pids"
    if not pids.is_dir():
        return []
    return sorted(p.stem for p in pids.glob("*.pid") if procs.recorded_pid(p) is not None)


def up(directory: Path, options: UpOptions) -> SandboxConfig:
    check_nodes(options.nodes)
    if options.deposed_mode not in DEPOSED_MODES:
        raise BadInput(
            f"--deposed-mode {options.deposed_mode!r} is not one of {', '.join(DEPOSED_MODES)}.",
            "Use `deposed` (current manatee) or `async` (the runbook's 2014 output).",
        )
    if options.access not in ACCESS_MODES:
        raise BadInput(
            f"--access {options.access!r} is not one of {', '.join(ACCESS_MODES)}.",
            "Use `zlogin` (zones behind compute nodes, as in Triton) or `ssh` (an sshd per "
            "zone).",
        )
    if options.access == "zlogin" and not 1 <= options.compute_nodes <= 8:
        raise BadInput(f"--compute-nodes {options.compute_nodes} is out of range.",
                       "Give 1 to 8 compute nodes (2 is the default).")
    check_latency(options)
    check_sitter_logs(options)
    check_reprovision_seconds(options)
    check_session_timeout(options)
    check_prerequisites()
    check_installed()
    directory = directory.resolve()
    if options.pg not in PG_MODES:
        raise BadInput(f"--pg {options.pg!r} is not one of {', '.join(PG_MODES)}.",
                       "Use `real` (a PostgreSQL server per zone) or `sim` (simulated).")
    if options.pg == "real":
        pgdata.check_prerequisites()
    if (directory / SANDBOX_FILE).exists():
        live = live_processes(directory)
        if live:
            if options.reuse:
                return load_config(directory)
            raise Refused(
                f"{directory} already holds a running sandbox ({', '.join(live)}).",
                "Use it as it is (`--reuse`), or stop it first with "
                f"`migrator sandbox down --dir {directory}`.",
            )
        for name in OWNED_ENTRIES:  # a stopped sandbox of ours: start afresh
            _remove(directory / name)
    elif directory.exists() and any(directory.iterdir()):
        raise BadInput(
            f"{directory} is not empty and is not a sandbox directory.",
            "Give `--dir` a new or empty directory (the sandbox writes its zones, keys and "
            "ZooKeeper data there).",
        )
    if options.pg == "real":
        pgdata.check_reachable(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return _bring_up(directory, options)
    except BaseException:
        down(directory)
        raise


def _bring_up(directory: Path, options: UpOptions) -> SandboxConfig:
    server = ZooKeeperServer(directory / "zookeeper")
    server.start()
    assert server.process is not None
    procs.write_pid_file(directory / "pids" / "zookeeper.pid", server.process.pid)
    server.process.returncode = 0  # stopped by pid file from now on
    zones = []
    zlogin = options.access == "zlogin"
    for index in range(options.nodes):
        ip = zone_address(index)
        if zlogin:  # no sshd in the zone
            pg_port, ssh_port = free_ports(ip, 1)[0], 0
        else:
            pg_port, ssh_port = free_ports(ip, 2)
        zones.append(ZoneConfig(new_zone_uuid(), ip, pg_port, ssh_port, "v1"))
    nodes, headnode = _compute_nodes(zones, options) if zlogin else ([], None)
    config = SandboxConfig(directory, server.port, zones, deposed_mode=options.deposed_mode,
                           access=options.access, nodes=nodes, headnode=headnode,
                           sitter_log_level=options.sitter_log_level,
                           v2_sitter_log_level=options.v2_sitter_log_level,
                           reprovision_log=options.reprovision_log, pg=options.pg,
                           latency_ms=options.latency_ms,
                           reprovision_seconds=options.reprovision_seconds,
                           session_timeout=options.session_timeout)
    config.save()
    ensure_client_key(config)
    known_hosts = []
    template = _pg_template(config)
    for zone in zones:
        prepare_zone(config, zone)
        if not zlogin:
            pid, line = start_sshd(config, zone)
            procs.write_pid_file(config.pid_file(f"sshd-{zone.uuid}"), pid)
            known_hosts.append(line)
    if zlogin:
        known_hosts += start_compute_nodes(config)
    if headnode is not None and config.latency_ms:
        known_hosts.append(_start_relays(config, headnode, known_hosts[-1]))
    if template is not None:  # copies in parallel: most of `up --pg real`'s time

        with ThreadPoolExecutor(len(zones)) as pool:
            list(pool.map(lambda z: clone_template(template, config.zone_dir(z)), zones))
    (directory / KNOWN_HOSTS).write_text("\n".join(known_hosts) + "\n")
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
    if options.with_client:
        start_client(config)
    return config


def _start_relays(config: SandboxConfig, headnode: NodeConfig, headnode_line: str) -> str:
    """The delaying relays in front of the headnode and ZooKeeper; the known_hosts line
    for the headnode as the operator reaches it (its own key at the relay's address)."""
    config.relay_ports["headnode"] = start_relay(config, "headnode",
                                                 (headnode.ip, headnode.ssh_port))
    config.relay_ports["zookeeper"] = start_relay(config, "zookeeper",
                                                  ("127.0.0.1", config.zk_port))
    config.save()
    key = headnode_line.split(" ", 1)[1]
    return f"{known_hosts_host(RELAY_ADDRESS, config.relay_ports['headnode'])} {key}"


def _pg_template(config: SandboxConfig) -> Path | None:
    """For `--pg real`: one initdb, searchable directories for the postgres user."""
    if config.pg != "real":
        return None

    make_searchable(config.directory)
    (config.directory / "zones").mkdir(exist_ok=True)
    make_searchable(config.directory / "zones")
    return make_template()


def _compute_nodes(zones: list[ZoneConfig], options: UpOptions
                   ) -> tuple[list[NodeConfig], NodeConfig]:
    """Compute nodes on their own addresses, zones spread over them in turn; a headnode."""
    addresses = [node_address(index) for index in range(options.compute_nodes)]
    port = common_free_port(addresses)
    nodes = [NodeConfig(new_zone_uuid(), ip, port, f"cn{index}")
             for index, ip in enumerate(addresses)]
    for index, zone in enumerate(zones):
        zone.node = nodes[index % len(nodes)].uuid
    headnode = NodeConfig(new_zone_uuid(), HEADNODE_ADDRESS,
                          free_ports(HEADNODE_ADDRESS, 1)[0], "headnode")
    return nodes, headnode


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def down(directory: Path) -> list[str]:
    """Stop every process the sandbox recorded; returns their names. Safe to repeat."""
    directory = directory.resolve()
    pids = directory / "pids"
    if not (directory / SANDBOX_FILE).exists() and not pids.is_dir():
        raise BadInput(
            f"{directory} is not a sandbox directory (it has no {SANDBOX_FILE}).",
            "Pass the directory given to `migrator sandbox up --dir`.",
        )
    stopped = []
    if pids.is_dir():
        # the client and sitters before sshd and ZooKeeper, so nothing logs a lost server
        files = sorted(pids.glob("*.pid"), key=lambda p: (p.stem == "zookeeper",
                                                            p.stem.startswith("sshd-"), p.stem))
        for pid_file in files:
            if pid_file.stem.startswith("reprovision-"):
                # a reprovision under way (started over SSH it leads no process group of
                # its own): stopped before the sitters, so it cannot start one afterwards
                if _stop_reprovision(pid_file):
                    stopped.append(pid_file.stem)
            elif procs.kill_recorded(pid_file,
                                     with_descendants=pid_file.stem.startswith("sshd-")):
                stopped.append(pid_file.stem)
    # a real postgres dies with its sitter; this catches one that outlived it, and frees
    # the shared memory of one that was killed
    zones = directory / "zones"
    if zones.is_dir():
        for datadir in sorted(zones.glob(f"*/{DATA}")):
            if stop_leftover(datadir):
                stopped.append(f"postgres-{datadir.parent.name}")
    return stopped


def _stop_reprovision(pid_file: Path) -> bool:
    pid = procs.recorded_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None or pid == os.getpid():  # one run in this very process ends by itself
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    return True


# ---- sitters ---------------------------------------------------------------------------


# ---- client ----------------------------------------------------------------------------


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


# ---- waits ------------------------------------------------------------------------------


