"""A run's stop: a thread that sees the run must stop (the watchdog, the /state watch, a
wait that can no longer succeed) stops it at once, wherever the run waits.

Nothing is raised from a signal handler or into another thread. The deciding thread
``cancel``s the run's ``Cancellation`` with the error the run stops with; every wait
the run makes wakes (a thread-based wait through a waker it registers with
``waking``, a select/poll-based one through ``fileno()``, a pipe that becomes
readable) and raises that error in the run's own thread, and the runner checks it
between the phases of a step. The runner then handles it as any other failure: the
journal stays consistent and the step resumable.

The runner makes one for the run and makes it the ``current`` one for the run's
length (``active``), explicitly; code outside a run sees one that is never cancelled.
One run per process: the current one is process-wide, so the run's helper threads
(a log follower, a status sampler) see it too.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from migrator.errors import MigratorError

# A Ctrl-C a library swallowed. kazoo guards the byte that wakes its connection thread
# with a bare ``except:``, so a KeyboardInterrupt that Python's handler raises at that
# instant becomes a "connection closed", which kazoo's DataWatch ignores: the wait
# being set up then sat out its whole timeout with the Ctrl-C lost (seen under load).
# The process's SIGINT handler (``on_ctrl_c``, installed by the CLI) remembers the
# press before raising, and ``Cancellation.check`` in the main thread raises it again,
# once, for a wait or a phase of the run that begins after it was lost. Whoever
# handles the KeyboardInterrupt calls ``ctrl_c_handled``.
_CTRL_C = threading.Event()


def on_ctrl_c(_signum: int, _frame: object) -> None:
    """The SIGINT handler: Python's own (KeyboardInterrupt), remembered."""
    _CTRL_C.set()
    raise KeyboardInterrupt


def ctrl_c_pending() -> bool:
    """Whether a Ctrl-C was pressed and nobody handled it (a library swallowed it)."""
    return _CTRL_C.is_set()


def ctrl_c_handled() -> None:
    """The KeyboardInterrupt was caught by whoever acts on it: nothing to raise again."""
    _CTRL_C.clear()


class Cancellation:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._error: MigratorError | None = None
        self._wakers: list[Callable[[], None]] = []
        self._stopped = threading.Event()
        self._pipe: tuple[int, int] | None = None

    @property
    def error(self) -> MigratorError | None:
        return self._error

    def cancel(self, error: MigratorError) -> bool:
        """Stop the run with ``error``; False when it was cancelled already (the first
        reason stands)."""
        with self._lock:
            if self._error is not None:
                return False
            self._error = error
            wakers = list(self._wakers)
            if self._pipe is not None:
                with contextlib.suppress(OSError):
                    os.write(self._pipe[1], b"x")
        self._stopped.set()
        for wake in wakers:
            with contextlib.suppress(Exception):  # a waker must not keep the others asleep
                wake()
        return True

    def withdraw(self, error: MigratorError) -> None:
        """Take back a stop that ``error`` made and that nobody has raised (its wait
        ended on its own first): the run goes on."""
        with self._lock:
            if self._error is not error:
                return
            self._error = None
            self._stopped.clear()
            if self._pipe is not None:
                os.set_blocking(self._pipe[0], False)
                with contextlib.suppress(BlockingIOError, OSError):
                    while os.read(self._pipe[0], 64):
                        pass

    def check(self) -> None:
        """Raise the run's stop, if it has one; in the main thread, first a Ctrl-C that
        was pressed and not handled (see ``on_ctrl_c``)."""
        if _CTRL_C.is_set() and threading.current_thread() is threading.main_thread():
            _CTRL_C.clear()
            raise KeyboardInterrupt
        if self._error is not None:
            raise self._error

    def wait(self, timeout: float) -> None:
        """Sleep ``timeout`` seconds unless the run stops first (then raise its stop)."""
        self._stopped.wait(max(timeout, 0.0))
        self.check()

    def fileno(self) -> int:
        """A file descriptor that becomes readable when the run stops (for select/poll)."""
        with self._lock:
            if self._pipe is None:
                self._pipe = os.pipe()
                if self._error is not None:
                    os.write(self._pipe[1], b"x")
            return self._pipe[0]

    @contextmanager
    def waking(self, wake: Callable[[], None]) -> Iterator[None]:
        """Within the block, ``wake()`` is called when the run stops (a thread-based wait
        registers what notifies it); called at once when it has stopped already."""
        with self._lock:
            self._wakers.append(wake)
            stopped = self._error is not None
        if stopped:
            wake()
        try:
            yield
        finally:
            with self._lock:
                self._wakers.remove(wake)

    def close(self) -> None:
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)


_NEVER = Cancellation()  # outside a run: never cancelled
_current = _NEVER


def current() -> Cancellation:
    """The running run's cancellation, or one that never stops."""
    return _current


@contextmanager
def active(cancellation: Cancellation) -> Iterator[Cancellation]:
    """Make ``cancellation`` the current one for the block (the runner, for a run)."""
    global _current
    previous, _current = _current, cancellation
    try:
        yield cancellation
    finally:
        _current = previous
        cancellation.close()
