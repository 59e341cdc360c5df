"""The journal: what a run has done, kept in ZooKeeper and copied locally for audit.

Pure model only (no I/O; see ``journal_store``). One journal per shard holds
the original topology, the snapshot of ``/manatee/<shard>`` taken before the
first write, and one record per run (``migration``, later ``rollback``) with
each step's status, times, operator and outputs, so a rollback playbook reuses
the same journal, lock and runner.

Step statuses, in order: ``pending`` -> ``started`` (preconditions passed,
marks recorded) -> ``acting`` (written *before* the action, so a crash inside
it is visible) -> ``verifying`` -> ``done``; or ``failed``/``interrupted``
with a detail. Only ``done`` means done, and it is stamped only after the
verification passed (or, on resume, after the step's ``done_when`` was seen
to hold: ``done_by = "already-held"``, or after a later step's effect was seen
to hold: ``done_by = "implied"``, see ``migrator.engine.position``).

A non-idempotent action (a reprovision, a command in a zone) records its
**intent** in the step record before it does anything: the zone, the target
image, the time, the machine and, for a child started on this machine, its pid,
process group and kernel start time. On resume of a step left ``acting`` that
intent is what the evidence is compared against (``migrator.engine.inflight``).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from migrator.cluster.original import OriginalTopology
from migrator.isotime import iso_now_ms

JOURNAL_FORMAT = 1
STATUSES = ("pending", "started", "acting", "verifying", "done", "failed", "interrupted")


def operator_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _seconds_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


@dataclass(frozen=True)
class StepRecord:
    """What the journal knows of one step: status, times, operator, marks, outputs."""

    status: str = "pending"
    started: str | None = None
    finished: str | None = None
    operator: str | None = None
    done_by: str | None = None  # "verified" or "already-held"
    detail: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    # what a non-idempotent action was about to do, written before it acted (see above)
    intent: dict[str, Any] | None = None
    # how long the action itself took (not its confirmation or verification), when it ran
    # to its end in one attempt: the run learns its reprovisions' length from these
    action_seconds: float | None = None
    # how long the operator took to answer this step's questions: a step's length is
    # reported without it (``migrator.engine.runreport``), and it is shown apart
    answered_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "operator": self.operator,
            "doneBy": self.done_by,
            "detail": self.detail,
            "outputs": self.outputs,
            "marks": self.marks,
            "attempts": self.attempts,
            "intent": self.intent,
            "actionSeconds": self.action_seconds,
            "answeredSeconds": self.answered_seconds,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> StepRecord:
        return StepRecord(
            status=str(doc.get("status", "pending")),
            started=doc.get("started"),
            finished=doc.get("finished"),
            operator=doc.get("operator"),
            done_by=doc.get("doneBy"),
            detail=doc.get("detail"),
            outputs=dict(doc.get("outputs") or {}),
            marks=dict(doc.get("marks") or {}),
            attempts=int(doc.get("attempts", 0)),
            intent=dict(doc["intent"]) if isinstance(doc.get("intent"), dict) else None,
            action_seconds=_seconds_or_none(doc.get("actionSeconds")),
            answered_seconds=_seconds_or_none(doc.get("answeredSeconds")) or 0.0,
        )


@dataclass(frozen=True)
class RunRecord:
    """One run of a playbook (migration or rollback) and its steps."""

    kind: str  # "migration" or "rollback"
    playbook: str
    playbook_digest: str
    started: str
    operator: str
    status: str = "running"  # running, done, failed, interrupted
    steps: dict[str, StepRecord] = field(default_factory=dict)
    # what happened besides step statuses, for `migrator report`: confirmations (who,
    # how), ZooKeeper writes with their diff, alarms, outages (see engine.events)
    log: tuple[dict[str, Any], ...] = ()

    def step(self, step_id: str) -> StepRecord:
        return self.steps.get(step_id, StepRecord())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "playbook": self.playbook,
            "playbookDigest": self.playbook_digest,
            "started": self.started,
            "operator": self.operator,
            "status": self.status,
            "steps": {k: v.to_json() for k, v in self.steps.items()},
            "log": list(self.log),
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> RunRecord:
        return RunRecord(
            kind=str(doc["kind"]),
            playbook=str(doc["playbook"]),
            playbook_digest=str(doc["playbookDigest"]),
            started=str(doc["started"]),
            operator=str(doc["operator"]),
            status=str(doc.get("status", "running")),
            steps={k: StepRecord.from_json(v) for k, v in (doc.get("steps") or {}).items()},
            log=tuple(dict(e) for e in doc.get("log") or () if isinstance(e, dict)),
        )


@dataclass(frozen=True)
class Journal:
    """The shard's migration journal: original topology, snapshot, every run."""

    shard: str
    created: str
    operator: str
    original: OriginalTopology
    snapshot: dict[str, Any]  # /manatee/<shard> as it was before the first write
    runs: tuple[RunRecord, ...] = ()
    format: int = JOURNAL_FORMAT

    def run(self, kind: str) -> RunRecord | None:
        """The latest run of that kind."""
        for run in reversed(self.runs):
            if run.kind == kind:
                return run
        return None

    def with_run(self, run: RunRecord) -> Journal:
        """The latest run of the same kind updated, when ``run`` is that run (the same
        kind and start); otherwise ``run`` appended. The record of a run is never
        replaced by another's: a later run of the same kind is a run of its own."""
        runs = list(self.runs)
        for index in range(len(runs) - 1, -1, -1):
            if runs[index].kind == run.kind:
                if runs[index].started != run.started:
                    break
                runs[index] = run
                return replace(self, runs=tuple(runs))
        return replace(self, runs=(*runs, run))

    def with_step(self, kind: str, step_id: str, record: StepRecord) -> Journal:
        run = self.run(kind)
        if run is None:
            raise KeyError(kind)
        return self.with_run(replace(run, steps={**run.steps, step_id: record}))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "shard": self.shard,
            "created": self.created,
            "operator": self.operator,
            "original": self.original.to_json(),
            "snapshot": self.snapshot,
            "runs": [r.to_json() for r in self.runs],
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Journal:
        shard = str(doc["shard"])
        return Journal(
            shard=shard,
            created=str(doc["created"]),
            operator=str(doc["operator"]),
            original=OriginalTopology.from_json(shard, doc["original"]),
            snapshot=dict(doc.get("snapshot") or {}),
            runs=tuple(RunRecord.from_json(r) for r in doc.get("runs") or []),
            format=int(doc.get("format", JOURNAL_FORMAT)),
        )


def new_journal(
    shard: str, original: OriginalTopology, snapshot: dict[str, Any], operator: str
) -> Journal:
    return Journal(shard, iso_now_ms(), operator, original, snapshot)


def new_run(kind: str, playbook: str, digest: str, operator: str) -> RunRecord:
    return RunRecord(kind, playbook, digest, iso_now_ms(), operator)


def stamp(record: StepRecord, status: str, operator: str, **changes: Any) -> StepRecord:
    """The record moved to ``status``; times are set on the first start and on done/failed."""
    if status not in STATUSES:
        raise ValueError(status)
    now = iso_now_ms()
    started = record.started
    attempts = record.attempts
    if status == "started":
        started = now
        attempts += 1
    finished = now if status in ("done", "failed", "interrupted") else None
    return replace(
        record, status=status, started=started, finished=finished, operator=operator,
        attempts=attempts, **changes,
    )
