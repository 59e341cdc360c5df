"""JSON events for scripted runs: one object per line on stdout, human text on stderr.

Events (every one has ``event`` and ``time``)::

    choice          the rollback variant, the roles found and why
    plan            the plan about to run (as `migrator plan --json`)
    step            the runner reached a step (index, total, id, title)
    step-started    preconditions are next (status started)
    check           a precondition or verification: check, passed, detail
    waiting         a verification is awaited: what, timeout
    confirm         a confirmation and its answer
    action-started  the step's action is about to run (status acting)
    action-finished the action returned: detail, outputs
    write           the action wrote to ZooKeeper (outputs.written)
    step-finished   the step is done: doneBy (verified or already-held)
    step-stopped    the step stopped before done: status, detail
    run             the run's status changed (running, done, failed, interrupted)
    nothing         there was nothing to do: reason
    alarm           the watchdog fired (see ``migrator.engine.watchdog``)
    summary         `run`: steps to do, outages expected, writes (before "proceed?"),
                    after a ``plan`` event with the whole plan
    heartbeat       every HEARTBEAT_SECONDS during a wait: what, elapsed, step
    outage-started  a step expected to stop writes began acting: step, cause, estimate
    outage-ended    that step finished or stopped: step, seconds, status
    outage-observed a write outage seen (client records or ZooKeeper): start, end, seconds
    step-times      the end-of-run table: each step's start, end, seconds
    error           the command failed: message, hint, exitStatus
    finished        the command ended: exitStatus

They are derived without changing the runner: step progress from the journal
versions the runner saves (``EventingStore``), checks from the console calls
it makes (``EventConsole``); both are the runner's own reporting channels.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal, RunRecord, StepRecord, operator_identity
from migrator.engine.journal_store import JournalStore
from migrator.engine.transcript import Transcript
from migrator.isotime import iso_now_ms
from migrator.stepkit.registry import checks
from migrator.stepkit.writes import ProposedWrite
from migrator.ui.output import say

HEARTBEAT_SECONDS = 3.0

# the events a run's journal keeps in its log, for `migrator report`
LOGGED = frozenset({"summary", "confirm", "write", "alarm", "outage-started", "outage-ended",
                    "outage-observed", "error", "audit-copy-failed"})

_CURRENT: list[EventSink] = []


def emit_current(event: str, **fields: Any) -> bool:
    """Emit on the sink of the command under way; False when there is none (or it is
    disabled), so that a human run never gets JSON on stdout."""
    sink = _CURRENT[-1] if _CURRENT else None
    if sink is None:
        return False
    sink.emit(event, **fields)
    return sink.enabled


@contextmanager
def current(sink: EventSink) -> Iterator[EventSink]:
    """Make ``sink`` where out-of-band reporters (the watchdog) send their events."""
    _CURRENT.append(sink)
    try:
        yield sink
    finally:
        _CURRENT.remove(sink)


@dataclass
class EventSink:
    """Writes events as JSON lines; disabled sinks drop them (no --json)."""

    enabled: bool = True
    stream: Any = None
    emitted: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # called with every event, enabled or not (the journal store keeps some in its log)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # stdout as the command found it: a live line on the terminal (rich) swaps
        # sys.stdout for a proxy onto stderr while it shows, and events must not follow
        if self.stream is None:
            self.stream = sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        document = {"event": event, "time": iso_now_ms(), **fields}
        for listener in list(self.listeners):
            listener(document)
        with self._lock:
            self.emitted.append(document)
            if not self.enabled:
                return
            stream = self.stream
            stream.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
            stream.flush()


class EventConsole(RunConsole):
    """The runner's console, also emitting check, waiting and confirm events."""

    def __init__(self, sink: EventSink, *, assume_yes: bool, shard: str,
                 stream: Any = None, quiet: bool = False,
                 transcript: Transcript | None = None) -> None:
        super().__init__(assume_yes=assume_yes, shard=shard, stream=stream, quiet=quiet,
                         transcript=transcript)
        self.sink = sink
        self._awaited = False
        self.current_step: str | None = None

    def step(self, index: int, total: int, title: str, step_id: str) -> None:
        super().step(index, total, title, step_id)
        self.current_step = step_id
        self.sink.emit("step", index=index, total=total, step=step_id, title=title)

    def ok(self, text: str) -> None:
        super().ok(text)
        self._classify(text, True)

    def fail(self, text: str) -> None:
        super().fail(text)
        self._classify(text, False)

    def _classify(self, text: str, passed: bool) -> None:
        awaited, self._awaited = self._awaited, False
        head, _, detail = text.partition(": ")
        name = head.removeprefix("precondition ")
        if name in checks() and (awaited or head.startswith("precondition ")):
            kind = "precondition" if head.startswith("precondition ") else "verify"
            self.sink.emit("check", check=name, kind=kind, passed=passed, detail=detail)

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[None]:
        self.sink.emit("waiting", what=what, timeout=timeout)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(what, timeout, stop),
                                name="heartbeat", daemon=True)
        if self.sink.enabled:
            beat.start()
        try:
            with super().waiting(what, timeout):
                yield
        finally:
            stop.set()
            if beat.is_alive():
                beat.join()
        self._awaited = True

    @contextmanager
    def acting(self, what: str, zone: str | None,
               estimate: tuple[float, str] | None = None) -> Iterator[None]:
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(what, None, stop),
                                kwargs={"zone": zone, "estimate": estimate}, name="heartbeat",
                                daemon=True)
        if self.sink.enabled:
            beat.start()
        try:
            with super().acting(what, zone, estimate):
                yield
        finally:
            stop.set()
            if beat.is_alive():
                beat.join()

    def _heartbeat(self, what: str, timeout: float | None, stop: threading.Event,
                   zone: str | None = None, estimate: tuple[float, str] | None = None
                   ) -> None:
        began = time.monotonic()
        extra: dict[str, Any] = {} if timeout is not None else {
            "phase": "action", "zone": zone, "command": what,
            "estimateSeconds": None if estimate is None else estimate[0],
            "estimateSource": None if estimate is None else estimate[1]}
        while not stop.wait(HEARTBEAT_SECONDS):
            wait = getattr(self, "_wait", None)
            self.sink.emit("heartbeat", what=what, timeout=timeout,
                           elapsed=round(time.monotonic() - began, 1), step=self.current_step,
                           lastSeen=None if wait is None else wait.last, **extra)

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        try:
            super().ask(question, shown, typed)
        except BaseException:
            self.answered(question, typed, "no", shown)
            raise
        self.answered(question, typed, "yes (--yes)" if self.assume_yes else "yes", shown)

    def answered(self, question: str, typed: bool, answer: str, shown: Any = None) -> None:
        """A ``confirm`` event: the question, the answer, who gave it, the write shown."""
        extra: dict[str, Any] = {"step": self.current_step, "by": operator_identity()}
        if isinstance(shown, ProposedWrite):
            extra["write"] = {**shown.to_json(), "diff": shown.diff()}
        self.sink.emit("confirm", question=question, typed=typed, answer=answer, **extra)


class EventingStore(JournalStore):
    """The journal store, emitting step and run events for one kind of run."""

    def __init__(self, *args: Any, sink: EventSink, kind: str,
                 on_status: Callable[[str, StepRecord], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink
        self.kind = kind
        self._last: RunRecord | None = None
        # told of every step status change (the outage clock follows them)
        self.on_status = on_status
        # the run's log (RunRecord.log): kept here, the single writer, and put into every
        # journal version saved, so the runner's own copy never drops an entry
        self.log: list[dict[str, Any]] = []
        self._diffs: dict[str, dict[str, Any]] = {}
        # the start of a finished run this process loaded: its log is its own, and a
        # command that ends without starting a run of its own writes nothing into it
        self._finished: str | None = None
        sink.listeners.append(self._listen)

    def _listen(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "confirm" and isinstance(event.get("write"), dict) and event.get("step"):
            self._diffs[str(event["step"])] = event["write"]
        if kind in LOGGED:
            self.log.append(dict(event))

    def audit_failed(self, problem: str) -> None:
        """The operator hears of it at once (stderr), and the journal's log keeps it."""
        say(f"warning: {problem}")
        self.sink.emit("audit-copy-failed", message=problem, path=str(self.audit_dir))

    def load(self) -> Journal | None:
        journal = super().load()
        self._last = journal.run(self.kind) if journal is not None else None
        self._finished = None
        if self._last is not None and self._last.status == "done":
            self._finished = self._last.started
        if self._last is not None and self._last.status != "done":
            # resuming this run: keep what its log holds (a new run starts a new log)
            known = {(e.get("time"), e.get("event")) for e in self.log}
            self.log[:0] = [e for e in self._last.log
                            if (e.get("time"), e.get("event")) not in known]
        return journal

    def _with_log(self, journal: Journal) -> Journal:
        run = journal.run(self.kind)
        if run is None or run.started == self._finished:
            return journal
        return journal.with_run(replace(run, log=tuple(self.log)))

    def log_unsaved(self, journal: Journal) -> bool:
        """Whether this process's run has log entries the journal does not hold yet (never
        for a finished run it only loaded)."""
        run = journal.run(self.kind)
        return run is not None and run.started != self._finished \
            and len(self.log) != len(run.log)

    def create(self, journal: Journal, *, then: Journal | None = None,
               created: Callable[[], None] | None = None) -> None:
        # each version's events once it is known written, in the order of the versions
        # (and of what the caller says of the creation between them)
        journal = self._with_log(journal)
        then = None if then is None else self._with_log(then)

        def told() -> None:
            self._changed(journal)
            if created is not None:
                created()

        super().create(journal, then=then, created=told)
        if then is not None:
            self._changed(then)

    def save(self, journal: Journal, *, wait: bool = True) -> None:
        # the events go out when the write is sent: a write left unanswered
        # (``wait=False``) that fails stops the run at the next write, before it acts
        journal = self._with_log(journal)
        super().save(journal, wait=wait)
        self._changed(journal)

    def _changed(self, journal: Journal) -> None:
        run = journal.run(self.kind)
        if run is None:
            return
        before = self._last
        self._last = run
        if before is None or before.status != run.status or before.started != run.started:
            self.sink.emit("run", kind=run.kind, playbook=run.playbook, status=run.status)
        for step_id, record in run.steps.items():
            old = before.step(step_id) if before is not None else StepRecord()
            stopped = record.detail != old.detail and _stopping(record.detail)
            if stopped:
                self.sink.emit("step-stopped", step=step_id, status=record.status,
                               detail=record.detail)
            elif record.status != old.status or record.attempts != old.attempts:
                self._step_event(step_id, old, record)
            if (stopped or record.status != old.status) and self.on_status is not None:
                self.on_status(step_id, record)

    def _step_event(self, step_id: str, old: StepRecord, new: StepRecord) -> None:
        emit = self.sink.emit
        if new.status == "started":
            emit("step-started", step=step_id, attempt=new.attempts)
        elif new.status == "acting":
            emit("action-started", step=step_id, zone=(new.intent or {}).get("onZone"),
                 command=(new.intent or {}).get("described"))
        elif new.status == "verifying":
            emit("action-finished", step=step_id, detail=new.detail, outputs=new.outputs)
            if new.outputs.get("written"):
                written = self._diffs.get(step_id) or {}
                emit("write", step=step_id, detail=new.detail,
                     history=new.outputs.get("history"), op=written.get("op"),
                     path=written.get("path"), diff=written.get("diff"))
        elif new.status == "done":
            emit("step-finished", step=step_id, doneBy=new.done_by, detail=new.detail)


def _stopping(detail: str | None) -> bool:
    """The runner's details for a step that stopped short of done."""
    return bool(detail) and str(detail).startswith(("stopped", "interrupted", "declined"))
