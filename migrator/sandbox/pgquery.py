"""Queries on the sandbox's real PostgreSQL servers (`--pg real`).

What manatee-adm (``pg_stat_replication`` and the standby's replay lag), the write
client, `sandbox verify`, `sandbox up`'s waits and the tests read from the servers,
each over one short connection as the ``postgres`` user (trust on loopback).

manatee-adm prints what its postgres client (node-postgres, through pg-types 1.0)
makes of ``select * from pg_stat_replication``: the server's own column names and
order (PostgreSQL 15: ``sent_lsn`` ... ``replay_lsn``, ``write_lag`` ...
``replay_lag``, ``reply_time``), timestamps as ISO 8601 UTC with milliseconds, and
intervals as an object of their non-zero whole units (``{"minutes": 1, "seconds":
32}``; ``{}`` for less than a second). ``row_json`` renders a row that way. The
addresses are what the server saw: on loopback every standby connects from 127.0.0.1
(libpq cannot choose its source address), and ``application_name`` (the standby's
pgUrl, as manatee sets it) is what names the standby.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from migrator.errors import StepFailed

# Here rather than with the installation (pgdata, which imports ctypes, hashlib and
# tempfile: ~14 ms of CPU), so that the simulator, which needs only ``lag_json``,
# starts without them: the test suite starts ~900 simulated sitters.
PG_USER = "postgres"  # the user the servers run as, and the role every query uses
POLL = 0.02  # seconds; postgres offers no notification for "ready" or "streaming"

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


# manatee-adm's two queries (lib/adm.js): every column of every row, and on a standby how
# long ago the last replayed transaction committed
REPL_QUERY = "SELECT * FROM pg_stat_replication ORDER BY pid"
LAG_QUERY = "SELECT now() - pg_last_xact_replay_timestamp() AS time_lag"


def interval_json(value: dt.timedelta) -> dict[str, int]:
    """An interval as pg-types 1.0 parses postgres's text form: whole days, hours,
    minutes and seconds (the fraction dropped), zero units left out, every unit negative
    for a negative interval."""
    sign = -1 if value < dt.timedelta(0) else 1
    whole = int(abs(value).total_seconds())
    days, rest = divmod(whole, 86400)
    units = {"days": days, "hours": rest // 3600, "minutes": rest % 3600 // 60,
             "seconds": rest % 60}
    return {unit: sign * amount for unit, amount in units.items() if amount}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, dt.timedelta):
        return interval_json(value)
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return str(value.ip)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    return value


def row_json(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """One row as manatee-adm prints it (see the module docstring)."""
    return {name: _json_value(value) for name, value in zip(names, values, strict=True)}


def repl_rows(connection: Any) -> list[dict[str, Any]]:
    """pg_stat_replication as the server reports it (the server's names and addresses)."""
    cursor = connection.execute(REPL_QUERY)
    names = [column.name for column in cursor.description or ()]
    return [row_json(names, row) for row in cursor.fetchall()]


def time_lag(connection: Any) -> dict[str, int] | None:
    """manatee-adm's ``time_lag`` of a standby: since the last replayed transaction
    committed, with minutes and seconds always present; None before any was replayed."""
    return lag_json(connection.execute(LAG_QUERY).fetchone()[0])


def lag_json(value: dt.timedelta | None) -> dict[str, int] | None:
    """``time_lag`` from the interval: None stays None (no transaction replayed yet)."""
    if value is None:
        return None
    lag = interval_json(value)
    # upstream fills in the two units it always shows after the others (key order kept)
    lag.setdefault("minutes", 0)
    lag.setdefault("seconds", 0)
    return lag


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
                "time_lag": time_lag(connection) if in_recovery else None,
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
