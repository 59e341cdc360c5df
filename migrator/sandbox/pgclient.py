"""The write client on real postgres: real rows, and an id acknowledged only after COMMIT.

Each write inserts one row into ``rehearsal_writes(id, written_at)`` on the current
primary (found as node-manatee finds it, see client.py) in its own transaction. The id
counts as acknowledged only once COMMIT returned without the warning postgres gives
when it stopped waiting for the synchronous standby ("canceling wait for synchronous
replication ... committed locally"): such a row is on the primary alone, which is what
a careful client must not promise. Acknowledged ids are appended to
DIR/client/acked, one per line, flushed after each, so `sandbox verify` can count
them. Ids are never reused: DIR/client/reserved holds the highest id handed out in
blocks, and a restarted client starts above it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from migrator.sandbox.pgquery import conninfo
from migrator.sandbox.pgwire import pg_address
from migrator.sandbox.writer import Writer

COMMIT_TIMEOUT_MS = 2000
RESERVE_BLOCK = 1000
SYNC_WAIT_CANCELLED = "canceling wait for synchronous replication"


def read_acked(directory: Path) -> list[int]:
    try:
        text = (directory / "client" / "acked").read_text()
    except FileNotFoundError:
        return []
    # a client killed mid-line leaves a partial last line: it was never acknowledged
    lines = text.split("\n")
    complete = lines[:-1] if not text.endswith("\n") else lines
    return [int(line) for line in complete if line.strip().isdigit()]


def _reserved(directory: Path) -> int:
    try:
        return int((directory / "client" / "reserved").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


class RealWriter(Writer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        acked = read_acked(self.config.directory)
        self.next_id = max([_reserved(self.config.directory), *acked, 0]) + 1
        self.reserved_to = self.next_id - 1
        self._acked = (self.out / "acked").open("a", encoding="utf-8")
        self._connection: Any = None
        self._cancelled_wait = False

    def _reserve(self) -> None:
        if self.next_id <= self.reserved_to:
            return
        self.reserved_to = self.next_id + RESERVE_BLOCK - 1
        tmp = self.out / "reserved.tmp"
        tmp.write_text(f"{self.reserved_to}\n")
        tmp.replace(self.out / "reserved")

    def _write(self, target: Any) -> bool:
        # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
        import psycopg

        if target is None:
            self.last_error = "no primary"
            return False
        if self._connection is None or self._socket_target != target:
            self._close()
            host, port = pg_address({"pgUrl": target[1]})
            try:
                connection = psycopg.connect(conninfo(
                    host, port, connect_timeout="2",
                    options=f"-c statement_timeout={COMMIT_TIMEOUT_MS}",
                    application_name="rehearsal-client"))
            except psycopg.Error as exc:
                self.last_error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
                return False
            connection.add_notice_handler(self._on_notice)
            self._connection, self._socket_target = connection, target
        self._reserve()
        row_id = self.next_id
        self.next_id += 1
        self._cancelled_wait = False
        try:
            self._connection.execute(
                "INSERT INTO rehearsal_writes (id, written_at) VALUES (%s, now())", (row_id,))
            self._connection.commit()
        except psycopg.Error as exc:
            self.last_error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
            self._close()
            return False
        if self._cancelled_wait:
            self.last_error = "commit not confirmed by the synchronous standby"
            return False
        self._acked.write(f"{row_id}\n")
        self._acked.flush()
        return True

    def _on_notice(self, diagnostic: Any) -> None:
        if SYNC_WAIT_CANCELLED in str(diagnostic.message_primary or ""):
            self._cancelled_wait = True

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection = None

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._acked.close()
