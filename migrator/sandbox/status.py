"""`sandbox status`: peers (process, version, roles by election and by /state, postgres),
the headnode's reprovision jobs under way and the client's outage windows, as one
JSON-able document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.errors import MigratorError, ZooKeeperUnavailable
from migrator.outagerecords import read_outages, read_stats
from migrator.sandbox import procs
from migrator.sandbox.admzk import pg_status
from migrator.sandbox.config import load_config
from migrator.sandbox.jobs import PENDING, all_jobs
from migrator.sandbox.peers import sitter_pid_file
from migrator.sandbox.shard import election_children, zk_client
from migrator.sandbox.supervisor import read_service
from migrator.sandbox.verify import verify
from migrator.sandbox.zkserver import ruok
from migrator.zk import reads


def sandbox_status(directory: Path) -> dict[str, Any]:
    directory = directory.resolve()
    config = load_config(directory)
    # a shard of a fleet: ZooKeeper and the headnode's jobs are the fleet top's
    owner = config.owner_directory
    zk_running = (ruok("127.0.0.1", config.zk_port) if config.zookeeper_lent
                  else procs.recorded_pid(owner / "pids" / "zookeeper.pid") is not None)
    election: list[str] = []
    state: dict[str, Any] | None = None
    if zk_running:
        try:
            with zk_client(config) as client:
                names = election_children(client, config)
                election = sorted(names, key=lambda n: n.rsplit("-", 1)[1])
                found = reads.read_state_bytes(client, config.shard)
                state = None if found is None else json.loads(found[0])
        except ZooKeeperUnavailable:
            zk_running = False
    ids_in_order = [n.rsplit("-", 1)[0] for n in election]
    peers = []
    for zone in config.zones:
        position = ids_in_order.index(zone.peer_id) if zone.peer_id in ids_in_order else None
        pg = pg_status(zone.ident(), config.pg == "real")
        peers.append({
            "zone": zone.uuid,
            "ip": zone.ip,
            "id": zone.peer_id,
            "version": zone.version,
            **sitter_service(config, zone, sitter_pid_file(config, zone)),
            "route": zone_route(config, zone),
            # zones reached by zlogin run no sshd of their own
            "sshd": None if zone.node else f"{zone.ip}:{zone.ssh_port}",
            "election_position": position,
            "election_role": None if position is None
            else ("primary", "sync")[position] if position < 2 else "async",
            "state_role": _state_role(state, zone.peer_id),
            "pg": None if pg is None else {k: pg[k] for k in ("role", "wal", "writable")},
        })
    stats = read_stats(config.client_dir)
    return {
        "pg": config.pg,
        "directory": str(directory),
        "shard": config.shard,
        "zookeeper": config.zk_connection if zk_running else None,
        "inventory": str(directory / "inventory.yaml"),
        "state": None if state is None else {
            "generation": state.get("generation"),
            "frozen": bool(state.get("freeze")),
            "primary": (state.get("primary") or {}).get("id"),
        },
        "peers": peers,
        # the headnode's reprovision jobs still queued or running (--access zlogin)
        "jobs": [{"uuid": job["uuid"], "zone": job["params"]["vm_uuid"],
                  "execution": job["execution"], "created_at": job["created_at"]}
                 for job in all_jobs(owner) if job["execution"] in PENDING
                 and job["params"]["vm_uuid"] in {z.uuid for z in config.zones}],
        "client": {
            "running": procs.recorded_pid(config.pid_file("client")) is not None,
            "stats": stats,
            "outages": read_outages(config.client_dir),
            # real postgres only: `sandbox verify`'s counts
            **({"writes": _writes(directory, config.pg, zk_running)} if config.pg == "real"
               else {}),
        },
    }


def zone_route(config: Any, zone: Any) -> str:
    """How the tools reach the zone: ``ssh IP:PORT`` to its own sshd, or ``zlogin via
    HOSTNAME`` from the compute node hosting it (--access zlogin)."""
    node = config.node_of(zone)
    return f"zlogin via {node.hostname}" if node else f"ssh {zone.ip}:{zone.ssh_port}"


def sitter_service(config: Any, zone: Any, pid_file: Path) -> dict[str, Any]:
    """``sitter``: running, restarting (dead, its supervisor waiting to restart it),
    maintenance (restarted too often; `sandbox start-peer` clears it) or stopped; and
    ``service``, what the supervisor last wrote (reason, restarts)."""

    service = read_service(config.zone_dir(zone))
    alive = procs.recorded_pid(pid_file) is not None
    if alive:
        sitter = "restarting" if service.get("state") == "offline" else "running"
    else:
        sitter = "maintenance" if service.get("state") == "maintenance" else "stopped"
    return {"sitter": sitter, "service": service or None}
def _writes(directory: Path, pg: str, zk_running: bool) -> dict[str, Any] | None:
    """`sandbox verify`'s counts (real postgres only; a short catch-up wait)."""
    if pg != "real" or not zk_running or not (directory / "client" / "acked").exists():
        return None

    try:
        return verify(directory, timeout=3.0)
    except MigratorError as exc:
        return {"error": exc.message}


def _state_role(state: dict[str, Any] | None, peer_id: str) -> str | None:
    if state is None:
        return None
    if (state.get("primary") or {}).get("id") == peer_id:
        return "primary"
    if (state.get("sync") or {}).get("id") == peer_id:
        return "sync"
    for role in ("async", "deposed"):
        if any(p.get("id") == peer_id for p in state.get(role) or []):
            return role
    return None
