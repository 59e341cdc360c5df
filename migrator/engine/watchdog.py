"""The watchdog: the runbook's one data-corrupting situation, noticed as it happens.

The runbook's design section: "A doesn't fail while in the [A, [B, C']]
topology. If that does happen, both B and C' will think they are the primary.
If this does happen, C *must* be rolled back since it is an async that
believes it is a sync (this is dangerous)."

``assess`` (pure) names what is wrong in a snapshot, by phase:

* **mixed** — /state is the backfill (generation 0, frozen) and the original
  sync still holds the election node it had when the migration began (it is
  the v1 sync): the original primary's election node disappearing is the
  split-brain risk. The run stops; the remedy offered is the rollback plan
  (``rollback-before-primary``, which rolls the original async back).
* **frozen** — same /state, the original sync already reprovisioned, not yet
  unfrozen: the sync (the original async) leaving the election means it
  fell out of synchronous replication, and unfreezing now could let a peer
  that is not caught up take over. The run stops before the unfreeze.
  (Replication lag without the sync leaving is the unfreeze step's own
  precondition, ``replication_synced``; postgres lag publishes nothing we
  could watch.)
* at any time, a peer in ``deposed``: explained, with the rebuild offered;
  the run goes on (current manatee deposes the old primary by design).

The ``Watchdog`` follows the election and /state with ZooKeeper watches (the
callbacks only enqueue; its own thread reads a snapshot and assesses), and
calls ``on_alarm`` once per alarm kind. Armed by a step-start hook during
runs that reach zones (so not in the engine's ZooKeeper-only tests) and
never during a rollback (``suppressed``). A stopping alarm interrupts the
run's main thread with SIGUSR1, whose handler raises ``WatchdogTripped``:
the runner treats it as it treats Ctrl-C or any failure, leaving the journal
consistent and the run resumable.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migrator.cluster.shard import MODE_BACKFILLED_FROZEN, ShardSnapshot
from migrator.engine.hooks import on_step_start
from migrator.engine.topology import OriginalTopology
from migrator.errors import Refused

RUNBOOK_WARNING = (
    "A doesn't fail while in the [A, [B, C']] topology. If that does happen, both B and "
    "C' will think they are the primary. If this does happen, C *must* be rolled back "
    "since it is an async that believes it is a sync (this is dangerous)."
)
MIXED, FROZEN, OTHER = "mixed", "frozen", "other"
PRIMARY_LOST, SYNC_LOST, DEPOSED = "primary-lost", "sync-lost", "deposed"


@dataclass(frozen=True)
class Alarm:
    kind: str
    stop: bool  # whether the run must stop
    zone: str
    message: str
    remedy: str
    plan: list[str] = field(default_factory=list)  # the ready remedy, step by step

    def paragraph(self) -> str:
        return f"{self.message} {self.remedy}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "stop": self.stop, "zone": self.zone,
                "message": self.message, "remedy": self.remedy, "plan": self.plan}


class WatchdogTripped(Refused):
    """The watchdog stopped the run: the cluster reached a dangerous state."""


def phase(snapshot: ShardSnapshot, original: OriginalTopology) -> str:
    roles = {p.role for p in original.peers}
    if snapshot.mode != MODE_BACKFILLED_FROZEN or "original_async" not in roles:
        return OTHER
    sync = original.by_role("original_sync")
    names = [n.name for n in snapshot.topology.nodes if n.peer_id == sync.peer_id]
    # its original node (the same session) means the v1 sync has not been reprovisioned;
    # absent altogether means it is being reprovisioned right now: still the mixed window
    if not names or sync.name is None or sync.name in names:
        return MIXED
    return FROZEN


def assess(snapshot: ShardSnapshot, original: OriginalTopology) -> list[Alarm]:
    """What is dangerous (or worth explaining) in this snapshot."""
    alarms: list[Alarm] = []
    present = {n.peer_id for n in snapshot.topology.nodes}
    now = phase(snapshot, original)
    if now == MIXED:
        primary = original.by_role("original_primary")
        if primary.peer_id not in present:
            sync, async_ = original.by_role("original_sync"), original.by_role("original_async")
            alarms.append(Alarm(
                PRIMARY_LOST, True, primary.zone_id,
                f"The original primary {primary.zone_id} ({primary.peer_id}) left the "
                "election while the shard is in the mixed [A, [B, C']] topology (after the "
                "backfill, before the sync's reprovision). Now the original sync "
                f"{sync.zone_id} (v1, by election order) and the original async "
                f"{async_.zone_id} (v2, by /state) can both believe they are the primary. "
                f"The runbook: \"{RUNBOOK_WARNING}\" The migration stopped.",
                f"Remedy: roll back the original async {async_.zone_id} now, with the "
                "rollback plan below (`migrator rollback --inventory INVENTORY`); it rolls "
                "back the current async, then the current sync (the original async), then "
                "deletes /state, leaving a v1 shard that follows the election.",
            ))
    elif now == FROZEN:
        sync = original.by_role("original_async")
        if sync.peer_id not in present:
            alarms.append(Alarm(
                SYNC_LOST, True, sync.zone_id,
                f"The sync {sync.zone_id} ({sync.peer_id}, the original async) left the "
                "election before the unfreeze: it has fallen out of synchronous "
                "replication. After a backfill initWal is 0/0000000, so unfreezing now "
                "could let a peer that is not caught up take over and lose writes. The "
                "migration stopped before the unfreeze.",
                "Remedy: wait for the sync to rejoin and catch up, then `migrator resume` "
                "(the unfreeze re-checks synchronous replication first); or roll back with "
                "`migrator rollback --inventory INVENTORY`.",
            ))
    if snapshot.state is not None and snapshot.state.deposed:
        from migrator.engine.rollback import DEPOSED_EXPLANATION

        zones = ", ".join(p.zone_id for p in snapshot.state.deposed)
        alarms.append(Alarm(
            DEPOSED, False, zones, f"Deposed peer(s) in /state: {zones}. {DEPOSED_EXPLANATION}",
            "Optional: `migrator rebuild-deposed --inventory INVENTORY` rebuilds it and checks "
            "it rejoins as an async.",
        ))
    return alarms


def remedy_plan(snapshot: ShardSnapshot, history: list[Any], journal: Any) -> list[str]:
    """The rollback `migrator rollback` would run now, one line per step."""
    from migrator.engine import rollback
    from migrator.playbook import catalog

    choice = rollback.choose(snapshot, history, journal)
    if choice.variant is None or choice.original is None:
        return []
    path = catalog.playbooks_dir() / f"{choice.variant}.yaml"
    loaded = rollback.resolve_playbook(choice, path.read_bytes(), str(path))
    lines = [f"{choice.variant}: " + choice.explanation()]
    for index, step in enumerate(loaded.playbook.steps, start=1):
        zones = ", ".join(f"{r.removeprefix('original_')} {choice.original.by_role(r).zone_id}"
                          for r in step.zones if r.startswith("original_"))
        lines.append(f"{index}. {step.title} ({step.id})" + (f": {zones}" if zones else ""))
    return lines


# ---- the watch ---------------------------------------------------------------------------


class Watchdog:
    def __init__(self, client: Any, shard: str, original: OriginalTopology,
                 on_alarm: Callable[[Alarm], None], journal_root: str | None = None) -> None:
        self.client = client
        self.shard = shard
        self.original = original
        self.on_alarm = on_alarm
        self.journal_root = journal_root
        self.raised: set[str] = set()
        self._events: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        from migrator.zk.watches import watch_election, watch_state

        def poke(_value: Any) -> bool:
            if self._stop.is_set():
                return False  # drops the watch
            self._events.put(object())
            return True

        watch_election(self.client, self.shard, poke)
        watch_state(self.client, self.shard, poke)
        self._thread = threading.Thread(target=self._loop, name="migrator-watchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._events.put(object())
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        from migrator.zk import reads

        while not self._stop.is_set():
            try:
                # the timeout only lets a stopped or disconnected watchdog exit
                self._events.get(timeout=1.0)
            except queue.Empty:
                if not getattr(self.client, "connected", True):
                    return
                continue
            while not self._events.empty():  # one snapshot for a burst of changes
                self._events.get_nowait()
            if self._stop.is_set():
                return
            try:
                snapshot = reads.read_shard(self.client, self.shard)
            except Exception:  # connection lost or the shard went away: nothing to judge
                continue
            for alarm in assess(snapshot, self.original):
                if alarm.kind in self.raised:
                    continue
                self.raised.add(alarm.kind)
                if alarm.stop:
                    alarm = self._with_plan(alarm, snapshot)
                self.on_alarm(alarm)

    def _with_plan(self, alarm: Alarm, snapshot: ShardSnapshot) -> Alarm:
        from dataclasses import replace

        from migrator.engine.journal_store import JOURNAL_ROOT, JournalStore
        from migrator.zk import reads

        try:
            journal = JournalStore(self.client, self.shard,
                                   root=self.journal_root or JOURNAL_ROOT).load()
            history = reads.read_history(self.client, self.shard)
            return replace(alarm, plan=remedy_plan(snapshot, history, journal))
        except Exception as exc:  # the alarm matters more than its plan
            return replace(alarm, plan=[f"(the plan could not be computed: {exc}; run "
                                        "`migrator plan --rollback`)"])


# ---- arming during runs ------------------------------------------------------------------

_LOCK = threading.Lock()
_ACTIVE: Watchdog | None = None
_PENDING: list[Alarm] = []
_SUPPRESSED = 0


@contextmanager
def suppressed() -> Iterator[None]:
    """No watchdog while a rollback (the remedy itself) runs."""
    global _SUPPRESSED
    disarm()
    with _LOCK:
        _SUPPRESSED += 1
    try:
        yield
    finally:
        with _LOCK:
            _SUPPRESSED -= 1


def disarm() -> None:
    global _ACTIVE
    with _LOCK:
        active, _ACTIVE = _ACTIVE, None
        _PENDING.clear()
    if active is not None:
        active.stop()


def alert(alarm: Alarm, stream: Any = None, events: Any = None) -> None:
    """Loudly: a framed paragraph on stderr, and one JSON event line on stdout."""
    err = stream or sys.stderr
    bar = "!" * 78
    title = "WATCHDOG: STOP" if alarm.stop else "WATCHDOG: NOTE"
    lines = [bar, title, alarm.message, alarm.remedy, *alarm.plan, bar]
    err.write("\n" + "\n".join(lines) + "\n")
    err.flush()
    out = events or sys.stdout
    from migrator.cluster.state import iso_now_ms

    document = {"event": "alarm", "time": iso_now_ms(), **alarm.to_json()}
    out.write(json.dumps(document, ensure_ascii=False) + "\n")
    out.flush()


def _handler(_signum: int, _frame: Any) -> None:
    with _LOCK:
        alarm = _PENDING.pop(0) if _PENDING else None
    if alarm is not None:
        raise WatchdogTripped(alarm.paragraph(), " ".join(alarm.plan) or None)


def _stop_main(alarm: Alarm) -> None:
    alert(alarm)
    if not alarm.stop:
        return
    with _LOCK:
        if _ACTIVE is None:
            return  # disarmed meanwhile: the run is over
        _PENDING.append(alarm)
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)


def arm(client: Any, shard: str, original: OriginalTopology,
        on_alarm: Callable[[Alarm], None] | None = None) -> Watchdog | None:
    """Start watching for this run (once per client); in the main thread only, since it
    installs the SIGUSR1 handler that stops the run."""
    global _ACTIVE
    if threading.current_thread() is not threading.main_thread():
        return None
    with _LOCK:
        if _SUPPRESSED:
            return None
        if _ACTIVE is not None and _ACTIVE.client is client and _ACTIVE.alive:
            return _ACTIVE
    disarm()
    signal.signal(signal.SIGUSR1, _handler)
    dog = Watchdog(client, shard, original, on_alarm or _stop_main)
    with _LOCK:
        _ACTIVE = dog
    dog.start()
    return dog


@on_step_start
def arm_for_step(ctx: Any, _step: Any) -> None:
    """Armed for migrations that reach zones (a real run, or the sandbox)."""
    original = getattr(ctx, "original", None)
    if getattr(ctx, "remote", None) is None or not isinstance(original, OriginalTopology):
        return
    if len(original.peers) < 3:
        return  # no [A, [B, C']] window with fewer peers
    if os.environ.get("MIGRATOR_NO_WATCHDOG"):
        return
    arm(ctx.zk, ctx.shard, original)
