"""Bounded waits for tests: on the thing that must happen, never a fixed sleep.

``line_in`` follows a file (``tail -F``: inotify, and it survives the file being
replaced; ``migrator.sandbox.logwatch``), so a test wakes when the line is written.
``until`` is for states nothing notifies of (the process table, a server's own view of
replication): it looks again every few milliseconds until the state holds, and fails
the test naming what it waited for when the bound passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def until(condition: Callable[[], T], timeout: float, what: str, every: float = 0.01) -> T:
    """The first truthy value of ``condition()`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)


def line_in(path: Path, predicate: Callable[[str], bool], timeout: float) -> str | None:
    """The first line of ``path`` (from its start, then as written) that matches, or None
    when none does within ``timeout`` seconds."""
    from migrator.sandbox.logwatch import wait_for_line

    return wait_for_line(path, predicate, timeout)
