"""A compute node's outage lock: an exclusive ``flock`` on ``DIR/<node>.lock``.

A fleet's shards whose zones share a compute node take turns in their write-outage
steps (``RunOptions.outage_locks``; docs/fleet.md). The holder writes who it is into
the file, so a waiting run can say whom it waits for.

Waiting is event-driven: ``flock`` has no timeout and cannot be woken, so a helper
thread blocks in it on a duplicate of the file descriptor (a flock belongs to the open
file, which both descriptors share) and wakes the caller the moment the lock is
granted; the run's stop (``Cancellation``), Ctrl-C and the timeout end the wait beside
it. A helper whose caller gave up releases the lock as soon as it is granted, so an
abandoned wait never holds a node.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from migrator.cancellation import Cancellation


def try_lock(fd: int) -> bool:
    """Take the exclusive lock if it is free; False when another open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it ("" when unknown)."""
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""


def mark_held(fd: int, who: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, who.encode("utf-8", "replace"), 0)


def release(fd: int) -> None:
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)


def wait_lock(fd: int, stop: Cancellation, timeout: float) -> bool:
    """Take the exclusive lock on ``fd``, waiting up to ``timeout`` seconds for it.

    True once held; False when the timeout passed first. The run's stop is raised
    (``stop.check()``), and Ctrl-C propagates, as soon as either comes.
    """
    woken = threading.Event()
    decided = threading.Lock()
    outcome = {"granted": False, "abandoned": False}
    waiter = os.dup(fd)

    def take() -> None:
        try:
            fcntl.flock(waiter, fcntl.LOCK_EX)
            with decided:
                if outcome["abandoned"]:
                    fcntl.flock(waiter, fcntl.LOCK_UN)
                else:
                    outcome["granted"] = True
        finally:
            os.close(waiter)
            woken.set()

    threading.Thread(target=take, name="outage-lock", daemon=True).start()
    try:
        with stop.waking(woken.set):
            woken.wait(timeout)
        stop.check()
    finally:
        with decided:
            # granted but given up on (stopped, Ctrl-C): the caller's descriptor holds
            # the lock until it is closed, which the caller's cleanup does
            if not outcome["granted"]:
                outcome["abandoned"] = True
    return outcome["granted"]
