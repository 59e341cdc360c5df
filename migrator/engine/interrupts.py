"""Hold Ctrl-C back for the length of a journal write.

A KeyboardInterrupt raised inside kazoo's wait for a ``set`` reply leaves the
write done in ZooKeeper but unrecorded here (the version we hold goes stale),
so the follow-up "interrupted" stamp would then be refused as a conflict. A
write takes milliseconds, so we defer the signal until it returns and raise it
right after: the journal always reflects what happened. When the handler in
place is not Python's default (the runner's patient handler during a
reprovision: the first Ctrl-C lets the action finish), the deferred signal is
handed to it instead of being raised.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def sigint_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous: Any = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous) and previous is not signal.default_int_handler:
                previous(signal.SIGINT, None)
            else:
                raise KeyboardInterrupt
