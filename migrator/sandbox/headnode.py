"""The sandbox's headnode commands, answering from DIR/sandbox.json as Triton's would.

``python -m migrator.sandbox.headnode DIR COMMAND ARGS...``; the headnode's
``bin/`` holds one script per command, so over its sshd they read as on a
Triton headnode:

  sdc-vmapi /vms/<uuid> | /vms      VMAPI: a zone's VM (server_uuid, image_uuid,
                                    nics, tags), or every VM
  sdc-cnapi /servers/<uuid> | /servers
                                    CNAPI: a compute node (hostname, sysinfo with its
                                    admin IP)
  sdc-sapi /applications?name=manta SAPI: the application, metadata.ZK_SERVERS
  sdc-imgapi /images/<uuid>         IMGAPI: an image (name, version)
  manta-adm show [-H] [-o COLS] [SERVICE]
                                    the deployed zones, one row each (the sandbox
                                    runs postgres zones only: no Morays)
  sapiadm reprovision ZONE IMAGE    reprovision the zone (`sandbox reprovision`)

The sdc-* commands print an HTTP status line, headers, a blank line and the
JSON body, as those curl wrappers do, and exit 0 even for a 404 (curl does).
Fault injection for tests: a zone UUID listed in DIR/headnode/vmapi-hidden
(one per line) is unknown to VMAPI.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from migrator.sandbox.config import (
    IMAGES,
    RELEASES,
    VERSIONS,
    SandboxConfig,
    load_config,
    version_of_image,
)

COMMANDS = ("sdc-vmapi", "sdc-cnapi", "sdc-sapi", "sdc-imgapi", "manta-adm", "sapiadm")
HIDDEN_FILE = "vmapi-hidden"
IMAGE_NAME = "manta-manatee"


def http(status: int, body: Any) -> str:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request"}.get(status, "Error")
    text = json.dumps(body)
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(text)}\r\nServer: sandbox\r\n\r\n{text}\n")


def _hidden(config: SandboxConfig) -> set[str]:
    path = config.directory / "headnode" / HIDDEN_FILE
    try:
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    except OSError:
        return set()


def vm(config: SandboxConfig, index: int) -> dict[str, Any]:
    zone = config.zones[index]
    return {
        "uuid": zone.uuid,
        "alias": f"postgres-{index}",
        "brand": "joyent-minimal",
        "state": "running",
        "server_uuid": zone.node,
        "image_uuid": IMAGES[zone.version],
        "nics": [{"interface": "net0", "ip": zone.ip, "nic_tag": "admin", "primary": True}],
        "tags": {"manta_role": "postgres"},
    }


def server(config: SandboxConfig, index: int) -> dict[str, Any]:
    node = config.nodes[index]
    return {
        "uuid": node.uuid,
        "hostname": node.hostname,
        "status": "running",
        "headnode": False,
        "sysinfo": {
            "UUID": node.uuid,
            "Hostname": node.hostname,
            "Admin IP": node.ip,
            "Network Interfaces": {"e1000g0": {"ip4addr": node.ip, "NIC Names": ["admin"],
                                               "Link Status": "up"}},
        },
    }


def image(version: str) -> dict[str, Any]:
    return {"uuid": IMAGES[version], "name": IMAGE_NAME, "version": RELEASES[version],
            "state": "active", "os": "smartos"}


def _get(config: SandboxConfig, command: str, path: str) -> str:
    hidden = _hidden(config)
    not_found = http(404, {"code": "ResourceNotFound", "message": f"{path} not found"})
    if command == "sdc-vmapi":
        vms = [vm(config, i) for i in range(len(config.zones))
               if config.zones[i].uuid not in hidden]
        if path.split("?")[0] == "/vms":
            return http(200, vms)
        found = [v for v in vms if path == f"/vms/{v['uuid']}"]
        return http(200, found[0]) if found else not_found
    if command == "sdc-cnapi":
        servers = [server(config, i) for i in range(len(config.nodes))]
        if path.split("?")[0] == "/servers":
            return http(200, servers)
        found = [s for s in servers if path == f"/servers/{s['uuid']}"]
        return http(200, found[0]) if found else not_found
    if command == "sdc-sapi":
        if path.split("?")[0] == "/applications":
            host, port = config.zk_connection.split(":")
            return http(200, [{"uuid": "8a0c7a4e-4d8f-4b34-9d3b-5f0a6a3e0001", "name": "manta",
                               "metadata": {"ZK_SERVERS": [{"host": host, "port": int(port)}],
                                            "DOMAIN_NAME": "sandbox.test"}}])
        return not_found
    if command == "sdc-imgapi":
        for version in VERSIONS:
            if path == f"/images/{IMAGES[version]}":
                return http(200, image(version))
        return not_found
    raise AssertionError(command)


MANTA_COLUMNS = {"service", "shard", "zonename", "primary_ip", "gz_admin_ip", "image",
                 "version", "cn", "gz_host"}


def manta_adm(config: SandboxConfig, args: list[str]) -> tuple[int, str]:
    if not args or args[0] != "show":
        return 2, "usage: manta-adm show [-H] [-o COLUMNS] [SERVICE]\n"
    header, columns, service = True, ["service", "shard", "zonename"], None
    rest = args[1:]
    while rest:
        word = rest.pop(0)
        if word == "-H":
            header = False
        elif word == "-o" and rest:
            columns = rest.pop(0).split(",")
        elif not word.startswith("-"):
            service = word
        else:
            return 2, f"manta-adm: unsupported option {word}\n"
    unknown = [c for c in columns if c not in MANTA_COLUMNS]
    if unknown:
        return 2, f"manta-adm: unknown column {unknown[0]!r}\n"
    shard_number = config.shard.split(".")[0]
    rows = []
    for zone in config.zones:
        node = config.node_of(zone)
        values = {"service": "postgres", "shard": shard_number, "zonename": zone.uuid,
                  "primary_ip": zone.ip, "gz_admin_ip": node.ip if node else "-",
                  "image": IMAGES[zone.version], "version": RELEASES[zone.version],
                  "cn": node.uuid if node else "-", "gz_host": node.hostname if node else "-"}
        if service in (None, "postgres"):
            rows.append([values[c] for c in columns])
    lines = [[c.upper() for c in columns]] if header else []
    return 0, "".join("  ".join(r) + "\n" for r in lines + rows)


def sapiadm(config: SandboxConfig, args: list[str]) -> tuple[int, str]:
    if len(args) != 3 or args[0] != "reprovision":
        return 2, "usage: sapiadm reprovision ZONE IMAGE\n"
    zone, wanted = args[1], args[2]
    version = version_of_image(wanted)
    if version is None:
        return 1, f"sapiadm: image {wanted} not found\n"
    if zone not in {z.uuid for z in config.zones}:
        return 1, f"sapiadm: instance {zone} not found\n"
    from migrator.sandbox.manage import reprovision

    result = reprovision(config.directory, zone, version)
    return 0, (f"Reprovisioning {zone} to image {IMAGES[version]} ({RELEASES[version]})\n"
               f"Reprovisioned in {result['delay']:g} s\n")


def run(directory: Path, command: str, args: list[str]) -> tuple[int, str]:
    config = load_config(directory)
    if command == "manta-adm":
        return manta_adm(config, args)
    if command == "sapiadm":
        return sapiadm(config, args)
    if len(args) != 1:
        return 2, f"usage: {command} PATH\n"
    return 0, _get(config, command, args[0])


def write_headnode_bin(bindir: Path, directory: Path) -> None:
    """One script per headnode command on the headnode's PATH."""
    package_root = Path(__file__).resolve().parents[2]
    bindir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        path = bindir / name
        path.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={shlex.quote(str(package_root))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            "export PYTHONPATH\n"
            f"exec {shlex.quote(sys.executable)} -m migrator.sandbox.headnode "
            f"{shlex.quote(str(directory))} {name} \"$@\"\n"
        )
        path.chmod(0o755)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] not in COMMANDS:
        sys.stderr.write(f"usage: headnode DIR {'|'.join(COMMANDS)} ARGS...\n")
        sys.exit(2)
    from migrator.errors import MigratorError

    try:
        status, text = run(Path(args[0]), args[1], args[2:])
    except MigratorError as exc:
        sys.stderr.write(f"{args[1]}: {exc.paragraph()}\n")
        sys.exit(1)
    (sys.stdout if status == 0 else sys.stderr).write(text)
    sys.exit(status)


if __name__ == "__main__":
    main()
