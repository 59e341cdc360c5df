"""A shard's migration in progress, for `migrator status --shard` (and `--watch`).

From the journal (``/manatee-migrator/<shard>/journal``): the latest run, its
step n of N and that step's state; from the run lock: who holds it. With an
inventory, each zone's manatee version (asked over SSH, in parallel, bounded
by the inventory's timeouts). ``progress_of`` is pure.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from migrator.engine.journal import Journal


@dataclass(frozen=True)
class Progress:
    kind: str
    playbook: str
    status: str  # the run's: running, done, failed, interrupted, stopped
    index: int  # 1-based position of the current step (N+1 when all are done)
    total: int
    step: str | None  # the current step (None when every step is done)
    step_status: str | None
    detail: str | None
    operator: str
    started: str

    def line(self) -> str:
        if self.step is None:
            where = f"all {self.total} steps done"
        else:
            where = f"step {self.index}/{self.total} {self.step}: {self.step_status}"
            if self.detail:
                where += f" ({self.detail})"
        return (f"{self.kind} with playbook {self.playbook}, {self.status}: {where}; started "
                f"{self.started} by {self.operator}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "playbook": self.playbook, "status": self.status,
                "index": self.index, "total": self.total, "step": self.step,
                "stepStatus": self.step_status, "detail": self.detail,
                "operator": self.operator, "started": self.started}


def progress_of(journal: Journal, step_ids: list[str] | None) -> Progress | None:
    """The latest run's position. ``step_ids``: the playbook's steps in order, when it
    could be loaded; otherwise the steps the journal has records for and those the run's
    summary listed."""
    if not journal.runs:
        return None
    run = journal.runs[-1]
    summarized = [str(i) for e in run.log if e.get("event") == "summary"
                  for i in e.get("steps") or ()]
    ids = list(step_ids) if step_ids else list(dict.fromkeys([*run.steps, *summarized]))
    for step_id in run.steps:
        if step_id not in ids:
            ids.append(step_id)
    for index, step_id in enumerate(ids, start=1):
        record = run.step(step_id)
        if record.status != "done":
            return Progress(run.kind, run.playbook, run.status, index, len(ids), step_id,
                            record.status, record.detail, run.operator, run.started)
    return Progress(run.kind, run.playbook, run.status, len(ids) + 1, len(ids), None, None,
                    None, run.operator, run.started)


def _step_ids(playbook: str) -> list[str] | None:
    """The built-in playbook's step ids (a rollback's are resolved per shard, so its
    template can list steps the run dropped: the journal's own list is used then)."""
    from migrator.errors import MigratorError
    from migrator.playbook import catalog

    if playbook not in catalog.builtin_names() or playbook.startswith("rollback"):
        return None
    try:
        return [s.id for s in catalog.resolve(playbook, check_registry=False).playbook.steps]
    except MigratorError:
        return None


@dataclass(frozen=True)
class InProgress:
    progress: Progress | None
    lock_holders: list[str]
    journal_problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"migration": None if self.progress is None else self.progress.to_json(),
                "lockHolders": self.lock_holders, "journalProblem": self.journal_problem}


def read_progress(client: KazooClient, shard: str) -> InProgress:
    from migrator.engine.journal_store import JournalStore
    from migrator.engine.lock import holders
    from migrator.errors import MigratorError

    problem = None
    progress = None
    try:
        journal = JournalStore(client, shard).load()
    except MigratorError as exc:
        journal, problem = None, exc.message
    if journal is not None and journal.runs:
        run = journal.runs[-1]
        # the run's summary lists its steps; loading the playbook (YAML) is only needed for
        # a journal written before summaries were kept, and costs ~20 ms of start-up
        summarized = any(e.get("event") == "summary" for e in run.log)
        progress = progress_of(journal, None if summarized else _step_ids(run.playbook))
    return InProgress(progress, holders(client, shard), problem)


def zone_versions(inventory: Any, zones: list[str]) -> dict[str, str]:
    """Each zone's manatee version as the zone reports it (or why it could not say)."""
    from migrator.errors import MigratorError
    from migrator.remote.prewarm import Prewarm
    from migrator.remote.versions import reported_version

    known = [z for z in zones if z in getattr(inventory, "zones", {})]
    if not known:
        return {}
    session = Prewarm(inventory).session()

    def ask(zone: str) -> tuple[str, str]:
        try:
            result = session.run_template(zone, "manatee_version")
        except MigratorError as exc:
            return zone, f"unknown ({exc.message})"
        version = reported_version(result.text) if result.ok else None
        return zone, version or f"unknown (exit status {result.status})"

    try:
        with ThreadPoolExecutor(max_workers=min(8, len(known))) as pool:
            return dict(pool.map(ask, known))
    finally:
        session.close()
