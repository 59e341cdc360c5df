"""Find a log record matching a spec since a mark: look once, or follow until a deadline.

Looking once (timeout 0) reads the appended bytes in bounded chunks; waiting
follows the log live and returns at the first match. A follower whose
connection drops is resumed from the last complete line on a fresh connection
(the zone may be restarting); failures to reconnect are retried with backoff
until the deadline, because no event tells us when a zone's sshd is back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from migrator.remote.bunyan import LogRecord, RecordMatch, parse_line
from migrator.remote.errors import ConnectionDropped, ZoneUnreachable
from migrator.remote.logs import LogMark
from migrator.remote.session import RemoteSession

CHUNK = 4 << 20
MAX_SCAN = 256 << 20  # bytes scanned by one look-once before giving up
MAX_RESUMES = 20


@dataclass(frozen=True)
class Search:
    record: LogRecord | None
    bytes_read: int
    seconds: float
    notes: tuple[str, ...]
    end: LogMark  # where the search stopped (next unread line)


def look_once(session: RemoteSession, mark: LogMark, spec: RecordMatch) -> Search:
    started = time.monotonic()
    notes: list[str] = []
    current, total = mark, 0
    while total < MAX_SCAN:
        read = session.read_since(mark.zone, current, max_bytes=CHUNK)
        if read.note and read.note not in notes:
            notes.append(read.note)
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


def wait_for_record(
    session: RemoteSession, mark: LogMark, spec: RecordMatch, timeout: float
) -> Search:
    if timeout <= 0:
        return look_once(session, mark, spec)
    started = time.monotonic()
    deadline = started + timeout
    notes: list[str] = []
    current, total, backoff = mark, 0, 0.25
    for _attempt in range(MAX_RESUMES):
        try:
            follower = session.follow(mark.zone, current)
        except (ZoneUnreachable, ConnectionDropped) as exc:
            if time.monotonic() + backoff >= deadline:
                raise
            notes.append(f"reconnecting: {exc.message}")
            time.sleep(backoff)  # no event says when the zone's sshd is back
            backoff = min(backoff * 2, 4.0)
            continue
        with follower:
            if follower.note and follower.note not in notes:
                notes.append(follower.note)
            for line in follower.lines(deadline):
                record = parse_line(line)
                if spec.matches(record):
                    total += follower.bytes_read
                    return Search(record, total, time.monotonic() - started, tuple(notes),
                                  follower.resume_mark())
            total += follower.bytes_read
            current = follower.resume_mark()
            if time.monotonic() >= deadline:
                break
            notes.append("the log channel closed; resuming on a new connection")
    return Search(None, total, time.monotonic() - started, tuple(notes), current)
