"""The sandbox zones' `manatee-adm`: ``python -m migrator.sandbox.adm DIR ZONE CMD ...``.

Output follows manatee-adm as the runbook and manatee-observed.md show it:
``status`` (one JSON document keyed by shard, with postgres replication rows
read from each peer's postgres: pg_stat_replication of the real server, or the
simulator's equivalent, under the server's own column names, and each standby's
``time_lag``), ``show [-v]`` and ``pg-status`` (upstream's tables and warnings,
``admshow``), ``state`` (the stored bytes),
``history`` (one JSON line per record), ``version``, ``peers``, ``pg-position``
(sandbox only: the zone's postgres timeline and WAL position, as the inventory's
``commands.pg_position`` prints it), and the writes
``state-backfill [-y]``, ``freeze -r REASON``, ``unfreeze`` (through
``migrator.commands.expert``, so the bytes are upstream's). Errors go to stderr
as ``error: ...`` with exit status 1, as upstream's.

This module is the entry and answers ``version`` and ``pg-position`` itself; the
commands that read ZooKeeper are ``admzk``'s and those that write it ``admwrites``',
each imported only when one of its commands runs.

A v1 zone's manatee-adm predates the cluster state: it reads the topology from
the election and has no state-backfill, freeze or unfreeze. A v2 zone's
``status`` needs /state (upstream: "No state object exists ...") unless given
``-l`` (legacy order mode: the election order). In ``status``, as upstream's
``_formatState``: the asyncs are ``async``, ``async1``, ``async2``...; the deposed
peers ``deposed``, ``deposed1``... (upstream queries no postgres for them).
"""

from __future__ import annotations

import sys
from pathlib import Path

from migrator.errors import MigratorError
from migrator.sandbox.admerror import AdmError
from migrator.sandbox.config import RELEASES, SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.pgwire import request

V2_ONLY = ("state-backfill", "freeze", "unfreeze", "state", "peers", "rebuild", "show")
WRITES = ("state-backfill", "freeze", "unfreeze", "rebuild")  # admwrites'; the rest admzk's


def run(config: SandboxConfig, zone: ZoneConfig, argv: list[str]) -> int:
    if not argv:
        raise AdmError("usage: manatee-adm status|show [-v]|pg-status|pg-position|state|"
                       "history|version|peers|state-backfill|freeze -r REASON|unfreeze|"
                       "rebuild [-y]")
    command, args = argv[0], argv[1:]
    if command == "version":
        print(RELEASES[zone.version])
        return 0
    if command == "pg-position":
        print(pg_position(config, zone))
        return 0
    if command in V2_ONLY and zone.version != "v2":
        raise AdmError(f'unknown command "{command}" (manatee {RELEASES[zone.version]})')
    # deferred: the ZooKeeper side costs ~50 ms of CPU to import (kazoo, the cluster
    # model; the writes also the peers' control, ~15 ms more); pg-position, which the
    # migrator runs in every zone for every position check (~1700 times in the test
    # suite), needs none of it, and status (the next most frequent) none of the writes'
    if command in WRITES:
        from migrator.sandbox import admwrites

        return admwrites.run(config, zone, command, args)
    from migrator.sandbox import admzk

    return admzk.run(config, zone, command, args)


def pg_position(config: SandboxConfig, zone: ZoneConfig) -> str:
    """``pg-position`` (sandbox only; what the inventory's ``commands.pg_position`` runs
    here): the zone's postgres position as ``POSITION_SQL`` prints it, from the real
    server, or from the simulator (one timeline, its WAL counter)."""
    if config.pg == "real":
        return _real_pg_position(zone)
    try:
        answer = request(zone.ip, zone.pg_port, {"op": "status"}, timeout=2.0)
    except (OSError, ValueError):
        answer = None
    if not isinstance(answer, dict) or not answer.get("online"):
        raise AdmError(f"postgres at {zone.ip}:{zone.pg_port} does not answer")
    role = "primary" if answer.get("role") == "primary" else "standby"
    return f"{role}|1|{answer.get('wal')}|"


def _real_pg_position(zone: ZoneConfig) -> str:
    """The real server's position through psql, as production's ``commands.pg_position``
    asks it (docs/inventory.md). Not through psycopg: the migrator asks every zone at
    every position check, and importing psycopg made a call cost about 190 ms of CPU
    where psql's makes it about 80 ms (deferred: only real-PostgreSQL sandboxes need
    these)."""
    import subprocess

    from migrator.cluster.positions import POSITION_SQL
    from migrator.sandbox.pgdata import bindir
    from migrator.sandbox.pgquery import conninfo

    argv = [str(bindir() / "psql"), "-d", conninfo(zone.ip, zone.pg_port, connect_timeout="2"),
            "-X", "-A", "-t", "-q", "-c", POSITION_SQL]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10.0, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AdmError(f"postgres at {zone.ip}:{zone.pg_port} does not answer: "
                       f"{str(exc).strip()[:200]}") from None
    if done.returncode != 0:
        raise AdmError(f"postgres at {zone.ip}:{zone.pg_port} does not answer: "
                       f"{done.stderr.strip()[:200]}")
    return done.stdout.rstrip("\n")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        sys.stderr.write("usage: python -m migrator.sandbox.adm DIR ZONE COMMAND [ARGS]\n")
        sys.exit(2)
    try:
        config = load_config(Path(args[0]))
        status = run(config, config.zone(args[1]), args[2:])
    except AdmError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except MigratorError as exc:
        sys.stderr.write(f"error: {exc.paragraph()}\n")
        sys.exit(1)
    sys.exit(status)


if __name__ == "__main__":
    main()
