"""Queries on the sandbox's real PostgreSQL servers (`--pg real`).

What manatee-adm (``pg_stat_replication`` under manatee's field names), the write
client, `sandbox verify`, `sandbox up`'s waits and the tests read from the servers,
each over one short connection as the ``postgres`` user (trust on loopback).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from migrator.errors import StepFailed
from migrator.sandbox.pgdata import PG_USER, POLL
from migrator.sandbox.pgsim import pg_address

TABLE = "rehearsal_writes"


def conninfo(host: str, port: int, **extra: str) -> str:
    parts = {"host": host, "port": str(port), "user": PG_USER, "dbname": "postgres", **extra}
    return " ".join(f"{k}='{_escape(v)}'" for k, v in parts.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@contextlib.contextmanager
def connect(host: str, port: int, timeout: float = 2.0, **extra: str) -> Iterator[Any]:
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    connection = psycopg.connect(
        conninfo(host, port, connect_timeout=str(max(1, round(timeout))), **extra),
        autocommit=True,
    )
    try:
        yield connection
    finally:
        connection.close()


REPL_QUERY = (
    "SELECT pid, usesysid, usename, application_name, host(client_addr), client_hostname, "
    "client_port, backend_start, state, sent_lsn::text, write_lsn::text, flush_lsn::text, "
    "replay_lsn::text, sync_priority, sync_state FROM pg_stat_replication ORDER BY pid"
)
REPL_FIELDS = (
    "pid", "usesysid", "usename", "application_name", "client_addr", "client_hostname",
    "client_port", "backend_start", "state", "sent_location", "write_location",
    "flush_location", "replay_location", "sync_priority", "sync_state",
)


def repl_rows(connection: Any) -> list[dict[str, Any]]:
    """pg_stat_replication with the field names manatee prints (9.x names)."""
    rows = []
    for row in connection.execute(REPL_QUERY).fetchall():
        entry = dict(zip(REPL_FIELDS, row, strict=True))
        started = entry["backend_start"]
        if started is not None:
            entry["backend_start"] = started.isoformat()
        entry["client_hostname"] = entry["client_hostname"] or ""
        entry["client_addr"] = _client_addr(entry["client_addr"], entry["application_name"])
        rows.append(entry)
    return rows


def _client_addr(seen: str | None, application_name: str | None) -> str | None:
    """The standby's address. On loopback every zone connects from 127.0.0.1 (libpq
    cannot bind a source address and the kernel picks the route's), so where postgres saw
    127.0.0.1 the address is taken from the ``application_name``, which is the standby's
    own pgUrl (as manatee sets it); a production peer's real address is never rewritten."""
    if seen != "127.0.0.1" or not application_name:
        return seen
    try:
        host, _ = pg_address({"pgUrl": application_name})
    except ValueError:
        return seen
    return host if host.startswith("127.") else seen


def current_lsn(connection: Any) -> str:
    row = connection.execute(
        "SELECT CASE WHEN pg_is_in_recovery() THEN "
        "COALESCE(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn(), '0/0'::pg_lsn) "
        "ELSE pg_current_wal_lsn() END::text"
    ).fetchone()
    return str(row[0])


def _writable(connection: Any) -> tuple[bool, bool]:
    """(in recovery, writable): a primary is writable when it names no sync, or its sync
    streams as ``sync``."""
    row = connection.execute(
        "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')"
    ).fetchone()
    in_recovery, names = bool(row[0]), str(row[1] or "")
    if in_recovery:
        return True, False
    if not names.strip():
        return False, True
    found = connection.execute(
        "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' "
        "AND state = 'streaming'"
    ).fetchone()
    return False, bool(found[0])


def query_status(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """What manatee-adm reads from one peer's postgres, in the simulator's shape; None
    when it does not answer."""
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    try:
        with connect(host, port, timeout) as connection:
            in_recovery, writable = _writable(connection)
            return {
                "online": True,
                "role": "standby" if in_recovery else "primary",
                "wal": current_lsn(connection),
                "writable": writable,
                "repl": repl_rows(connection),
            }
    except (psycopg.Error, OSError):
        return None


def wait_writable(host: str, port: int, timeout: float) -> bool:
    """Bounded: until the server at host:port is a primary whose sync (if named) streams."""
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(host, port, min(2.0, max(0.5, deadline - time.monotonic()))) as conn:
                while True:
                    if _writable(conn)[1]:
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(POLL * 5)
        except (psycopg.Error, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL * 5)


def wait_receiving(host: str, port: int, timeout: float) -> bool:
    """Bounded: until the standby at host:port has a WAL receiver that is streaming."""
    # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(psycopg.Error, OSError), connect(host, port, 1.0) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            if row is not None and row[0] == "streaming":
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL * 5)


def ensure_table(host: str, port: int) -> None:
    with connect(host, port, 5.0) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now())"
        )


def read_ids(host: str, port: int, timeout: float = 5.0) -> set[int]:
    with connect(host, port, timeout) as connection:
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
        if not exists[0]:
            return set()
        return {int(r[0]) for r in connection.execute(f"SELECT id FROM {TABLE}").fetchall()}


def walreceiver_pid(host: str, port: int) -> int | None:
    with connect(host, port) as connection:
        row = connection.execute("SELECT pid FROM pg_stat_wal_receiver").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def hold_walreceiver(host: str, port: int, held: bool = True) -> int:
    """The test hook on real postgres: SIGSTOP (held) or SIGCONT the standby's WAL
    receiver, so it stays connected but acknowledges nothing; returns its pid."""
    pid = walreceiver_pid(host, port)
    if pid is None:
        raise StepFailed(f"{host}:{port} has no WAL receiver running.",
                         "Is it a streaming standby?")
    os.kill(pid, signal.SIGSTOP if held else signal.SIGCONT)
    return pid
