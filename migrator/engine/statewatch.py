"""A running migration watches /state: a write it did not make stops the run.

During ``migrator run``/``resume`` a data watch (``migrator.zk.datawatch``) follows
``/manatee/<shard>/state`` (a watch, not polling). Each new content is judged
by ``foreign_change`` (pure) against the previous one and against the writes
this run made (``migrator.zk.writes.ours``):

* the run's own writes (the exact bytes it committed) are not alarms;
* the manatee peers write /state too (a takeover's new generation, the primary
  adding or dropping an async, a deposed peer): changes to the topology, the
  generation or ``initWal`` are theirs, and are not alarms;
* what only an operator or a tool writes is an alarm: /state created or
  deleted, the freeze set, removed or changed, ``oneNodeWriteMode`` changed,
  or content that is not a cluster state at all. A hand-run
  ``migrator unfreeze`` or ``manatee-adm freeze`` during a run is exactly that:
  the run stops, says what changed, and can be resumed once the operator has
  decided (exit 3, ``ForeignWrite``).

Stopping: the watch's callback (kazoo's thread) stops the run with
``ForeignWrite`` (``migrator.cancellation``): the run's wait raises it, the way the
watchdog stops a run (the runner then leaves the journal consistent and the step
resumable).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from migrator.cancellation import Cancellation
from migrator.cluster.state import describe_freeze, parse_state
from migrator.errors import MigratorError, Refused
from migrator.zk import paths, writes


class ForeignWrite(Refused):
    """Someone else wrote the shard's /state during the run."""


def _describe(raw: bytes | None) -> tuple[Any, str | None]:
    """The parsed state (or None), or an error sentence when it is not a state."""
    if raw is None:
        return None, None

    try:
        return parse_state(raw, "/state"), None
    except MigratorError as exc:
        return None, exc.message


def foreign_change(before: bytes | None, after: bytes | None,
                   ours: Collection[bytes | None]) -> str | None:
    """Pure: what an operator (not this run, not a peer) changed, or None.

    A watch reports the content when it fires, not every version in between: our
    write and a peer's change right after it (an unfreeze, then the takeover's new
    generation) can arrive as one change. So a change is also ours-then-a-peer's
    when one of our writes leads to ``after`` by a peer's change alone.
    """
    if after == before or after in ours:
        return None
    direct = _operator_change(before, after, ours)
    if direct is None:
        return None
    if any(mine != before and mine is not None and _operator_change(mine, after, ours) is None
           for mine in ours):
        return None
    return direct


def _operator_change(before: bytes | None, after: bytes | None,
                     ours: Collection[bytes | None]) -> str | None:
    if after is None:
        return "/state was deleted" if None not in ours else None
    new, problem = _describe(after)
    if problem is not None:
        return f"/state was overwritten with something that is not a cluster state ({problem})"
    if before is None:
        return (f"/state was created (generation {new.generation}"
                + (f", frozen {describe_freeze(new.freeze)}" if new.freeze else "") + ")")
    old, _ = _describe(before)
    if old is None:
        return None  # the earlier content was not a state: nothing to compare with
    if (old.freeze is None) != (new.freeze is None):
        return ("the shard was frozen (" + describe_freeze(new.freeze) + ")"
                if new.freeze is not None else
                "the shard was unfrozen (it was frozen " + describe_freeze(old.freeze) + ")")
    if old.freeze is not None and new.freeze is not None and \
            old.document.get("freeze") != new.document.get("freeze"):
        return f"the freeze was changed to {describe_freeze(new.freeze)}"
    if old.one_node_write_mode != new.one_node_write_mode:
        return ("oneNodeWriteMode was " + ("set" if new.one_node_write_mode else "removed"))
    return None  # the peers' own changes (topology, generation, initWal)


@contextmanager
def watching(client: Any, shard: str, say: Any, resume_command: str,
             run: Cancellation) -> Iterator[None]:
    """Watch /state for the block; a foreign write stops ``run`` (``ForeignWrite``)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from migrator.zk.datawatch import OneRoundDataWatch

    stopped = threading.Event()
    seen: list[bytes | None] = []
    raised: list[str] = []

    def changed(data: bytes | None, _stat: Any) -> bool:
        if stopped.is_set():
            return False
        if not seen:
            seen.append(data)  # the content when the run began watching
            return True
        before, seen[0] = seen[0], data
        what = foreign_change(before, data, writes.ours(client, shard))
        if what is None or raised:
            return True
        raised.append(what)
        error = ForeignWrite(
            f"Someone else wrote the /state of shard {shard} during this run: {what}. "
            "The migrator did not make that write, so the shard is no longer where the run "
            "left it; the run stopped, and nothing more was done.",
            f"Find out who changed it and why (`migrator state`, `migrator history`); when "
            f"the shard is as it should be, run `{resume_command}`.",
        )
        with contextlib.suppress(Exception):  # the alarm matters more than its message
            say(f"  ALARM: /state changed by someone else: {what}")
        run.cancel(error)
        return False

    # one round trip while /state is absent, where kazoo's DataWatch takes two
    OneRoundDataWatch(client, paths.state_path(shard), changed)
    try:
        yield
    finally:
        stopped.set()
