"""The context a check or action is handed, as steps see it (the engine's
``migrator.engine.context.EngineContext`` provides it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from migrator.cluster.history import HistoryRecord
from migrator.cluster.original import OriginalTopology
from migrator.cluster.shard import ShardSnapshot
from migrator.errors import UnexpectedTopology
from migrator.zk import reads
from migrator.zk.faults import guarded


class StepContext(Protocol):
    """What the runner hands to checks and actions.

    ``zk`` is a connected kazoo client; ``remote`` gives zone access (SSH) and
    may be None when the run has no inventory zones; ``marks`` is per-step
    scratch persisted in the journal (e.g. log offsets recorded at step start).
    """

    shard: str
    zk: Any
    inventory: Any
    remote: Any
    marks: dict[str, Any]

    def zone(self, ref: str) -> str:
        """Resolve a role of the original topology (``original_async``) or a zone name."""
        ...

    def say(self, text: str) -> None: ...

    def seen(self, text: str) -> None:
        """The latest thing an action under way saw (shown on its live line)."""
        ...

    def recorded(self, kind: str, step_id: str) -> Mapping[str, Any]:
        """What the journal's run of ``kind`` (migration or rollback) recorded as the
        outputs of ``step_id`` ({} when nothing)."""
        ...

    def confirm(self, question: str, shown: Any, *, typed: bool = False) -> None:
        """Show ``shown`` and ask; raise ``NotConfirmed`` when declined."""
        ...


def original_of(ctx: Any) -> OriginalTopology:
    """The original topology of a context that carries one (the engine's always does)."""
    original = getattr(ctx, "original", None)
    if not isinstance(original, OriginalTopology):
        raise UnexpectedTopology(
            "This check needs the original topology, which only the engine provides.",
            "Run it from a playbook through `migrator run`.",
        )
    return original


def shard_view(ctx: Any) -> tuple[ShardSnapshot, list[HistoryRecord]] | None:
    """The engine's one read of the shard for the moment, if the context carries one:
    ``view`` (all the done-checks of a plan), else ``look`` (a step's done-checks, start
    hooks and preconditions, read on first use); None: the caller reads for itself."""
    view: tuple[ShardSnapshot, list[HistoryRecord]] | None = getattr(ctx, "view", None)
    if view is not None:
        return view
    look: Callable[[], tuple[ShardSnapshot, list[HistoryRecord]]] | None = getattr(
        ctx, "look", None)
    return None if look is None else look()


def read_shard(ctx: Any) -> ShardSnapshot:
    """The shard as ZooKeeper holds it now, read afresh. A read is always safe to make
    again, so one met by a lost connection waits for the reconnect and reads again, as
    every call of the run does (``migrator.zk.faults``): an action that is not safe to
    run twice (a reprovision) must not be failed, or retried whole, for its reads."""
    return guarded(ctx.zk, "reading the shard", lambda: reads.read_shard(ctx.zk, ctx.shard))
