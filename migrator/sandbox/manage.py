"""up, down, reprovision, stop-peer, start-peer: the sandbox's lifecycle.

Every process is started detached with a pid file under DIR/pids, so `down`
(from any later command) stops exactly what `up` started, and is a no-op the
second time. `up --shards K` (K >= 2) brings up a fleet (``migrator.sandbox.fleetup``), as
does `up --triton-shard` (K Manta shards, 0 or more, and Triton's own ``sdc``);
`down` of a fleet's top directory stops its VMAPI jobs, then every shard, then what the
shards share. Waits are bounded and event-driven: ZooKeeper watches for peers
joining, the simulated postgres's own "wait until writable" request for the
shard being ready.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from migrator.errors import BadInput, Refused
from migrator.inventory.values import check_shard_name
from migrator.sandbox import pgdata, procs
from migrator.sandbox.config import (
    ACCESS_MODES,
    BINDER,
    DEPOSED_MODES,
    LOG_LEVELS,
    MAX_NODES,
    MAX_SESSION_TIMEOUT,
    MAX_SHARDS,
    MIN_SESSION_TIMEOUT,
    PG_MODES,
    REPROVISION_LOGS,
    SANDBOX_FILE,
    SESSION_TIMEOUT,
    SHARD,
    SHARDS_DIR,
    SandboxConfig,
    ZoneConfig,
    load_config,
    new_zone_uuid,
    zone_address,
)
from migrator.sandbox.fleetup import bring_up_fleet
from migrator.sandbox.nodes import start_compute_nodes
from migrator.sandbox.pgdata import DATA, clone_template, stop_leftover
from migrator.sandbox.ports import free_ports
from migrator.sandbox.sshd import check_installed

# UpOptions and start_client are re-exported: the CLI, tests and benchmarks import
# them from here
from migrator.sandbox.startup import UpOptions as UpOptions
from migrator.sandbox.startup import (
    compute_nodes,
    pg_template,
    start_relays,
    start_shard,
    start_zookeeper,
)
from migrator.sandbox.startup import start_client as start_client
from migrator.sandbox.zkserver import check_prerequisites
from migrator.sandbox.zones import KNOWN_HOSTS, ensure_client_key, prepare_zone, start_sshd

OWNED_ENTRIES = ("zones", "zookeeper", "pids", "client", "inventory.yaml", KNOWN_HOSTS,
                 "authorized_keys", "id_ed25519", "id_ed25519.pub", SANDBOX_FILE,
                 "nodes", "headnode", "headnode.yaml", "relays", SHARDS_DIR, BINDER)
MAX_LATENCY_MS = 1000.0
MAX_COMPUTE_NODES = 16


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
            "minutes; by default a zone is down until its session has expired).")


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
    """The processes of the sandbox still running (a fleet's: its shards' too)."""
    files = list(directory.glob("pids/*.pid")) + list(directory.glob(f"{SHARDS_DIR}/*/pids/*.pid"))
    return sorted(p.stem for p in files if procs.recorded_pid(p) is not None)


def check_triton(options: UpOptions) -> None:
    """`up --triton-shard`: a fleet whose last shard is Triton's own."""
    if options.triton_zones is None:
        return
    check_nodes(options.triton_zones)
    if not 0 <= options.shards <= MAX_SHARDS:
        raise BadInput(
            f"--shards {options.shards} is out of range: with --triton-shard a sandbox "
            f"fleet has 0 to {MAX_SHARDS} Manta shards.",
            f"Pass --shards 0 (Triton's shard alone) to {MAX_SHARDS}.")
    if options.access != "zlogin":
        raise BadInput("--triton-shard runs Triton's shard behind the fleet's compute nodes "
                       "and headnode (--access zlogin).", "Drop --access ssh.")
    if options.latency_ms:
        raise BadInput("--triton-shard and --latency cannot be combined: the delaying relays "
                       "stand in front of one ZooKeeper, and Triton's shard has its own.",
                       "Drop --latency, or --triton-shard.")
    if options.shard != SHARD:
        raise BadInput("--shard names a one-shard sandbox; Triton's shard is named sdc.",
                       "Drop --shard.")


def check_fleet(options: UpOptions) -> None:
    if options.triton_zones is not None:
        check_triton(options)
        for size in options.shard_sizes():
            check_nodes(size)
        return
    sizes = options.shard_sizes()
    if not 1 <= options.shards <= MAX_SHARDS:
        raise BadInput(
            f"--shards {options.shards} is out of range: a sandbox fleet has 1 to "
            f"{MAX_SHARDS} shards.",
            f"Pass --shards 1 to {MAX_SHARDS} (1, the default, is a one-shard sandbox).")
    if len(sizes) != options.shards:
        raise BadInput(
            f"{len(sizes)} shard sizes were given for --shards {options.shards}.",
            f"Give one size for every shard or exactly {options.shards}, one per shard.")
    for size in sizes:
        check_nodes(size)
    if options.shard != SHARD:
        try:
            check_shard_name(options.shard)
        except ValueError as exc:
            raise BadInput(f"--shard: {exc}.", "Give a name such as 2.moray.sandbox.test."
                           ) from None
        if options.shards > 1:
            raise BadInput("--shard names a one-shard sandbox; a fleet's shards are named "
                           "1.moray.sandbox.test, 2.moray... .",
                           "Drop --shard, or drop --shards.")
    if options.shards > 1 and options.access != "zlogin":
        raise BadInput(
            "--shards runs the shards' zones behind shared compute nodes and one headnode "
            "(--access zlogin).",
            "Drop --access ssh: a sandbox fleet's zones are reached by zlogin, as in Manta.")


def up(directory: Path, options: UpOptions) -> SandboxConfig:
    """Bring a sandbox up in ``directory``: one shard, or with ``options.shards`` >= 2 or
    Triton's own shard (``options.triton_zones``) a fleet (the config returned is then
    the fleet's top, ``shards`` naming them)."""
    check_nodes(options.nodes)
    check_fleet(options)
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
    if options.access == "zlogin" and not 1 <= options.compute_nodes <= MAX_COMPUTE_NODES:
        raise BadInput(f"--compute-nodes {options.compute_nodes} is out of range.",
                       f"Give 1 to {MAX_COMPUTE_NODES} compute nodes (2 is the default; "
                       "as many as a fleet's zones gives every zone a node of its own).")
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
        if options.shards > 1 or options.triton_zones is not None:
            if options.zookeeper_port is not None:
                raise BadInput("A sandbox fleet starts its own ZooKeeper; it cannot be lent one.",
                               "Drop `zookeeper_port` from the fleet's options.")
            return bring_up_fleet(directory, options)
        return _bring_up(directory, options)
    except BaseException:
        down(directory)
        raise


def _bring_up(directory: Path, options: UpOptions) -> SandboxConfig:
    lent = options.zookeeper_port is not None
    zk_port = (options.zookeeper_port if options.zookeeper_port is not None
               else start_zookeeper(directory))
    zones = []
    zlogin = options.access == "zlogin"
    for index in range(options.nodes):
        ip = zone_address(index)
        if zlogin:  # no sshd in the zone
            pg_port, ssh_port = free_ports(ip, 1)[0], 0
        else:
            pg_port, ssh_port = free_ports(ip, 2)
        zones.append(ZoneConfig(new_zone_uuid(), ip, pg_port, ssh_port, "v1"))
    nodes, headnode = compute_nodes(zones, options) if zlogin else ([], None)
    config = options.config(directory, zk_port, zones, nodes, headnode, shard=options.shard,
                            zookeeper_lent=lent)
    config.save()
    ensure_client_key(config)
    known_hosts = []
    template = pg_template(config)
    for zone in zones:
        prepare_zone(config, zone)
        if not zlogin:
            pid, line = start_sshd(config, zone)
            procs.write_pid_file(config.pid_file(f"sshd-{zone.uuid}"), pid)
            known_hosts.append(line)
    if zlogin:
        known_hosts += start_compute_nodes(config)
    if headnode is not None and config.latency_ms:
        known_hosts.append(start_relays(config, headnode, known_hosts[-1]))
    if template is not None:  # copies in parallel: most of `up --pg real`'s time

        with ThreadPoolExecutor(len(zones)) as pool:
            list(pool.map(lambda z: clone_template(template, config.zone_dir(z)), zones))
    (directory / KNOWN_HOSTS).write_text("\n".join(known_hosts) + "\n")
    start_shard(config, options.with_client)
    return config


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
    shards = sorted((directory / SHARDS_DIR).glob(f"*/{SANDBOX_FILE}"))
    if shards:
        # a fleet: the headnode's jobs first (one could start a sitter after its shard
        # stopped), then every shard, then what they share
        for pid_file in sorted(pids.glob("job-*.pid")):
            if procs.kill_recorded(pid_file):
                stopped.append(pid_file.stem)
        for shard_file in shards:
            stopped += down(shard_file.parent)
    if pids.is_dir():
        # the client and sitters before sshd and ZooKeeper, so nothing logs a lost server
        files = sorted(pids.glob("*.pid"), key=lambda p: (p.stem.startswith("zookeeper"),
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
        # a fleet's DIR/zones holds links to its shards' zones, stopped with them
        for datadir in sorted(d for d in zones.glob(f"*/{DATA}") if not d.parent.is_symlink()):
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


# ---- waits ------------------------------------------------------------------------------


