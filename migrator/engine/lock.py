"""One operator at a time: a kazoo Lock under ``/manatee-migrator/<shard>/lock``.

The lock is taken without blocking, so a second operator is refused at once,
told who holds it (the identifier is ``user@host pid N``). One exception: when
every holder names this host and a process that no longer exists (a migrator
killed by SIGKILL), its node is stale (it only lingers until its ZooKeeper
session expires), so we remove it and say so: ``resume`` right after a crash
just works. The lock's znode is
ephemeral: a migrator that dies releases it when its session expires.
``break_lock`` deletes the holder's znode; the CLI asks before calling it, and
refuses outright when the holder runs on this machine and is alive
(``break_decision``).

Reading who holds the lock (``read_holders``) writes nothing: kazoo's own
``contenders()`` creates the lock's parent node, and a run refused before its
first change must leave ZooKeeper exactly as it found it.

When the run's ZooKeeper session expires, its lock node goes with it;
``RunLock.retake`` takes it again in the new session, only if nobody else has
taken it meanwhile.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.engine.journal_znode import JOURNAL_ROOT, journal_root
from migrator.errors import Refused
from migrator.zk.faults import SessionLost, is_fault

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def local_pid(identity: str) -> int | None:
    """The pid of ``user@host pid N`` when ``host`` is this machine, else None."""
    head, _, pid = identity.rpartition(" pid ")
    host = head.rpartition("@")[2]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return int(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def is_dead_local_holder(identity: str) -> bool:
    """``user@host pid N`` naming this host and a process that no longer exists."""
    pid = local_pid(identity)
    return pid is not None and not pid_alive(pid)


@dataclass(frozen=True)
class LockHolder:
    """One contender node under the lock: who, and since when its session has existed."""

    identity: str
    node: str
    session: int  # the node's ephemeralOwner: the holder's ZooKeeper session id
    created_ms: int  # the node's ctime, milliseconds since the epoch


def read_holders(client: KazooClient, shard: str, root: str = JOURNAL_ROOT) -> list[LockHolder]:
    """The lock's contender nodes, oldest first (the first holds the lock); reads only."""
    return holders_from(client, shard, client.get_children_async(lock_path(shard, root)),
                        root)


def holders_from(client: KazooClient, shard: str, children_result: Any,
                 root: str = JOURNAL_ROOT) -> list[LockHolder]:
    """``read_holders`` from a listing of the lock's node already asked for (so a caller
    can pipeline it with its other reads); the contenders' nodes are read together."""
    return holders_of(holder_reads(client, shard, children_result, root))


def holder_reads(client: KazooClient, shard: str, children_result: Any,
                 root: str = JOURNAL_ROOT) -> list[tuple[str, str, Any]]:
    """The first half of ``holders_from``: the contenders' nodes asked for, not waited on
    (sequence number, node name, the pending read)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    path = lock_path(shard, root)
    try:
        children = children_result.get()
    except NoNodeError:
        return []
    pending = []
    for child in children:
        sequence = re.search(r"(\d{10})$", child)
        if sequence is not None:
            pending.append((sequence.group(1), child, client.get_async(f"{path}/{child}")))
    return pending


def holders_of(pending: list[tuple[str, str, Any]]) -> list[LockHolder]:
    """The second half of ``holders_from``: the answers, oldest contender first."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    found: list[tuple[str, LockHolder]] = []
    for sequence_number, child, result in pending:
        try:
            data, stat = result.get()
        except NoNodeError:
            continue
        found.append((sequence_number, LockHolder(
            (data or b"").decode("utf-8", "replace"), child, int(stat.ephemeralOwner),
            int(stat.ctime))))
    return [holder for _, holder in sorted(found, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class BreakDecision:
    """Whether ``--break-lock`` may go on, and what to tell the operator first."""

    allowed: bool
    lines: list[str]


def break_decision(holders: list[LockHolder], now_ms: int,
                   alive: Callable[[str], int | None]) -> BreakDecision:
    """Pure: ``alive(identity)`` gives the pid of a holder running on this machine and
    alive, else None. Such a holder is refused; any other is described with how long
    its ZooKeeper session has existed (from its lock node's creation)."""
    lines: list[str] = []
    for holder in holders:
        pid = alive(holder.identity)
        if pid is not None:
            return BreakDecision(False, [
                f"The lock is held by {holder.identity}, which runs on this machine and is "
                f"alive (pid {pid}): it is not dead, and breaking its lock would let two "
                "migrators write to the shard at once."])
        age = max(now_ms - holder.created_ms, 0) / 1000.0
        lines.append(f"{holder.identity} holds lock node {holder.node} in ZooKeeper session "
                     f"0x{holder.session:x}, which has existed for at least {_age(age)} "
                     "(its node's creation); a dead holder's session ends by itself after "
                     "the session timeout.")
    return BreakDecision(True, lines)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class LockHeld(Refused):
    """Another migrator holds the shard's run lock."""


def lock_path(shard: str, root: str = JOURNAL_ROOT) -> str:
    return f"{journal_root(shard, root)}/lock"


class RunLock:
    def __init__(self, client: KazooClient, shard: str, identity: str,
                 root: str = JOURNAL_ROOT, on_wait: Callable[[str], None] | None = None,
                 label: str | None = None) -> None:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.recipe.lock import Lock

        self.shard = shard
        self.path = lock_path(shard, root)
        self.identity = identity
        self.on_wait = on_wait
        # what the messages call this lock (a fleet's lock is this code too)
        self.label = label or f"the run lock of shard {shard}"
        self._client = client
        self.root = root
        self._lock: Any = Lock(client, self.path, identifier=identity)

    def acquire(self) -> None:
        # here, not at the top: a plan reads the lock's holders and writes nothing, and
        # does not load the write module (docs/design.md, "Libraries")
        from migrator.zk.writes import send_path, settle_path

        # The lock's folders are asked to be made, and the lock's own node right behind
        # them without waiting (ZooKeeper applies a session's requests in the order sent,
        # so the node finds its folder): a round trip less at datacenter distance.
        folders = send_path(self._client, self.path)
        self._lock.assured_path = True  # the recipe's own ensure_path: one call per level
        try:
            acquired = self._lock.acquire(blocking=False)
        except Exception:
            settle_path(folders)  # a folder that could not be made says why, first
            raise
        try:
            settle_path(folders)
        except Exception:
            if acquired:  # not left held by a run that does not begin
                self._lock.release()
            raise
        if acquired:
            return
        holders = [h for h in self._lock.contenders() if h != self.identity]
        who = holders[0] if holders else "another migrator"
        if holders and all(is_dead_local_holder(h) for h in holders):
            # a migrator on this machine that no longer exists (SIGKILL, crash) cannot be
            # holding anything: remove its node now instead of waiting out its session
            if self.on_wait is not None:
                self.on_wait(f"The lock was held by {who}, which no longer runs on this "
                             "machine; removing its stale lock node.")
            break_lock(self._client, self.shard, self.root, only=set(holders))
            if self._lock.acquire(blocking=False):
                return
        raise LockHeld(
            f"Shard {self.shard} is being migrated by {who} (lock {self.path}); "
            "nothing was done.",
            "Wait for that run to finish, or ask its operator. If that migrator is "
            "surely dead, `migrator run --break-lock` removes the lock after asking.",
        )

    def retake(self) -> None:
        """In a new session (the old one expired with our node): take the lock again
        only if nobody else holds it; otherwise ``SessionLost`` naming the holder."""
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.recipe.lock import Lock

        others = [h for h in read_holders(self._client, self.shard, self.root)
                  if h.identity != self.identity]
        if not others:
            self._lock = Lock(self._client, self.path, identifier=self.identity)
            if self._lock.acquire(blocking=False):
                if self.on_wait is not None:
                    self.on_wait(f"Re-took {self.label} in the new session.")
                return
            others = [h for h in read_holders(self._client, self.shard, self.root)
                      if h.identity != self.identity]
        who = others[0].identity if others else "another migrator"
        raise SessionLost(
            f"This run's ZooKeeper session expired, and meanwhile {who} took the run lock of "
            f"shard {self.shard}; this run stopped without writing more.",
            "Let that run finish (or ask its operator); then look with `migrator plan` and "
            "`migrator resume` from one machine only.",
        )

    def release(self) -> None:
        try:
            self._lock.release()
        except Exception as exc:
            if not is_fault(exc):
                raise
            # ZooKeeper unreachable: the ephemeral node goes with our session anyway

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def holders(client: KazooClient, shard: str, root: str = JOURNAL_ROOT) -> list[str]:
    """The identities of the lock's contenders, oldest first (reads only)."""
    return [h.identity for h in read_holders(client, shard, root)]


def break_lock(client: KazooClient, shard: str, root: str = JOURNAL_ROOT,
               only: set[str] | None = None) -> list[str]:
    """Delete every contender node (or those whose identity is in ``only``); returns the
    identities removed."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    path = lock_path(shard, root)
    removed: list[str] = []
    try:
        children = client.get_children(path)
    except NoNodeError:
        return removed
    for child in children:
        try:
            data, _ = client.get(f"{path}/{child}")
            identity = data.decode("utf-8", "replace")
            if only is not None and identity not in only:
                continue
            client.delete(f"{path}/{child}")
            removed.append(identity)
        except NoNodeError:
            continue
    return removed
