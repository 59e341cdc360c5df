"""A zone's directory: version file, PATH with manatee-adm, its sshd.

Each zone's sshd runs every command through ``/bin/sh -c`` (ForceCommand) with
the zone's PATH and identity in the environment (SetEnv), so a command costs a
fork, not a login shell reading rc files. On that PATH:
  manatee-adm ARGS   the sandbox's manatee-adm for this zone
  sitter-ctl enable|disable
                     start or stop this zone's sitter (svcadm enable/disable)
  mdata-get sdc:image_uuid
                     the zone's image UUID (v1 or v2 image of the sandbox)
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import sys
from pathlib import Path

from migrator.sandbox.config import FORCE_COMMAND, IMAGES, RELEASES, SandboxConfig, ZoneConfig
from migrator.sandbox.nodes import write_zone_env
from migrator.sandbox.sshd import SshServer, generate_keypair

CLIENT_KEY = "id_ed25519"
KNOWN_HOSTS = "known_hosts"


def zone_bin(config: SandboxConfig, zone: ZoneConfig) -> Path:
    return config.zone_dir(zone) / "bin"


def prepare_zone(config: SandboxConfig, zone: ZoneConfig) -> None:
    """Create the zone directory and its commands (idempotent)."""
    zone_dir = config.zone_dir(zone)
    bindir = zone_bin(config, zone)
    bindir.mkdir(parents=True, exist_ok=True)
    write_version(config, zone)
    package_root = Path(__file__).resolve().parents[2]
    prelude = (
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(package_root))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
    )
    identity = f"{shlex.quote(str(config.directory))} {shlex.quote(zone.uuid)}"
    scripts = {
        "manatee-adm": f"exec {shlex.quote(sys.executable)} -m migrator.sandbox.adm "
        f"{identity} \"$@\"\n",
        "sitter-ctl": f"exec {shlex.quote(sys.executable)} -m migrator.sandbox.zonectl "
        f"{identity} \"$@\"\n",
        # `svcs -H -o state manatee-sitter`, as SMF answers it (the inventory's default
        # `sitter_status`): online while the sitter runs, maintenance when its supervisor
        # gave up, disabled otherwise. Plain shell: a pre-flight look starts no Python.
        "svcs": (
            f"pid=$(cut -d' ' -f1 {shlex.quote(str(config.pid_file('sitter-' + zone.uuid)))}"
            " 2>/dev/null)\n"
            'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo online\n'
            "elif grep -q '\"state\": *\"maintenance\"' "
            f"{shlex.quote(str(zone_dir / 'service.json'))} 2>/dev/null; then echo maintenance\n"
            "else echo disabled; fi\n"),
        # the zone's image UUID, as SmartOS's `mdata-get sdc:image_uuid` prints it
        "mdata-get": (
            'if [ "$1" != sdc:image_uuid ]; then echo "No metadata for $1" >&2; exit 1; fi\n'
            f"case $(cat {shlex.quote(str(zone_dir / 'version'))}) in\n"
            + "".join(f"    {v}) echo {IMAGES[v]} ;;\n" for v in IMAGES)
            + "esac\n"),
    }
    for name, body in scripts.items():
        path = bindir / name
        path.write_text(prelude + body)
        path.chmod(0o755)
    (zone_dir / "sitter.log").touch()
    write_sitter_config(config, zone)

    write_zone_env(zone_dir, zone_env(config, zone))  # what the nodes' zlogin sets


def write_version(config: SandboxConfig, zone: ZoneConfig) -> None:
    """``version`` (v1|v2, read by the sitter) and package.json (read by operators)."""
    zone_dir = config.zone_dir(zone)
    (zone_dir / "version").write_text(zone.version + "\n")
    package = {"name": "manatee", "version": RELEASES[zone.version]}
    (zone_dir / "package.json").write_text(json.dumps(package, indent=2) + "\n")


def write_sitter_config(config: SandboxConfig, zone: ZoneConfig) -> None:
    """``sitter.cfg`` as Triton's sitters have it (``/opt/smartdc/manatee/etc/sitter.cfg``,
    the parts operators read): the ZooKeeper session timeout its sitter uses, in ms."""
    document = {"shardPath": f"/manatee/{config.shard}", "postgresPort": zone.pg_port,
                "zoneId": zone.uuid, "ip": zone.ip,
                "zkCfg": {"connStr": config.zk_connection,
                          "opts": {"sessionTimeout": int(config.session_timeout * 1000)}}}
    (config.zone_dir(zone) / "sitter.cfg").write_text(json.dumps(document, indent=2) + "\n")


def zone_env(config: SandboxConfig, zone: ZoneConfig) -> dict[str, str]:
    return {
        "PATH": f"{zone_bin(config, zone)}:/usr/local/bin:/usr/bin:/bin",
        "ZONENAME": zone.uuid,
        "SHARD": config.shard,
        "ZK_IPS": config.zk_connection,
    }


def ensure_client_key(config: SandboxConfig) -> Path:
    key = config.directory / CLIENT_KEY
    if not key.exists():
        generate_keypair(key, comment="migrator-sandbox")
    authorized = config.directory / "authorized_keys"
    authorized.write_text(Path(f"{key}.pub").read_text())
    return key


def start_sshd(config: SandboxConfig, zone: ZoneConfig) -> tuple[int, str]:
    """Start the zone's sshd; returns (pid, known_hosts line)."""
    server = SshServer(
        workdir=config.zone_dir(zone) / "ssh",
        host=zone.ip,
        port=zone.ssh_port,
        authorized_keys=config.directory / "authorized_keys",
        force_command=FORCE_COMMAND,
        set_env=zone_env(config, zone),
        log_level="INFO",
    )
    server.start()
    assert server.process is not None
    pid = server.process.pid
    server.process.returncode = 0  # ours to stop by pid file, not by this object
    return pid, server.known_hosts_line()


def ssh_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name
