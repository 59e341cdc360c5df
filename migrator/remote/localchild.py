"""A command run on the operator's machine that outlives the migrator (``run_on: local``).

A reprovision must not die with the migrator: killed by ``kill -9``, or by the
Ctrl-C a terminal sends to its whole foreground process group, a child sharing
that group would stop half-way and leave the zone's sitter stopped. So:

* the child runs in a session (and process group) of its own, and its output
  goes to files, not to pipes the migrator holds, so nothing of ours can end it;
* it starts *gated*: a tiny wrapper waits for one byte on stdin before it execs
  the real command. The migrator journals the child's pid, process group and
  kernel start time first, then releases it. Killed before that, the wrapper
  reads end-of-file and exits without doing anything (leaving a mark beside its
  output, ``refused_at_gate``, so a resume knows it ran nothing even when its pid
  was journalled); so a reprovision never runs without its pid in the journal;
* liveness is judged by pid *and* start time (field 22 of ``/proc/<pid>/stat``),
  so a pid the kernel has reused is never taken for the child; waits are woken
  by the child's pidfd, not by polling.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator import cancellation

NOT_RELEASED = 125  # the gate's status when the migrator died before releasing it
# beside the child's output: created by a gate that exited without running anything
REFUSED_MARK = "not-released"
# Runs the command given after the mark's path once a "1" arrives on stdin; anything
# else (EOF: the migrator died before journalling us, or between that and the release)
# creates the mark and ends it untouched, with status NOT_RELEASED.
_GATE = (
    "import os,sys\n"
    "go = os.read(0, 1)\n"
    "if go != b'1':\n"
    "    try: os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL))\n"
    "    except OSError: pass\n"
    f"    sys.exit({NOT_RELEASED})\n"
    "fd = os.open(os.devnull, os.O_RDONLY); os.dup2(fd, 0); os.close(fd)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def process_start(pid: int) -> str | None:
    """The kernel start time of ``pid`` (None: not running, a zombie, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] == "Z":
        return None
    return fields[19]


def hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class ChildInfo:
    """What the journal keeps of a local child."""

    pid: int
    pgid: int
    start: str | None
    host: str
    output: str  # the file its stdout and stderr go to

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "pgid": self.pgid, "pidStart": self.start, "host": self.host,
                "output": self.output}

    def label(self) -> str:
        return f"pid {self.pid} (process group {self.pgid}) on {self.host}"


def child_state(intent: dict[str, Any]) -> str:
    """``alive``/``gone`` for a child this machine started; ``unknown`` otherwise."""
    pid = intent.get("pid")
    if not isinstance(pid, int) or intent.get("host") != hostname():
        return "unknown"
    start = process_start(pid)
    if start is None:
        return "gone"
    wanted = intent.get("pidStart")
    if wanted is not None and wanted != start:
        return "gone"  # the pid was reused by another process
    return "alive"


def refused_at_gate(intent: dict[str, Any]) -> bool:
    """The journalled child's gate exited without running anything: its mark is beside
    the output the intent names (this machine only). No mark proves nothing (the gate
    may have failed to create it): the caller then judges from everything else."""
    output = intent.get("output")
    if intent.get("host") != hostname() or not isinstance(output, str):
        return False
    return (Path(output).parent / REFUSED_MARK).exists()


def _until_exit(pid: int, timeout: float) -> None:
    """Block until ``pid`` exits (its pidfd), the run stops, or ``timeout`` passes."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError, AttributeError):
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(cancellation.current().fileno(), select.POLLIN)
        poller.poll(max(timeout, 0.0) * 1000)
    finally:
        os.close(fd)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait (bounded) until ``pid`` exits, woken by its pidfd; True when it is gone. A
    run stopped meanwhile (``migrator.cancellation``) ends the wait with the run's stop;
    the child goes on in its own session."""
    _until_exit(pid, timeout)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is ours
    cancellation.current().check()
    return process_start(pid) is None


@dataclass
class LocalChild:
    """A started (gated) child: release it, then wait for it."""

    process: subprocess.Popen[bytes]
    info: ChildInfo
    stdout_path: Path
    stderr_path: Path

    def release(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(b"1")
            self.process.stdin.flush()
        with contextlib.suppress(OSError):
            self.process.stdin.close()

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running at the deadline.

        Woken by the child's pidfd, or by the run stopping (which raises the run's stop).
        A KeyboardInterrupt or a stopped run leaves the child running (unlike
        ``subprocess.run``, which kills it).
        """
        _until_exit(self.process.pid, timeout)
        cancellation.current().check()
        return self.process.poll()

    def output(self, limit: int) -> tuple[bytes, bytes, bool]:
        out = _read_bounded(self.stdout_path, limit)
        err = _read_bounded(self.stderr_path, limit)
        return out[0], err[0], out[1]

    def cleanup(self) -> None:
        """Remove the output files once read (kept when we stop without waiting: the
        journal names them)."""

        shutil.rmtree(self.stdout_path.parent, ignore_errors=True)

    def forget(self) -> None:
        """Leave the child be (we are stopping without waiting for it)."""
        self.process.returncode = self.process.returncode or 0  # no warning at exit


def _read_bounded(path: Path, limit: int) -> tuple[bytes, bool]:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return b"", False
    return data[:limit], len(data) > limit


def start(argv: Sequence[str], on_started: Callable[[ChildInfo], None] | None = None
          ) -> LocalChild:
    """Start ``argv`` gated in its own session; ``on_started`` (journal it) runs before
    the release. Raises OSError when the program cannot be found."""
    program = argv[0]
    if os.sep in program:
        if not os.access(program, os.X_OK):
            raise FileNotFoundError(2, "No such executable", program)
    elif not _which(program):
        raise FileNotFoundError(2, "No such command on PATH", program)
    directory = Path(tempfile.mkdtemp(prefix="manatee-migrator-child-"))
    out_path, err_path = directory / "stdout", directory / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _GATE, str(directory / REFUSED_MARK), *argv],
            stdin=subprocess.PIPE, stdout=out,
            stderr=err, start_new_session=True, close_fds=True,
        )
    info = ChildInfo(process.pid, process.pid, process_start(process.pid), hostname(),
                     str(out_path))
    child = LocalChild(process, info, out_path, err_path)
    try:
        if on_started is not None:
            on_started(info)
    except BaseException:
        # not journalled: the child must not run (it ends on EOF)
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        child.forget()
        raise
    child.release()
    return child


def _which(program: str) -> bool:
    return shutil.which(program) is not None
