"""`sandbox verify`: every acknowledged write accounted for, on every peer (Jepsen-style).

Reads DIR/client/acked (ids whose COMMIT returned), then the rows of
``rehearsal_writes`` on the current primary, and on every other running peer once it
has replayed up to the primary's WAL position (bounded wait). Counts:
  acknowledged         ids in DIR/client/acked
  lost                 acknowledged ids missing from the primary (must be 0)
  unacknowledged_present  rows on the primary whose COMMIT never returned to the client
                       (in flight at a failure, or after a cancelled sync wait): allowed
  per peer             caught up or not, acknowledged ids missing, rows the primary
                       does not have (then its history forked from the primary's)

Decisions: ``ok`` is lost = 0 and no peer forked or missing acknowledged rows; a peer
that is offline (a deposed peer's postgres is stopped, as upstream's) or cannot catch
up within the wait is reported, not counted as loss, because the primary is the
shard's truth. Exit status 1 when not ok.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from migrator.errors import BadInput, StepFailed
from migrator.sandbox.config import SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.pgclient import read_acked
from migrator.sandbox.pgquery import connect, current_lsn, query_status, read_ids
from migrator.sandbox.pgsim import parse_lsn
from migrator.sandbox.shard import primary_zone, zk_client
from migrator.zk import reads

CATCH_UP_TIMEOUT = 15.0


def _lsn(host: str, port: int) -> str:
    with connect(host, port) as connection:
        return current_lsn(connection)


def _wait_replayed(zone: ZoneConfig, target: str, timeout: float) -> bool:
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            if parse_lsn(_lsn(zone.ip, zone.pg_port)) >= parse_lsn(target):
                return True
        except (psycopg.Error, OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # postgres cannot notify a replay position; bounded


def verify(directory: Path, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    config = load_config(directory.resolve())
    if config.pg != "real":
        raise BadInput(
            f"The sandbox in {config.directory} runs the simulated postgres (--pg sim); "
            "there are no rows to verify.",
            "Bring one up with `migrator sandbox up --pg real --with-client`.",
        )
    acked = set(read_acked(config.directory))
    primary = primary_zone(config)
    if primary is None:
        raise StepFailed("The sandbox shard has no primary to read from.",
                         "See `migrator sandbox status`.")
    deadline = time.monotonic() + timeout
    while True:  # its sitter may still be starting it (it applies /state once written)
        try:
            on_primary = read_ids(primary.ip, primary.pg_port)
            target = _lsn(primary.ip, primary.pg_port)
            break
        except (psycopg.Error, OSError) as exc:
            if time.monotonic() >= deadline:
                raise StepFailed(f"The primary {primary.uuid} did not answer: {exc}",
                                 f"See {config.zone_dir(primary) / 'postgres.log'}.") from exc
            time.sleep(0.1)
    acked_after = set(read_acked(config.directory))
    lost = sorted(acked - on_primary)
    peers = [_peer(config, zone, acked, on_primary, target, timeout)
             for zone in config.zones if zone is not primary]
    forked = [p["zone"] for p in peers if p["forked"]]
    missing = [p["zone"] for p in peers if p.get("acked_missing")]
    return {
        "primary": primary.uuid,
        "acknowledged": len(acked),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "unacknowledged_present": len(on_primary - acked_after),
        "rows_on_primary": len(on_primary),
        "peers": peers,
        "forked": forked,
        "ok": not lost and not forked and not missing,
    }


def _peer(config: SandboxConfig, zone: ZoneConfig, acked: set[int], on_primary: set[int],
          target: str, timeout: float) -> dict[str, Any]:
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    entry: dict[str, Any] = {"zone": zone.uuid, "ip": zone.ip, "forked": False}
    # a peer /state lists as sync or async is starting its postgres (say, just rebuilt):
    # wait for it, bounded; any other peer (deposed, unassigned) runs none
    deadline = time.monotonic() + (timeout if _replicating(config, zone) else 0.0)
    while query_status(zone.ip, zone.pg_port) is None:
        if time.monotonic() >= deadline:
            entry["status"] = "offline"
            return entry
        time.sleep(0.1)
    caught_up = _wait_replayed(zone, target, timeout)
    try:
        ids = read_ids(zone.ip, zone.pg_port)
    except (psycopg.Error, OSError) as exc:
        entry["status"] = f"unreadable: {exc}"
        return entry
    extra = ids - on_primary
    if extra:  # re-read the primary's rows: the peer may have replayed past our first read

        now = primary_zone(config)
        if now is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                extra = ids - read_ids(now.ip, now.pg_port)
    entry["status"] = "caught up" if caught_up else "behind"
    entry["rows"] = len(ids)
    entry["acked_missing"] = len(acked - ids) if caught_up else None
    entry["rows_not_on_primary"] = len(extra)
    entry["forked"] = bool(extra)
    return entry


def _replicating(config: SandboxConfig, zone: ZoneConfig) -> bool:

    with zk_client(config) as client:
        found = reads.read_state_bytes(client, config.shard)
    if found is None:
        return True  # v1: every peer in the election replicates
    state = json.loads(found[0])
    peers = [state.get("sync") or {}, *(state.get("async") or [])]
    return any(p.get("id") == zone.peer_id for p in peers)


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"acknowledged {result['acknowledged']}, lost {result['lost']}, "
        f"unacknowledged but present {result['unacknowledged_present']} "
        f"(primary {result['primary']}, {result['rows_on_primary']} rows)",
    ]
    for peer in result["peers"]:
        detail = peer["status"]
        if "rows" in peer:
            detail += (f", {peer['rows']} rows, acknowledged missing "
                       f"{peer['acked_missing'] if peer['acked_missing'] is not None else '?'}")
        if peer["forked"]:
            detail += f", FORKED: {peer['rows_not_on_primary']} rows the primary lacks"
        lines.append(f"  peer {peer['zone']} ({peer['ip']}): {detail}")
    if result["lost"]:
        lines.append(f"LOST acknowledged ids (first 20): {result['lost_ids']}")
    lines.append("verdict: " + ("every acknowledged write is accounted for" if result["ok"]
                                else "NOT OK"))
    return lines
