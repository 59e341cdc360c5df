"""Write outages observed during a run, for the end-of-run table.

Two sources. A write client's own records (``migrator.outagerecords``: the windows
in which its writes failed) are the truth, and are used when the inventory names
them (``outage_records``; the sandbox's names its Moray-like client's). Otherwise the
migrator watches ZooKeeper (watches on the election and ``/state``, no polling) and
judges, on every change, whether a writable primary exists: with ``/state``, its
primary and its sync (or one-node-write mode) are in the election; without, a v1
primary is first in the election. A window runs from the primary losing its sync or
leaving to a writable primary with a sync again.

What ZooKeeper cannot show: a v1 sync that stops blocks its primary's commits
at once, but its election node only goes when its session expires, which is
also when the primary moves on. When a v1 sync's node vanishes under a primary
that stays, the window is therefore inferred: it ends then and starts one
session timeout earlier (``inferred: true`` in the table and JSON).

The zones' status closes that gap (``migrator.engine.zonestatus`` takes the
samples): while an outage step runs, the current primary's ``manatee-adm
status`` is read whenever the primary's or the departing zone's sitter log
moves. A primary whose shard expects a sync (``/state`` names one, or a v1
election of two or more) and whose ``repl`` shows no ``sync_state: sync``
blocks writes from that sample on; the window ends at the first sample showing
a sync again. Which standby that is does not matter: PostgreSQL's own
``sync_state`` says whether commits complete, whichever rules (v1's election
order or ``/state``) its sitter configured it by; in a rollback's mixed window a
v1 primary takes the next peer in the election as its sync while ``/state``
still names the old one. Such a window is real, not inferred
(``source: "zones"``).

The best observer decides: while the zones' window is open, ZooKeeper's views
only note when ZooKeeper saw writes possible again. That note ends the window
when the zones stop answering (the step ended, SSH failed), or when ZooKeeper
then loses the primary again (a new window, ZooKeeper's). Where no sample
showed the loss (zones unreachable, the primary's own zone down), ZooKeeper's
window, or its inference, stands. When ZooKeeper sees a loss before any sample
does (a status read can lag under load), a later sample that shows the primary
blocked takes that window over: it keeps ZooKeeper's start, the earliest evidence,
and the zones decide its end (``source: "zones"``, its cause saying so). The same
holds when ZooKeeper already closed its window (``/state`` named a new primary)
and a sample within ``merge_gap`` seconds shows the primary still not committing:
the outage went on, so ZooKeeper's window is continued, not reported as two.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.outagerecords import read_outages, read_stats
from migrator.stepkit.together import both
from migrator.zk.watches import watch_election, watch_state


@dataclass(frozen=True)
class View:
    """The shard as the judge needs it: peer ids in election order and /state's roles."""

    election: tuple[str, ...]
    has_state: bool = False
    primary: str | None = None
    sync: str | None = None
    one_node: bool = False


def view_of(children: list[str], state: bytes | None) -> View:
    """From election node names (``ip:pg:backup-SEQ``) and the /state bytes."""
    named = sorted((c for c in children if c.rsplit("-", 1)[-1].isdigit()),
                   key=lambda c: int(c.rsplit("-", 1)[1]))
    election = tuple(c.rsplit("-", 1)[0] for c in named)
    if state is None:
        return View(election)
    try:
        doc = json.loads(state)
        primary = doc["primary"]["id"]
        sync = doc["sync"]["id"] if doc.get("sync") else None
        one_node = bool(doc.get("oneNodeWriteMode"))
    except (ValueError, KeyError, TypeError):
        return View(election, True)  # a state nobody can follow: not writable
    return View(election, True, str(primary), None if sync is None else str(sync), one_node)


def writable(view: View) -> bool:
    if not view.has_state:
        return bool(view.election)
    if view.primary is None or view.primary not in view.election:
        return False
    if view.sync is None:
        return view.one_node
    return view.sync in view.election


@dataclass(frozen=True)
class Window:
    start: str
    end: str | None
    seconds: float | None
    cause: str
    inferred: bool = False
    source: str = "zookeeper"

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "seconds": self.seconds,
                "cause": self.cause, "inferred": self.inferred, "source": self.source}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class StatusSample:
    """One reading of ``manatee-adm status``: the primary's zone and whether its
    replication row shows a synchronous standby."""

    primary: str | None
    has_sync: bool


def sample_of(status: Any) -> StatusSample:
    """From a parsed ``ShardStatus`` (``migrator.remote.manatee_status``)."""
    head = status.role("primary")
    if head is None:
        return StatusSample(None, False)
    return StatusSample(head.zone, head.repl.get("sync_state") == "sync")


def expects_sync(view: View) -> bool:
    """Whether the shard's writes need a synchronous standby (not one-node)."""
    if view.has_state:
        return view.sync is not None and not view.one_node
    return len(view.election) >= 2


@dataclass
class Judge:
    """Folds views (ZooKeeper) and status samples (the zones) into outage windows
    (pure: times are given)."""

    session_timeout: float
    windows: list[Window] = field(default_factory=list)
    # a zones' sample this soon after ZooKeeper's window closed, showing writes still
    # blocked, continues that window (samples come about every second, plus SSH)
    merge_gap: float = 3.0
    _last: View | None = None
    _open: tuple[datetime, str] | None = None
    _by_status: bool = False  # the open window was opened by a status sample
    _zk_end: datetime | None = None  # when ZooKeeper saw writes possible again (fallback)

    def see(self, view: View, now: datetime) -> None:
        last, self._last = self._last, view
        ok = writable(view)
        if self._open is not None and self._by_status:
            if ok:
                if self._zk_end is None:  # the zones should say so soon; this is the fallback
                    self._zk_end = now
                return
            if self._zk_end is None:  # ZooKeeper sees the same window: the zones decide
                return
            self._close(self._zk_end)  # writes came back, then the primary was lost again
        if not ok and self._open is None:
            self._open = (now, _cause(last, view))
        elif ok and self._open is not None:
            self._close(now)
        elif ok and last is not None and _v1_sync_left(last, view) \
                and not self._status_saw_it(now):
            began = now - timedelta(seconds=self.session_timeout)
            self.windows.append(Window(
                _iso(began), _iso(now), self.session_timeout,
                f"the v1 sync {last.election[1]} left; its primary's commits blocked until "
                "its session expired", inferred=True))

    def see_status(self, sample: StatusSample | None, now: datetime) -> None:
        """A status sample (None: the zones could not be read, which proves nothing)."""
        if sample is None or self._last is None:
            return
        blocked = not sample.has_sync and expects_sync(self._last)
        if blocked and self._open is None and self._just_closed_by_zookeeper(now):
            # ZooKeeper saw writes possible again (/state named a new primary) a moment
            # ago, but the primary does not commit yet: the same outage goes on
            last = self.windows.pop()
            self._open = (parse_iso(last.start), last.cause + "; the zones' status confirmed "
                          "it went on")
            self._by_status, self._zk_end = True, None
        elif blocked and self._open is None:
            who = sample.primary or "(none)"
            self._open = (now, f"the primary {who} has no synchronous standby "
                               "(zones' status)")
            self._by_status, self._zk_end = True, None
        elif blocked and self._open is not None and not self._by_status:
            # ZooKeeper saw the loss first (a sample can lag under load): the zones
            # confirm it, and the zones, who see commits resume, now decide its end
            began, cause = self._open
            self._open = (began, cause + "; the zones' status confirmed it")
            self._by_status, self._zk_end = True, None
        elif not blocked and self._open is not None and self._by_status:
            self._close(now)

    def _just_closed_by_zookeeper(self, now: datetime) -> bool:
        """The last window is ZooKeeper's (not inferred) and ended within ``merge_gap``."""
        last = self.windows[-1] if self.windows else None
        return (last is not None and last.source == "zookeeper" and not last.inferred
                and last.end is not None
                and (now - parse_iso(last.end)).total_seconds() <= self.merge_gap)

    def _status_saw_it(self, now: datetime) -> bool:
        """A zones' window ended within a session timeout: the sync's leaving is told."""
        last = self.windows[-1] if self.windows else None
        return (last is not None and last.source == "zones" and last.end is not None
                and (now - parse_iso(last.end)).total_seconds() <= self.session_timeout)

    def _close(self, now: datetime) -> None:
        assert self._open is not None
        began, cause = self._open
        source = "zones" if self._by_status else "zookeeper"
        self._open, self._by_status, self._zk_end = None, False, None
        self.windows.append(Window(_iso(began), _iso(now),
                                   round((now - began).total_seconds(), 3), cause,
                                   source=source))

    def peek(self, now: datetime) -> list[Window]:
        """The windows so far, the open one included (its end None), without closing it."""
        out = list(self.windows)
        if self._open is not None:
            began, cause = self._open
            out.append(Window(_iso(began), None, None, cause,
                              source="zones" if self._by_status else "zookeeper"))
        return out

    def finish(self, now: datetime) -> list[Window]:
        if self._open is not None and self._by_status and self._zk_end is not None:
            self._close(self._zk_end)
        out = list(self.windows)
        if self._open is not None:
            began, cause = self._open
            out.append(Window(_iso(began), None, None, cause + " (still open)",
                              source="zones" if self._by_status else "zookeeper"))
        return out


def _v1_sync_left(last: View, view: View) -> bool:
    return (not last.has_state and not view.has_state and len(last.election) >= 2
            and bool(view.election) and view.election[0] == last.election[0]
            and last.election[1] not in view.election)


def _cause(last: View | None, view: View) -> str:
    if view.has_state:
        if view.primary not in view.election:
            return f"the primary {view.primary} left the election"
        if view.sync is None:
            return "the state names no sync"
        return f"the sync {view.sync} left the election"
    if not view.election:
        return "no peer is in the election"
    if last is not None and last.election and last.election[0] not in view.election:
        return f"the v1 primary {last.election[0]} left"
    return "no writable primary"


class OutageWatch:
    """Runs the judge on ZooKeeper watches for the length of a run."""

    def __init__(self, client: Any, shard: str, session_timeout: float) -> None:
        self.client = client
        self.shard = shard
        self.judge = Judge(session_timeout)
        self._lock = threading.Lock()
        self._children: list[str] | None = None
        self._state: bytes | None = None
        self._stopped = False
        self.started = iso_now_ms()
        # told of every change ZooKeeper shows (the zones' sampler reads again then)
        self.on_change: Callable[[], None] | None = None

    def start(self) -> OutageWatch:
        # both watches set at once (a round trip or two each at datacenter distance);
        # nothing is judged before both have delivered (``_judge``)
        both(lambda: watch_state(self.client, self.shard, self._on_state),
             lambda: watch_election(self.client, self.shard, self._on_election),
             "outage-watches")
        return self

    def _on_state(self, data: bytes | None) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._state = data
            self._judge()
        return True

    def _on_election(self, children: list[str]) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._children = children
            self._judge()
        return True

    def _judge(self) -> None:
        if self._children is None:
            return
        self.judge.see(view_of(self._children, self._state), datetime.now(UTC))
        if self.on_change is not None:
            self.on_change()

    def see_status(self, sample: StatusSample | None) -> None:
        """A reading of the zones' status (``migrator.engine.zonestatus``)."""
        with self._lock:
            if not self._stopped:
                self.judge.see_status(sample, datetime.now(UTC))

    def windows_so_far(self) -> list[Window]:
        """What the judge has seen until now (an open window's end is None)."""
        with self._lock:
            return self.judge.peek(datetime.now(UTC))

    def primary_peer(self) -> str | None:
        """The current primary's peer id as ZooKeeper shows it (None: none known)."""
        with self._lock:
            view = self.judge._last
        if view is None:
            return None
        if view.has_state:
            return view.primary
        return view.election[0] if view.election else None

    def stop(self) -> list[Window]:
        with self._lock:
            self._stopped = True
            return self.judge.finish(datetime.now(UTC))


def failing_within(windows: list[Window], since: str, until: str) -> tuple[float, bool]:
    """Seconds of ``windows`` inside [since, until] (an open window runs to ``until``),
    and whether one is still open at ``until`` (pure)."""
    lo, hi = parse_iso(since), parse_iso(until)
    total, open_now = 0.0, False
    for window in windows:
        start = max(parse_iso(window.start), lo)
        end = hi if window.end is None else min(parse_iso(window.end), hi)
        if window.end is None and start <= hi:
            open_now = True
        if end > start:
            total += (end - start).total_seconds()
    return round(total, 1), open_now


def records_dir(inventory: Any) -> Path | None:
    """The write client's records the inventory names (``outage_records``), or None."""
    found = getattr(inventory, "outage_records", None)
    return Path(found) if found is not None else None


def client_windows(directory: Path, since: str, until: str) -> list[Window] | None:
    """The write client's outage windows overlapping [since, until]
    (``migrator.outagerecords``); None when no client ran (no records at all)."""

    records = read_outages(directory)
    stats = read_stats(directory)
    if not records and stats is None:
        return None
    out = [Window(str(r["start"]), str(r["end"]), float(r["seconds"]),
                  f"writes failed (primary {r.get('from')} -> {r.get('to')})",
                  source="client")
           for r in records if str(r["end"]) >= since and str(r["start"]) <= until]
    open_since = (stats or {}).get("open_outage_since")
    # stats.json is rewritten about once a second: a window it still shows open may have
    # closed already, with its record written under the same start
    if open_since and all(str(r.get("start")) != str(open_since) for r in records):
        out.append(Window(str(open_since), None, None, "writes still failing",
                          source="client"))
    return out
