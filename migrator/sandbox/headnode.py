"""The sandbox's headnode commands, answering from DIR/sandbox.json as Triton's would.

``python -m migrator.sandbox.headnode DIR COMMAND ARGS...``; the headnode's
``bin/`` holds one script per command, so over its sshd they read as on a
Triton headnode:
  sdc-vmapi /vms/<uuid> | /vms      VMAPI: a zone's VM (server_uuid, image_uuid,
                                    nics, tags), or every VM
  sdc-cnapi /servers/<uuid> | /servers
                                    CNAPI: a compute node (hostname, sysinfo with its
                                    admin IP)
  sdc-sapi /applications?name=N     SAPI: the application N (manta, sdc) as a list,
                                    metadata.ZK_SERVERS; [] when there is none
  sdc-imgapi /images/<uuid>         IMGAPI: an image (name, version)
                                    (these four are shell scripts answering from
                                    records kept as files, DIR/headnode/records)
  manta-adm show [-H] [-o COLS] [SERVICE]
                                    the deployed zones, one row each (the sandbox
                                    runs postgres zones only: no Morays); in a
                                    fleet sandbox every Manta shard's, shard by
                                    shard (never Triton's own; a fleet of
                                    Triton's shard alone has no manta-adm)
  sapiadm reprovision ZONE IMAGE    reprovision the zone as a VMAPI job that outlives
                                    the command (``migrator.sandbox.jobs``), and wait
                                    for it

The sdc-* commands print an HTTP status line, headers, a blank line and the
JSON body, as those curl wrappers do, and exit 0 even for a 404 (curl does).
Fault injection for tests: a zone UUID listed in DIR/headnode/vmapi-hidden
(one per line) is unknown to VMAPI.
"""

from __future__ import annotations

import sys
from pathlib import Path

from migrator.errors import MigratorError
from migrator.sandbox.config import (
    IMAGES,
    RELEASES,
    SandboxConfig,
    fleet_members,
    load_config,
    version_of_image,
)
from migrator.sandbox.headnode_records import COMMANDS
from migrator.sandbox.jobs import start_reprovision_job, wait_for_job

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
    rows = []
    for member in fleet_members(config):
        if member.triton:  # Triton's own shard is no Manta service
            continue
        shard_number = member.shard.split(".")[0]
        for zone in member.zones:
            node = member.node_of(zone)
            values = {"service": "postgres", "shard": shard_number, "zonename": zone.uuid,
                      "primary_ip": zone.ip, "gz_admin_ip": node.ip if node else "-",
                      "image": IMAGES[zone.version], "version": RELEASES[zone.version],
                      "cn": node.uuid if node else "-",
                      "gz_host": node.hostname if node else "-"}
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
    owner = next((m for m in fleet_members(config) if zone in {z.uuid for z in m.zones}),
                 None)
    if owner is None:
        return 1, f"sapiadm: instance {zone} not found\n"

    job = start_reprovision_job(config, zone, version)
    # printed before the wait, as Triton's sapiadm names the job it waits for
    sys.stdout.write(f"Reprovisioning {zone} to image {owner.images[version]} "
                     f"({RELEASES[version]}): job {job['uuid']}\n")
    sys.stdout.flush()
    ended = wait_for_job(config.directory, job)
    if ended["execution"] != "succeeded":
        errors = [r["error"] for r in ended.get("chain_results", []) if r.get("error")]
        return 1, (f"sapiadm: job {job['uuid']} {ended['execution']}"
                   f"{': ' + errors[-1] if errors else ''}\n")
    return 0, f"Job {job['uuid']} succeeded\n"


def run(directory: Path, command: str, args: list[str]) -> tuple[int, str]:
    config = load_config(directory)
    if command == "manta-adm":
        return manta_adm(config, args)
    return sapiadm(config, args)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] not in COMMANDS:
        sys.stderr.write(f"usage: headnode DIR {'|'.join(COMMANDS)} ARGS...\n")
        sys.exit(2)

    try:
        status, text = run(Path(args[0]), args[1], args[2:])
    except MigratorError as exc:
        sys.stderr.write(f"{args[1]}: {exc.paragraph()}\n")
        sys.exit(1)
    (sys.stdout if status == 0 else sys.stderr).write(text)
    sys.exit(status)


if __name__ == "__main__":
    main()
