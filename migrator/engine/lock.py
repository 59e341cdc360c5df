"""One operator at a time: a kazoo Lock under ``/manatee-migrator/<shard>/lock``.

The lock is taken without blocking, so a second operator is refused at once,
told who holds it (the identifier is ``user@host pid N``). One exception: when
every holder names this host and a process that no longer exists (a migrator
killed by SIGKILL), its node is stale (it only lingers until its ZooKeeper
session expires), so we remove it and say so: ``resume`` right after a crash
just works. The lock's znode is
ephemeral: a migrator that dies releases it when its session expires.
``break_lock`` deletes the holder's znode; the CLI asks before calling it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from migrator.engine.journal_store import JOURNAL_ROOT, journal_root
from migrator.errors import Refused

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def is_dead_local_holder(identity: str) -> bool:
    """``user@host pid N`` naming this host and a process that no longer exists."""
    import os
    import socket

    head, _, pid = identity.rpartition(" pid ")
    host = head.rpartition("@")[2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LockHeld(Refused):
    """Another migrator holds the shard's run lock."""


def lock_path(shard: str, root: str = JOURNAL_ROOT) -> str:
    return f"{journal_root(shard, root)}/lock"


class RunLock:
    def __init__(self, client: KazooClient, shard: str, identity: str,
                 root: str = JOURNAL_ROOT, on_wait: Callable[[str], None] | None = None) -> None:
        from kazoo.recipe.lock import Lock

        self.shard = shard
        self.path = lock_path(shard, root)
        self.identity = identity
        self.on_wait = on_wait
        self._client = client
        self.root = root
        self._lock: Any = Lock(client, self.path, identifier=identity)

    def acquire(self) -> None:
        if self._lock.acquire(blocking=False):
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

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def holders(client: KazooClient, shard: str, root: str = JOURNAL_ROOT) -> list[str]:
    from kazoo.recipe.lock import Lock

    return list(Lock(client, lock_path(shard, root)).contenders())


def break_lock(client: KazooClient, shard: str, root: str = JOURNAL_ROOT,
               only: set[str] | None = None) -> list[str]:
    """Delete every contender node (or those whose identity is in ``only``); returns the
    identities removed."""
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
