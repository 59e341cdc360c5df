"""`migrator sandbox ...`: a local shard (real ZooKeeper, simulated peers, real sshd)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click

from migrator.cli.types import FiniteFloat
from migrator.engine.journal_store import audit_dir_of
from migrator.errors import BadInput, MigratorError
from migrator.sandbox import peers, procs
from migrator.sandbox.client import run
from migrator.sandbox.config import (
    RELAY_ADDRESS,
    SESSION_TIMEOUT,
    SHARD,
    SandboxConfig,
    fleet_members,
    load_config,
)
from migrator.sandbox.fleetlayout import fleet_sizes
from migrator.sandbox.fleetview import fleet_config, fleet_status, fleet_verify, fleet_verify_lines
from migrator.sandbox.manage import UpOptions, start_client
from migrator.sandbox.manage import down as take_down
from migrator.sandbox.manage import up as bring_up
from migrator.sandbox.rehearsal import rehearse as run_rehearsal
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.verify import summary_lines
from migrator.sandbox.verify import verify as run_verify
from migrator.ui.output import Output

dir_option = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The sandbox directory.",
)


def _emit(document: object, as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(text)


@click.group()
def sandbox() -> None:
    """A local manatee shard to rehearse on: ZooKeeper, zones, v1/v2 peers."""


@sandbox.command()
@dir_option
@click.option("--nodes", "nodes_text", default="3", show_default=True, metavar="N[,N...]",
              help="Zones a shard, 1 to 5; with --shards, one size for every shard or a "
              "comma list of one size per shard.")
@click.option("--shards", type=int, default=1, show_default=True,
              help="Shards, 1 to 8, on one ZooKeeper, headnode and set of compute nodes; "
              "each in DIR/shards/<shard> with its own inventory.")
@click.option("--shard", default=SHARD, show_default=True,
              help="The name of a one-shard sandbox (two side by side can stand for two "
              "shards of a fleet file).")
@click.option("--triton-shard", is_flag=True,
              help="Also Triton's own shard `sdc` (last; --nodes may give K+1 sizes) on "
              "its own ZooKeeper, with Triton's moray zone; --shards 0: Triton's alone, "
              "no Manta.")
@click.option("--reuse", is_flag=True, help="Accept a DIR whose sandbox is already running.")
@click.option("--with-client", is_flag=True, help="Also start the Moray-like writer.")
@click.option(
    "--deposed-mode",
    type=click.Choice(["deposed", "async"]),
    default="deposed",
    show_default=True,
    help="After a takeover the old primary returns as `deposed` (current manatee) or "
    "as an async (the runbook's 2014 output).",
)
@click.option(
    "--sitter-log-level",
    type=click.Choice(["debug", "info"]),
    default="debug",
    show_default=True,
    help="The sitters' log level: debug as Triton runs them (-vvv), or info, whose logs "
    "lack DEBUG records such as `cluster not yet setup`.",
)
@click.option(
    "--v2-sitter-log-level",
    type=click.Choice(["debug", "info"]),
    default=None,
    help="The v2 sitters' log level, when not --sitter-log-level's (each image's SMF "
    "manifest sets its own): a reprovision then changes the zone's level.",
)
@click.option(
    "--reprovision-log",
    type=click.Choice(["append", "fresh"]),
    default="append",
    show_default=True,
    help="What a reprovision does to the zone's sitter log: the new sitter appends to it "
    "(as one restarted in place), or starts a fresh file (as after Triton's reprovision, "
    "which replaces the zone's root dataset).",
)
@click.option(
    "--pg",
    type=click.Choice(["real", "sim"]),
    default="real",
    show_default=True,
    help="Each zone runs a real PostgreSQL server with streaming replication (`real`), "
    "or the simulated postgres (`sim`, quicker; for engine-only tests).",
)
@click.option(
    "--access",
    type=click.Choice(["zlogin", "ssh"]),
    default="zlogin",
    show_default=True,
    help="zlogin: zones without sshd, reached through compute nodes and a headnode, as in "
    "Triton; ssh: an sshd in every zone.",
)
@click.option("--compute-nodes", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Compute nodes hosting the zones (--access zlogin).")
@click.option("--latency", "latency_ms", type=FiniteFloat(positive=False), default=0.0,
              metavar="MS",
              help="Delay, in milliseconds each way, on the operator's route to the "
              "headnode and ZooKeeper, as from a laptop to a remote datacenter (--access "
              "zlogin; loopback relays).")
@click.option("--reprovision-seconds", type=FiniteFloat(positive=False), default=None,
              metavar="S",
              help="How long every reprovision of a zone takes, in seconds (0 to 600) "
              "[default: until the zone's election node expires, then 0.5 s].")
@click.option("--session-timeout", type=FiniteFloat(positive=False), default=SESSION_TIMEOUT,
              show_default=True, metavar="S",
              help="The sitters' ZooKeeper session timeout in seconds (1 to 20): how long "
              "a lost peer's election node outlives it. Production's is longer.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def up(
    directory: Path, nodes_text: str, shards: int, shard: str, triton_shard: bool,
    reuse: bool, with_client: bool,
    deposed_mode: str,
    sitter_log_level: str, v2_sitter_log_level: str | None, reprovision_log: str, pg: str,
    access: str, compute_nodes: int, latency_ms: float,
    reprovision_seconds: float | None, session_timeout: float, as_json: bool,
) -> None:
    """Start ZooKeeper, N zones (v1 sitter + postgres each), their access, write
    DIR/inventory.yaml.

    With --access zlogin (the default) the zones run no sshd: compute nodes (an
    sshd each, with zlogin) host them and a headnode (sdc-vmapi, sdc-cnapi,
    sapiadm...) knows them; DIR/headnode.yaml names only the headnode, for
    `migrator inventory discover`.

    With --latency MS the inventories name delaying relays instead of the headnode
    and ZooKeeper: every packet between the operator and the datacenter waits MS
    milliseconds each way, while the zones, nodes and ZooKeeper talk directly.

    With --shards K (2 to 8) every shard 1.moray.sandbox.test, 2.moray... is a
    sandbox of its own in DIR/shards/<shard> (its inventory.yaml, and every sandbox
    command takes its directory), sharing one ZooKeeper, the compute nodes and
    the headnode, which DIR/headnode.yaml names (for `migrator fleet discover`).
    With --triton-shard the fleet also has Triton's own shard, sdc, in
    DIR/shards/sdc, on a second ZooKeeper (Triton's binder, named by the
    headnode's SAPI sdc application); with --shards 0 it is the only shard and
    the headnode has no Manta.
    """

    sizes, triton_size = fleet_sizes(nodes_text, shards, triton_shard)
    nodes = sizes[0] if sizes else triton_size or 3
    config = bring_up(directory, UpOptions(nodes, reuse, with_client, deposed_mode,
                                           shards=shards, shard=shard,
                                           shard_nodes=tuple(sizes) if shards > 1 or
                                           triton_shard else (),
                                           access=access, compute_nodes=compute_nodes,
                                           sitter_log_level=sitter_log_level,
                                           v2_sitter_log_level=v2_sitter_log_level,
                                           reprovision_log=reprovision_log, pg=pg,
                                           latency_ms=latency_ms,
                                           reprovision_seconds=reprovision_seconds,
                                           session_timeout=session_timeout,
                                           triton_zones=triton_size))
    if config.shards:
        _report_fleet(config, as_json)
        return
    inventory = config.directory / "inventory.yaml"
    lines = _shared_lines(config, f"Sandbox shard {config.shard} is up in {config.directory}.")
    for zone in config.zones:
        node = config.node_of(zone)
        where = f"on {node.hostname} (zlogin)" if node else f"ssh port {zone.ssh_port}"
        lines.append(f"zone {zone.uuid}  {zone.ip}  {where}  manatee {zone.version}")
    if config.access == "zlogin":
        lines.append(f"Headnode-only inventory: {config.directory / 'headnode.yaml'}")
    lines.append(f"Use it with: migrator status --inventory {inventory}")
    _emit({"directory": str(config.directory), "inventory": str(inventory),
           "zookeeper": config.operator_zk_connection, "latencyMs": config.latency_ms,
           "reprovisionSeconds": config.reprovision_delay,
           "sessionTimeout": config.session_timeout,
           "zones": [z.uuid for z in config.zones]},
          as_json, "\n".join(lines))


def _shared_lines(config: SandboxConfig, first: str) -> list[str]:
    """The `up` report's first lines, a shard's or a fleet's: ZooKeeper, the headnode,
    the operator's route and the compute nodes."""
    lines = [first, f"ZooKeeper: {config.zk_connection} (the sitters' session timeout "
                    f"{config.session_timeout:g} s)"]
    if config.headnode is not None:
        lines.append(f"headnode {config.headnode.ip}  ssh port {config.headnode.ssh_port}")
    if config.relay_ports:
        lines.append(f"the operator's route: {config.latency_ms:g} ms each way (ZooKeeper "
                     f"at {config.operator_zk_connection}, the headnode at "
                     f"{RELAY_ADDRESS} port {config.operator_headnode_port})")
    return lines + [f"compute node {n.uuid} ({n.hostname})  {n.ip}  ssh port {n.ssh_port}"
                    for n in config.nodes]


def _report_fleet(config: SandboxConfig, as_json: bool) -> None:
    members = fleet_members(config)
    lines = _shared_lines(config, f"Sandbox fleet of {len(members)} shards is up in "
                          f"{config.directory}.")
    for member in members:
        lines.append(f"shard {member.shard}: {member.directory / 'inventory.yaml'}")
        for zone in member.zones:
            node = member.node_of(zone)
            where = f"on {node.hostname} (zlogin)" if node else f"ssh port {zone.ssh_port}"
            lines.append(f"  zone {zone.uuid}  {zone.ip}  {where}  manatee {zone.version}")
    lines.append(f"Headnode-only inventory: {config.directory / 'headnode.yaml'}")
    _emit({"directory": str(config.directory),
           "headnodeInventory": str(config.directory / "headnode.yaml"),
           "zookeeper": config.operator_zk_connection, "latencyMs": config.latency_ms,
           "reprovisionSeconds": config.reprovision_delay,
           "sessionTimeout": config.session_timeout,
           "shards": [{"shard": m.shard, "directory": str(m.directory),
                       "inventory": str(m.directory / "inventory.yaml"),
                       "zones": [z.uuid for z in m.zones]} for m in members]},
          as_json, "\n".join(lines))


@sandbox.command()
@dir_option
def down(directory: Path) -> None:
    """Stop every process the sandbox started (safe to run twice)."""
    connections = _operator_zookeepers(directory)
    stopped = take_down(directory)
    click.echo(f"Stopped {len(stopped)} process(es)." if stopped else "Nothing was running.")
    for connection in connections:
        # a rehearsal's journals are no operator's record: they go with the sandbox
        audit = audit_dir_of(connection)
        if audit.is_dir():
            shutil.rmtree(audit, ignore_errors=True)
            click.echo(f"Removed the sandbox's audit copies in {audit}.")


def _operator_zookeepers(directory: Path) -> list[str]:
    """The sandbox's ZooKeeper(s) as its inventories name them: a fleet's top names its
    shards' ensemble and, with Triton's shard, the binder's (none: not a readable
    sandbox, or one shard of a fleet, whose ZooKeeper and audit copies others share)."""
    try:
        config = load_config(directory.resolve())
    except MigratorError:
        return []
    if config.fleet_root:
        return []
    found = [config.operator_zk_connection]
    for shard in config.shards:
        try:
            connection = load_config(config.shard_directory(shard)).operator_zk_connection
        except MigratorError:
            continue
        if connection not in found:
            found.append(connection)
    return found


@sandbox.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(directory: Path, as_json: bool) -> None:
    """Peers, roles, versions, reprovision jobs and the client's outage windows."""
    fleet = fleet_config(directory)
    out = Output(as_json=as_json)
    if fleet is not None:
        found = fleet_status(fleet)
        if as_json:
            out.json(found)
            return
        out.heading(f"Sandbox fleet {found['directory']} ({len(found['shards'])} shards, "
                    f"ZooKeeper {found['zookeeper'] or 'stopped'}, headnode "
                    f"{found['headnode'] or '-'})")
        for document in found["shards"]:
            _print_status(out, document)
        return
    document = sandbox_status(directory)
    if as_json:
        out.json(document)
        return
    _print_status(out, document)


def _print_status(out: Output, document: dict[str, Any]) -> None:
    state = document["state"]
    out.heading(f"Sandbox {document['directory']} (shard {document['shard']}, "
                f"ZooKeeper {document['zookeeper'] or 'stopped'})")
    out.heading("state: none" if state is None else
                f"state: generation {state['generation']}, "
                f"{'frozen' if state['frozen'] else 'not frozen'}")
    rows = [
        [p["zone"], p["ip"], p["route"], p["version"], p["sitter"], p["election_role"] or "-",
         p["state_role"] or "-", (p["pg"] or {}).get("wal", "offline"),
         "yes" if (p["pg"] or {}).get("writable") else "no"]
        for p in document["peers"]
    ]
    out.table(["ZONE", "IP", "ROUTE", "VERSION", "SITTER", "ELECTION", "STATE", "WAL",
               "WRITABLE"], rows)
    for p in document["peers"]:
        if p["sitter"] in ("maintenance", "restarting"):
            out.heading(f"{p['zone']}: sitter {p['sitter']}: {p['service'].get('reason')}"
                        + (" (`migrator sandbox start-peer` clears it)"
                           if p["sitter"] == "maintenance" else ""))
    for job in document["jobs"]:
        out.heading(f"headnode job {job['uuid']}: reprovision of {job['zone']} "
                    f"{job['execution']} (created {job['created_at']})")
    client = document["client"]
    outages = client["outages"]
    out.heading(f"client: {'running' if client['running'] else 'stopped'}, "
                f"{len(outages)} outage window(s)")
    for window in outages:
        out.heading(f"  {window['start']} .. {window['end']}  {window['seconds']:.3f} s")
    writes = client.get("writes")
    if writes is not None:
        lines = [writes["error"]] if "error" in writes else summary_lines(writes)
        out.heading("writes: " + lines[0])
        for line in lines[1:]:
            out.heading(line)


@sandbox.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option("--timeout", type=FiniteFloat(), default=15.0, show_default=True,
              help="Seconds to wait for each standby to catch up with the primary.")
def verify(directory: Path, as_json: bool, timeout: float) -> None:
    """Read every acknowledged write back from the primary and the standbys (--pg real).

    Exit status 1 when an acknowledged write is lost or a peer's history forked. A
    fleet's top directory: every shard, a verdict each and one overall."""

    fleet = fleet_config(directory)
    if fleet is not None:
        found = fleet_verify(fleet, timeout)
        _emit(found, as_json, "\n".join(fleet_verify_lines(found)))
        if not found["ok"]:
            raise SystemExit(1)
        return
    result = run_verify(directory, timeout)
    _emit(result, as_json, "\n".join(summary_lines(result)))
    if not result["ok"]:
        raise SystemExit(1)


@sandbox.command()
@dir_option
@click.argument("zone")
@click.option("--to", "to", required=True,
              help="v1 or v2 (or their release strings or image UUIDs).")
@click.option("--delay", type=FiniteFloat(positive=False), default=None,
              help="Seconds the zone stays down [default: the sandbox's "
              "--reprovision-seconds, else until its election node has expired, then 0.5 s].")
@click.option("--log", "log", type=click.Choice(["append", "fresh"]), default=None,
              help="The new sitter appends to the zone's sitter log, or starts a fresh "
              "one [default: the sandbox's --reprovision-log].")
@click.option("--json", "as_json", is_flag=True)
def reprovision(directory: Path, zone: str, to: str, delay: float | None, log: str | None,
                as_json: bool) -> None:
    """Reprovision ZONE: stop its sitter, wait, start it at version --to."""
    result = peers.reprovision(directory, zone, to, delay, log)
    _emit(result, as_json, f"Reprovisioned zone {result['zone']} to {result['version']} "
          f"(down {result['delay']:g} s, from {result['started']} to {result['finished']}).")


@sandbox.command("reprovision-status")
@dir_option
@click.argument("zone")
def reprovision_status(directory: Path, zone: str) -> None:
    """Print `running` while a reprovision of ZONE is under way, else `idle`."""
    click.echo(peers.reprovision_status(directory, zone))


@sandbox.command("stop-peer")
@dir_option
@click.argument("zone")
def stop_peer(directory: Path, zone: str) -> None:
    """Kill ZONE's sitter (its ZooKeeper session then times out)."""
    result = peers.stop_peer(directory, zone)
    click.echo(f"Stopped the sitter of zone {result['zone']}." if result["stopped"]
               else f"The sitter of zone {result['zone']} was not running.")


@sandbox.command("start-peer")
@dir_option
@click.argument("zone")
def start_peer(directory: Path, zone: str) -> None:
    """Start ZONE's sitter at its current version."""
    result = peers.start_peer(directory, zone)
    click.echo(f"Started the sitter of zone {result['zone']} ({result['version']}); "
               f"election node {result['election_node']}.")


@sandbox.command()
@dir_option
@click.option("--stop", is_flag=True, help="Stop the running client instead.")
@click.option("--foreground", is_flag=True, help="Run in this terminal until interrupted.")
def client(directory: Path, stop: bool, foreground: bool) -> None:
    """Start (or stop) the Moray-like writer that records outage windows."""
    config = load_config(directory.resolve())
    if config.shards:
        raise BadInput(
            f"{config.directory} is a fleet sandbox: each shard has its own client.",
            f"Give a shard's directory, e.g. --dir {config.shard_directory(config.shards[0])}.")
    if stop:
        stopped = procs.kill_recorded(config.pid_file("client"))
        click.echo("Stopped the client." if stopped else "The client was not running.")
        return
    if foreground:
        run(config.directory)
        return
    pid = start_client(config)
    click.echo(f"Started the client (pid {pid}); its outage windows are in "
               f"{config.directory / 'client' / 'outages.jsonl'}.")


@sandbox.command()
@dir_option
@click.option("--nodes", type=int, default=3, show_default=True)
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards.")
@click.option("--pg", type=click.Choice(["real", "sim"]), default="real", show_default=True,
              help="Real PostgreSQL servers in the zones, or the simulated postgres.")
def rehearse(directory: Path, nodes: int, keep: bool, pg: str) -> None:
    """Bring a sandbox up and walk the runbook's migration on it with the expert commands."""
    for line in run_rehearsal(directory, nodes=nodes, keep=keep, pg=pg):
        click.echo(line)
