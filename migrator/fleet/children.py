"""A shard's child process: the single-shard CLI (`migrator run|resume --json`).

Its stdout carries the JSON events (docs/events.md), read line by line by a thread of
ours onto the fleet's queue; its stderr (what a human run prints) goes whole to a log
file in the fleet's audit folder. It runs in the parent's process group, so a Ctrl-C
at the terminal reaches it as in a single run. On Linux it is also told to take an
interrupt when the parent dies (``PR_SET_PDEATHSIG``): a fleet killed outright leaves
no shard running unwatched, each journalled as interrupted (resumable).
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (shard, the event, or None once its stdout has ended)
Line = tuple[str, dict[str, Any] | None]

_PR_SET_PDEATHSIG = 1


def _death_signal() -> Any:
    """What the child runs before exec: SIGINT when the parent dies (Linux; elsewhere
    nothing). The library is looked up here, in the parent: after a fork only the call
    itself is safe with other threads about."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


@dataclass
class Child:
    shard: str
    argv: list[str]
    log: Path
    relay: bool = False  # its questions come as events; answers go to its stdin
    process: subprocess.Popen[str] | None = None
    asked_to_stop: bool = False
    spoke: bool = False  # it printed an event: its SIGUSR1 handler is in place
    said: int | None = None  # the exit status its `finished` event gave
    ending: bool = False  # it said `error` or `finished`: it stops by itself
    _stop_pending: bool = field(default=False, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self, lines: queue.Queue[Line]) -> None:
        with open(self.log, "a", encoding="utf-8") as err:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE if self.relay else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err,
                text=True, encoding="utf-8", errors="replace", bufsize=1,
                preexec_fn=_death_signal(),
            )
        self._reader = threading.Thread(target=self._read, args=(lines,),
                                        name=f"fleet-{self.shard}", daemon=True)
        self._reader.start()

    def _read(self, lines: queue.Queue[Line]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # not an event (the CLI prints only events with --json)
            if isinstance(event, dict):
                lines.put((self.shard, event))
        lines.put((self.shard, None))

    def heard(self, event: dict[str, Any]) -> None:
        """It printed ``event``: a stop asked before it could hear one is sent now."""
        self.spoke = True
        if event.get("event") in ("error", "finished"):
            self.ending = True
        if event.get("event") == "finished" and isinstance(event.get("exitStatus"), int):
            self.said = event["exitStatus"]
        if self._stop_pending:
            self._stop_pending = False
            self._signal(signal.SIGUSR1)

    def answer(self, line: str) -> None:
        """The operator's answer to its question (a child gone meanwhile hears nothing)."""
        if self.process is None or self.process.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def ask_to_stop(self) -> None:
        """SIGUSR1: stop after the step under way is verified (the run stays resumable).
        Before its first event its handler may not be in place yet: sent once it speaks."""
        if self.asked_to_stop or self.ending:
            return  # asked already, or it is ending anyway
        self.asked_to_stop = True
        if self.spoke:
            self._signal(signal.SIGUSR1)
        else:
            self._stop_pending = True

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit status once it has exited (its stdout ended); None if still running
        after ``timeout``."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return status

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid
