"""ZooKeeper faults during a run: pause on a lost connection, carry on after an expiry.

A migration lasts long enough to meet a ZooKeeper server pausing (GC, SIGSTOP),
restarting, or expiring the migrator's session. None of these is a bug, and
none may end a run with a traceback. ``SessionGuard`` (one per kazoo client,
``guard_for``) follows kazoo's connection states and serves every ZooKeeper
call the engine makes through ``call``. The decisions:

* **Connection lost** (kazoo ``SUSPENDED``): kazoo reconnects on its own. A call
  failing with ``ConnectionLoss`` (or an operation timeout) pauses the run: the
  guard says so, waits for the reconnect for at most twice the session timeout
  counted from the loss (``reconnect_bound``: the session's own life, then one
  more of kazoo's connection attempts, which a server still starting up can
  hold for up to a session timeout before kazoo learns the session expired and
  opens a new one; past that, the server cannot be reached at all), then calls
  again. Waits on the cluster keep
  their deadline: the pause counts as time waited, and a wait whose deadline
  passed during the pause looks once more before it gives up, so a change made
  meanwhile is still seen. No reconnect in time: ``ZooKeeperLost`` (exit 2,
  with the resume command); the journal holds its last consistent version.
* **Session expired** (``LOST``, then connected under a new session id): the
  old session's ephemeral nodes (the run lock) are gone. The hooks the run
  registered (``on_new_session``) run once, before any further call: re-take
  the lock only if nobody else holds it, check that the journal is still the
  version this run wrote; either refusing stops the run (``SessionLost``, exit
  2, with the resume command) and fences the guard, so that nothing more is
  written with a lock this run no longer holds.
* **A write in flight** when the connection drops may or may not have been
  applied. Writes are conditional, so the retry of a write first compares what
  is stored (``JournalStore.save``; the step actions re-read the shard and
  write only what is still missing): found already done, never doubled.

Calls are retried at most ``MAX_ATTEMPTS`` times, so a server that accepts
connections but never answers still ends the run with a message.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from migrator import cancellation
from migrator.errors import EXIT_BAD_INPUT, MigratorError

T = TypeVar("T")
MAX_ATTEMPTS = 20
RECONNECT_MARGIN = 1.0  # seconds beyond the bound, for kazoo's retry delay


class ZooKeeperLost(MigratorError):
    """ZooKeeper did not come back within twice the session timeout."""

    exit_status = EXIT_BAD_INPUT


class SessionLost(MigratorError):
    """The session expired and the run could not safely carry on in a new one."""

    exit_status = EXIT_BAD_INPUT


def _fault_types() -> tuple[type[Exception], ...]:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import ConnectionLoss, OperationTimeoutError, SessionExpiredError

    return (ConnectionLoss, OperationTimeoutError, SessionExpiredError)


def is_fault(exc: BaseException) -> bool:
    """A kazoo error that says the connection or the session failed (not a refusal)."""
    try:
        return isinstance(exc, _fault_types())
    except ImportError:  # pragma: no cover - kazoo is a dependency
        return False


def client_closed(client: Any) -> bool:
    """kazoo's client was stopped by us (not merely disconnected)."""
    stopped = getattr(client, "_stopped", None)
    return bool(stopped is not None and stopped.is_set())


class SessionGuard:
    """Follows one kazoo client's connection; see the module docstring."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._cond = threading.Condition()
        self.connected = bool(getattr(client, "connected", False))
        self.lost_since: float | None = None if self.connected else time.monotonic()
        self.session_id = self._current_session()
        self.hooks: list[Callable[[], None]] = []
        self.say: Callable[[str], None] = lambda _text: None
        self.resume_command = "migrator resume"
        self.fenced: MigratorError | None = None
        self.gave_up = False
        self.pauses: list[float] = []  # seconds paused, one entry per reconnect
        self._handling = threading.Lock()
        client.add_listener(self._listen)

    # ---- kazoo's thread ------------------------------------------------------------

    def _listen(self, state: str) -> bool:
        now = time.monotonic()
        with self._cond:
            was_lost = self.lost_since
            if state == "CONNECTED":
                self.connected = True
                self.gave_up = False
                self.lost_since = None
            else:  # SUSPENDED or LOST
                self.connected = False
                if self.lost_since is None:
                    self.lost_since = now
            self._cond.notify_all()
        # said here, in kazoo's thread, so that a pause is reported even while the run is
        # busy elsewhere (a wait on a zone's log) and never calls ZooKeeper meanwhile
        if state != "CONNECTED" and was_lost is None:
            self._say(f"ZooKeeper connection lost: ZooKeeper work is paused until it comes "
                      f"back (waiting up to {self.reconnect_bound:.0f} s, twice the "
                      "session timeout).")
        elif state == "LOST":
            self._say("ZooKeeper expired this run's session; a new one is being opened.")
        elif state == "CONNECTED" and was_lost is not None:
            paused = now - was_lost
            self.pauses.append(paused)
            same = self._current_session() == self.session_id
            self._say(f"ZooKeeper is back after a pause of {paused:.1f} s "
                      f"({'same session' if same else 'a new session'}); going on.")
        if state == "CONNECTED" and self._current_session() != self.session_id:
            # re-take the lock at once rather than at the next call, which may be an
            # hour away (a reprovision); never in kazoo's own thread
            threading.Thread(target=self._new_session_quietly, name="zk-new-session",
                             daemon=True).start()
        return False  # keep listening

    def _current_session(self) -> int | None:
        client_id = getattr(self.client, "client_id", None)
        return int(client_id[0]) if client_id else None

    # ---- callers' threads ----------------------------------------------------------

    @property
    def session_timeout(self) -> float:
        negotiated = getattr(self.client, "_session_timeout", None)
        if isinstance(negotiated, int | float) and negotiated > 0:
            return float(negotiated) / 1000.0
        return float(getattr(self.client, "_timeout", 10.0) or 10.0)

    @property
    def reconnect_bound(self) -> float:
        """How long after a loss the run waits for ZooKeeper before it stops (see the
        module docstring)."""
        return 2.0 * self.session_timeout + RECONNECT_MARGIN

    def wait_connected(self, what: str) -> float:
        """Block until connected again; the seconds paused, or ``ZooKeeperLost``."""
        started = time.monotonic()
        with self._cond:
            if self.connected:
                return 0.0
            since = self.lost_since if self.lost_since is not None else started
            deadline = since + self.reconnect_bound
            run = cancellation.current()
            with run.waking(self._notify):
                while not self.connected and not self.gave_up:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                    run.check()
            if not self.connected:
                self.gave_up = True
                raise ZooKeeperLost(
                    f"ZooKeeper did not come back within twice the session timeout "
                    f"({self.session_timeout:g} s) after the connection was lost while {what}; "
                    f"the run stopped after waiting {time.monotonic() - since:.1f} s. The "
                    "journal holds its last consistent version.",
                    f"When ZooKeeper answers again (`migrator status`), run "
                    f"`{self.resume_command}`.",
                )
        return time.monotonic() - started

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _say(self, text: str) -> None:
        # a message must never break kazoo's connection thread
        with contextlib.suppress(Exception):
            self.say(text)

    def check_session(self) -> None:
        """Raise the fence, or handle a new session before any further call."""
        if self.fenced is not None:
            raise self.fenced
        if self.connected and self._current_session() != self.session_id:
            self._new_session()

    def _new_session_quietly(self) -> None:
        try:
            self._new_session()
        except MigratorError:
            pass  # fenced: the next call raises it in the run's own thread
        except Exception as exc:  # a fault while handling: the next call retries it
            if not is_fault(exc):
                self.fenced = SessionLost(
                    f"The ZooKeeper session expired and re-establishing the run failed "
                    f"({type(exc).__name__}: {exc}).",
                    f"Look with `migrator plan`, then run `{self.resume_command}`.")

    def _new_session(self) -> None:
        with self._handling:
            current = self._current_session()
            if self.fenced is not None:
                raise self.fenced
            if current == self.session_id or current is None:
                return
            self._say("The ZooKeeper session expired and a new one was opened; re-taking the "
                      "run lock and re-reading the journal.")
            try:
                for hook in list(self.hooks):
                    hook()
            except MigratorError as exc:
                self.fenced = exc
                raise
            self.session_id = current

    def call(self, what: str, func: Callable[[], T]) -> T:
        """``func()``, paused and retried through connection loss and session expiry."""
        for _attempt in range(MAX_ATTEMPTS):
            self.check_session()
            try:
                return func()
            except _fault_types() as exc:
                if client_closed(self.client):
                    raise
                with self._cond:
                    if self.connected and self.lost_since is None:
                        # the failure came before kazoo's state change reached us
                        self.lost_since = time.monotonic()
                        self.connected = bool(getattr(self.client, "connected", False))
                if self.gave_up and not self.connected:
                    raise ZooKeeperLost(
                        f"ZooKeeper is unreachable ({type(exc).__name__}) while {what}.",
                        f"When it answers again, run `{self.resume_command}`.",
                    ) from exc
                self.wait_connected(what)
        raise ZooKeeperLost(
            f"ZooKeeper kept failing while {what} ({MAX_ATTEMPTS} attempts).",
            f"Look at the ZooKeeper servers; then run `{self.resume_command}`.",
        )


_GUARDS_LOCK = threading.Lock()


def guard_for(client: Any) -> SessionGuard:
    """The client's guard, created (and listening) on first use."""
    with _GUARDS_LOCK:
        guard: SessionGuard | None = getattr(client, "_migrator_guard", None)
        if guard is None:
            guard = SessionGuard(client)
            client._migrator_guard = guard
        return guard


def guarded(client: Any, what: str, func: Callable[[], T]) -> T:
    """``guard_for(client).call(what, func)``; clients that are not kazoo's run as is."""
    if not hasattr(client, "add_listener"):
        return func()
    return guard_for(client).call(what, func)


def wait_guarded(client: Any, what: str, timeout: float,
                 func: Callable[[float], T]) -> T:
    """A wait of ``timeout`` seconds through faults, its deadline kept.

    ``func(seconds)`` waits at most that long. After a pause the wait goes on for
    what is left of the original deadline, and looks once (0 s) if nothing is left.
    """
    deadline = time.monotonic() + max(timeout, 0.0)

    def attempt() -> T:
        return func(max(deadline - time.monotonic(), 0.0) if timeout > 0 else 0.0)

    return guarded(client, what, attempt)
