"""What the operator saw during one command, kept beside the audit record.

``<audit dir>/<cluster>/<shard>/transcripts/<UTC time>-<verb>.txt``: every line
the run's console printed or would have printed (``--quiet`` hides lines from the
terminal, not from the transcript), every question and its answer, the watchdog's
alarms and the error the command ended with, as plain text (no colours, outside
text made inert), each line stamped with its UTC time. Written through, a line at
a time, so a run killed with SIGKILL keeps everything it said before.

Decisions: one file per command (a resume is a new file; the audit record's
``runs/NN-KIND.json`` holds the journal, this holds the conversation); a
transcript that cannot be written (a read-only or full disk) does not stop the
run, as the audit copy does not: the first failure is said once and writing
stops; live lines (a spinner's redraws) are not copied, only the lines a wait or
an action starts with and what each saw as it changed.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from migrator.ui.inert import inert


class Transcript:
    def __init__(self, path: Path, handle: TextIO) -> None:
        self.path = path
        self._handle: TextIO | None = handle
        self._lock = threading.Lock()  # heartbeat and watchdog threads write too
        self.problem: str | None = None

    @classmethod
    def start(cls, folder: Path, verb: str) -> tuple[Transcript | None, str | None]:
        """A new transcript under ``folder/transcripts``; (None, why) when it cannot be."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / "transcripts" / f"{stamp}-{verb}.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("x", encoding="utf-8")
        except OSError as exc:
            return None, (f"the transcript under {folder / 'transcripts'} could not be "
                          f"written ({exc.strerror or exc}); the run goes on without it")
        return cls(path, handle), None

    def write(self, text: str) -> None:
        with self._lock:
            if self._handle is None:
                return
            now = datetime.now(UTC)
            stamp = now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}"
            try:
                for line in inert(text).split("\n"):
                    self._handle.write(f"{stamp}  {line}\n")
                self._handle.flush()
            except OSError as exc:
                self.problem = f"the transcript {self.path} stopped: {exc.strerror or exc}"
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
