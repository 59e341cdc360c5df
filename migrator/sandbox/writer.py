"""The Moray-like writer's machinery: finding the primary as a backward-compatible
Moray does, writing to it at a steady rate, and recording every window in which
writes failed in the format of ``migrator.outagerecords``."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.outagerecords import OUTAGES_FILE, STATS_FILE
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.pgwire import pg_address
from migrator.zk import paths
from migrator.zk.watches import watch_election

WRITE_INTERVAL = 0.05


REAL_WRITE_INTERVAL = 0.01  # real commits: up to ~100/s, leaving the shared CPUs room


WRITE_TIMEOUT = 2.0


STATS_EVERY = 1.0


@dataclass(frozen=True)
class Outage:
    start: str
    end: str
    seconds: float
    from_peer: str | None
    to_peer: str | None

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "seconds": round(self.seconds, 3),
                "from": self.from_peer, "to": self.to_peer}


def choose_primary(state: bytes | None, election: list[tuple[str, bytes | None]]) -> Any:
    """(peer id, pgUrl) the way node-manatee picks it; None when there is no primary."""
    if state is not None:
        try:
            primary = json.loads(state)["primary"]
            return str(primary["id"]), str(primary["pgUrl"])
        except (ValueError, KeyError, TypeError):
            return None
    ordered = sorted(
        (n for n in election if n[0].rsplit("-", 1)[-1].isdigit()),
        key=lambda n: int(n[0].rsplit("-", 1)[1]),
    )
    for name, data in ordered[:1]:
        try:
            return name.rsplit("-", 1)[0], str(json.loads(data or b"")["pgUrl"])
        except (ValueError, KeyError, TypeError):
            return None
    return None


class PrimaryTracker:
    """Watches /state and the election; the writer asks for the current primary."""

    def __init__(self, client: Any, shard: str) -> None:
        self.client = client
        self.shard = shard
        self._lock = threading.Lock()
        self._state: bytes | None = None
        self._children: list[str] = []
        self._dirty = True
        self._primary: Any = None

    def start(self) -> None:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.recipe.watchers import DataWatch

        def on_state(data: bytes | None, _stat: Any) -> bool:
            with self._lock:
                self._state, self._dirty = data, True
            return True

        def on_children(children: list[str]) -> bool:
            with self._lock:
                self._children, self._dirty = children, True
            return True

        DataWatch(self.client, paths.state_path(self.shard), on_state)
        watch_election(self.client, self.shard, on_children)

    def primary(self) -> Any:
        with self._lock:
            if not self._dirty:
                return self._primary
            state, children, self._dirty = self._state, list(self._children), False
        election: list[tuple[str, bytes | None]] = []
        if state is None and children:
            first = min(children, key=lambda n: n.rsplit("-", 1)[-1])
            try:
                data = self.client.get(f"{paths.election_path(self.shard)}/{first}")[0]
            except Exception:  # gone already: the next watch event brings the new list
                data = None
            election = [(first, data)]
        chosen = choose_primary(state, election)
        with self._lock:
            self._primary = chosen
        return chosen


class Writer:
    def __init__(self, config: SandboxConfig, tracker: PrimaryTracker,
                 interval: float = WRITE_INTERVAL) -> None:
        self.config = config
        self.interval = interval
        self.tracker = tracker
        self.out = config.directory / "client"
        self.ok = 0
        self.failed = 0
        self.open_since: tuple[str, float, str | None] | None = None
        self.last_primary: str | None = None
        self.last_error: str | None = None
        self._socket: socket.socket | None = None
        self._socket_target: Any = None
        self.stop = threading.Event()

    def _write(self, target: Any) -> bool:
        if target is None:
            self.last_error = "no primary"
            return False
        if self._socket is None or self._socket_target != target:
            self._close()
            host, port = pg_address({"pgUrl": target[1]})
            sock = socket.create_connection((host, port), timeout=WRITE_TIMEOUT)
            sock.settimeout(WRITE_TIMEOUT)
            self._socket, self._socket_target = sock, target
            self._reader = sock.makefile("r", encoding="utf-8")
        assert self._socket is not None
        self._socket.sendall(b'{"op": "write"}\n')
        line = self._reader.readline()
        if not line:
            raise ConnectionError("connection closed by the primary")
        answer = json.loads(line)
        if not answer.get("ok"):
            self.last_error = str(answer.get("error"))
        return bool(answer.get("ok"))

    def _close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        self._socket = None

    def step(self) -> None:
        target = self.tracker.primary()
        try:
            ok = self._write(target)
        except (OSError, ValueError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._close()
            ok = False
        peer = None if target is None else str(target[0])
        now = time.monotonic()
        if ok:
            self.ok += 1
            if self.open_since is not None:
                start, began, before = self.open_since
                outage = Outage(start, iso_now_ms(), now - began, before, peer)
                with (self.out / OUTAGES_FILE).open("a") as handle:
                    handle.write(json.dumps(outage.to_json()) + "\n")
                self.open_since = None
            self.last_primary = peer
        else:
            self.failed += 1
            if self.open_since is None:
                self.open_since = (iso_now_ms(), now, self.last_primary)

    def write_stats(self) -> None:
        stats = {
            "updated": iso_now_ms(),
            "writes_ok": self.ok,
            "writes_failed": self.failed,
            "primary": self.last_primary,
            "open_outage_since": None if self.open_since is None else self.open_since[0],
            "last_error": self.last_error,
        }
        tmp = self.out / "stats.tmp"
        tmp.write_text(json.dumps(stats) + "\n")
        tmp.replace(self.out / STATS_FILE)

    def run(self) -> None:
        next_stats = 0.0
        while not self.stop.is_set():
            self.step()
            if time.monotonic() >= next_stats:
                self.write_stats()
                next_stats = time.monotonic() + STATS_EVERY
            if self.interval > 0:
                self.stop.wait(self.interval)  # the write rate, not a poll
        self.write_stats()
        self._close()
