"""What the runner hands to checks and actions (``migrator.stepkit.registry.StepContext``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.cluster.history import HistoryRecord
from migrator.cluster.original import OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.errors import NotConfirmed, UnexpectedTopology

Confirmer = Callable[[str, Any, bool], None]


@dataclass
class EngineContext:
    """What the runner hands to checks and actions (``StepContext``)."""

    shard: str
    zk: Any
    inventory: Any
    remote: Any
    original: OriginalTopology
    marks: dict[str, Any] = field(default_factory=dict)
    step_id: str | None = None
    say_func: Callable[[str], None] = print
    # the live line of an action under way (``RunConsole.seen``); None: not shown
    seen_func: Callable[[str], None] | None = None
    confirm_func: Confirmer | None = None
    # While the engine decides which steps are already done, the one consistent
    # read (shard, history) every ZooKeeper done-check is judged against: all the
    # steps are judged on the same view, and it is read once instead of per check.
    view: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
    # While the runner starts a step, until its preconditions are judged: the shard and
    # its history read once, on first use, for the step's done-checks, start hooks and
    # preconditions (nothing the run does in between changes the shard; see
    # ``Runner._steps``). None from before the step acts.
    look: Callable[[], tuple[ShardSnapshot, list[HistoryRecord]]] | None = None
    # Journals what a non-idempotent action is about to do (merged into the step's
    # intent), before it does it; None outside a run.
    intent_func: Callable[[dict[str, Any]], None] | None = None
    # The outputs a step of the journal's run of a kind recorded: (kind, step) -> outputs
    recorded_func: Callable[[str, str], Mapping[str, Any]] | None = None

    def zone(self, ref: str) -> str:
        if ref.startswith("original_"):
            return self.original.by_role(ref).zone_id
        for peer in self.original.peers:
            if ref in (peer.zone_id, peer.peer_id):
                return peer.zone_id
        raise UnexpectedTopology(
            f"{ref!r} is neither a role of the original topology nor one of its zones.",
            "Name zones by original_primary, original_sync or original_async.",
        )

    def recorded(self, kind: str, step_id: str) -> Mapping[str, Any]:
        """What the journal's run of ``kind`` recorded for ``step_id`` ({} when nothing)."""
        return {} if self.recorded_func is None else self.recorded_func(kind, step_id)

    def say(self, text: str) -> None:
        self.say_func(text)

    def seen(self, text: str) -> None:
        if self.seen_func is not None:
            self.seen_func(text)

    def record_intent(self, **fields: Any) -> None:
        """Journal ``fields`` into the current step's intent now (before acting)."""
        if self.intent_func is not None:
            self.intent_func(fields)

    def confirm(self, question: str, shown: Any, *, typed: bool = False) -> None:
        if self.confirm_func is None:
            raise NotConfirmed(
                f"Confirmation needed ({question}) but this context cannot ask; nothing "
                "was written.",
                "Run it through `migrator run`.",
            )
        self.confirm_func(question, shown, typed)


class OneLook:
    """A read made on first use and then kept: the one look at the shard that a step's
    done-checks, start hooks and preconditions share (``EngineContext.look``).

    Made on first use, so a step whose checks all ask zones reads nothing; a read that
    fails is not kept (the next check reads again, as it would have on its own). Checks
    may ask for it from several threads; the lock makes it one read.
    """

    def __init__(self, read: Callable[[], tuple[ShardSnapshot, list[HistoryRecord]]]) -> None:
        self._read = read
        self._value: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> tuple[ShardSnapshot, list[HistoryRecord]]:
        with self._lock:
            if self._value is None:
                self._value = self._read()
            return self._value
