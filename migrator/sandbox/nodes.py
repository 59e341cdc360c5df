"""The sandbox's compute nodes: a global zone per node with `zlogin`, `svcs -z` and /zones.

With ``sandbox up --access zlogin`` (the default) zones run no sshd. Each
compute node is an sshd on its own loopback address whose commands run with
the node's ``bin/`` on PATH, holding:
  zlogin [-Q] ZONE COMMAND...   joins COMMAND's words with spaces, as illumos'
                                zlogin does, and runs the line with /bin/sh (eval)
                                in the zone's context (its PATH, ZONENAME, SHARD,
                                ZK_IPS from DIR/zones/<uuid>/zone.env, cwd /);
                                an unknown zone: "No such zone configured", 1
  svcs -z ZONE -L manatee-sitter
                                the sitter log's path as the zone sees it

and a zones root, DIR/nodes/<node>/zones, where ``<uuid>/root`` shows each of
its zones' files the way /zones/<uuid>/root does on SmartOS. Decision: we
cannot write /zones on a CI machine, so the node's ``zones_root`` is that
directory and the inventory names it. A zone here has no root file system of
its own (its commands run in the host's), so ``<uuid>/root`` holds only the
path to the zone's own directory, DIR/zones/<uuid>, as a symbolic link to it:
``<root>/<DIR>/zones/<uuid>/sitter.log`` is the zone's sitter log, as
``/zones/<uuid>/root/var/svc/log/...`` is on SmartOS, and nothing else of the
host is reachable through it.

Both commands are shell scripts generated for the node's zones: a command
through zlogin costs one /bin/sh start more than on the node itself,
not a Python interpreter.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from migrator.errors import MigratorError
from migrator.sandbox import procs
from migrator.sandbox.config import FORCE_COMMAND, SandboxConfig, ZoneConfig
from migrator.sandbox.headnode_records import write_headnode_bin, write_records
from migrator.sandbox.sshd import SshServer

ZLOGIN = """#!/bin/sh
# zlogin [-Q] ZONE COMMAND...: the sandbox's zlogin (see migrator/sandbox/nodes.py)
while [ $# -gt 0 ]; do
    case $1 in
        -Q|-q) shift ;;
        -*) echo "zlogin: unsupported option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "usage: zlogin [-Q] zone command ..." >&2
    exit 2
fi
zone=$1
shift
case $zone in
    {cases}) ;;
    *) echo "zlogin: $zone: No such zone configured" >&2; exit 1 ;;
esac
. {zones}/"$zone"/zone.env
cd / || exit 1
# The joined line is run by this same /bin/sh (eval, not a second sh -c: one process
# start less per command); nothing of ours but this one variable is left in its way.
__zlogin_line=$*
unset zone
eval "$__zlogin_line"
"""

SVCS = """#!/bin/sh
# svcs -z ZONE -L manatee-sitter: the sandbox's svcs (see migrator/sandbox/nodes.py)
if [ $# -ne 4 ] || [ "$1" != -z ] || [ "$3" != -L ] || [ "$4" != manatee-sitter ]; then
    echo "usage: svcs -z zone -L manatee-sitter" >&2
    exit 2
fi
case $2 in
    {cases}) echo {zones}/"$2"/sitter.log ;;
    *) echo "svcs: $2: No such zone" >&2; exit 1 ;;
esac
"""


def zone_env_text(env: Mapping[str, str]) -> str:
    """A zone's environment as sh assignments (values quoted)."""
    return "".join(f"{name}={shlex.quote(value)}\nexport {name}\n"
                   for name, value in env.items())


def write_zone_env(zone_dir: Path, env: Mapping[str, str]) -> None:
    (zone_dir / "zone.env").write_text(zone_env_text(env))


def write_node_bin(bindir: Path, zones_dir: Path, zone_ids: Iterable[str]) -> None:
    """``zlogin`` and ``svcs`` for a node hosting ``zone_ids`` (zones in ``zones_dir``)."""
    ids = list(zone_ids)
    # a node without zones: a pattern no zone name can match (names never hold '/')
    cases = "|".join(shlex.quote(z) for z in ids) or "'/'"
    values = {"cases": cases, "zones": shlex.quote(str(zones_dir))}
    bindir.mkdir(parents=True, exist_ok=True)
    for name, text in (("zlogin", ZLOGIN), ("svcs", SVCS)):
        path = bindir / name
        path.write_text(text.format(**values))
        path.chmod(0o755)


def write_zones_root(zones_root: Path, zones_dir: Path, zone_ids: Iterable[str]) -> None:
    """``<zones_root>/<uuid>/root<zones_dir>/<uuid>`` -> ``<zones_dir>/<uuid>`` per zone."""
    for zone in zone_ids:
        inner = zones_root / zone / "root" / zones_dir.relative_to("/") / zone
        inner.parent.mkdir(parents=True, exist_ok=True)
        if not inner.is_symlink():
            inner.symlink_to(zones_dir / zone, target_is_directory=True)


def _start_server(config: SandboxConfig, workdir: Path, ip: str, port: int,
                  path: str) -> tuple[int, str]:
    server = SshServer(workdir=workdir, host=ip, port=port,
                       authorized_keys=config.directory / "authorized_keys",
                       force_command=FORCE_COMMAND, set_env={"PATH": path}, log_level="INFO")
    server.start()
    assert server.process is not None
    pid = server.process.pid
    server.process.returncode = 0  # ours to stop by pid file, not by this object
    return pid, server.known_hosts_line()


def start_compute_nodes(config: SandboxConfig,
                        zones: list[ZoneConfig] | None = None) -> list[str]:
    """Prepare and start every compute node and the headnode; their known_hosts lines.

    ``zones``: the zones the nodes host (default: the sandbox's own; a fleet's top
    passes every shard's, each reachable as DIR/zones/<uuid>).
    Pid files: sshd-node-<uuid>, sshd-headnode (stopped by `sandbox down` like any sshd).
    """

    zones_dir = config.directory / "zones"
    hosted_zones = config.zones if zones is None else zones
    lines = []
    for node in config.nodes:
        hosted = [z.uuid for z in hosted_zones if z.node == node.uuid]
        bindir = config.node_dir(node) / "bin"
        write_node_bin(bindir, zones_dir, hosted)
        write_zones_root(config.zones_root(node), zones_dir, hosted)
        pid, line = _start_server(config, config.node_dir(node) / "ssh", node.ip,
                                  node.ssh_port, f"{bindir}:/usr/local/bin:/usr/bin:/bin")
        procs.write_pid_file(config.pid_file(f"sshd-node-{node.uuid}"), pid)
        lines.append(line)
    headnode = config.headnode
    if headnode is not None:
        bindir = config.directory / "headnode" / "bin"
        write_records(config)
        write_headnode_bin(bindir, config.directory)
        pid, line = _start_server(config, config.directory / "headnode" / "ssh", headnode.ip,
                                  headnode.ssh_port, f"{bindir}:/usr/local/bin:/usr/bin:/bin")
        procs.write_pid_file(config.pid_file("sshd-headnode"), pid)
        lines.append(line)
    return lines


def set_headnode_forwarding(config: SandboxConfig, allowed: bool, timeout: float = 10.0) -> None:
    """Allow or refuse TCP forwarding on the headnode's sshd (``AllowTcpForwarding``), as a
    headnode hardened that way does: for tests of ``zookeeper_via: headnode``.

    sshd re-reads its config on SIGHUP (it re-executes itself, keeping its pid); new
    connections then follow it. Returns once the restarted sshd listens again.
    """
    workdir = config.owner_directory / "headnode" / "ssh"
    pid = procs.recorded_pid(config.owner_directory / "pids" / "sshd-headnode.pid")
    if pid is None:
        raise MigratorError("The sandbox's headnode sshd is not running.",
                            "Bring the sandbox up (`migrator sandbox up --access zlogin`).")
    config_file = workdir / "sshd_config"
    lines = [line for line in config_file.read_text().splitlines()
             if not line.startswith("AllowTcpForwarding ")]
    lines.append(f"AllowTcpForwarding {'yes' if allowed else 'no'}")
    config_file.write_text("\n".join(lines) + "\n")
    log_file = workdir / "sshd.log"
    start = log_file.stat().st_size if log_file.exists() else 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log_file.open("rb") as handle:
            handle.seek(start)
            if b"Server listening on" in handle.read():
                return
        time.sleep(0.02)
    raise MigratorError(f"The headnode's sshd did not listen again within {timeout:g} s "
                        "after SIGHUP.", f"See {log_file}.")
