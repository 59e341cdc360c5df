"""The watchdog: the situations ``migrator.engine.alarms`` names, noticed as they happen.

The ``Watchdog`` follows the election and /state with ZooKeeper watches (the
callbacks only enqueue; its own thread reads a snapshot and assesses), and
calls ``on_alarm`` once per alarm kind; at most one stopping alarm per run
(the first one stops it). While the phase is *frozen* and the run has zones
(``remote``) it also runs the ``ReplicationMonitor``, started when the phase
begins and stopped when it ends, when a stopping alarm was raised, or with
the watchdog: the sync can fall out of synchronous replication while it stays
in the election, and the monitor watches the verdict of ``manatee-adm status``
(run in the sync, as the unfreeze's own ``replication_synced`` precondition
does) and stops the run once the sync has been out of synchronous replication
for ``REPLICATION_GRACE`` seconds.

The replication monitor, decisions:

* Event-driven where an event exists: it follows the sitter logs of the
  original primary and of the sync over the run's SSH session and re-reads
  the verdict whenever either log moves (a sitter reconfiguring, a peer
  reconnecting). Replication state itself has no event source we can reach
  over SSH (postgres' walsender and walreceiver write nothing to the sitter
  log while they stream or stall, and ``pg_stat_replication`` is a table to
  read, not a feed), so it also re-reads every ``REPLICATION_RECHECK``
  seconds, and once exactly when the grace period would expire.
* Grace: a single sample behind is normal under load (the row is read while a
  write is in flight), so only a sync *continuously* out of synchronous
  replication for ``REPLICATION_GRACE`` seconds (every sample in between bad)
  raises the alarm; one good sample resets the clock.
* A sample that cannot be taken (SSH or ``manatee-adm`` failing) neither
  starts nor resets the clock: not knowing is not evidence of lag, and the
  unfreeze's precondition re-checks anyway.
* Bounded: one monitor thread and at most one follower thread per log, all
  stopped and joined by ``stop()``; followers wake at least every second to
  notice a stop.

The runner arms it explicitly (``arm``) for a migration that reaches zones, never
for a rollback (the remedy itself), and stops it when the run ends. A stopping
alarm stops the run (``migrator.cancellation``): the run's wait raises
``WatchdogTripped``, which the runner treats as it treats any failure, leaving the
journal consistent and the run resumable.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from migrator import cancellation
from migrator.cancellation import Cancellation
from migrator.cluster.original import OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.engine import rollback
from migrator.engine.alarms import (
    FROZEN,
    PEER_REJOINED,
    PRIMARY_LOST,
    PRIMARY_REJOINED,
    SYNC_BEHIND,
    SYNC_LOST,
    Alarm,
    LagClock,
    WatchdogTripped,
    assess,
    phase,
    replication_alarm,
)
from migrator.engine.events import emit_current
from migrator.engine.journal_store import JournalStore
from migrator.engine.journal_znode import JOURNAL_ROOT
from migrator.isotime import iso_now_ms
from migrator.playbook import catalog
from migrator.remote.manatee_status import parse_status, replication_verdict
from migrator.remote.versions import at_least, reported_version
from migrator.stepkit.together import both
from migrator.steps.remote import status_command
from migrator.ui.inert import inert
from migrator.zk import reads
from migrator.zk.faults import client_closed
from migrator.zk.watches import watch_election, watch_state

# the migration playbooks' step that reprovisions the original sync (verified at v2)
SYNC_REPROVISION = "reprovision-sync"
REPLICATION_GRACE = 10.0  # seconds the sync may be out of synchronous replication
REPLICATION_RECHECK = 5.0  # the fallback re-read interval (no event source, see above)
_FOLLOW_WAKE = 1.0  # how often a log follower thread looks for a stop request


def remedy_plan(snapshot: ShardSnapshot, history: list[Any], journal: Any) -> list[str]:
    """The rollback `migrator rollback` would run now, one line per step."""
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


class ReplicationMonitor:
    """Watches ``primary`` -> ``sync`` synchronous replication (see the module docstring)."""

    def __init__(self, remote: Any, shard: str, primary: str, sync: str,
                 on_due: Callable[[str, float], None], *, grace: float = REPLICATION_GRACE,
                 recheck: float = REPLICATION_RECHECK) -> None:
        self.remote = remote
        self.shard = shard
        self.primary = primary
        self.sync = sync
        self.on_due = on_due  # (the last bad reason, seconds out of sync), called once
        self.clock = LagClock(grace)
        self.recheck = recheck
        self.samples = 0
        self.last_reason = ""
        self._wake: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._followers: list[Any] = []
        self._threads: list[threading.Thread] = []

    @property
    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def start(self) -> None:
        self._spawn(self._loop, "migrator-watchdog-replication")

    def stop(self) -> None:
        self._stop.set()
        self._wake.put(object())
        with self._lock:
            followers, self._followers = self._followers, []
        for follower in followers:
            # closing a broken channel: nothing left to release
            with contextlib.suppress(Exception):
                follower.close()
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            if self._stop.is_set():
                return
            self._threads.append(thread)
        thread.start()

    def _follow(self, zone: str) -> None:
        """Open a live follower on the zone's sitter log; without one the fallback serves."""
        try:
            follower = self.remote.follow(zone, self.remote.mark_log(zone))
        except Exception:  # SSH or the log unavailable: this thread must live on
            return
        with self._lock:
            if self._stop.is_set():
                follower.close()
                return
            self._followers.append(follower)
        self._spawn(self._pump, f"migrator-watchdog-log-{zone[:8]}", follower)

    def _pump(self, follower: Any) -> None:
        while not self._stop.is_set() and follower.alive:
            try:
                for _line in follower.lines(time.monotonic() + _FOLLOW_WAKE):
                    self._wake.put(object())
            except Exception:  # the channel broke: the fallback interval still serves
                return

    def sample(self) -> bool | None:
        """One verdict: True synced, False not, None when it could not be read."""
        try:
            result = self.remote.run(self.sync, status_command(self.remote.inventory),
                                     reads_only=True)
            if not result.ok:
                return None
            verdict = replication_verdict(parse_status(result.text, self.shard),
                                          self.primary, self.sync)
        except Exception:  # any failure to look: unknown, and the thread must live on
            return None
        self.samples += 1
        if not verdict.ok:
            self.last_reason = verdict.reason
        return verdict.ok

    def _loop(self) -> None:
        for zone in (self.primary, self.sync):
            if self._stop.is_set():
                return
            self._follow(zone)
        while not self._stop.is_set():
            now = time.monotonic()
            if self.clock.observe(self.sample(), now):
                if not self._stop.is_set():
                    since = self.clock.since if self.clock.since is not None else now
                    self.on_due(self.last_reason, time.monotonic() - since)
                return
            wait = self.clock.next_check(time.monotonic(), self.recheck) - time.monotonic()
            try:
                self._wake.get(timeout=max(wait, 0.0))
            except queue.Empty:
                continue
            while not self._wake.empty():  # one sample for a burst of log lines
                self._wake.get_nowait()


class Watchdog:
    def __init__(self, client: Any, shard: str, original: OriginalTopology,
                 on_alarm: Callable[[Alarm], None], journal_root: str | None = None,
                 remote: Any = None, *, grace: float = REPLICATION_GRACE,
                 recheck: float = REPLICATION_RECHECK,
                 acting_zone: Callable[[], str | None] = lambda: None,
                 acted_zones: Callable[[], Collection[str]] = frozenset) -> None:
        self.client = client
        self.shard = shard
        self.original = original
        self.on_alarm = on_alarm
        self.journal_root = journal_root
        self.remote = remote  # the run's RemoteSession; None: no replication monitor
        self.grace = grace
        self.recheck = recheck
        self.raised: set[str] = set()
        self.monitor: ReplicationMonitor | None = None
        self._events: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._raise_lock = threading.Lock()
        self._sync_v2 = False  # the original sync was seen running v2 (``sync_runs_v2``)
        self._primary_v2 = False  # the original primary was seen running v2
        self.acting_zone = acting_zone  # the zone the run acts on now (its own reprovision)
        self.acted_zones = acted_zones  # every zone the run acted on so far
        # each original peer's election node when the watch began (``peer_rejoined``)
        self._seen: dict[str, str | None] | None = None
        self._watching = False

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def threads(self) -> list[threading.Thread]:
        """Every thread this watchdog started (for tests: all gone after ``stop``)."""
        found = [self._thread] if self._thread is not None else []
        return found + (self.monitor.threads if self.monitor is not None else [])

    def watch(self) -> None:
        """Set the watches (their round trips) without judging yet: what they tell waits
        in the queue, and ``start`` judges it all, from a snapshot read then. So a run
        can set them while it does something else, and the watchdog judges exactly as if
        it had been armed at ``start``, but sees every change made since ``watch``."""
        if self._watching:
            return

        def poke(_value: Any) -> bool:
            if self._stop.is_set():
                return False  # drops the watch
            self._events.put(object())
            return True

        # both watches set at once: each costs a round trip at datacenter distance
        both(lambda: watch_election(self.client, self.shard, poke),
             lambda: watch_state(self.client, self.shard, poke), "watchdog-watches")
        self._watching = True  # only once both are set: a failed ``watch`` is tried again

    def start(self) -> None:
        """Judge from now on (the watches set first, unless ``watch`` set them)."""
        self.watch()
        self._thread = threading.Thread(target=self._loop, name="migrator-watchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._events.put(object())
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._stop_monitor()

    def _stop_monitor(self) -> None:
        with self._raise_lock:
            monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop()

    def sync_runs_v2(self) -> bool | None:
        """Whether the original sync runs v2: its zone's reported version (through the
        run's remote session), else the run's journal (its reprovision verified), else
        None. Once seen at v2 it stays so for the run (only a rollback, which ends the
        run, takes it back)."""
        if self._sync_v2 or "original_sync" not in {p.role for p in self.original.peers}:
            return self._sync_v2 or None
        found = self._zone_runs_v2(self.original.by_role("original_sync").zone_id)
        if found is None:  # unreadable: the journal may still say
            with contextlib.suppress(Exception):
                journal = JournalStore(self.client, self.shard,
                                       root=self.journal_root or JOURNAL_ROOT).load()
                run = journal.run("migration") if journal is not None else None
                if run is not None and run.step(SYNC_REPROVISION).status == "done":
                    found = True
        if found:
            self._sync_v2 = True
        return found

    def primary_runs_v2(self) -> bool:
        """Whether the original primary already runs v2 (its zone's version; a reprovision
        of it, in a playbook that does it while frozen, renames its election node on
        purpose). Unreadable counts as v1: a needless stop is safer than a missed one."""
        if not self._primary_v2:
            zone = self.original.by_role("original_primary").zone_id
            self._primary_v2 = bool(self._zone_runs_v2(zone))
        return self._primary_v2

    def _zone_runs_v2(self, zone: str) -> bool | None:
        """The zone's reported manatee version is at least v2 (None: it cannot say)."""
        if self.remote is None:
            return None
        with contextlib.suppress(Exception):
            result = self.remote.run_template(zone, "manatee_version")
            version = reported_version(result.text) if result.ok else None
            return at_least(version, "v2") if version else None
        return None

    def _track_phase(self, snapshot: ShardSnapshot) -> None:
        """Run the replication monitor exactly while the phase is *frozen*."""
        wanted = (self.remote is not None and not self._stop.is_set()
                  and phase(snapshot, self.original, self._sync_v2 or None) == FROZEN
                  and not self._stopped_run())
        if wanted and self.monitor is None:
            primary = self.original.by_role("original_primary").zone_id
            sync = self.original.by_role("original_async").zone_id
            monitor = ReplicationMonitor(self.remote, self.shard, primary, sync,
                                         self._replication_due, grace=self.grace,
                                         recheck=self.recheck)
            with self._raise_lock:
                if self._stop.is_set():  # stop() ran meanwhile: it would miss this one
                    return
                self.monitor = monitor
            monitor.start()  # a no-op once stop() has stopped it
        elif not wanted and self.monitor is not None:
            self._stop_monitor()

    def _stopped_run(self) -> bool:
        """A stopping alarm was raised: one is said, not one per symptom of the same
        event (a ZooKeeper pause ends every session at once)."""
        return bool(self.raised & {PRIMARY_LOST, SYNC_LOST, SYNC_BEHIND, PEER_REJOINED,
                                   PRIMARY_REJOINED})

    def _replication_due(self, reason: str, seconds: float) -> None:
        if self._stop.is_set():
            return

        try:
            snapshot = reads.read_shard(self.client, self.shard)
        except Exception:  # the alarm matters more than a fresh look
            snapshot = None
        if snapshot is not None and phase(snapshot, self.original,
                                          self._sync_v2 or None) != FROZEN:
            return  # the window closed meanwhile (unfrozen, or rolled back)
        alarm = replication_alarm(self.original, reason, seconds)
        self._raise(alarm, snapshot)

    def _raise(self, alarm: Alarm, snapshot: ShardSnapshot | None) -> None:
        with self._raise_lock:
            if alarm.kind in self.raised or (alarm.stop and self._stopped_run()):
                return
            self.raised.add(alarm.kind)
        if alarm.stop and snapshot is not None:
            alarm = self._with_plan(alarm, snapshot)
        self.on_alarm(alarm)

    def _loop(self) -> None:
        try:
            self._watch()
        finally:  # however the watch ends (stopped, disconnected), the monitor ends too
            self._stop_monitor()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                # the timeout only lets a stopped or disconnected watchdog exit
                self._events.get(timeout=1.0)
            except queue.Empty:

                # a paused connection comes back (the watches re-register with it);
                # only a closed client ends the watch
                if client_closed(self.client):
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
            acting = self.acting_zone()
            if self._seen is None:
                self._seen = {peer.peer_id: next(
                    (n.name for n in snapshot.topology.nodes if n.peer_id == peer.peer_id),
                    None) for peer in self.original.peers}
            acted = self.acted_zones()
            found = assess(snapshot, self.original, self._sync_v2 or None, acting,
                           primary_v1=not self._primary_v2, seen=self._seen, acted=acted)
            if any(a.kind == PRIMARY_LOST for a in found):
                # the election alone says "mixed": ask what the sync runs before stopping
                found = assess(snapshot, self.original, self.sync_runs_v2(), acting,
                               primary_v1=not self._primary_v2, seen=self._seen,
                               acted=acted)
            if any(a.kind == PRIMARY_REJOINED for a in found) and self.primary_runs_v2():
                found = [a for a in found if a.kind != PRIMARY_REJOINED]
            for alarm in found:
                self._raise(alarm, snapshot)
            self._track_phase(snapshot)

    def _with_plan(self, alarm: Alarm, snapshot: ShardSnapshot) -> Alarm:

        try:
            journal = JournalStore(self.client, self.shard,
                                   root=self.journal_root or JOURNAL_ROOT).load()
            history = reads.read_history(self.client, self.shard)
            return replace(alarm, plan=remedy_plan(snapshot, history, journal))
        except Exception as exc:  # the alarm matters more than its plan
            return replace(alarm, plan=[f"(the plan could not be computed: {exc}; run "
                                        "`migrator plan --rollback`)"])


# ---- arming during runs ------------------------------------------------------------------


def arm(client: Any, shard: str, original: OriginalTopology, *, remote: Any = None,
        run: Cancellation | None = None, on_alarm: Callable[[Alarm], None] | None = None,
        grace: float = REPLICATION_GRACE,
        acting_zone: Callable[[], str | None] = lambda: None,
        acted_zones: Callable[[], Collection[str]] = frozenset,
        said: Callable[[str], None] | None = None, start: bool = True) -> Watchdog:
    """Start watching: every alarm is said loudly (``alert``), and a stopping one stops
    ``run`` (the current run's by default, ``migrator.cancellation``) with
    ``WatchdogTripped``. The runner arms it for a migration that reaches zones and
    stops it when the run ends; the caller owns what it returns. ``start=False``: made
    only; the caller sets its watches (``Watchdog.watch``) and starts it itself."""
    stopping = run if run is not None else cancellation.current()

    def stop_run(alarm: Alarm) -> None:
        alert(alarm, said=said)
        if alarm.stop:
            stopping.cancel(WatchdogTripped(alarm.paragraph(), " ".join(alarm.plan) or None))

    dog = Watchdog(client, shard, original, on_alarm or stop_run, remote=remote, grace=grace,
                   acting_zone=acting_zone, acted_zones=acted_zones)
    if start:
        dog.start()
    return dog


def alert(alarm: Alarm, stream: Any = None, events: Any = None,
          said: Callable[[str], None] | None = None) -> None:
    """On stderr (whatever ``--quiet`` says), to ``said`` (the run's transcript), and as an
    ``alarm`` event for --json runs. An alarm that stops the run is loud (a framed
    paragraph); one that does not (a deposed peer, which a primary's reprovision leaves
    by design) is a plain note, so that the frame keeps its meaning."""
    err = stream or sys.stderr
    if alarm.stop:
        bar = "!" * 78
        lines = [bar, "WATCHDOG: STOP", alarm.message, alarm.remedy, *alarm.plan, bar]
    else:
        lines = [f"  Note (watchdog): {alarm.message}", f"  {alarm.remedy}", *alarm.plan]
    err.write("\n" + inert("\n".join(lines)) + "\n")
    err.flush()
    if said is not None:
        said("\n".join(lines))
    if events is not None:
        document = {"event": "alarm", "time": iso_now_ms(), **alarm.to_json()}
        events.write(json.dumps(document, ensure_ascii=False) + "\n")
        events.flush()
        return
    # JSON only on the --json event stream of the command under way; a human run's
    # stdout never gets it (the paragraph above is on stderr)

    emit_current("alarm", **alarm.to_json())
