"""Which sitter records are DEBUG upstream, whether a zone's sitter writes them, and the
INFO-level evidence a check falls back on when it does not.

Upstream's peer logs ``cluster not yet setup`` and ``pg.reconfigure`` at DEBUG.
Triton's SMF manifest starts the sitter with ``-vvv``, so deployed sitters
write them; a sitter left at its own default (info) never does, and a check
waiting for one would wait out its whole timeout. So:

* ``inventory check`` samples the end of each zone's sitter log and reports
  whether the sitter writing it now holds DEBUG records (``debug_records``:
  True, False, or None when the log has no bunyan records to judge by);
* ``plan`` warns about every pending step that waits for a DEBUG record in a
  zone whose current sitter writes none;
* at run time ``log_record`` accepts such a check's INFO fallback (below)
  instead, and says so, while the current sitter has written no DEBUG record;
  a DEBUG record without a fallback fails at once with the reason rather than
  waiting.

Which sitter is current (issue 22 §3): a log holds the records of every sitter
that wrote it, and a reprovision either starts a fresh log or appends to the
old one, so a DEBUG record left by the v1 sitter must not say that the v2
sitter writes DEBUG records. Bunyan stamps each record with its process's
``pid``, and a restarted sitter has a new one: the current sitter is the writer
of the newest record, and its records are the run of records with its pid since
the last record of another pid (``SitterRun``). The level is judged, and a
record matched, only among those (``SitterEvidence``); records before the
step's mark are read only to judge the level of a sitter that was already
writing when the step began, and a pid appearing after them ends their say.
That the records are newer than the step's start is told by where they are in
the log (after the step's mark, or in a file that replaced the marked one), on
the zone's own order of writes: comparing their ``time`` with this machine's
clock would need the two clocks to agree. A line that is not bunyan carries no
pid: it is nobody's record and judges nothing (a ``contains``-only check still
matches it, as before).

Fallbacks (same zone, same fields, every level writes them):
  ``cluster not yet setup`` -> ``assuming role`` with role ``unassigned`` (the
  peer found no /state: the steps that wait for it also check ``state_absent``);
  ``pg.reconfigure`` -> ``pg: applied config``, whose message carries the same
  role/upstream/downstream object in Node's inspect notation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.remote.bunyan import LogRecord, RecordMatch, parse_line

DEBUG_LEVEL = 20
# the end of the log that is sampled for DEBUG records, of which only the current
# sitter's count; also how far before a step's mark the run looks for its level
SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Fallback:
    msg: str
    fields: Mapping[str, Any]  # added to (or overriding) the original check's fields
    why: str


DEBUG_ONLY: dict[str, Fallback | None] = {
    "cluster not yet setup": Fallback(
        "assuming role", {"role": "unassigned"},
        "the INFO record of the unassigned role, which a peer takes when it finds no /state",
    ),
    "pg.reconfigure": Fallback(
        "pg: applied config", {},
        "the INFO record of the applied postgres configuration (same role and upstream)",
    ),
    "preparing for new generation (primary gone)": None,
}


def debug_only(msg: str | None) -> bool:
    return msg is not None and msg in DEBUG_ONLY


def fallback_for(msg: str) -> Fallback | None:
    return DEBUG_ONLY.get(msg)


def writes_debug(records: Iterable[LogRecord]) -> bool | None:
    """Pure: True if any record is DEBUG (or TRACE); False if there are bunyan records
    and none is; None when there is nothing to judge by."""
    seen = False
    for record in records:
        level = record.level
        if level is None:
            continue
        if level <= DEBUG_LEVEL:
            return True
        seen = True
    return False if seen else None


def records_of(data: bytes) -> list[LogRecord]:
    lines = data.split(b"\n")
    if data and not data.endswith(b"\n"):
        lines = lines[:-1]  # a partial last line
    return [parse_line(line) for line in lines[1:] if line]  # the first may be cut


def describe(debug: bool | None) -> str:
    if debug is None:
        return "unknown (no bunyan records yet)"
    return "yes" if debug else "no (the sitter logs at info: DEBUG-only checks use fallbacks)"


def sample_zone(session: Any, zone: str) -> bool | None:
    """Whether the zone's sitter log, near its end, holds DEBUG records (reads at most
    ``SAMPLE_BYTES``, in one round trip). Raises MigratorError when the log cannot be read."""
    return judge_end(session.read_log_end(zone, SAMPLE_BYTES))


def judge_end(end: Any) -> bool | None:
    """Pure: ``sample_zone``'s verdict on a ``remote.logs.LogEnd``: whether the sitter
    that wrote the newest records (not an earlier one, whose records the log also
    holds) writes DEBUG records."""
    if end.mark.inode is None or end.mark.offset == 0 or not end.data:
        return None
    data = end.data if end.cut else b"\n" + end.data  # from byte 0 nothing is cut
    return current_sitter(records_of(data)).debug


def _pid(record: LogRecord) -> Any:
    pid = record.get("pid")
    return pid if isinstance(pid, int | str) and not isinstance(pid, bool) else None


@dataclass
class SitterRun:
    """Pure, fed a log's records in order: the current sitter's run of records.

    ``pid``: the newest record's (None until a record names one); ``debug``:
    ``writes_debug`` over the run's records; ``start``: the index, among the records
    taken, of the run's first record. A bunyan record of another pid starts a new
    run (a restarted sitter); a bunyan record without a pid is counted in the
    current run (nothing says whose else it is); a line that is not bunyan is
    nobody's.
    """

    pid: Any = None
    debug: bool | None = None
    start: int = 0
    taken: int = 0

    def take(self, record: LogRecord) -> bool:
        """Note the next record; True when it is the current sitter's (now)."""
        index = self.taken
        self.taken += 1
        if not record.is_bunyan:
            return False
        pid = _pid(record)
        if pid is not None and pid != self.pid:
            if self.pid is not None:  # a sitter since the last one: its records alone count
                self.debug, self.start = None, index
            self.pid = pid
        level = record.level
        if level is not None and self.debug is not True:
            self.debug = level <= DEBUG_LEVEL
        return True


def current_sitter(records: Iterable[LogRecord]) -> SitterRun:
    """Pure: the run of the sitter that wrote the newest records."""
    run = SitterRun()
    for record in records:
        run.take(record)
    return run


@dataclass
class SitterEvidence:
    """Pure: a ``log_record`` check's matching, judged on the current sitter's records.

    ``spec`` is what the check asks for. When it asks for a DEBUG-only record
    (``DEBUG_ONLY``), ``fallback`` (from ``for_spec``) is accepted instead as long as
    the current sitter has written no DEBUG record: a sitter at debug writes the
    DEBUG record before its fallback (``cluster not yet setup`` before ``assuming
    role``, ``pg.reconfigure`` before ``pg: applied config``), one at info never.

    Use: ``prime`` with the records before the step's mark (for the level only) and
    those since it, which returns the ones a match may come from; then ``accepts``
    each of those, and ``matches`` each record read after them (a follower's).
    """

    spec: RecordMatch
    debug_only: bool = False
    fallback: RecordMatch | None = None
    why: str | None = None  # what the fallback is, for the operator
    sitter: SitterRun = field(default_factory=SitterRun)
    used_fallback: bool = False

    @classmethod
    def for_spec(cls, spec: RecordMatch) -> SitterEvidence:
        if not debug_only(spec.msg):
            return cls(spec)
        instead = fallback_for(str(spec.msg))
        if instead is None:
            return cls(spec, debug_only=True)
        replaced = RecordMatch(msg=instead.msg, fields={**spec.fields, **instead.fields},
                               min_level=spec.min_level)
        return cls(spec, True, replaced, instead.why)

    def prime(self, before: Sequence[LogRecord], since: Sequence[LogRecord]
              ) -> list[LogRecord]:
        """Take the records before the mark and since it; returns those since it that
        are the current sitter's (a record of a sitter replaced since is not)."""
        for record in [*before, *since]:
            self.sitter.take(record)
        return list(since[max(0, self.sitter.start - len(before)):])

    def accepts(self, record: LogRecord) -> bool:
        """Whether a record already taken (the current sitter's) is the evidence."""
        if not record.is_bunyan:
            return self.spec.matches(record)  # a raw line: `contains` only
        if self.spec.matches(record):
            return True
        if self.fallback is not None and self.sitter.debug is not True and (
                self.fallback.matches(record)):
            self.used_fallback = True
            return True
        return False

    def matches(self, record: LogRecord) -> bool:
        """Take the next record read and say whether it is the evidence (``search``'s
        matcher)."""
        self.sitter.take(record)  # the newest record's sitter is the current one
        return self.accepts(record)

    @property
    def hopeless(self) -> bool:
        """A DEBUG-only record with no fallback, and the current sitter writes no DEBUG
        records: it will never be written."""
        return self.debug_only and self.fallback is None and self.sitter.debug is False

    def describe(self) -> str:
        if self.fallback is None:
            return self.spec.describe()
        return f"{self.spec.describe()} (or, at info, {self.fallback.describe()})"
