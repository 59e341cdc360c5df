"""One simulated manatee-sitter process: ``python -m migrator.sandbox.sitter DIR ZONE``.

It runs the zone's postgres (simulated, or a real server with `--pg real`), opens
its own ZooKeeper session (with
the sandbox's short session timeout, so that killing this process makes its
election node vanish that many seconds later, as a dying zone's does), and
drives a v1 or v2 peer from ZooKeeper watch events on one thread. The version
comes from the zone's ``version`` file, which `sandbox reprovision` rewrites.

A v2 peer's fatal error (an invalid /state) ends the process with status 1, as
the unhandled ``error`` event ends upstream's sitter; the zone's supervisor
(``supervisor.py``) then restarts it as SMF would. A port that cannot be bound
exits with SMF_EXIT_ERR_CONFIG, which the supervisor does not retry.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from migrator.sandbox.bunyan import INFO, BunyanLog
from migrator.sandbox.config import load_config
from migrator.sandbox.peer_v1 import V1Peer
from migrator.sandbox.peer_v2 import InvalidState, V2Peer
from migrator.sandbox.pgapi import Postgres
from migrator.sandbox.pgsim import SimPostgres
from migrator.sandbox.procs import on_termination
from migrator.sandbox.supervisor import EXIT_CONFIG
from migrator.sandbox.zkpeer import Event, PeerZk
from migrator.strictjson import JsonRejected, loads

IDLE_WAKEUP = 30.0  # seconds; only to notice a stop request, events wake us at once
PG_RESTART_DELAY = 0.5  # seconds before a dead real postgres is started again


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), callback))

    def next_delay(self) -> float:
        if not self._heap:
            return IDLE_WAKEUP
        return max(0.0, self._heap[0][0] - time.monotonic())

    def run_due(self) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()


def run(directory: Path, zone_name: str) -> int:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.client import KazooClient, KazooState

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    config = load_config(directory)
    zone = config.zone(zone_name)
    zone_dir = config.zone_dir(zone)
    version = (zone_dir / "version").read_text().split()[0]
    log = BunyanLog(zone_dir / "sitter.log", "manatee-sitter", zone.uuid)
    if config.sitter_log_level_of(version) == "info":
        log.min_level = INFO
    log.info("manatee-sitter starting", {"version": version, "id": zone.peer_id})
    events: queue.Queue[Event] = queue.Queue()
    stopping = False

    def on_stop() -> None:
        nonlocal stopping
        stopping = True
        events.put(Event("stop"))

    on_termination(on_stop)

    pg = _postgres(config.pg, zone_dir, zone, log, events)
    try:
        pg.start()
    except OSError as exc:
        message = f"cannot listen on {zone.ip}:{zone.pg_port}: {exc.strerror or exc}"
        log.error("postgres failed to start", {"err": {"name": "Error", "message": message}})
        sys.stderr.write(f"error: {message}\n")

        return EXIT_CONFIG
    client = KazooClient(hosts=config.zk_connection, timeout=config.session_timeout)
    client.start(timeout=15)
    # v1 and v2 sitters at -vvv both write DEBUG records from the start (a sample that
    # `inventory check` can see); at info this one is dropped like every DEBUG record
    log.debug("zookeeper session established", {"sessionTimeout": config.session_timeout})

    def on_zk_state(state: str) -> None:
        if state == KazooState.LOST:
            events.put(Event("lost"))

    client.add_listener(on_zk_state)
    zk = PeerZk(client, config.shard, events)
    timers = Timers()
    peer: V1Peer | V2Peer
    if version == "v1":
        peer = V1Peer(log, zk, pg, zone.ident())
    else:
        peer = V2Peer(log, zk, pg, zone.ident(), timers.schedule,
                      singleton=len(config.zones) == 1, deposed_mode=config.deposed_mode)
    peer.start()

    children: list[str] | None = None
    state_seen = False
    state_doc: Any = None
    initialised = False
    status = 0
    while not stopping and not (isinstance(peer, V2Peer) and peer.dead):
        try:
            event = events.get(timeout=timers.next_delay())
        except queue.Empty:
            timers.run_due()
            continue
        if event.kind == "pg":  # our real postgres died on its own: SMF would restart it
            timers.schedule(PG_RESTART_DELAY, getattr(pg, "restart_if_dead", lambda: None))
            continue
        if event.kind == "lost":
            log.warn("zookeeper session expired; exiting so that the zone restarts afresh")
            status = 1
            break
        if event.kind == "active":
            children = list(event.payload)
        elif event.kind == "state":
            data, version_seen = event.payload
            state_seen = True
            zk.state_version = version_seen
            state_doc = None if data is None else _parse(data)
        if isinstance(peer, V1Peer):
            if event.kind == "active" and children is not None:
                peer.on_active(zk.active(children))
        elif not initialised:
            if children is not None and state_seen:
                initialised = True
                peer.on_zk_init(state_doc, zk.active(children))
        elif event.kind == "active" and children is not None:
            peer.on_active_change(zk.active(children))
        elif event.kind == "state":
            peer.on_state_change(state_doc)
        timers.run_due()
    if isinstance(peer, V2Peer) and peer.dead:
        # Upstream: the peer emits "error", nothing handles it, node dies at once. The
        # ZooKeeper session is not closed, so the election node lingers until it expires.
        sys.stderr.write(f"Error: {peer.fatal_message}\n")
        sys.stderr.flush()
        pg.stop()
        log.close()
        os._exit(1)
    log.info("manatee-sitter stopping")
    pg.stop()
    client.stop()
    client.close()
    log.close()
    return status


def _postgres(
    mode: str, zone_dir: Path, zone: Any, log: BunyanLog, events: queue.Queue[Event]
) -> Postgres:
    if mode != "real":
        return SimPostgres(zone_dir / "pg.json", zone.ip, zone.pg_port, zone.ident())
    # deferred: the real server's side (pgreal and its installation's modules) costs ~9 ms
    # of CPU to import, and nearly all of the ~900 sitters the test suite starts are
    # simulated
    from migrator.sandbox.pgreal import RealPostgres

    pg = RealPostgres(zone_dir, zone.ip, zone.pg_port, zone.ident(),
                      log=lambda msg, fields: log.child(component="pg").info(msg, fields))
    pg.on_exit = lambda: events.put(Event("pg"))
    return pg


def _parse(data: bytes) -> Any:
    """The state as Node's JSON.parse would give it (validated by the peer), or why not."""
    try:
        return loads(data)
    except JsonRejected as exc:
        return InvalidState(str(exc))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m migrator.sandbox.sitter DIR ZONE\n")
        sys.exit(2)
    sys.exit(run(Path(args[0]), args[1]))


if __name__ == "__main__":
    main()
