"""The zone ``manatee-adm``'s commands that read ZooKeeper (``adm`` is the entry and
describes them all): ``status``, ``show``, ``pg-status``, ``state``, ``history``,
``peers``; and the session every ZooKeeper command runs on. The writes are
``admwrites``'s.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from migrator.cluster.history import summarize
from migrator.sandbox import admshow
from migrator.sandbox.admerror import AdmError
from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.pgquery import query_status
from migrator.sandbox.pgwire import pg_address, request
from migrator.sandbox.shard import election_children, zk_client
from migrator.zk import reads


def run(config: SandboxConfig, zone: ZoneConfig, command: str, args: list[str]) -> int:
    with zk_client(config) as client:
        return _dispatch(config, zone, client, command, args)


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
    else:
        raise AdmError(f'unknown command "{command}"')
    return 0


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
