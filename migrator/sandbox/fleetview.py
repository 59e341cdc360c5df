"""`sandbox status` and `sandbox verify` of a fleet sandbox's top directory: each shard's
own document (``migrator.sandbox.status``, ``migrator.sandbox.verify``), by shard.

Shapes (`--json`):
  status  {"fleet": true, "directory", "zookeeper" (null when stopped), "binder"
           (Triton's own ZooKeeper with `up --triton-shard` beside Manta shards; null
           when stopped or there is none), "headnode",
           "shards": [<sandbox status of the shard>, ...]}, in shard order;
  verify  {"ok": <every shard ok>, "shards": {"<shard>": <sandbox verify of the shard>
           | {"ok": false, "error": "<why it could not be verified>"}}}.
A shard that cannot be verified (its ZooKeeper or primary unreachable) fails the
verdict but does not stop the others from being checked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from migrator.errors import BadInput, MigratorError
from migrator.sandbox import procs
from migrator.sandbox.config import BINDER, SandboxConfig, fleet_members, load_config
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.verify import CATCH_UP_TIMEOUT, summary_lines, verify


def fleet_config(directory: Path) -> SandboxConfig | None:
    """The fleet's top config when ``directory`` is a fleet sandbox's top, else None."""
    config = load_config(directory.resolve())
    return config if config.shards else None


def fleet_status(config: SandboxConfig) -> dict[str, Any]:
    zk_running = procs.recorded_pid(config.pid_file("zookeeper")) is not None
    binder_running = procs.recorded_pid(config.pid_file(BINDER)) is not None
    headnode = config.headnode
    return {
        "fleet": True,
        "directory": str(config.directory),
        "zookeeper": config.zk_connection if zk_running else None,
        "binder": f"127.0.0.1:{config.binder_port}"
        if config.binder_port is not None and binder_running else None,
        "headnode": None if headnode is None else f"{headnode.ip}:{headnode.ssh_port}",
        "shards": [sandbox_status(member.directory) for member in fleet_members(config)],
    }


def fleet_verify(config: SandboxConfig, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    if config.pg != "real":
        raise BadInput(
            f"The fleet sandbox in {config.directory} runs the simulated postgres (--pg "
            "sim); there are no rows to verify.",
            "Bring one up with `migrator sandbox up --shards K --pg real --with-client`.")

    def one(member: SandboxConfig) -> dict[str, Any]:
        try:
            return verify(member.directory, timeout)
        except MigratorError as exc:
            return {"ok": False, "error": exc.paragraph()}

    members = fleet_members(config)
    with ThreadPoolExecutor(len(members)) as pool:
        results = list(pool.map(one, members))
    by_shard = {member.shard: result for member, result in zip(members, results, strict=True)}
    return {"ok": all(r["ok"] for r in results), "shards": by_shard}


def fleet_verify_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for shard, found in result["shards"].items():
        if "error" in found:
            lines.append(f"shard {shard}: NOT VERIFIED: {found['error']}")
            continue
        lines.append(f"shard {shard}: {'ok' if found['ok'] else 'NOT OK'}")
        lines += ["  " + line for line in summary_lines(found)]
    failed = [shard for shard, found in result["shards"].items() if not found["ok"]]
    lines.append("verdict: " + ("every shard's acknowledged writes are accounted for"
                                if not failed else f"NOT OK (shards {', '.join(failed)})"))
    return lines
