"""`migrator fleet run|resume`: every shard of a fleet, each by a child running the
single-shard CLI, at most ``parallel`` at once, one view, stop-all on any stop.

The children's JSON events are the fleet's only source of truth about each shard;
every shard keeps its own journal and run lock, so `migrator resume --inventory X`
of one shard works after any fleet command. The decisions are
``migrator.fleet.schedule``'s; what is shown, ``migrator.fleet.view``'s.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from migrator.commands.session import zk_session
from migrator.engine.journal_store import JournalStore, default_audit_dir
from migrator.errors import BadInput, MigratorError
from migrator.fleet import schedule, view
from migrator.fleet.children import Child, Line
from migrator.fleet.lock import fleet_lock, lock_lost
from migrator.fleet.model import Fleet, FleetShard
from migrator.fleet.view import ShardRow
from migrator.isotime import iso_now_ms

# after Ctrl-C, how long the fleet waits for its children to stop (a reprovision under
# way is left to finish by the first Ctrl-C); a second Ctrl-C stops waiting at once
CHILDREN_WAIT = 900.0
TICK = 0.5  # seconds between redraws of the live view when no event comes


@dataclass(frozen=True)
class FleetOptions:
    verb: str  # run or resume: what the operator asked for (each shard's is decided)
    parallel: int = 1
    yes: bool = False
    keep_going: bool = False
    allow_shared_nodes: bool = False
    plans: dict[str, Path] | None = None  # shard -> saved plan (--plan)
    connect_timeout: float = 10.0
    debug: bool = False

    @property
    def relay(self) -> bool:
        """Without --yes or --plan every shard's questions are relayed to the operator."""
        return not self.yes and self.plans is None


class Display(Protocol):
    """How the fleet is shown: a live table, plain lines, or JSON events."""

    def fleet_event(self, event: dict[str, Any]) -> None: ...
    def shard_event(self, shard: str, event: dict[str, Any]) -> None: ...
    def note(self, text: str) -> None: ...
    def refresh(self, rows: list[ShardRow], now: float) -> None: ...
    def paused(self) -> AbstractContextManager[None]: ...


# asks the operator a shard's `question` event; returns the line to answer it with
Asker = Callable[[str, dict[str, Any]], str]


@dataclass
class Loaded:
    entry: FleetShard
    inventory: Any
    path: Path


def load_inventories(fleet: Fleet) -> list[Loaded]:
    """Every shard to run, its inventory loaded; one BadInput naming each problem."""
    # deferred: PyYAML and the inventory model, only once a fleet is run
    from migrator.inventory.load import load_inventory

    loaded: list[Loaded] = []
    problems: list[str] = []
    for entry in fleet.to_run:
        assert entry.inventory is not None  # the model requires it of a shard to run
        try:
            inventory = load_inventory(entry.inventory)
        except MigratorError as exc:
            problems.append(f"shard {entry.shard}: {exc.message}")
            continue
        if inventory.shard != entry.shard:
            problems.append(f"shard {entry.shard}: its inventory {entry.inventory} names "
                            f"shard {inventory.shard}")
            continue
        loaded.append(Loaded(entry, inventory, entry.inventory))
    if problems:
        raise BadInput("The fleet's inventories cannot be used: " + "; ".join(problems) + ".",
                       f"Fix them (or the fleet file {fleet.path}); nothing was started.")
    return loaded


def fleet_folder(fleet: Fleet, verb: str) -> Path:
    """Where this fleet command keeps each child's stderr (``<shard>.log``)."""
    stamp = iso_now_ms().replace(":", "").replace(".", "")
    folder = default_audit_dir() / "fleets" / fleet.name / f"{stamp}-{verb}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def outage_locks_folder() -> Path:
    """One folder per machine: two fleets sharing a compute node are kept apart too."""
    folder = default_audit_dir() / "fleets" / "outage-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def operator_identity_pid() -> str:
    from migrator.engine.journal import operator_identity

    return f"{operator_identity()} pid {os.getpid()}"


def journal_verb(shard: Loaded, options: FleetOptions) -> str:
    """``run`` (no journal), ``resume`` (an unfinished run), or ``done`` (migrated)."""
    inventory = shard.inventory
    with zk_session(inventory.zookeeper, options.connect_timeout, options.debug,
                    inventory) as client:
        journal = JournalStore(client, shard.entry.shard).load()
    run = journal.run("migration") if journal is not None else None
    if run is None:
        return "run"
    return "done" if run.status == "done" else "resume"


def child_argv(shard: Loaded, verb: str, options: FleetOptions, locks: Path | None
               ) -> list[str]:
    argv = [sys.executable, "-m", "migrator", verb, "--inventory", str(shard.path), "--json",
            "--connect-timeout", f"{options.connect_timeout:g}"]
    # the fleet's typed confirmation covers a resume under --plan (a saved plan applies
    # to a shard's first run only)
    argv += ["--ask-via-stdio"] if options.relay else ["--yes"]
    if verb == "run" and options.plans is not None:
        argv += ["--plan", str(options.plans[shard.entry.shard])]
    if locks is not None:
        argv += ["--outage-locks", str(locks)]
    return argv


class FleetRun:
    def __init__(self, fleet: Fleet, shards: list[Loaded], options: FleetOptions,
                 display: Display, folder: Path, ask: Asker | None = None,
                 lock_lost: Callable[[], MigratorError | None] = lambda: None) -> None:
        self.fleet = fleet
        self.lock_lost = lock_lost
        self.ask = ask
        self.shards = {s.entry.shard: s for s in shards}
        self.options = options
        self.display = display
        self.folder = folder
        self.locks = None if options.allow_shared_nodes else outage_locks_folder()
        self.rows: dict[str, ShardRow] = {
            s.shard: (view.skipped(s.shard, s.skip) if s.skip is not None
                      else ShardRow(s.shard)) for s in fleet.shards}
        self.pending = [s.entry.shard for s in shards]
        self.children: dict[str, Child] = {}
        self.ended: list[tuple[str, str, int | None]] = []
        self.lines: queue.Queue[Line] = queue.Queue()
        self.stopping = False
        self.interrupted = False

    def resume_command(self) -> str:
        return f"migrator fleet resume --fleet {self.fleet.path}"

    # ---- the loop ---------------------------------------------------------------------

    def execute(self) -> int:
        self.display.fleet_event({
            "event": "fleet-started", "fleet": self.fleet.name, "verb": self.options.verb,
            "shards": list(self.pending), "parallel": self.options.parallel,
            "skipped": [s.shard for s in self.fleet.shards if s.skip is not None],
            "logs": str(self.folder)})
        deadline: float | None = None
        while self._running() or (self.pending and not self.stopping):
            try:
                if deadline is not None and time.monotonic() > deadline:
                    self.display.note("Stopped waiting for the shards still running.")
                    break
                lost = self.lock_lost()
                if lost is not None and not self.stopping:
                    self.display.note(lost.paragraph())
                    self._stop_all("the fleet's lock was lost")
                self._start_what_may()
                self._next()
            except KeyboardInterrupt:
                if self.interrupted:
                    self.display.note("Second Ctrl-C: no longer waiting for the shards.")
                    break
                self.interrupted = True
                deadline = time.monotonic() + CHILDREN_WAIT
                self._stop_all("Ctrl-C")
        for shard in self.pending:
            self._end(shard, schedule.NOT_STARTED, None, "not started: the fleet stopped")
        self.pending = []
        for shard, child in self.children.items():
            if child.process is not None and child.process.poll() is None \
                    and self.rows[shard].verdict is None:
                self._end(shard, schedule.INTERRUPTED, None,
                          f"still running (pid {child.pid}) when the fleet stopped")
        status = schedule.fleet_exit(self.ended, self.interrupted)
        self.display.refresh(list(self.rows.values()), time.monotonic())
        self.display.fleet_event({
            "event": "fleet-finished", "exitStatus": status,
            "verdicts": {shard: row.verdict for shard, row in self.rows.items()},
            "resume": None if status == 0 else self.resume_command()})
        return status

    def _running(self) -> list[str]:
        return [shard for shard, child in self.children.items()
                if self.rows[shard].verdict is None and child.process is not None]

    def _start_what_may(self) -> None:
        for shard in schedule.to_start(self.pending, len(self._running()),
                                       self.options.parallel, self.stopping):
            self.pending.remove(shard)
            self._start(shard)

    def _start(self, shard: str) -> None:
        loaded = self.shards[shard]
        try:
            verb = journal_verb(loaded, self.options)
        except MigratorError as exc:
            self._end(shard, schedule.verdict(exc.exit_status, False), exc.exit_status,
                      exc.message)
            self._after_a_stop(shard)
            return
        if verb == "done":
            self._end(shard, schedule.ALREADY, 0, "migrated already (its journal is done)")
            return
        child = Child(shard, child_argv(loaded, verb, self.options, self.locks),
                      self.folder / f"{shard}.log", relay=self.options.relay)
        child.start(self.lines)
        self.children[shard] = child
        self.rows[shard] = view.started(self.rows[shard], verb, time.monotonic())
        self.display.fleet_event({"event": "shard-started", "shard": shard, "verb": verb,
                                  "pid": child.pid, "log": str(child.log)})

    def _next(self) -> None:
        try:
            shard, event = self.lines.get(timeout=TICK)
        except queue.Empty:
            self.display.refresh(list(self.rows.values()), time.monotonic())
            return
        child = self.children[shard]
        if event is None:
            status = child.wait(30)
            if child.said is not None:  # its own word: it may die at exit of a late stop
                status = child.said
            found = schedule.verdict(status, child.asked_to_stop)
            self._end(shard, found, status, None)
            if found not in schedule.FINE:
                self._after_a_stop(shard)
            return
        child.heard(event)
        self.rows[shard] = view.apply(self.rows[shard], event, time.monotonic())
        self.display.shard_event(shard, event)
        if event.get("event") == "question":
            self._relay(child, event)
        if schedule.stops_the_fleet(event) and not self.options.keep_going:
            self._stop_all(f"shard {shard}: {event.get('event')}")
        self.display.refresh(list(self.rows.values()), time.monotonic())

    def _relay(self, child: Child, event: dict[str, Any]) -> None:
        """A shard's question, put to the operator (one at a time: the other shards'
        events wait meanwhile); declined at once while the fleet stops."""
        if self.stopping or self.ask is None:
            child.answer("no")
            self.display.note(f"{child.shard}: declined {event.get('question')!r}: the fleet "
                              "is stopping.")
            return
        answer = "no"
        try:
            with self.display.paused():
                answer = self.ask(child.shard, event)
        finally:
            child.answer(answer)  # a Ctrl-C while asking is a no, then the fleet's stop

    def _end(self, shard: str, found: str, status: int | None, why: str | None) -> None:
        self.rows[shard] = view.finished(self.rows[shard], found, time.monotonic(), why)
        self.ended.append((shard, found, status))
        self.display.fleet_event({"event": "shard-finished", "shard": shard,
                                  "exitStatus": status, "verdict": found})

    def _after_a_stop(self, shard: str) -> None:
        if self.options.keep_going:
            self.display.note(f"{shard}: {self.rows[shard].verdict}; the other shards go on "
                              "(--keep-going).")
            return
        self._stop_all(f"shard {shard} {self.rows[shard].verdict}")

    def _stop_all(self, why: str) -> None:
        """No shard starts any more; those running stop after their current step."""
        if self.stopping:
            return
        self.stopping = True
        running = self._running()
        self.display.note(
            f"Stopping the fleet ({why}): no shard starts any more"
            + (f"; {', '.join(running)} stop(s) after the step under way." if running
               else ".") + f" Later: {self.resume_command()}")
        for shard in running:
            self.children[shard].ask_to_stop()


def run_fleet(fleet: Fleet, options: FleetOptions, display: Display,
              confirm: Callable[[int], None], ask: Asker | None = None) -> int:
    """Load, lock, confirm (``confirm(count)`` raises to refuse), then run; the exit
    status (``migrator.fleet.schedule.fleet_exit``)."""
    shards = load_inventories(fleet)
    if not shards:
        display.note(f"Every shard of the fleet {fleet.name} is skipped; nothing to run.")
        return 0
    first = shards[0].inventory
    with zk_session(first.zookeeper, options.connect_timeout, options.debug,
                    first) as client, \
            fleet_lock(client, fleet.name, operator_identity_pid(), first.zookeeper,
                       on_wait=display.note):
        confirm(len(shards))
        folder = fleet_folder(fleet, options.verb)
        display.note(f"Each shard's own output: {folder}/<shard>.log")
        return FleetRun(fleet, shards, options, display, folder, ask,
                        lambda: lock_lost(client)).execute()
