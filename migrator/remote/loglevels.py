"""Which sitter records are DEBUG upstream, whether a zone's sitter writes them, and the
INFO-level evidence a check falls back on when it does not.

Upstream's peer logs ``cluster not yet setup`` and ``pg.reconfigure`` at DEBUG.
Triton's SMF manifest starts the sitter with ``-vvv``, so deployed sitters
write them; a sitter left at its own default (info) never does, and a check
waiting for one would wait out its whole timeout. So:

* ``inventory check`` samples the end of each zone's sitter log and reports
  whether it holds DEBUG records (``debug_records``: True, False, or None when
  the log has no bunyan records to judge by);
* ``plan`` warns about every pending step that waits for a DEBUG record in a
  zone whose log holds none;
* at run time ``log_record`` switches such a check to its INFO fallback
  (below) and says so; a DEBUG record without a fallback fails at once with
  the reason rather than waiting.

Fallbacks (same zone, same fields, every level writes them):
  ``cluster not yet setup`` -> ``assuming role`` with role ``unassigned`` (the
  peer found no /state: the steps that wait for it also check ``state_absent``);
  ``pg.reconfigure`` -> ``pg: applied config``, whose message carries the same
  role/upstream/downstream object in Node's inspect notation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from migrator.remote.bunyan import LogRecord, parse_line

DEBUG_LEVEL = 20
SAMPLE_BYTES = 64 * 1024  # the end of the log that is sampled for DEBUG records


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
    """Pure: ``sample_zone``'s verdict on a ``remote.logs.LogEnd``."""
    if end.mark.inode is None or end.mark.offset == 0 or not end.data:
        return None
    data = end.data if end.cut else b"\n" + end.data  # from byte 0 nothing is cut
    return writes_debug(records_of(data))
