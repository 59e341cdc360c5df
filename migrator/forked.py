"""A function run in a child forked from this process, its result read when needed.

Python threads share one interpreter lock, so work that is partly CPU (paramiko's
handshakes and packet handling) slows a thread that is importing modules by more
than the work itself costs: on the two-core machine the benchmarks run on,
three background SSH handshakes made importing the engine take 60-75 ms instead
of 35. A forked child runs beside this process instead, and needs no imports of
its own beyond what it uses.

Forking is done only where it is safe and cheap: on Linux, and while this
process has a single thread (a fork copies only the calling thread, so a lock
another thread held would stay locked in the child forever). Elsewhere
``Forked.possible()`` is false and the caller does the work in-process.

The child's standard streams are /dev/null (its output would interleave with
the command's), it dies of the first Ctrl-C like any process in the terminal's
foreground group, and it ends with ``os._exit`` (no atexit handlers, and the
parent's unflushed output is not written twice). Its result, or the text of the
exception it raised, comes back pickled through a pipe: both sides run the same
code, so nothing foreign is ever unpickled. ``close()`` (also on Ctrl-C or an
error) kills and reaps a child still running; if the command itself is killed,
the child ends when its work (bounded by its own timeouts) is done and its
answer finds the pipe closed.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from migrator.errors import MigratorError


class ForkFailed(MigratorError):
    """The child gave no result: it raised, died, or took longer than allowed."""


class Forked:
    """``function(*args)`` running in a child process from construction on."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            _child(function, args, write_end)
        os.close(write_end)
        self._pid: int | None = pid
        self._fd: int | None = read_end
        self._chunks: list[bytes] = []

    @staticmethod
    def possible() -> bool:
        return sys.platform.startswith("linux") and threading.active_count() == 1

    def result(self, timeout: float) -> Any:
        """The child's return value. ``ForkFailed`` when it raised or died, or (the
        child killed) when it has not answered within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while self._fd is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ForkFailed(f"The helper process gave no answer within {timeout:g} s.")
                ready, _, _ = select.select([self._fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(self._fd, 1 << 16)
                if chunk:
                    self._chunks.append(chunk)
                    continue
                os.close(self._fd)
                self._fd = None
        finally:
            self.close()
        try:
            outcome, value = pickle.loads(b"".join(self._chunks))
        except Exception as exc:  # it died before writing all of it
            raise ForkFailed(f"The helper process ended without an answer ({exc}).") from None
        if outcome != "ok":
            raise ForkFailed(f"The helper process failed: {value}")
        return value

    def close(self) -> None:
        """Stop the child if it still runs, and reap it (it is killed, so this is quick)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._pid is not None:
            pid, self._pid = self._pid, None
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def _child(function: Callable[..., Any], args: tuple[Any, ...], write_end: int) -> None:
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            payload = pickle.dumps(("ok", function(*args)))
        except BaseException as exc:  # reported to the parent, which decides what to do
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view):]
    except BaseException:
        status = 1
    finally:
        os._exit(status)
