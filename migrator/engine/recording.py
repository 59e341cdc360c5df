"""A run's record in the journal: each step's status, intent and outputs, saved as the
run goes (one versioned ZooKeeper write each, so a crash or Ctrl-C at any moment leaves
the previous or the next journal, both consistent)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from migrator.cluster.original import OriginalTopology
from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal, StepRecord, new_journal, new_run, stamp
from migrator.engine.journal_store import JournalStore, capture_shard
from migrator.errors import Refused
from migrator.isotime import iso_now_ms
from migrator.playbook.loader import LoadedPlaybook


class RunRecorder:
    """The journal of one shard as a run of ``kind`` records itself in it."""

    def __init__(self, client: Any, shard: str, store: JournalStore, kind: str,
                 operator: str, console: RunConsole) -> None:
        self.client = client
        self.shard = shard
        self.store = store
        self.kind = kind
        self.operator = operator
        self.console = console
        self.journal: Journal | None = None

    def load(self) -> Journal | None:
        self.journal = self.store.load()
        return self.journal

    def refuse_changed_playbook(self, loaded: LoadedPlaybook, accept: bool) -> None:
        """A run under way continues with the playbook it began with, unless told."""
        run = self.journal.run(self.kind) if self.journal else None
        if run is None or run.status == "done" or run.playbook_digest == loaded.digest:
            return
        if accept:
            self.console.say(f"Accepting the changed playbook ({run.playbook_digest} -> "
                             f"{loaded.digest}) as asked.", "yellow")
            return
        raise Refused(
            f"The journal's {run.kind} of shard {self.shard} was started with playbook "
            f"{run.playbook} {run.playbook_digest}; the playbook now is {loaded.name} "
            f"{loaded.digest}. Nothing was done.",
            "Resume with the same playbook, or pass --accept-playbook-change after reading "
            "what changed.",
        )

    def ensure(self, original: OriginalTopology, loaded: LoadedPlaybook,
               snapshot: dict[str, Any] | None = None) -> None:
        """The journal (created with the shard's snapshot when there is none) holding a
        run of this kind that is running. ``snapshot``: the shard's, taken by the caller
        a moment ago (``capture_shard``) with nothing written since; else taken here."""
        if self.journal is None:
            if snapshot is None:
                snapshot = capture_shard(self.client, self.shard)
            journal = new_journal(self.shard, original, snapshot, self.operator)
            running = journal.with_run(new_run(self.kind, loaded.name, loaded.digest,
                                               self.operator))
            # the journal and its run in one transaction (a round trip less at
            # datacenter distance), its two versions as two writes made them
            self.store.create(journal, then=running, created=lambda: self.console.say(
                f"Journal created at {self.store.path} (shard snapshot taken)."))
            self.journal = running
            return
        run = self.journal.run(self.kind)
        if run is None or run.status == "done":
            run = new_run(self.kind, loaded.name, loaded.digest, self.operator)
        else:
            run = replace(run, status="running", playbook=loaded.name,
                          playbook_digest=loaded.digest)
        self.journal = self.journal.with_run(run)
        self.store.save(self.journal)

    def outputs(self, kind: str, step_id: str) -> Mapping[str, Any]:
        """What a step of the journal's run of ``kind`` recorded as its outputs."""
        run = self.journal.run(kind) if self.journal is not None else None
        return dict(run.step(step_id).outputs) if run is not None else {}

    def step(self, step_id: str) -> StepRecord:
        run = self.journal.run(self.kind) if self.journal else None
        return run.step(step_id) if run is not None else StepRecord()

    def save_step(self, step_id: str, record: StepRecord, *, wait: bool = True) -> None:
        assert self.journal is not None
        self.journal = self.journal.with_step(self.kind, step_id, record)
        self.store.save(self.journal, wait=wait)

    def stamp(self, step_id: str, status: str, *, wait: bool = True, **changes: Any) -> None:
        """The step moved to ``status`` by this operator (``migrator.engine.journal.stamp``).
        ``wait=False``: sent without waiting for ZooKeeper's reply, which the next journal
        write collects first (``JournalStore.save``)."""
        self.save_step(step_id, stamp(self.step(step_id), status, self.operator, **changes),
                       wait=wait)

    def amend(self, step_id: str, **changes: Any) -> None:
        """The step's record changed in place (its status, if given, set as it is)."""
        self.save_step(step_id, replace(self.step(step_id), **changes))

    def merge_intent(self, step_id: str, fields: Mapping[str, Any]) -> None:
        """Journal ``fields`` into the step's intent now, before the action does it."""
        record = self.step(step_id)
        self.save_step(step_id, replace(record, intent={**(record.intent or {}),
                                                        **jsonable(fields)}))

    def finish(self, status: str) -> None:
        assert self.journal is not None
        run = self.journal.run(self.kind)
        if run is None or run.status == status:
            return
        self.journal = self.journal.with_run(replace(run, status=status))
        self.store.save(self.journal)

    def interrupted(self, step_id: str) -> None:
        """After Ctrl-C, best effort: the step keeps what resume needs to know."""
        try:
            current = self.step(step_id)
            if current.status in ("acting", "verifying"):
                # keep the status: resume must know the action may have happened
                self.save_step(step_id, replace(current, detail="interrupted (Ctrl-C)"))
            else:
                self.save_step(step_id, replace(current, status="pending",
                                                detail="interrupted (Ctrl-C) before acting"))
            self.finish("interrupted")
        except (Exception, KeyboardInterrupt):
            pass  # the journal holds its previous, consistent version


def base_intent(action: str) -> dict[str, Any]:
    """What every action journals as it starts: what, when, from which machine."""
    return {"action": action, "started": iso_now_ms(), "host": socket.gethostname(),
            "operatorPid": os.getpid()}


def jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(data), default=str)))
