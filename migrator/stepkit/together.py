"""Independent looks made at the same time: read-only checks or reads that each wait
for a round trip (a zone's answer, ZooKeeper's) cost one round trip together instead
of one each, which is what an operator feels at datacenter distance."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


def side_by_side(calls: Sequence[Callable[[], T]], name: str) -> list[T | BaseException]:
    """Run every call at once, the first in the caller's thread and each other in a
    thread of its own, and return their results in the order given, with what a call
    raised in its place (the caller decides, in that order, what it means).

    Only for calls that change nothing: all of them run even when an earlier one fails,
    so the caller's verdict must not depend on which finished first. A single call runs
    in the caller's thread alone. What a call raises beyond ``Exception`` in the
    caller's thread (Ctrl-C) is raised at once.
    """
    results: dict[int, T | BaseException] = {}

    def one(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:  # handed to the caller, in the caller's thread
            results[index] = exc
        except BaseException as exc:
            if index == 0:
                raise  # Ctrl-C in the caller's thread: the caller's, as it comes
            results[index] = exc

    workers = [threading.Thread(target=one, args=(i,), name=f"{name}-{i}", daemon=True)
               for i in range(1, len(calls))]
    for worker in workers:
        worker.start()
    if calls:
        one(0)
    for worker in workers:
        worker.join()
    return [results[i] for i in range(len(calls))]


def both(first: Callable[[], A], second: Callable[[], B], name: str) -> tuple[A, B]:
    """``first()`` and ``second()`` at once (``side_by_side``), for two reads that each
    wait for a round trip; what the first raised is raised, else what the second did."""
    results: list[object] = side_by_side([first, second], name)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results[0], results[1]  # type: ignore[return-value]
