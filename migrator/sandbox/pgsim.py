"""A simulated postgres: a WAL position, streaming replication, and a write port.

Each sitter owns one ``SimPostgres`` listening on the zone's address and
postgres port. The wire protocol is JSON lines (``pgwire``):

  {"op": "write"}                    -> {"ok": true, "wal": "0/174A2D8"} when this is a
                                        writable primary, else {"ok": false, "error": ...}
  {"op": "status"}                   -> pg_stat_replication-like rows (see ``status``)
  {"op": "wait-writable", "timeout": T} -> {"ok": bool} once writable or after T seconds
  {"op": "replicate", "peer": {...}} -> the connection becomes a replication stream: the
                                        upstream sends {"wal": N} on every change and the
                                        downstream answers {"flush": N}
  {"op": "pause-replication", "paused": B} -> {"ok": true} (test hook, see below)

Decisions:
  - writable = role primary and either its configured downstream (the sync) is
    streaming, or it has no downstream configured because it is alone (a v1 primary
    with no standby, or a one-node-write primary). A write waits (bounded) for the
    sync's acknowledgement, as synchronous replication does, and fails otherwise;
    upstream found that writes to a sync or async fail with "cannot execute INSERT
    in a read-only transaction", which is the error we return.
  - the WAL position survives the sitter (``pg.json`` in the zone directory), so a
    reprovisioned zone comes back with postgres already set up.
  - ``sync_state`` of a stream is "sync" on a primary for its configured downstream,
    "async" otherwise (manatee's sync replicates to the async asynchronously).
  - test hook ``pause-replication`` (``pause_replication()``): sent to a downstream,
    it drops its link to the upstream and keeps it down until resumed, as a sync whose
    walreceiver stopped. The sitter and its election node are untouched, so the peer
    stays in the election while out of synchronous replication (what stopping the
    sitter cannot show: that is leaving the election). In memory only: a restarted
    sitter replicates again.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.sandbox.pgquery import lag_json
from migrator.sandbox.pgwire import pg_address, request, send

WAL_START = 0x174A270
WRITE_SIZE = 0x68
SYNC_ACK_TIMEOUT = 1.0
READ_ONLY_ERROR = "cannot execute INSERT in a read-only transaction"


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class PgConfig:
    role: str  # primary, sync, async, none
    upstream: dict[str, Any] | None = None
    downstream: dict[str, Any] | None = None
    one_node: bool = False


@dataclass
class _Stream:
    peer: dict[str, Any]
    connection: socket.socket
    client_port: int
    started: str
    acked: int = 0
    client_addr: str = ""  # the connection's source address, as a server sees it
    replied: str | None = None  # when the standby last acknowledged (reply_time)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimPostgres:
    def __init__(self, data_file: Path, host: str, port: int, self_peer: dict[str, Any]) -> None:
        self.data_file = data_file
        self.host = host
        self.port = port
        self.self_peer = self_peer
        self.config = PgConfig("none")
        self.online = False
        self.wal = self._load_wal()
        self._changed = threading.Condition()
        self._streams: list[_Stream] = []
        self._server: socket.socket | None = None
        self._upstream_thread: threading.Thread | None = None
        self._upstream_socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._generation = 0  # bumps whenever the upstream link is dropped; stale threads exit
        self._paused = False  # the pause-replication test hook
        self._replayed_at: float | None = None  # when WAL last arrived from upstream
        self.on_stream_change: Callable[[], None] = lambda: None

    # ---- persistence -------------------------------------------------------------
    def _load_wal(self) -> int:
        try:
            return int(json.loads(self.data_file.read_text())["wal"])
        except (OSError, ValueError, KeyError, TypeError):
            return WAL_START

    def _save_wal(self) -> None:
        tmp = self.data_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"wal": self.wal, "lsn": format_lsn(self.wal)}) + "\n")
        tmp.replace(self.data_file)

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._save_wal()
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept_loop, name="pg-accept", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
        self._drop_upstream()

    def xlog_location(self) -> str:
        with self._changed:
            return format_lsn(self.wal)

    # ---- configuration -----------------------------------------------------------
    def reconfigure(self, config: PgConfig) -> None:
        """Apply a role: (re)connect to the upstream, keep or drop the streams."""
        with self._changed:
            old = self.config
            self.config = config
            self.online = config.role != "none"
            self._changed.notify_all()
        if config.role == "none" or config.role == "primary":
            self._drop_upstream()
        if not self.online:
            self._drop_streams()
        upstream = config.upstream
        if upstream is not None and (
            old.upstream is None
            or old.upstream.get("id") != upstream.get("id")
            or self._upstream_thread is None
            or not self._upstream_thread.is_alive()
        ):
            self._drop_upstream()
            with self._changed:
                self._generation += 1
                generation = self._generation
            thread = threading.Thread(
                target=self._follow_upstream, args=(upstream, generation), daemon=True,
                name="pg-upstream",
            )
            self._upstream_thread = thread
            thread.start()

    def writable(self) -> bool:
        with self._changed:
            return self._writable_locked()

    def _writable_locked(self) -> bool:
        config = self.config
        if config.role != "primary":
            return False
        if config.downstream is None:
            return True
        return self._sync_stream_locked() is not None

    def _sync_stream_locked(self) -> _Stream | None:
        downstream = self.config.downstream
        if downstream is None:
            return None
        for stream in self._streams:
            if stream.peer.get("id") == downstream.get("id"):
                return stream
        return None

    def wait_writable(self, timeout: float) -> bool:
        """Block (bounded) until this postgres accepts writes; woken by every change."""
        with self._changed:
            return self._changed.wait_for(self._writable_locked, timeout=timeout)

    # ---- writes ------------------------------------------------------------------
    def write(self) -> dict[str, Any]:
        with self._changed:
            if not self._writable_locked():
                reason = (
                    READ_ONLY_ERROR if self.config.role != "primary"
                    else "synchronous standby is not connected"
                )
                return {"ok": False, "error": reason}
            self.wal += WRITE_SIZE
            position = self.wal
            self._save_wal()
            self._changed.notify_all()
            if self.config.downstream is None:
                return {"ok": True, "wal": format_lsn(position)}
            ok = self._changed.wait_for(
                lambda: (s := self._sync_stream_locked()) is not None and s.acked >= position,
                timeout=SYNC_ACK_TIMEOUT,
            )
        if not ok:
            return {"ok": False, "error": "synchronous standby did not acknowledge"}
        return {"ok": True, "wal": format_lsn(position)}

    # ---- status ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What manatee-adm reads from pg_stat_replication, one row per stream, in
        PostgreSQL 15's columns (as ``pgquery`` renders a real server's), and a standby's
        ``time_lag`` since WAL last arrived (each simulated write is one transaction)."""
        with self._changed:
            if not self.online:
                return {"online": False}
            rows = []
            sync = self._sync_stream_locked() if self.config.role == "primary" else None
            for stream in self._streams:
                acked = format_lsn(stream.acked)
                is_sync = stream is sync
                rows.append({
                    "pid": 30 + stream.client_port % 1000,
                    "usesysid": 10,
                    "usename": "postgres",
                    "application_name": stream.peer.get("pgUrl", ""),
                    "client_addr": stream.client_addr,
                    "client_hostname": None,
                    "client_port": stream.client_port,
                    "backend_start": stream.started,
                    "backend_xmin": None,
                    "state": "streaming",
                    "sent_lsn": format_lsn(self.wal),
                    "write_lsn": acked,
                    "flush_lsn": acked,
                    "replay_lsn": acked,
                    "write_lag": {},
                    "flush_lag": {},
                    "replay_lag": {},
                    "sync_priority": 1 if is_sync else 0,
                    "sync_state": "sync" if is_sync else "async",
                    "reply_time": stream.replied or stream.started,
                })
            standby = self.config.role != "primary"
            since = self._replayed_at
            return {
                "online": True,
                "role": self.config.role,
                "wal": format_lsn(self.wal),
                "writable": self._writable_locked(),
                "repl": rows,
                "time_lag": lag_json(timedelta(seconds=time.time() - since))
                if standby and since is not None else None,
            }

    # ---- server side -------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(connection,), daemon=True, name="pg-conn"
            ).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            reader = connection.makefile("r", encoding="utf-8")
            for line in reader:
                try:
                    asked = json.loads(line)
                    op = asked.get("op")
                except (ValueError, AttributeError):
                    return
                try:
                    if op == "write":
                        send(connection, self.write())
                    elif op == "status":
                        send(connection, self.status())
                    elif op == "wait-writable":
                        timeout = min(float(asked.get("timeout", 10.0)), 60.0)
                        send(connection, {"ok": self.wait_writable(timeout)})
                    elif op == "pause-replication":
                        self.pause_replication(bool(asked.get("paused", True)))
                        send(connection, {"ok": True})
                    elif op == "replicate" and isinstance(asked.get("peer"), dict):
                        self._stream_to(connection, reader, asked["peer"])
                        return
                    else:
                        send(connection, {"ok": False, "error": f"unknown op {op!r}"})
                except OSError:
                    return

    def _stream_to(self, connection: socket.socket, reader: Any, peer: dict[str, Any]) -> None:
        with self._changed:
            if not self.online:
                send(connection, {"error": "the database system is shutting down"})
                return
            address, port = connection.getpeername()[:2]
            stream = _Stream(peer, connection, port, iso_now_ms(), client_addr=address)
            self._streams = [s for s in self._streams if s.peer.get("id") != peer.get("id")]
            self._streams.append(stream)
        self.on_stream_change()
        sender = threading.Thread(target=self._send_wal, args=(stream,), daemon=True)
        sender.start()
        try:
            for line in reader:
                try:
                    flushed = int(json.loads(line)["flush"])
                except (ValueError, KeyError, TypeError):
                    break
                with self._changed:
                    stream.acked = max(stream.acked, flushed)
                    stream.replied = iso_now_ms()
                    self._changed.notify_all()
        except OSError:
            pass
        finally:
            with self._changed:
                if stream in self._streams:
                    self._streams.remove(stream)
                self._changed.notify_all()
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            self.on_stream_change()

    def _send_wal(self, stream: _Stream) -> None:
        sent = -1
        while True:
            with self._changed:
                self._changed.wait_for(partial(self._moved, sent, stream), timeout=5.0)
                if stream not in self._streams or self._stopping.is_set():
                    return
                position = self.wal
            if position == sent:
                continue
            try:
                send(stream.connection, {"wal": position})
            except OSError:
                return
            sent = position

    def _moved(self, sent: int, stream: _Stream) -> bool:
        return self.wal != sent or stream not in self._streams

    def _drop_streams(self) -> None:
        with self._changed:
            streams, self._streams = self._streams, []
            self._changed.notify_all()
        for stream in streams:
            with contextlib.suppress(OSError):
                stream.connection.shutdown(socket.SHUT_RDWR)

    # ---- client side (this peer replicating from its upstream) -------------------
    def pause_replication(self, paused: bool) -> None:
        """The test hook: hold the link to the upstream down (True) or let it reconnect."""
        with self._changed:
            self._paused = paused
            self._changed.notify_all()
        if paused:
            sock = self._upstream_socket
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _drop_upstream(self) -> None:
        with self._changed:
            self._generation += 1  # tells the current upstream thread to exit
            self._changed.notify_all()  # also one held back by pause_replication
        sock, self._upstream_socket = self._upstream_socket, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _current(self, generation: int) -> bool:
        with self._changed:
            return generation == self._generation and not self._stopping.is_set()

    def _follow_upstream(self, upstream: dict[str, Any], generation: int) -> None:
        """Stream from the upstream until reconfigured; reconnect with bounded backoff."""
        host, port = pg_address(upstream)
        delay = 0.05
        while self._current(generation):
            with self._changed:
                # bounded: a stopping postgres sets an Event, which notifies nobody
                if not self._changed.wait_for(
                        lambda: not self._paused or not self._current(generation),
                        timeout=5.0):
                    continue
            if not self._current(generation):
                return
            try:
                sock = socket.create_connection((host, port), timeout=2.0)
            except OSError:
                self._stopping.wait(delay)
                delay = min(delay * 2, 0.5)
                continue
            delay = 0.05
            sock.settimeout(None)
            self._upstream_socket = sock
            if not self._current(generation):  # reconfigured while we were connecting
                sock.close()
                return
            try:
                send(sock, {"op": "replicate", "peer": self.self_peer})
                for line in sock.makefile("r", encoding="utf-8"):
                    if not self._current(generation):
                        break
                    message = json.loads(line)
                    if "wal" not in message or self._paused:
                        break
                    with self._changed:
                        if int(message["wal"]) > self.wal:
                            self._replayed_at = time.time()
                        self.wal = max(self.wal, int(message["wal"]))
                        self._save_wal()
                        position = self.wal
                        self._changed.notify_all()
                    send(sock, {"flush": position})
            except (OSError, ValueError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
            self._stopping.wait(delay)


def pause_replication(host: str, port: int, paused: bool = True) -> None:
    """Ask the simulated postgres at host:port to hold its upstream link down (or not)."""
    answer = request(host, port, {"op": "pause-replication", "paused": paused})
    if not (isinstance(answer, dict) and answer.get("ok")):
        raise ConnectionError(f"pause-replication refused: {answer!r}")
