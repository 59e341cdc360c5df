"""During and after a run: the outage clock, and the table of step times and outages.

``OutageClock`` follows the journal's step statuses (``EventingStore``'s
``on_status``): when a step the plan expects to stop writes starts acting, it
says so with the cause and estimate (``outage-started``), shows the elapsed
time every ``CLOCK_EVERY`` seconds while the step runs, and says how long it
lasted when the step is done or stops (``outage-ended``). ``ansible``'s
``profile_tasks`` is the model for the table at the end of ``run``, ``resume``
and ``rollback``: every step's start, end and duration, then each write
outage observed (see ``migrator.engine.outagewatch``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator.cluster.writability import Outage
from migrator.engine.journal import RunRecord, StepRecord
from migrator.engine.outagewatch import (
    OutageWatch,
    Window,
    client_windows,
    failing_within,
    parse_iso,
    records_dir,
)
from migrator.engine.zonestatus import ZoneStatusSampler
from migrator.isotime import iso_now_ms

CLOCK_EVERY = 10.0


@dataclass(frozen=True)
class Observed:
    """Writes failing in a span of time, as the best observer present saw them."""

    seconds: float
    open_now: bool
    source: str


class OutageClock:
    """Started and stopped by step status changes; ``outages`` is read when needed (the
    runner knows them once it has planned)."""

    def __init__(self, console: Any, outages: Callable[[], dict[str, Outage | None]],
                 every: float = CLOCK_EVERY,
                 observed: Callable[[str, str], Observed | None] | None = None) -> None:
        self.console = console
        self.outages = outages
        # how long writes failed between two times, by the best observer present (None:
        # nothing observes them); the clock says it beside the step's own length
        self.observed = observed
        self._began_at = ""
        self.every = every
        self.sink = getattr(console, "sink", None)
        self._step: str | None = None
        self._began = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.lasted: dict[str, float] = {}
        # told the outage step's id when it starts acting, None when it ends
        self.listeners: list[Callable[[str | None], None]] = []

    def __call__(self, step_id: str, record: StepRecord) -> None:
        if record.status == "acting" and self._step is None:
            outage = self.outages().get(step_id)
            if outage is not None:
                self._start(step_id, outage)
        elif self._step == step_id and record.status not in ("acting", "verifying"):
            self._end(record.status)

    def _start(self, step_id: str, outage: Outage) -> None:
        self._step, self._began, self._began_at = step_id, time.monotonic(), iso_now_ms()
        self.console.essential(f"  ⏱ write outage expected from now: {outage.cause}; "
                         f"expected {outage.estimate}", "bold red")
        if self.sink is not None:
            self.sink.emit("outage-started", step=step_id, **outage.to_json())
        self._tell(step_id)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(step_id, outage, self._stop),
                                        name="outage-clock", daemon=True)
        self._ticker.start()

    def _tick(self, step_id: str, outage: Outage, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            elapsed = time.monotonic() - self._began
            seen = self._observed()
            now = ("" if seen is None else
                   f"; writes {'failing' if seen.open_now else 'going through'} now, "
                   f"{seen.seconds:g} s failed so far ({seen.source})")
            self.console.essential(f"  ⏱ write outage step {step_id} running for "
                                   f"{elapsed:.0f} s (outage expected: {outage.estimate}){now}",
                                   "red")

    def _end(self, status: str) -> None:
        step_id, self._step = self._step, None
        assert step_id is not None
        seconds = round(time.monotonic() - self._began, 3)
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        self.lasted[step_id] = seconds
        self._tell(None)
        seen = self._observed()
        failed = ("; writes failed for (not observed)" if seen is None else
                  f"; writes failed for {seen.seconds:g} s in it ({seen.source})")
        self.console.essential(f"  ⏱ the outage step {step_id} {status} after "
                               f"{seconds:.1f} s (the step's own length){failed}", "bold")
        if self.sink is not None:
            self.sink.emit("outage-ended", step=step_id, seconds=seconds, status=status,
                           observedSeconds=None if seen is None else seen.seconds,
                           observedSource=None if seen is None else seen.source)

    def _observed(self) -> Observed | None:
        if self.observed is None or not self._began_at:
            return None
        with contextlib.suppress(Exception):  # observation must never stop a run
            return self.observed(self._began_at, iso_now_ms())
        return None

    def close(self) -> None:
        if self._step is not None:
            self._end("stopped")

    def _tell(self, step_id: str | None) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):  # observation must never stop a run
                listener(step_id)


@dataclass(frozen=True)
class StepTime:
    id: str
    status: str
    started: str | None
    finished: str | None
    seconds: float | None  # the step's own length: the operator's answers left out
    done_by: str | None
    answered: float = 0.0  # seconds the operator took to answer its questions

    def to_json(self) -> dict[str, Any]:
        return {"step": self.id, "status": self.status, "started": self.started,
                "finished": self.finished, "seconds": self.seconds, "doneBy": self.done_by,
                "answeredSeconds": self.answered}


def step_times(run: RunRecord, order: list[str]) -> list[StepTime]:
    """Each step of the run in playbook order, with its duration when it has both ends."""
    out = []
    for step_id in order:
        record = run.step(step_id)
        seconds = None
        if record.started and record.finished:
            whole = (parse_iso(record.finished) - parse_iso(record.started)).total_seconds()
            seconds = round(max(whole - record.answered_seconds, 0.0), 3)
        out.append(StepTime(step_id, record.status, record.started, record.finished, seconds,
                            record.done_by, record.answered_seconds))
    return out


def table_lines(times: list[StepTime], windows: list[Window] | None,
                source: str) -> list[str]:
    width = max([len(t.id) for t in times] + [4])
    lines = [f"{'STEP':<{width}}  {'STATUS':<10}  {'STARTED':<24}  {'SECONDS':>8}  "
             f"{'ANSWERING':>9}"]
    for t in times:
        seconds = "-" if t.seconds is None else f"{t.seconds:.1f}"
        answered = f"{t.answered:.1f}" if t.answered else "-"
        status = t.status if t.done_by != "already-held" else "held"
        lines.append(f"{t.id:<{width}}  {status:<10}  {t.started or '-':<24}  {seconds:>8}  "
                     f"{answered:>9}")
    total = sum(t.seconds or 0.0 for t in times)
    answering = sum(t.answered for t in times)
    lines.append(f"{'total':<{width}}  {'':<10}  {'':<24}  {total:>8.1f}  {answering:>9.1f}")
    lines.append("SECONDS is each step's own length; ANSWERING, the time its questions "
                 "waited for you.")
    if windows is None:
        lines.append(f"Write outages observed ({source}): not observed.")
    elif not windows:
        lines.append(f"Write outages observed ({source}): none.")
    else:
        lines.append(f"Write outages observed ({source}):")
        for w in windows:
            length = "still open" if w.seconds is None else f"{w.seconds:.1f} s"
            lines.append(f"  {w.start} -> {w.end or '…'}  {length}  {w.cause}"
                         + ("  (inferred)" if w.inferred else ""))
    return lines


def report_run(console: Any, run: RunRecord | None, order: list[str],
               windows: list[Window] | None, source: str) -> None:
    """Print the table on the console (stderr) and emit it as events."""
    if run is None:
        return
    times = step_times(run, order)
    console.essential("")
    console.essential(f"Step times and write outages ({run.kind}, playbook {run.playbook}):",
                      "bold")
    for line in table_lines(times, windows, source):
        console.essential(line)
    sink = getattr(console, "sink", None)
    if sink is not None:
        sink.emit("step-times", kind=run.kind, steps=[t.to_json() for t in times])
        for window in windows or []:
            sink.emit("outage-observed", **window.to_json())


class RunReporting:
    """For one run: the outage clock on the store's status changes, the observation of
    outages (a write client's records, else ZooKeeper watches and, during outage steps,
    the zones' status), and the table at the end, whether the run finished, failed or was
    interrupted."""

    def __init__(self, client: Any, shard: str, inventory: Any, console: Any,
                 session_timeout: float) -> None:
        self.client = client
        self.shard = shard
        self.inventory = inventory
        self.console = console
        self.session_timeout = session_timeout
        self.runner: Any = None
        self.clock = OutageClock(console, self._outages, observed=self._observed)
        self._watch: Any = None
        self._sampler: Any = None
        self._since = ""
        self.clock.listeners.append(self._outage_step)
        # the run lock's release when the report's save is the run's last write (a run,
        # not a rollback, which archives its journal after): asked right behind it
        self.release_behind: Callable[[], None] | None = None

    def _observed(self, since: str, until: str) -> Observed | None:
        """Writes failing in [since, until]: the write client's records when there are
        some, else what ZooKeeper and the zones' status showed (``outagewatch``)."""
        directory = records_dir(self.inventory)
        if directory is not None:
            windows = client_windows(directory, since, until)
            if windows is None:
                return None
            source = "the write client"
        elif self._watch is not None:
            windows = self._watch.windows_so_far()
            sources = sorted({w.source for w in windows
                              if w.end is None or w.end >= since}) or ["zookeeper"]
            source = " and ".join("the zones' status" if s == "zones" else "ZooKeeper"
                                  for s in sources)
        else:
            return None
        seconds, open_now = failing_within(windows, since, until)
        return Observed(seconds, open_now, source)

    def _outages(self) -> dict[str, Outage | None]:
        return dict(getattr(self.runner, "outages", {}) or {})

    def __enter__(self) -> RunReporting:
        self._since = iso_now_ms()
        if records_dir(self.inventory) is None and self.client is not None:
            try:
                self._watch = OutageWatch(self.client, self.shard, self.session_timeout).start()
            except Exception:  # observation must never stop a run
                self._watch = None
        return self

    def _outage_step(self, step_id: str | None) -> None:
        """Sample the zones' status while an outage step runs (when ZooKeeper is watched
        and the run reaches zones)."""

        sampler, self._sampler = self._sampler, None
        if self._watch is not None:
            self._watch.on_change = None
        if sampler is not None:
            sampler.stop()
        remote = getattr(self.runner, "remote", None)
        if step_id is None or self._watch is None or remote is None:
            return
        peers: dict[str, str] = dict(getattr(self.runner, "peer_zones", {}) or {})
        zones: dict[str, str] = dict((getattr(self.runner, "outage_zones", {}) or {})
                                     .get(step_id, {}))
        watch = self._watch

        def where() -> str | None:
            peer = watch.primary_peer()
            return None if peer is None else peers.get(peer)

        primary = where() or next(iter(peers.values()), None)
        if primary is None:
            return
        departing = next((z for z in zones.values() if z != primary), primary)
        self._sampler = ZoneStatusSampler(remote, self.shard, primary, departing, where,
                                          watch.see_status)
        self._sampler.start()
        watch.on_change = self._sampler.wake

    def abandon(self) -> None:
        """Entered, but the run did not begin: the observation stops, nothing is said."""
        watch, self._watch = self._watch, None
        if watch is not None:
            with contextlib.suppress(Exception):
                watch.stop()

    def __exit__(self, *_exc: object) -> None:
        self.clock.close()
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        with contextlib.suppress(Exception):  # the run's own outcome matters more
            self._report()

    def _report(self) -> None:
        runner = self.runner
        if runner is None or runner.journal is None:
            if self._watch is not None:
                self._watch.stop()
            return
        directory = records_dir(self.inventory)
        windows: list[Window] | None = None
        source = "ZooKeeper"
        if directory is not None:
            windows = client_windows(directory, self._since, iso_now_ms())
            source = "the write client's records"
        elif self._watch is not None:
            if self._sampler is not None:
                self._sampler.stop()
                self._sampler = None
            windows = self._watch.stop()
            if getattr(runner, "remote", None) is not None:
                source = "ZooKeeper and the zones' status"
        run = runner.journal.run(runner.options.kind)
        report_run(self.console, run, [s.id for s in runner.loaded.playbook.steps], windows,
                   source)
        log_unsaved = getattr(runner.store, "log_unsaved", None)
        if log_unsaved is not None and log_unsaved(runner.journal):
            # the observed outages (and the last write) into the journal, for `report`;
            # the lock's release is asked right behind it, before its reply is in (a
            # round trip less at datacenter distance): ZooKeeper applies a session's
            # requests in order, so the journal is written (or refused) before the lock
            # is free, and its reply is collected here as it was before
            runner.store.save(runner.journal, wait=self.release_behind is None)
            if self.release_behind is not None:
                try:
                    self.release_behind()
                finally:
                    runner.store.settle()
        problem = getattr(runner.store, "audit_problem", None)
        if problem:
            self.console.essential(f"Note: the local audit copy is incomplete. {problem}",
                                   "yellow")
