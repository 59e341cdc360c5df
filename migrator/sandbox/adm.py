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

A v1 zone's manatee-adm predates the cluster state: it reads the topology from
the election and has no state-backfill, freeze or unfreeze. A v2 zone's
``status`` needs /state (upstream: "No state object exists ...") unless given
``-l`` (legacy order mode: the election order). In ``status``, as upstream's
``_formatState``: the asyncs are ``async``, ``async1``, ``async2``...; the deposed
peers ``deposed``, ``deposed1``... (upstream queries no postgres for them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from migrator.cluster.backfill import plan_backfill
from migrator.cluster.history import summarize
from migrator.cluster.positions import POSITION_SQL
from migrator.cluster.state import ClusterState, iso_now_ms
from migrator.errors import MigratorError, StateAlreadyExists
from migrator.sandbox import admshow
from migrator.sandbox.bunyan import inspect
from migrator.sandbox.config import RELEASES, SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.peers import start_sitter, stop_sitter
from migrator.sandbox.pgquery import connect, query_status
from migrator.sandbox.pgreal import REBUILD_MARKER
from migrator.sandbox.pgsim import pg_address, request
from migrator.sandbox.shard import election_children, sandbox_zk
from migrator.sandbox.waits import wait_election, wait_state
from migrator.zk import reads, writes
from migrator.zk.client import disconnect

V2_ONLY = ("state-backfill", "freeze", "unfreeze", "state", "peers", "rebuild", "show")


class AdmError(Exception):
    pass


def _client(config: SandboxConfig) -> Any:
    return sandbox_zk(config)


def pg_status(peer: dict[str, Any], real: bool = False) -> dict[str, Any] | None:
    """The peer's postgres as manatee-adm reads it: pg_stat_replication rows as the
    server names them and a standby's ``time_lag``, from the real server (``real``) or
    the simulator."""

    if real:
        try:
            host, port = pg_address(peer)
        except ValueError:
            return None
        return query_status(host, port)
    try:
        host, port = pg_address(peer)
        answer = request(host, port, {"op": "status"}, timeout=2.0)
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) and answer.get("online") else None


def _with_pg(peer: dict[str, Any], role: str, v2: bool, real: bool = False) -> dict[str, Any]:
    entry = dict(peer)
    status = pg_status(peer, real)
    if status is None:
        entry["online"] = False
        entry["error"] = json.dumps({"name": "Error", "message": "connect ECONNREFUSED"})
        return entry
    if v2:
        entry["online"] = True
    rows = status.get("repl") or []
    entry["repl"] = rows[0] if rows else {}
    if role != "primary":  # upstream asks every peer but the primary for its replay lag
        entry["lag"] = {"time_lag": status.get("time_lag")}
    return entry


def status_document(
    config: SandboxConfig, zone: ZoneConfig, client: Any, legacy: bool = False
) -> dict[str, Any]:
    shard = config.shard
    v2_view = zone.version == "v2" and not legacy
    found = reads.read_state_bytes(client, shard) if v2_view else None
    if v2_view and found is None:
        raise AdmError(f"No state object exists for one or more shards: {shard}")
    body: dict[str, Any] = {}
    if found is not None:
        state = json.loads(found[0])
        freeze = state.get("freeze")
        if freeze:
            body["__FROZEN__"] = f"{freeze.get('date')}: {freeze.get('reason')}"
        roles: list[tuple[str, dict[str, Any]]] = [("primary", state["primary"])]
        if state.get("sync"):
            roles.append(("sync", state["sync"]))
        roles.extend(("async", p) for p in state.get("async") or [])
        deposed = list(state.get("deposed") or [])
        v2 = True
    else:
        names = sorted(election_children(client, config), key=lambda n: n.rsplit("-", 1)[1])
        roles = []
        for index, name in enumerate(names):
            try:
                data = json.loads(client.get(f"/manatee/{shard}/election/{name}")[0])
            except Exception:  # the node left between list and get: it is not in the shard
                continue
            role = "primary" if index == 0 else "sync" if index == 1 else "async"
            roles.append((role, data))
        deposed = []
        v2 = False
    real = config.pg == "real"
    asyncs = [_with_pg(p, r, v2, real) for r, p in roles if r == "async"]
    for role, peer in roles:
        if role != "async":
            body[role] = _with_pg(peer, role, v2, real)
    for index, entry in enumerate(asyncs):
        body[f"async{index or ''}"] = entry
    for index, peer in enumerate(deposed):
        body[f"deposed{index or ''}"] = dict(peer)
    return {shard: body}


def pg_status_lines(body: dict[str, Any]) -> list[str]:
    """``pg-status``: upstream's table, one row per peer, the replication columns from
    the row of pg_stat_replication for its downstream."""
    return admshow.pg_table(body)


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
    client = _client(config)
    try:
        return _dispatch(config, zone, client, command, args)
    finally:

        disconnect(client)


def pg_position(config: SandboxConfig, zone: ZoneConfig) -> str:
    """``pg-position`` (sandbox only; what the inventory's ``commands.pg_position`` runs
    here): the zone's postgres position as ``POSITION_SQL`` prints it, from the real
    server, or from the simulator (one timeline, its WAL counter)."""
    if config.pg == "real":
        # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
        import psycopg

        try:
            with connect(zone.ip, zone.pg_port, 2.0) as connection:
                row = connection.execute(POSITION_SQL).fetchone()
        except (psycopg.Error, OSError) as exc:
            raise AdmError(f"postgres at {zone.ip}:{zone.pg_port} does not answer: "
                           f"{str(exc).strip()[:200]}") from None
        return str(row[0])
    try:
        answer = request(zone.ip, zone.pg_port, {"op": "status"}, timeout=2.0)
    except (OSError, ValueError):
        answer = None
    if not isinstance(answer, dict) or not answer.get("online"):
        raise AdmError(f"postgres at {zone.ip}:{zone.pg_port} does not answer")
    role = "primary" if answer.get("role") == "primary" else "standby"
    return f"{role}|1|{answer.get('wal')}|"


def _state_of(client: Any, shard: str) -> tuple[Any, int]:
    found = reads.read_state(client, shard)
    if found is None:
        raise AdmError(f"Shard {shard} has no /state (it is in legacy mode).")
    return found


def _dispatch(
    config: SandboxConfig, zone: ZoneConfig, client: Any, command: str, args: list[str]
) -> int:
    shard = config.shard
    if command == "status":
        legacy = "-l" in args or "--legacyOrderMode" in args
        document = status_document(config, zone, client, legacy)
        print(json.dumps(document, separators=(",", ":")))
    elif command == "pg-status":
        legacy = "-l" in args or "--legacyOrderMode" in args
        body = status_document(config, zone, client, legacy)[shard]
        for line in pg_status_lines(body):
            print(line)
        found = reads.read_state_bytes(client, shard)
        singleton = found is not None and bool(json.loads(found[0]).get("oneNodeWriteMode"))
        for line in admshow.issue_lines(body, singleton):  # upstream: on stderr
            sys.stderr.write(line + "\n")
    elif command == "show":
        verbose = "-v" in args or "--verbose" in args
        found = reads.read_state_bytes(client, shard)
        if found is None:
            sys.stderr.write(f'manatee-adm: no state object exists for shard: "{shard}"\n')
            return 1
        body = status_document(config, zone, client)[shard]
        for line in admshow.show_lines(config.zk_connection, shard, json.loads(found[0]),
                                       body, verbose):
            print(line)
    elif command == "state":
        found = reads.read_state_bytes(client, shard)
        if found is None:
            raise AdmError(f"No state exists for shard {shard}")
        sys.stdout.write(found[0].decode("utf-8") + "\n")
    elif command == "history":
        _history(client, shard, args)
    elif command == "peers":
        parsed = reads.read_state(client, shard)
        if parsed is None:
            raise AdmError(f"No state exists for shard {shard}")
        rows = [{"ROLE": role, "PEERNAME": peer.zone_id, "IP": peer.ip}
                for role, peer in parsed[0].peers_with_roles()]
        for line in admshow.table(admshow.PEERS_COLUMNS, rows):
            print(line)
    elif command == "state-backfill":
        assume_yes = "-y" in args or "--yes" in args

        def ask(state: Any) -> None:
            sys.stderr.write("Computed new cluster state:\n" + inspect(state.document) + "\n")
            if assume_yes:
                return
            sys.stderr.write("is this correct(y/n)\nprompt: yes:  ")
            sys.stderr.flush()
            answer = sys.stdin.readline().strip()
            if answer not in ("y", "yes"):
                sys.stderr.write("aborted...\n")
                raise AdmError("aborting cluster state backfill due to user command")

        try:
            state = plan_backfill(reads.read_shard(client, shard), iso_now_ms(), upstream=True)
        except StateAlreadyExists as exc:
            raise AdmError(f"State already exists for shard {shard}") from exc
        ask(state)
        writes.create_state(client, shard, state)  # upstream's bytes exactly
        print("Ok.")
    elif command == "freeze":
        reason = _option(args, "-r", "--reason")
        if reason is None:
            raise AdmError("freeze requires -r REASON")
        state, version = _state_of(client, shard)
        if state.freeze is not None:
            raise AdmError(f"shard is already been frozen: {state.freeze.reason}")
        writes.replace_state(client, shard, state.with_freeze(reason, iso_now_ms()), version,
                             "freeze")
        print("Frozen.")
    elif command == "unfreeze":
        state, version = _state_of(client, shard)
        if state.freeze is None:
            raise AdmError("shard is not frozen")
        writes.replace_state(client, shard, state.without_freeze(), version, "unfreeze")
        print("Unfrozen.")
    elif command == "rebuild":
        _rebuild(config, zone, client, "-y" in args or "--ignorePrompts" in args)
    else:
        raise AdmError(f'unknown command "{command}"')
    return 0


def _rebuild(config: SandboxConfig, zone: ZoneConfig, client: Any, assume_yes: bool) -> None:
    """upstream's rebuild (lib/adm.js): disable the sitter, wait for its session to end,
    drop it from ``deposed`` (setData at the version read + history ``0-``), enable the
    sitter, and return once /state lists it as sync or async. Added for the rollback
    issue's deposed-peer step. On real postgres the sitter then replaces the zone's data
    with a pg_basebackup of its upstream (manatee restores a ZFS backup); the simulated
    database is kept (nothing to restore)."""

    found = reads.read_state(client, config.shard)
    if found is None:
        raise AdmError(f"No state exists for shard {config.shard}")
    if found[0].primary.zone_id == zone.uuid:
        raise AdmError("This node is the primary.  Will not rebuild.")
    if not assume_yes:
        sys.stderr.write("This operation will remove all local data and rebuild this peer "
                         "from another cluster peer. (yes/no)?\nprompt: no:  ")
        sys.stderr.flush()
        if sys.stdin.readline().strip() not in ("y", "yes"):
            raise AdmError("aborting rollback due to user command")
    sys.stderr.write("Disabling manatee-sitter SMF service to ensure that Manatee is not "
                     "running.\n")
    stop_sitter(config, zone)
    prefix = f"{zone.peer_id}-"
    wait_election(config, lambda names: not any(n.startswith(prefix) for n in names),
                  config.session_timeout * 1.5 + 2)
    found = reads.read_state(client, config.shard)
    assert found is not None
    state, version = found
    deposed = state.document.get("deposed") or []
    if any(p.get("zoneId") == zone.uuid for p in deposed):
        document = dict(state.document)
        document["deposed"] = [p for p in deposed if p.get("zoneId") != zone.uuid]
        writes.replace_state(client, config.shard, ClusterState(document), version, "rebuild")
    if config.pg == "real":  # the data is discarded: the sitter copies it from its upstream

        (config.zone_dir(zone) / REBUILD_MARKER).write_text("requested by manatee-adm rebuild\n")
    sys.stderr.write("Enabling sitter\n")
    start_sitter(config, zone)

    def rejoined(doc: dict[str, Any] | None) -> bool:
        peers = [(doc or {}).get("sync") or {}, *((doc or {}).get("async") or [])]
        return any(p.get("zoneId") == zone.uuid for p in peers)

    wait_state(config, rejoined, 30.0)
    print("Rebuild successful")


def _history(client: Any, shard: str, args: list[str]) -> None:
    """Default: the runbook's one JSON line per record; ``-j``: upstream's
    ``{"zkSeq", "time", "state"}`` lines; ``-v``: a summary line per record."""

    previous = None
    for record in reads.read_history(client, shard):
        seq = f"{record.seq:010d}"
        when = None if record.time is None else record.to_json().get("date")
        if "-j" in args:
            body = record.state if record.kind == "v2" else record.v1
            print(json.dumps({"zkSeq": seq, "time": when, "state": body},
                             separators=(",", ":")))
        elif "-v" in args:
            print(f"{when}  {seq}  {summarize(record, previous)}")
        else:
            print(json.dumps(record.to_json(), separators=(",", ":")))
        previous = record  # of either kind: after a v1 event comes its follow-up


def _option(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        if arg in names and index + 1 < len(args):
            return args[index + 1]
    return None


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
