"""Find a log record matching a spec since a mark: look once, or follow until a deadline.

Looking once (timeout 0) reads the appended bytes in bounded chunks; waiting
follows the log live and returns at the first match. A follower whose
connection drops is resumed from the last complete line on a fresh connection
(the zone may be restarting); failures to reconnect are retried with backoff
until the deadline, because no event tells us when a zone's sshd is back.
Repeated notes are collapsed into one line with a count.

``find_sitter_record`` is the wait of a ``log_record`` check: before it looks or
follows, it reads what the log holds since the mark (and, for a DEBUG-only record,
up to ``SAMPLE_BYTES`` before it, to judge the level of a sitter already writing
then), so that the current sitter is known before any record is matched
(``remote.loglevels.SitterEvidence``): a record of a sitter replaced since the
step began never matches, and the level is the current sitter's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from migrator import cancellation
from migrator.remote.bunyan import LogRecord, parse_line
from migrator.remote.errors import ConnectionDropped, ZoneUnreachable
from migrator.remote.loglevels import SAMPLE_BYTES, SitterEvidence
from migrator.remote.logs import LogMark, LogRead
from migrator.remote.session import RemoteSession

CHUNK = 4 << 20
MAX_SCAN = 256 << 20  # bytes scanned by one look-once before giving up
MAX_RESUMES = 20


class Matcher(Protocol):
    """What a search matches records with: a ``RecordMatch``, or a stateful matcher fed
    every record in log order (``SitterEvidence``)."""

    def matches(self, record: LogRecord) -> bool: ...


@dataclass(frozen=True)
class Search:
    record: LogRecord | None
    bytes_read: int
    seconds: float
    notes: tuple[str, ...]
    end: LogMark  # where the search stopped (next unread line)


def look_once(session: RemoteSession, mark: LogMark, spec: Matcher) -> Search:
    started = time.monotonic()
    notes: list[str] = []
    current, total = mark, 0
    while total < MAX_SCAN:
        read = session.read_since(mark.zone, current, max_bytes=CHUNK)
        notes.extend(note for note in _notes_of(read) if note not in notes)
        total += read.bytes_read
        data = read.data
        last_newline = data.rfind(b"\n")
        complete = data[: last_newline + 1] if last_newline >= 0 else b""
        for line in complete.split(b"\n")[:-1]:
            record = parse_line(line)
            if spec.matches(record):
                return Search(record, total, time.monotonic() - started, tuple(notes), current)
        if not read.truncated:
            return Search(None, total, time.monotonic() - started, tuple(notes),
                          read.mark.advanced(read.start + len(complete)))
        # a line longer than a whole chunk is skipped, not matched
        advance = len(complete) if complete else read.bytes_read
        current = read.mark.advanced(read.start + advance)
    notes.append(f"stopped after scanning {MAX_SCAN >> 20} MiB")
    return Search(None, total, time.monotonic() - started, tuple(notes), current)


class Notes:
    """Notes of a wait, repeats collapsed: "reconnecting" twenty times is one line with
    its count and the latest cause, not twenty lines."""

    def __init__(self) -> None:
        self._entries: list[list[Any]] = []  # [key, count, latest text]

    def add(self, text: str, key: str | None = None) -> None:
        key = key or text
        for entry in self._entries:
            if entry[0] == key:
                entry[1] += 1
                entry[2] = text
                return
        self._entries.append([key, 1, text])

    def render(self) -> tuple[str, ...]:
        return tuple(text if count == 1 else f"{text} (x{count}, the last shown)"
                     for _key, count, text in self._entries)


def wait_for_record(
    session: RemoteSession, mark: LogMark, spec: Matcher, timeout: float
) -> Search:
    """Follow the log until a record matches or ``timeout`` has passed.

    A zone that cannot be reached (restarting, sshd down) is retried with
    backoff until the deadline, not for a fixed number of attempts: the wait
    lasts what it says it lasts, and says how often it reconnected.
    """
    if timeout <= 0:
        return look_once(session, mark, spec)
    started = time.monotonic()
    deadline = started + timeout
    notes = Notes()
    current, total, backoff = mark, 0, 0.25
    # bounded: at most one attempt per 0.25 s of the timeout (and never fewer than before)
    for _attempt in range(max(MAX_RESUMES, int(timeout * 4) + 1)):
        try:
            follower = session.follow(mark.zone, current)
        except (ZoneUnreachable, ConnectionDropped) as exc:
            notes.add(f"reconnecting: {exc.message}", key="reconnecting")
            if time.monotonic() + backoff >= deadline:
                break
            # no event says when the zone's sshd is back; a stopped run ends the wait
            cancellation.current().wait(backoff)
            backoff = min(backoff * 2, 4.0)
            continue
        backoff = 0.25
        with follower:
            if follower.note:
                notes.add(follower.note)
            for line in follower.lines(deadline):
                record = parse_line(line)
                if spec.matches(record):
                    total += follower.bytes_read
                    return Search(record, total, time.monotonic() - started, notes.render(),
                                  follower.resume_mark())
            total += follower.bytes_read
            current = follower.resume_mark()
            if time.monotonic() >= deadline:
                break
            notes.add("the log channel closed; resuming on a new connection")
    return Search(None, total, time.monotonic() - started, notes.render(), current)


def _notes_of(read: LogRead) -> list[str]:
    """What an operator is told of a read: a rotation or truncation met, a connection
    that dropped while reading (the read was made again)."""
    return [note for note in (read.note, read.rerun_after) if note]


def _complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The whole lines of ``data`` and the length they take (a partial last line is left
    for the next read)."""
    last_newline = data.rfind(b"\n")
    if last_newline < 0:
        return [], 0
    return data[:last_newline].split(b"\n"), last_newline + 1


def _before_mark(session: RemoteSession, mark: LogMark) -> list[LogRecord]:
    """The records of the marked file's last ``SAMPLE_BYTES`` before the mark (none if
    the file was replaced or truncated since: then they are not the log being read)."""
    start = max(0, mark.offset - SAMPLE_BYTES)
    if mark.inode is None or mark.offset == 0:
        return []
    read = session.read_since(mark.zone, mark.advanced(start), max_bytes=mark.offset - start)
    if read.note is not None or read.start != start:
        return []
    lines, _ = _complete_lines(read.data[: mark.offset - start])
    return [parse_line(line) for line in (lines[1:] if start > 0 else lines) if line]


def find_sitter_record(
    session: RemoteSession, mark: LogMark, evidence: SitterEvidence, timeout: float
) -> Search:
    """Look for ``evidence`` among the current sitter's records since ``mark``, then
    (``timeout`` > 0) follow the log for it. Returns without following when the
    evidence is ``hopeless`` once the records so far are judged."""
    started = time.monotonic()
    try:
        before = _before_mark(session, mark) if evidence.debug_only else []
        read = session.read_since(mark.zone, mark, max_bytes=CHUNK)
    except (ZoneUnreachable, ConnectionDropped) as exc:
        if timeout <= 0:
            raise
        # the zone is restarting (a reprovision): the follower reconnects with backoff,
        # and the evidence judges the records as they come, in the log's order
        found = wait_for_record(session, mark, evidence, timeout - (time.monotonic() - started))
        said = tuple(dict.fromkeys([f"reconnecting: {exc.message}", *found.notes]))
        return Search(found.record, found.bytes_read, time.monotonic() - started, said,
                      found.end)
    lines, used = _complete_lines(read.data)
    since = [parse_line(line) for line in lines if line]
    notes = _notes_of(read)
    for record in evidence.prime(before, since):
        if evidence.accepts(record):
            return Search(record, read.bytes_read, time.monotonic() - started, tuple(notes),
                          read.mark.advanced(read.start + used))
    end = read.mark.advanced(read.start + used)
    if evidence.hopeless:
        return Search(None, read.bytes_read, time.monotonic() - started, tuple(notes), end)
    remaining = timeout - (time.monotonic() - started) if timeout > 0 else 0.0
    if remaining <= 0 and not read.truncated:
        return Search(None, read.bytes_read, time.monotonic() - started, tuple(notes), end)
    rest = wait_for_record(session, end, evidence, max(remaining, 0.0))
    merged = tuple(dict.fromkeys([*notes, *rest.notes]))
    return Search(rest.record, read.bytes_read + rest.bytes_read,
                  time.monotonic() - started, merged, rest.end)
