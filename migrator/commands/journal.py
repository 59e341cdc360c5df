"""`migrator journal restore`: put back a damaged journal from a local audit copy.

The journal in ZooKeeper is the run's record; every command refuses a journal it
cannot read (rightly: it is where a resume finds its place). When the znode is
damaged (a bad hand edit, a corrupted write) the operator's machine that ran the
migration holds a copy (``migrator.engine.journal_store``: ``journal.json`` and the
``runs/NN-KIND.json``, one per run; older versions appended every save to
``audit.jsonl``, which is read too). Decisions:

* only a journal that is missing or cannot be read is replaced: a readable journal
  is the record and is never rewritten (refused, exit 3);
* the copy must be a journal of this shard, read bounded and strictly, like the
  znode (``migrator.commands.report.from_file``);
* nothing is written while a run holds the shard's lock;
* what is there and what would be put back are shown, and the shard name is typed
  (``--yes`` answers for scripts);
* the write is conditional on the version read (or a create when the znode is
  absent), so a change meanwhile aborts instead of being overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.commands.expert import require_no_run
from migrator.commands.report import from_file
from migrator.engine.journal import Journal
from migrator.engine.journal_store import encoded
from migrator.engine.journal_znode import journal_document, journal_path, journal_root
from migrator.errors import BadInput, Refused, StateConflict

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass(frozen=True)
class Restore:
    """What a restore would do: the znode as it is and the journal that would replace it."""

    shard: str
    path: str
    current: bytes | None  # None: no journal znode
    version: int | None
    problem: str  # why the current journal cannot be used
    restored: Journal
    source: str

    def lines(self) -> list[str]:
        """What is there and what would be put back, for the operator."""
        if self.current is None:
            now = f"ZooKeeper: {self.path} does not exist."
        else:
            head = self.current[:200].decode("utf-8", "replace")
            now = (f"ZooKeeper: {self.path} (version {self.version}, {len(self.current)} "
                   f"bytes) cannot be read: {self.problem}. It begins: {head!r}")
        journal = self.restored
        runs = "; ".join(
            f"{run.kind} {run.playbook} {run.status}, steps done: "
            + (", ".join(i for i, s in run.steps.items() if s.status == "done") or "none")
            for run in journal.runs) or "no runs"
        return [now,
                f"The copy ({self.source}): the journal of shard {journal.shard}, created "
                f"{journal.created} by {journal.operator}; {runs}."]


def plan_restore(client: KazooClient, shard: str, file: Path) -> Restore:
    """Read the znode and the copy; refuse when the znode is readable or the copy is not
    this shard's journal. Reads only."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    path = journal_path(shard)
    found = from_file(file)
    if found.journal.shard != shard:
        raise BadInput(f"{file} is the journal of shard {found.journal.shard}, not {shard}.",
                       "Give the audit copy of this shard (under <audit dir>/<ensemble>/"
                       f"{shard}/).")
    try:
        data, stat = client.get(path)
    except NoNodeError:
        return Restore(shard, path, None, None, "it does not exist", found.journal,
                       found.source)
    try:
        Journal.from_json(journal_document(data))
    except (ValueError, KeyError, TypeError) as exc:
        return Restore(shard, path, bytes(data), int(stat.version),
                       f"{type(exc).__name__}: {exc}", found.journal, found.source)
    raise Refused(
        f"The journal at {path} is readable; `journal restore` only puts back a missing or "
        "damaged one (the journal is the run's record and is never rewritten). Nothing "
        "was written.",
        "Compare it with the copy by hand (`migrator report` and `migrator report --file "
        f"{file}`) if you believe it is wrong.")


def restore(client: KazooClient, planned: Restore, lock_override: Any = None) -> None:
    """Write the copy in place of the damaged journal, conditionally on what was read."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

    require_no_run(client, planned.shard, "journal restore", lock_override)
    data = encoded(planned.restored)
    try:
        if planned.version is None:
            client.ensure_path(journal_root(planned.shard))
            client.create(planned.path, data)
        else:
            client.set(planned.path, data, version=planned.version)
    except (BadVersionError, NodeExistsError, NoNodeError):
        raise StateConflict(
            f"The journal at {planned.path} changed while you were deciding; nothing was "
            "written.", "Run `migrator journal restore` again to see it as it is now.",
        ) from None
