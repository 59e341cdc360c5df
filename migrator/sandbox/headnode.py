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
                                    (these four are shell scripts answering from
                                    records kept as files, DIR/headnode/records)
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

COMMANDS = ("manta-adm", "sapiadm")  # the Python ones; the API scripts are shell
HIDDEN_FILE = "vmapi-hidden"
IMAGE_NAME = "manta-manatee"


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

    result = reprovision(config.directory, zone, version)  # refreshes the records too
    return 0, (f"Reprovisioning {zone} to image {IMAGES[version]} ({RELEASES[version]})\n"
               f"Reprovisioned in {result['delay']:g} s\n")


def run(directory: Path, command: str, args: list[str]) -> tuple[int, str]:
    config = load_config(directory)
    if command == "manta-adm":
        return manta_adm(config, args)
    return sapiadm(config, args)


# The read-only APIs answer from records written as files (refreshed by `write_records`
# whenever the sandbox changes), so a question costs a /bin/sh and a cat, not a Python
# start: discovery asks a dozen of them.
API_SCRIPT = """#!/bin/sh
# {name} PATH: the sandbox's {name} (see migrator/sandbox/headnode.py)
records={records}
if [ $# -ne 1 ]; then echo "usage: {name} PATH" >&2; exit 2; fi
path=${{1%%\\?*}}
id=${{path##*/}}
file=
case $path in
{cases}
esac
case $path in */../*|*/./*|*/..|*/.) file= ;; esac
if [ -n "$file" ] && [ -f "$file" ] && ! grep -qx -- "$id" {hidden} 2>/dev/null; then
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n'
    cat "$file"
else
    printf 'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n'
    printf '{{"code":"ResourceNotFound","message":"%s not found"}}\n' "$path"
fi
"""
API_CASES = {
    "sdc-vmapi": ('    /vms) file=$records/vms.json ;;\n'
                  '    /vms/*) file=$records/vms/$id.json ;;'),
    "sdc-cnapi": ('    /servers) file=$records/servers.json ;;\n'
                  '    /servers/*) file=$records/servers/$id.json ;;'),
    "sdc-sapi": '    /applications) file=$records/applications.json ;;',
    "sdc-imgapi": '    /images/*) file=$records/images/$id.json ;;',
}


def write_records(config: SandboxConfig) -> None:
    """What VMAPI, CNAPI, SAPI and IMGAPI know, as files under DIR/headnode/records."""
    import os

    records = config.directory / "headnode" / "records"
    for sub in ("vms", "servers", "images"):
        (records / sub).mkdir(parents=True, exist_ok=True)

    def put(path: Path, body: Any) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(body) + "\n")
        os.replace(tmp, path)  # a reader sees the old record or the new, never half

    vms = [vm(config, i) for i in range(len(config.zones))]
    for found in vms:
        put(records / "vms" / f"{found['uuid']}.json", found)
    put(records / "vms.json", vms)
    servers = [server(config, i) for i in range(len(config.nodes))]
    for found in servers:
        put(records / "servers" / f"{found['uuid']}.json", found)
    put(records / "servers.json", servers)
    for version in VERSIONS:
        put(records / "images" / f"{IMAGES[version]}.json", image(version))
    host, port = config.zk_connection.split(":")
    put(records / "applications.json", [{
        "uuid": "8a0c7a4e-4d8f-4b34-9d3b-5f0a6a3e0001", "name": "manta",
        "metadata": {"ZK_SERVERS": [{"host": host, "port": int(port)}],
                     "DOMAIN_NAME": "sandbox.test"}}])


def write_headnode_bin(bindir: Path, directory: Path) -> None:
    """One script per headnode command on the headnode's PATH."""
    package_root = Path(__file__).resolve().parents[2]
    bindir.mkdir(parents=True, exist_ok=True)
    records = directory / "headnode" / "records"
    for name, cases in API_CASES.items():
        path = bindir / name
        path.write_text(API_SCRIPT.format(
            name=name, records=shlex.quote(str(records)), cases=cases,
            hidden=shlex.quote(str(directory / "headnode" / HIDDEN_FILE))))
        path.chmod(0o755)
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
