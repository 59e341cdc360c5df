"""Stop the run's main thread from another thread, with a typed error.

The /state watch (``statewatch``) and the hopeless-wait guard (``waits``) see
trouble in their own threads while the main thread is blocked in a wait. They
call ``stop_main(error)``: the error is queued and SIGUSR2 sent to the main
thread, whose handler raises it there, so the runner handles it as any other
failure (journal consistent, step resumable). The handler stays installed once
set: a signal arriving just after the waiter has gone finds nothing queued,
never SIGUSR2's default action (ending the process). A waiter ``drop``s the
errors it queued and that were not raised when its wait ends.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from migrator.errors import MigratorError

_LOCK = threading.Lock()
_PENDING: list[MigratorError] = []
_INSTALLED = False


def _handler(_signum: int, _frame: Any) -> None:
    with _LOCK:
        error = _PENDING.pop(0) if _PENDING else None
    if error is not None:
        raise error


def install() -> bool:
    """Install the handler (main thread only); False when it cannot be installed."""
    global _INSTALLED
    if threading.current_thread() is not threading.main_thread():
        return _INSTALLED
    signal.signal(signal.SIGUSR2, _handler)
    _INSTALLED = True
    return True


def stop_main(error: MigratorError) -> None:
    """Raise ``error`` in the main thread (at its next bytecode, or in its blocking wait)."""
    with _LOCK:
        if not _INSTALLED:
            return
        _PENDING.append(error)
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR2)


def drop(error: MigratorError) -> None:
    with _LOCK:
        if error in _PENDING:
            _PENDING.remove(error)

