"""Zone logs read from a remembered offset, and followed live over a channel.

At step start we record the log's size and identity (device + inode); later we
read only what was appended. Decisions:

* Identity comes from ``stat -L -c '%d %i %s'`` (GNU), falling back to ``ls -Lin``
  (inode and size, illumos/BSD) when ``stat`` lacks ``-c``.
* A different inode at the same path means the log was **rotated**: the new file
  is read from its start. The same inode with a smaller size means it was
  **truncated** (e.g. ``logadm -c`` copy-truncate): read from the start. Either
  way the reader says so, because records written to the old file between the
  mark and the rotation cannot be seen.
* A missing file at mark time is legal (a reprovisioned zone's log may not exist
  yet): everything it later holds counts as new.
* Only a regular file is read. The stat that starts every read says, in the same
  shell command, when the path is a FIFO, a device, a directory or a socket, and the
  read is then refused (``LogUnavailable`` naming the zone and the path) with nothing
  run on it: ``tail`` on a FIFO blocks until a writer comes (a plan stood 60 s on one
  and left the ``tail`` running in the zone), and on a device it never ends. The
  read itself runs only ``[ -f path ] &&``; a file swapped for a FIFO between that
  test and the open can still block, and is then ended in the zone when the command's
  timeout abandons it (``migrator.remote.commands``).
* Every command here only reads, so one whose connection drops while it runs is
  run once more on a new connection (``run_command``'s ``reads_only``); a
  ``LogRead`` says so in ``rerun_after``.
* Reads seek on the remote side (``tail -c +N``), so checking a 1 GiB log costs
  what the appended bytes cost; output is bounded by ``max_bytes``.
* ``tail`` is the inventory's ``commands.tail`` (it must support ``-c +N`` and
  ``-F``: GNU or BSD; illumos' own tail lacks ``-F``).
* Following runs ``tail -c +N -F`` on its own channel of the zone's transport,
  wrapped so the remote ``tail`` dies when the channel closes (it would otherwise
  linger until the log is next written). Lines longer than ``MAX_LINE`` are cut.
"""

from __future__ import annotations

import select
import shlex
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from migrator import cancellation
from migrator.remote.commands import DEFAULT_MAX_OUTPUT, _dropped, run_command
from migrator.remote.connection import ZoneConnection
from migrator.remote.errors import LogUnavailable
from migrator.remote.sshlib import close_channel

MAX_LINE = 1 << 20
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FileState:
    exists: bool
    size: int = 0
    dev: str | None = None
    inode: str | None = None
    not_regular: str | None = None  # what the path is when it exists but is no regular file


@dataclass(frozen=True)
class LogMark:
    """Where a log stood when a step started (persisted in the journal's marks)."""

    zone: str
    path: str
    offset: int
    dev: str | None
    inode: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogMark:
        return cls(str(data["zone"]), str(data["path"]), int(data["offset"]),
                   data.get("dev"), data.get("inode"))

    def advanced(self, offset: int) -> LogMark:
        return LogMark(self.zone, self.path, offset, self.dev, self.inode)


@dataclass(frozen=True)
class ReadPlan:
    offset: int
    note: str | None  # why we start elsewhere than the mark (rotation, truncation)


@dataclass(frozen=True)
class LogRead:
    data: bytes
    start: int
    next_offset: int
    note: str | None
    truncated: bool  # more was appended than max_bytes
    mark: LogMark  # the file as read (its identity now), at ``next_offset``
    # the connection dropped while it read and the read was made again: why
    rerun_after: str | None = None

    @property
    def bytes_read(self) -> int:
        return len(self.data)


# What `stat_command` prints for a path that exists but is no regular file, by test.
NOT_REGULAR = (("-d", "directory"), ("-p", "FIFO"), ("-c", "character-device"),
               ("-b", "block-device"), ("-S", "socket"))


def stat_command(path: str) -> str:
    """Shell text printing one line: the file's identity and size, ``missing``, or
    ``not-regular KIND`` (symbolic links followed, as ``tail`` follows them)."""
    quoted = shlex.quote(path)
    kinds = "".join(f"elif [ {test} {quoted} ]; then echo 'not-regular {kind}'; "
                    for test, kind in NOT_REGULAR)
    return (
        f"if [ -f {quoted} ]; then stat -L -c 'stat %d %i %s' -- {quoted} 2>/dev/null "
        f"|| ls -Lin -- {quoted}; {kinds}elif [ -e {quoted} ]; then "
        "echo 'not-regular special-file'; else echo missing; fi"
    )


def parse_stat(text: str) -> FileState | None:
    """Pure: read ``stat %d %i %s`` / ``ls -Lin`` / ``missing`` / ``not-regular KIND``
    output."""
    words = text.split()
    if words[:1] == ["missing"]:
        return FileState(exists=False)
    if len(words) == 2 and words[0] == "not-regular":
        return FileState(exists=True, not_regular=words[1].replace("-", " "))
    if len(words) == 4 and words[0] == "stat" and all(w.isdigit() for w in words[1:]):
        return FileState(True, int(words[3]), words[1], words[2])
    if len(words) >= 6 and words[0].isdigit() and words[5].isdigit():
        return FileState(True, int(words[5]), None, words[0])
    return None


def plan_read(mark: LogMark, now: FileState) -> ReadPlan:
    """Pure: where to read from, given the mark and the file as it is now."""
    if not now.exists:
        return ReadPlan(0, None if mark.inode is None else "the log is gone (rotated away)")
    if mark.inode is None:
        return ReadPlan(0, None)
    same_file = now.inode == mark.inode and (now.dev is None or mark.dev is None
                                             or now.dev == mark.dev)
    if not same_file:
        return ReadPlan(0, "the log was rotated since the step started; reading the new file "
                           "from its start (records written to the old file after the mark "
                           "are not seen)")
    if now.size < mark.offset:
        return ReadPlan(0, "the log was truncated since the step started; reading it from "
                           "its start")
    return ReadPlan(mark.offset, None)


def _regular(state: FileState, connection: ZoneConnection, path: str, zone: str | None
             ) -> FileState:
    """``state``, unless the log exists and is no regular file: ``LogUnavailable`` then,
    naming the zone and the path (nothing of it was read)."""
    if state.not_regular is None:
        return state
    where = zone or connection.label
    route = "" if where == connection.label else f" (read on {connection.label})"
    article = "an" if state.not_regular[0] in "aeiou" else "a"
    raise LogUnavailable(
        f"Cannot read the log {path} in {where}{route}: it is {article} "
        f"{state.not_regular}, not a regular file, and was not read (a pipe or a device "
        "can block a read or never end).",
        "Point the zone's `sitter_log` (or `commands.sitter_log`) in the inventory at the "
        "sitter's log file, and look at what took its place in the zone.",
    )


def file_state(connection: ZoneConnection, path: str, *, timeout: float,
               zone: str | None = None) -> FileState:
    result = run_command(connection, stat_command(path), timeout=timeout, max_output=4096,
                         reads_only=True)
    state = parse_stat(result.text) if result.ok else None
    if state is None:
        error = result.stderr.decode("utf-8", "replace").strip()
        raise LogUnavailable(
            f"Cannot stat the log {path} in {connection.label}: "
            f"{error or result.text.strip() or 'no output'}.",
            "Check the log path in the inventory and that the SSH user may read it.",
        )
    return _regular(state, connection, path, zone)


def mark_log(connection: ZoneConnection, path: str, *, timeout: float,
             zone: str | None = None) -> LogMark:
    """``zone``: whose log it is, when the connection is not the zone's own (zlogin route)."""
    state = file_state(connection, path, timeout=timeout, zone=zone)
    return LogMark(zone or connection.label, path, state.size, state.dev, state.inode)


def read_since(
    connection: ZoneConnection, mark: LogMark, *, max_bytes: int = DEFAULT_MAX_OUTPUT,
    timeout: float, tail: str = "tail",
) -> LogRead:
    """What was appended since ``mark`` (at most ``max_bytes``), and where to read next.

    One round trip in the usual case: the file's identity and the bytes from the
    mark's offset come back together; only after a rotation or truncation is the
    file read again from its start.
    """
    state, data, more, rerun = _stat_and_read(connection, mark.path, mark.offset, max_bytes,
                                              timeout, tail, mark.zone)
    plan = plan_read(mark, state)
    if plan.offset != mark.offset:
        state, data, more, again = _stat_and_read(connection, mark.path, plan.offset,
                                                  max_bytes, timeout, tail, mark.zone)
        rerun = rerun or again
    end = plan.offset + len(data)
    now = LogMark(mark.zone, mark.path, end, state.dev, state.inode)
    return LogRead(data, plan.offset, end, plan.note, more, now, rerun)


def _stat_and_read(
    connection: ZoneConnection, path: str, offset: int, max_bytes: int, timeout: float,
    tail: str, zone: str | None = None,
) -> tuple[FileState, bytes, bool, str | None]:
    quoted = shlex.quote(path)
    command = (f"{stat_command(path)}; [ -f {quoted} ] && "
               f"{tail} -c +{offset + 1} -- {quoted} | head -c {max_bytes + 1}")
    result = run_command(connection, command, timeout=timeout, max_output=max_bytes + 4096,
                         reads_only=True)
    head, _, data = result.stdout.partition(b"\n")
    state = parse_stat(head.decode("utf-8", "replace"))
    if state is not None:
        _regular(state, connection, path, zone)
    # the pipeline's status is head's, so tail's complaint shows only on stderr
    unreadable = state is not None and state.exists and bool(result.stderr.strip())
    if state is None or unreadable or result.status not in (0, 1, None):
        raise _unreadable(connection, path, result, head)
    more = len(data) > max_bytes or result.truncated
    return state, data[:max_bytes], more, result.rerun_after


def _unreadable(connection: ZoneConnection, path: str, result: Any, head: bytes
                ) -> LogUnavailable:
    """The error for a stat-and-read command whose answer is no log (``head``: its
    first line, the stat's)."""
    error = result.stderr.decode("utf-8", "replace").strip()
    return LogUnavailable(
        f"Cannot read the log {path} in {connection.label}: "
        f"{error or head.decode('utf-8', 'replace').strip() or result.status}.",
        "Check the log path in the inventory and that the SSH user may read it.",
    )


@dataclass(frozen=True)
class LogEnd:
    """A log's identity and size (``mark``) and up to ``max_bytes`` of its end, read at once."""

    mark: LogMark
    data: bytes
    cut: bool  # the data starts inside the file (its first line may be partial)


def read_end(connection: ZoneConnection, path: str, *, max_bytes: int, timeout: float,
             tail: str = "tail", zone: str | None = None) -> LogEnd:
    """Where the log stands and its last ``max_bytes``, in one round trip.

    This is what a probe needs (the file exists and is readable, its size, a sample
    of recent records) without first asking for the size to compute an offset:
    ``tail -c N`` (POSIX: the last N bytes) reads from the end on the remote side.
    A record written between the stat and the read may show in the data beyond
    the mark's offset; a sample does not care. A missing file is a mark without
    identity and no data, as ``mark_log`` gives.
    """
    quoted = shlex.quote(path)
    command = f"{stat_command(path)}; [ -f {quoted} ] && {tail} -c {max_bytes} -- {quoted}"
    result = run_command(connection, command, timeout=timeout, max_output=max_bytes + 4096,
                         reads_only=True)
    head, _, data = result.stdout.partition(b"\n")
    state = parse_stat(head.decode("utf-8", "replace"))
    if state is not None:
        _regular(state, connection, path, zone)
    unreadable = state is not None and state.exists and (
        result.status not in (0, None) or bool(result.stderr.strip()))
    if state is None or unreadable:
        raise _unreadable(connection, path, result, head)
    mark = LogMark(zone or connection.label, path, state.size, state.dev, state.inode)
    data = data[-max_bytes:] if max_bytes else b""
    return LogEnd(mark, data, cut=state.exists and state.size > len(data))


def follow_command(path: str, offset: int, tail: str = "tail") -> str:
    # The wrapper: tail in the background, and kill it once our channel closes
    # (cat sees EOF on the channel's stdin).
    return (f"{tail} -c +{offset + 1} -F -- {shlex.quote(path)} & t=$!; "
            "cat >/dev/null; kill $t 2>/dev/null")


class LogFollower:
    """Lines appended to a zone's log, as they are written."""

    def __init__(self, connection: ZoneConnection, mark: LogMark, plan: ReadPlan,
                 timeout: float, tail: str = "tail") -> None:
        self.connection = connection
        self.mark = mark  # carries the identity of the file being followed
        self.note = plan.note
        self._start = plan.offset
        self.offset = plan.offset  # file offset just after the last line yielded
        self.bytes_read = 0
        self._partial = bytearray()
        self._skipping = False
        self._channel = connection.open_channel(timeout=timeout)
        command = follow_command(mark.path, plan.offset, tail)
        try:
            self._channel.exec_command(command)
        except Exception as exc:  # paramiko: SSHException, or EOFError from a dead transport
            # deferred: paramiko costs ~110 ms to import; only zone work pays it
            import paramiko

            if not isinstance(exc, paramiko.SSHException | OSError | EOFError):
                raise
            close_channel(self._channel)
            raise _dropped(connection, command, exc) from None

    @property
    def alive(self) -> bool:
        return not self._channel.closed and not self._channel.eof_received

    def lines(self, deadline: float) -> Iterator[bytes]:
        """Complete lines until ``deadline`` (monotonic) or until the channel ends."""
        channel = self._channel
        fileno = channel.fileno()
        run = cancellation.current()
        while True:
            run.check()  # the run was stopped while it followed the log
            got = False
            while channel.recv_ready():
                chunk = channel.recv(_CHUNK)
                got = True
                base = self.bytes_read
                self.bytes_read += len(chunk)
                yield from self._split(chunk, base)
            while channel.recv_stderr_ready():
                channel.recv_stderr(_CHUNK)  # tail's notices (rotation, truncation)
            if not got and (channel.closed or channel.eof_received):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not got:
                select.select([fileno, run.fileno()], [], [], remaining)

    def _split(self, chunk: bytes, base: int) -> Iterator[bytes]:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            if not self._skipping:
                room = MAX_LINE - len(self._partial)
                self._partial += piece[:room]
                if len(piece) > room:
                    self._skipping = True
            if newline < 0:
                return
            line = bytes(self._partial)
            self.offset = self._start + base + newline + 1
            self._partial.clear()
            self._skipping = False
            start = newline + 1
            yield line

    def resume_mark(self) -> LogMark:
        """A mark at the first byte not yet yielded as a line (to resume after a drop).

        If ``tail -F`` moved to a rotated-in file meanwhile, the identity check on
        resuming sees the new inode and starts that file from its beginning.
        """
        return self.mark.advanced(self.offset)

    def close(self) -> None:
        close_channel(self._channel)

    def __enter__(self) -> LogFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def follow_log(
    connection: ZoneConnection, mark: LogMark, *, timeout: float, tail: str = "tail"
) -> LogFollower:
    state = file_state(connection, mark.path, timeout=timeout, zone=mark.zone)
    plan = plan_read(mark, state)
    current = LogMark(mark.zone, mark.path, plan.offset, state.dev, state.inode)
    return LogFollower(connection, current, plan, timeout, tail)
