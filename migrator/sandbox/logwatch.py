"""Wait for a line or a bunyan record in a local file by following it live (``tail -F``).

Used by the rehearsal and the sandbox tests: the whole log is read from its
start, then new lines as they are written (tail uses inotify), until a record
matches or the deadline passes. Records older than ``since`` (an ISO time as
bunyan writes it) are skipped, so a wait can ask for "after the reprovision
started".
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def read_records(path: Path) -> list[Record]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def wait_for_line(path: Path, predicate: Callable[[str], bool], timeout: float) -> str | None:
    """The first line of ``path`` (from its start, then as it is written) that matches,
    or None when none does within ``timeout`` seconds."""
    tail = subprocess.Popen(
        ["tail", "-n", "+1", "-F", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    assert tail.stdout is not None
    fd = tail.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    pending = b""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                if predicate(text):
                    return text
    finally:
        selector.close()
        tail.kill()
        tail.wait(timeout=5)
        tail.stdout.close()


def wait_for_record(
    path: Path, predicate: Callable[[Record], bool], timeout: float, since: str | None = None
) -> Record | None:
    found: list[Record] = []

    def matches(line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        if not isinstance(record, dict):
            return False
        if since is not None and str(record.get("time", "")) < since:
            return False
        if predicate(record):
            found.append(record)
            return True
        return False

    return found[0] if wait_for_line(path, matches, timeout) is not None else None


def role_record(role: str) -> Callable[[Record], bool]:
    return lambda r: r.get("msg") == "assuming role" and r.get("role") == role
