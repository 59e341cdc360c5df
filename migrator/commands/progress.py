"""A shard's migration in progress, for `migrator status --shard` (and `--watch`).

From the journal (``/manatee-migrator/<shard>/journal``): the latest run, its
step n of N and that step's state; from the run lock: who holds it. ``progress_of``
is pure. With an inventory, the zones' versions are asked over SSH
(``migrator.commands.zone_views``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.engine import lock
from migrator.engine.journal_znode import journal_document, journal_path
from migrator.errors import MigratorError
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass(frozen=True)
class Progress:
    """The latest run's position."""

    kind: str
    playbook: str
    status: str
    index: int  # 1-based; N+1 when all are done
    total: int
    step: str | None
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


def progress_of(journal: dict[str, Any], step_ids: list[str] | None) -> Progress | None:
    """The latest run's position, from the journal's JSON document. ``step_ids``: the
    playbook's steps in order, when it could be loaded; otherwise the steps the journal has
    records for and those the run's summary listed."""
    runs = journal.get("runs") or []
    if not runs:
        return None
    run = runs[-1]
    steps: dict[str, Any] = run.get("steps") or {}
    summarized = [str(i) for e in run.get("log") or () if e.get("event") == "summary"
                  for i in e.get("steps") or ()]
    # the summaries' order is the playbook's (a run's first summary lists every step it
    # had to do); steps recorded but never summarized (already held) come after
    ids = list(step_ids) if step_ids else list(dict.fromkeys([*summarized, *steps]))
    for step_id in steps:
        if step_id not in ids:
            ids.append(step_id)
    head = (str(run.get("kind")), str(run.get("playbook")), str(run.get("status", "running")))
    tail = (str(run.get("operator")), str(run.get("started")))
    for index, step_id in enumerate(ids, start=1):
        record = steps.get(step_id) or {}
        status = str(record.get("status", "pending"))
        if status != "done":
            return Progress(*head, index, len(ids), step_id, status, record.get("detail"),
                            *tail)
    return Progress(*head, len(ids) + 1, len(ids), None, None, None, *tail)


def _step_ids(playbook: str) -> list[str] | None:
    """The built-in playbook's step ids (a rollback's are resolved per shard, so its
    template can list steps the run dropped: the journal's own list is used then)."""

    # imported here: the catalog loads the whole step library, which `status` needs only
    # for such an old journal (about a quarter of its run time otherwise)
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
    """The journal and who holds the run lock; reads only."""
    return ProgressReads(client, shard).result()


class ProgressReads:
    """The reads of ``read_progress``, sent when made and collected by ``result``, so a
    command can send its other reads in the same round trip.

    The journal is read as plain JSON rather than through the journal model: `status` is
    what an operator runs when something is wrong, so a journal the model would refuse is
    reported as a problem beside everything else that could be read, not as an error.
    The journal is parsed as everywhere (``journal_document``: strict, nesting bounded),
    so 3,000 nested lists are such a problem naming the journal's znode, not a
    ``RecursionError``."""

    def __init__(self, client: KazooClient, shard: str) -> None:
        self.client = client
        self.shard = paths.check_shard_name(shard)
        self.path = journal_path(self.shard)
        self.journal = client.get_async(self.path)
        self.lock_children = client.get_children_async(lock.lock_path(self.shard))
        self._holders: list[tuple[str, str, Any]] | None = None
        # the journal as read (a JSON object), once ``result`` has collected it
        self.document: dict[str, Any] | None = None

    def send_last(self) -> None:
        """Ask for the lock holders' nodes (the second round), without waiting."""
        if self._holders is None:
            self._holders = lock.holder_reads(self.client, self.shard, self.lock_children)

    def result(self) -> InProgress:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NoNodeError

        problem = None
        progress = None
        path = self.path
        try:
            data, _ = self.journal.get()
            journal = journal_document(data)
            if not isinstance(journal, dict):
                raise ValueError("not a JSON object")
        except NoNodeError:
            journal = None
        except ValueError as exc:  # JsonRejected: not UTF-8, not JSON, too deep
            journal, problem = None, f"{path} is not a journal ({exc})"
        if journal is not None:
            self.document = journal
            runs = journal.get("runs") or []
            run = runs[-1] if runs and isinstance(runs[-1], dict) else {}
            # the run's summary lists its steps; a journal written before summaries were
            # kept names only the steps it has records for, so the playbook gives the rest
            summarized = any(e.get("event") == "summary" for e in run.get("log") or ())
            try:
                progress = progress_of(journal, None if summarized or not run
                                       else _step_ids(str(run.get("playbook"))))
            except (AttributeError, TypeError) as exc:
                problem = f"{path} is not shaped as a journal ({exc})"
        self.send_last()
        assert self._holders is not None
        holders = lock.holders_of(self._holders)
        return InProgress(progress, [h.identity for h in holders], problem)

