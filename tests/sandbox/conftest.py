"""A real sandbox per test (ZooKeeper, sshd per zone, sitter processes), always torn down."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.zones import ssh_user
from tests.conftest import SandboxFactory

__all__ = ["SandboxFactory"]

def zone_ssh(config: SandboxConfig, zone: ZoneConfig, command: str, stdin: str = "") -> Any:
    """Run ``command`` in the zone over its real sshd (or, with --access zlogin, by
    ``zlogin`` on its compute node), host key checked against the sandbox's known_hosts."""
    node = config.node_of(zone)
    host, port = (zone.ip, zone.ssh_port) if node is None else (node.ip, node.ssh_port)
    if node is not None:
        command = f"zlogin -Q {shlex.quote(zone.uuid)} {shlex.quote(command)}"
    argv = [
        "ssh", "-F", "/dev/null",
        "-i", str(config.directory / "id_ed25519"),
        "-o", f"UserKnownHostsFile={config.directory / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=5",
        "-p", str(port),
        f"{ssh_user()}@{host}",
        command,
    ]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30,
                          check=False)


def adm(config: SandboxConfig, zone: ZoneConfig, *args: str) -> Any:
    result = zone_ssh(config, zone, "manatee-adm " + " ".join(shlex.quote(a) for a in args))
    assert result.returncode == 0, result.stderr
    return result.stdout


def adm_status(config: SandboxConfig, zone: ZoneConfig) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(adm(config, zone, "status"))[config.shard]
    return document


def log_of(config: SandboxConfig, zone: ZoneConfig) -> Path:
    return config.zone_dir(zone) / "sitter.log"
