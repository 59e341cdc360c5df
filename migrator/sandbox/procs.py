"""Detached processes recorded by pid file, and stopping exactly those.

A pid file holds ``<pid> <start time>`` (field 22 of /proc/<pid>/stat), so a pid
the kernel has since reused for an unrelated process is never signalled.
Every process is started in its own session (its own process group), and is
stopped by signalling that group: a sitter and anything it spawned go together.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

STOP_TIMEOUT = 5.0


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def write_pid_file(path: Path, pid: int) -> None:
    """Written whole or not at all: a reader never sees an empty pid file and takes a
    live process for a dead one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(f"{pid} {start_time(pid) or ''}\n")
    os.replace(partial, path)


def recorded_pid(path: Path) -> int | None:
    """The pid in ``path`` if that very process is still alive, else None."""
    try:
        words = path.read_text().split()
        pid = int(words[0])
    except (OSError, ValueError, IndexError):
        return None
    started = start_time(pid)
    if started is None or (len(words) > 1 and words[1] != started):
        return None
    return pid


def spawn(argv: list[str], pid_file: Path, log_file: Path, cwd: Path,
          pass_fds: tuple[int, ...] = ()) -> int:
    """Start ``argv`` detached (own session, stdin closed, output to ``log_file``);
    ``pass_fds``: descriptors the child inherits (a listening socket, say)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.pop("PYTEST_CURRENT_TEST", None)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    write_pid_file(pid_file, process.pid)
    # Popen objects we drop would warn at exit; the process is ours to stop by pid file.
    process.returncode = 0
    return process.pid


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd puts each connection in a session of its own,
    so its process group does not cover them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # the command name may hold spaces or ')': fields resume after the last ')'
            parent = int(stat[stat.rfind(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    pending = list(children.get(pid, []))
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def kill_recorded(
    pid_file: Path,
    sig: int = signal.SIGTERM,
    timeout: float = STOP_TIMEOUT,
    with_descendants: bool = False,
) -> bool:
    """Stop the process group recorded in ``pid_file``; SIGKILL what outlives ``timeout``.

    Returns True when something was running. The pid file is removed either way, but
    only once the process is gone: a caller killed half-way (a `sandbox reprovision`
    stopped by `sandbox down`) leaves the file, so the next `down` still finds the
    process instead of leaving it running unrecorded.
    """
    pid = recorded_pid(pid_file)
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        return False
    try:
        _stop(pid, sig, timeout, with_descendants)
    finally:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
    return True


def _stop(pid: int, sig: int, timeout: float, with_descendants: bool) -> None:
    below = descendants(pid)
    if with_descendants:
        for child in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
    for current in (sig, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, current)
        if _wait_gone(pid, timeout):
            break
    # A supervised sitter is the recorded process's child: wait for it too, so that its
    # ports are free when we return (bounded; it got the same signal).
    for child in below:
        if not _wait_gone(child, timeout):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
            _wait_gone(child, timeout)


def on_exit(pid: int, callback: Callable[[], None]) -> None:
    """Call ``callback`` from a daemon thread when ``pid`` exits (woken by its pidfd)."""

    def watch() -> None:
        if _wait_gone(pid, 24 * 3600.0):
            callback()

    threading.Thread(target=watch, name=f"exit-{pid}", daemon=True).start()


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait (bounded) for ``pid`` to exit, woken by its pidfd; reaps it if it is our child."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(timeout * 1000)
        finally:
            os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return start_time(pid) is None


def on_termination(callback: Callable[[], None]) -> None:
    """Call ``callback`` once, from a thread of its own, when SIGTERM or SIGINT arrives.

    A Python signal handler runs in the main thread between any two bytecodes, also
    while that thread holds a lock (a queue's, an Event's): a handler that takes such a
    lock can deadlock, and a sitter receiving two SIGTERMs at once (its process group's,
    then its supervisor's) did, until `sandbox down` killed it 5 s later. So the
    handler does nothing: the interpreter writes the signal to a pipe
    (``signal.set_wakeup_fd``, async-signal-safe) and a thread reading it calls
    ``callback`` outside any signal context. Main thread only.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: None)

    def deliver() -> None:
        os.read(read_fd, 1)  # blocks until the first signal
        callback()

    threading.Thread(target=deliver, name="on-termination", daemon=True).start()

