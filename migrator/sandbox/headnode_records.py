"""What the sandbox's headnode answers from: the VMAPI/CNAPI/IMGAPI/SAPI records kept
as files (DIR/headnode/records) and the scripts of its ``bin/``, written by `sandbox
up` and rewritten when a reprovision changes a zone's image (``migrator.sandbox.headnode``
runs the commands).

In a fleet sandbox the one headnode (in the fleet's top directory) knows every shard's
zones: the records are written from every shard's sandbox.json, read afresh under a
lock, so two shards' reprovisions rewriting them at once cannot drop each other's
change.

Triton's own shard (`up --triton-shard`) is there as Triton has it: its zones tagged
``smartdc_role=manatee`` (aliases manatee0...) on ``sdc-manatee`` images, its Moray
zones tagged ``smartdc_role=moray``, and SAPI's ``sdc`` application naming its
ZooKeeper (the binder). SAPI answers ``/applications?name=X`` with that application
only, ``[]`` when there is none: a fleet without Manta shards has no ``manta``
application, and one without Triton's shard has an ``sdc`` application on Manta's
ZooKeeper (one ensemble for both, as a small Triton has).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrator.sandbox.config import (
    IMAGES,
    MORAY_IMAGE,
    MORAY_VERSION,
    RELEASES,
    TRITON_IMAGES,
    VERSIONS,
    SandboxConfig,
    ZoneConfig,
    fleet_members,
)


def vm(zone: ZoneConfig, alias: str, images: dict[str, str] = IMAGES,
       tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "uuid": zone.uuid,
        "alias": alias,
        "brand": "joyent-minimal",
        "state": "running",
        "server_uuid": zone.node,
        "image_uuid": images[zone.version],
        "nics": [{"interface": "net0", "ip": zone.ip, "nic_tag": "admin", "primary": True}],
        "tags": {"manta_role": "postgres"} if tags is None else tags,
    }


def member_vms(member: SandboxConfig) -> list[dict[str, Any]]:
    """A shard's VMs: its manatee zones, and Triton's shard's Moray zones."""
    if not member.triton:
        return [vm(zone, vm_alias(member, i)) for i, zone in enumerate(member.zones)]
    found = [vm(zone, f"manatee{i}", TRITON_IMAGES, {"smartdc_role": "manatee"})
             for i, zone in enumerate(member.zones)]
    found += [vm(zone, f"moray{i}", {zone.version: MORAY_IMAGE}, {"smartdc_role": "moray"})
              for i, zone in enumerate(member.morays)]
    return found


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


# when each image was published (IMGAPI's ``published_at``): v2 is the newer one
PUBLISHED = {"v1": "2014-11-05T19:04:12.000Z", "v2": "2016-03-30T22:41:07.000Z"}


def image(version: str, triton: bool = False) -> dict[str, Any]:
    return {"uuid": (TRITON_IMAGES if triton else IMAGES)[version],
            "name": TRITON_IMAGE_NAME if triton else IMAGE_NAME,
            "version": RELEASES[version], "state": "active", "os": "smartos",
            "published_at": PUBLISHED[version]}


def moray_image() -> dict[str, Any]:
    return {"uuid": MORAY_IMAGE, "name": "sdc-moray", "version": MORAY_VERSION,
            "state": "active", "os": "smartos", "published_at": PUBLISHED["v2"]}


def vm_alias(config: SandboxConfig, index: int) -> str:
    """``postgres-<k>``, in a fleet ``postgres-<shard number>-<k>``."""
    if config.fleet_root:
        return f"postgres-{config.shard.split('.')[0]}-{index}"
    return f"postgres-{index}"


@contextlib.contextmanager
def _records_lock(records: Path) -> Iterator[None]:
    records.mkdir(parents=True, exist_ok=True)
    with (records / "records.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_records(config: SandboxConfig) -> None:
    """What VMAPI, CNAPI, SAPI and IMGAPI know, as files under DIR/headnode/records
    (the fleet's top directory's, for a shard of a fleet)."""
    records = config.owner_directory / "headnode" / "records"
    with _records_lock(records):
        _write_records(config, records)


def _write_records(config: SandboxConfig, records: Path) -> None:
    for sub in ("vms", "servers", "images"):
        (records / sub).mkdir(parents=True, exist_ok=True)

    def put(path: Path, body: Any) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(body) + "\n")
        os.replace(tmp, path)  # a reader sees the old record or the new, never half

    members = fleet_members(config)
    vms = [found for member in members for found in member_vms(member)]
    for found in vms:
        put(records / "vms" / f"{found['uuid']}.json", found)
    put(records / "vms.json", vms)
    servers = [server(config, i) for i in range(len(config.nodes))]
    for found in servers:
        put(records / "servers" / f"{found['uuid']}.json", found)
    put(records / "servers.json", servers)
    triton = next((m for m in members if m.triton), None)
    images = [image(version) for version in VERSIONS]
    if triton is not None:
        images += [image(version, triton=True) for version in VERSIONS] + [moray_image()]
    for found in images:
        put(records / "images" / f"{found['uuid']}.json", found)
    put(records / "images.json", images)
    applications = []
    if any(not m.triton for m in members):
        applications.append(application("manta", MANTA_APPLICATION, config.zk_connection,
                                        {"DOMAIN_NAME": "sandbox.test"}))
    applications.append(application(
        "sdc", SDC_APPLICATION, triton.zk_connection if triton is not None
        else config.zk_connection, {"datacenter_name": DATACENTER}))
    (records / "applications").mkdir(exist_ok=True)
    for app in applications:
        put(records / "applications" / f"{app['name']}.json", [app])
    put(records / "applications.json", applications)


MANTA_APPLICATION = "8a0c7a4e-4d8f-4b34-9d3b-5f0a6a3e0001"
SDC_APPLICATION = "8a0c7a4e-4d8f-4b34-9d3b-5f0a6a3e0002"
DATACENTER = "sandbox-1"  # SAPI's sdc application's datacenter_name


def application(name: str, uuid: str, zookeeper: str, metadata: dict[str, str]
                ) -> dict[str, Any]:
    host, port = zookeeper.split(":")
    return {"uuid": uuid, "name": name,
            "metadata": {"ZK_SERVERS": [{"host": host, "port": int(port)}], **metadata}}


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


COMMANDS = ("manta-adm", "sapiadm")  # the Python ones; the API scripts are shell


HIDDEN_FILE = "vmapi-hidden"


IMAGE_NAME = "manta-manatee"
TRITON_IMAGE_NAME = "sdc-manatee"


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
empty=
case $path in
{cases}
esac
case $path in */../*|*/./*|*/..|*/.) file= ;; esac
if [ -n "$file" ] && [ -f "$file" ] && ! grep -qx -- "$id" {hidden} 2>/dev/null; then
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n'
    cat "$file"
elif [ -n "$empty" ]; then
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n'
    printf '[]\n'
else
    printf 'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n'
    printf '{{"code":"ResourceNotFound","message":"%s not found"}}\n' "$path"
fi
"""


# `GET /jobs?vm_uuid=V&task=T` (the query's order free): a VM's jobs, newest first, or
# every job; the sandbox's jobs are all reprovisions, so another task lists none. The
# VM UUID is taken only when it is hex and dashes (it names a file): else a 404.
JOBS_CASE = """    /jobs) file=$records/jobs.json; empty=1
        case "$1" in *[?\\&]vm_uuid=*)
            vm=${1#*vm_uuid=}; vm=${vm%%&*}
            case $vm in
                ''|*[!0-9a-f-]*) file= empty= ;;
                *) file=$records/vm-jobs/$vm.json ;;
            esac ;;
        esac
        case "$1" in *[?\\&]task=*)
            task=${1#*task=}; task=${task%%&*}
            [ "$task" = reprovision ] || file= ;;
        esac ;;"""


# `GET /applications[?name=N]`: every application, or the one named N as a list ([]
# when there is none, as SAPI answers). N is taken only when it is a plain word (it
# names a file).
APPLICATIONS_CASE = """    /applications) file=$records/applications.json
        case "$1" in *[?\\&]name=*)
            name=${1#*name=}; name=${name%%&*}
            case $name in
                ''|*[!A-Za-z0-9_-]*) file= ;;
                *) file=$records/applications/$name.json; empty=1 ;;
            esac ;;
        esac ;;"""


API_CASES = {
    "sdc-vmapi": ('    /vms) file=$records/vms.json ;;\n'
                  '    /vms/*) file=$records/vms/$id.json ;;\n'
                  '    /jobs/*) file=$records/jobs/$id.json ;;\n'
                  + JOBS_CASE),
    "sdc-cnapi": ('    /servers) file=$records/servers.json ;;\n'
                  '    /servers/*) file=$records/servers/$id.json ;;'),
    "sdc-sapi": APPLICATIONS_CASE,
    "sdc-imgapi": ('    /images) file=$records/images.json ;;\n'
                   '    /images/*) file=$records/images/$id.json ;;'),
}
