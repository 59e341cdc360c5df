"""Pure: where each peer's data stands, and whether a primary lacks what another peer holds.

A peer's *position* is its postgres timeline id and WAL location: for a primary its
current (insert) LSN, for a standby the greater of its receive (flushed) and replay
LSNs, with the timeline it receives on. Each peer also reports what it knows of
its timeline's history (postgres's ``NNNNNNNN.history`` file: every ancestor
timeline and the LSN at which it was left).

Decision (issue 24 §1), conservative: when in doubt, report divergence.

* Peer X's data *includes* peer Y's when
  - they are on the same timeline and X's LSN is at or past Y's, or
  - Y's timeline is an ancestor of X's (X's history names it) and Y stopped at or
    before the point where X's history left it (Y holds a prefix of X's WAL).
* Anything else is *not* included: Y ahead on the same timeline; Y on a later
  timeline than X (Y was promoted, or follows a peer that was, and wrote past where
  it forked); Y on an earlier timeline past the fork point (Y holds commits X's
  history never had: a fork); Y on an earlier timeline X's history does not name,
  or X reports no history (cannot be shown to be a prefix: treated as divergence).
* "The peer with the most data" is the peer whose data includes every other's;
  when none does, the shard has forked and no single peer holds everything.
* A named primary *lacks commits* when some peer's data is not included in its own.
  A primary that reported no position cannot be judged, and is not judged healthy.

For a healthy verdict on a shard taking writes, read the standbys before the
primary: whatever a standby had then, its primary had already written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["primary", "standby"]

_LSN_RE = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\Z")

# What every zone runs (through `commands.pg_position`, default: psql as postgres) to
# report its position: one line ``ROLE|TIMELINE|LSN|HISTORY`` where HISTORY is the
# timeline's history file with lines joined by ';' and tabs made ',' (empty on
# timeline 1). PostgreSQL 10 or later (pg_wal, the *_lsn functions); no braces, no
# dollar signs and no double quotes, so it can stand in a shell command.
POSITION_SQL = (
    "WITH s AS (SELECT pg_is_in_recovery() AS r), p AS (SELECT r, "
    "CASE WHEN r THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver "
    "WHERE received_tli > 0), (SELECT timeline_id FROM pg_control_checkpoint())) "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int "
    "END AS tli, "
    "CASE WHEN r THEN coalesce(greatest(pg_last_wal_receive_lsn(), "
    "pg_last_wal_replay_lsn()), '0/0'::pg_lsn) ELSE pg_current_wal_lsn() END AS lsn "
    "FROM s) "
    "SELECT CASE WHEN r THEN 'standby' ELSE 'primary' END || '|' || tli || '|' || "
    "lsn::text || '|' || coalesce(translate(pg_read_file('pg_wal/' || "
    "lpad(upper(to_hex(tli)), 8, '0') || '.history', 0, 65536, true), "
    "chr(10) || chr(9), ';,'), '') FROM p"
)


class PositionUnreadable(ValueError):
    """A zone's answer is not a position line."""


def parse_lsn(text: str) -> int:
    """``"0/174A4D0"`` -> a comparable integer (as manatee_status.lsn)."""
    match = _LSN_RE.fullmatch(text.strip())
    if match is None:
        raise PositionUnreadable(f"{text!r} is not a postgres WAL location")
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class Position:
    zone: str
    role: Role
    timeline: int
    lsn: int
    # ancestor timeline -> the LSN at which it was left (the switch point)
    history: Mapping[int, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.zone[:8]} ({self.role}, timeline {self.timeline} at {format_lsn(self.lsn)})"


def parse_position(zone: str, text: str) -> Position:
    """The one line ``POSITION_SQL`` prints (surrounding blank lines ignored)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise PositionUnreadable(f"expected one line ROLE|TIMELINE|LSN|HISTORY, got "
                                 f"{text.strip()[:200]!r}")
    parts = lines[0].split("|", 3)
    if len(parts) < 3:
        raise PositionUnreadable(f"expected ROLE|TIMELINE|LSN|HISTORY, got {lines[0][:200]!r}")
    role, timeline_text, lsn_text = parts[0], parts[1], parts[2]
    if role not in ("primary", "standby"):
        raise PositionUnreadable(f"{role!r} is neither primary nor standby")
    if not timeline_text.isdigit() or int(timeline_text) < 1:
        raise PositionUnreadable(f"{timeline_text!r} is not a timeline id")
    history = parse_history(parts[3] if len(parts) > 3 else "")
    return Position(zone, "primary" if role == "primary" else "standby",
                    int(timeline_text), parse_lsn(lsn_text), history)


def parse_history(text: str) -> dict[int, int]:
    """``1,0/3000060,reason;2,0/5000000,reason`` (a history file, lines joined by ';',
    tabs made ','). A line that is not ``TIMELINE,LSN[,...]`` is skipped: a timeline
    it would have named then counts as unknown, which the rule treats as divergence."""
    found: dict[int, int] = {}
    for line in text.split(";"):
        fields = [f.strip() for f in line.split(",", 2)]
        if len(fields) < 2 or not fields[0].isdigit():
            continue
        try:
            found[int(fields[0])] = parse_lsn(fields[1])
        except PositionUnreadable:
            continue
    return found


def includes(holder: Position, other: Position) -> bool:
    """Does ``holder``'s data include everything ``other`` holds? (The rule above.)"""
    if holder.timeline == other.timeline:
        return holder.lsn >= other.lsn
    if other.timeline < holder.timeline:
        left_at = holder.history.get(other.timeline)
        return left_at is not None and other.lsn <= left_at
    return False


def most_data(positions: Iterable[Position]) -> Position | None:
    """The peer whose data includes every other's (the first such, in the order given);
    None when there is none: the peers have forked."""
    peers = list(positions)
    for candidate in peers:
        if all(includes(candidate, other) for other in peers):
            return candidate
    return None


@dataclass(frozen=True)
class DataVerdict:
    ok: bool
    reason: str
    primary: Position | None
    ahead: tuple[Position, ...] = ()  # peers holding data the primary lacks
    most: Position | None = None

    @property
    def forked(self) -> bool:
        """No peer holds everything: some peer's data is outside the primary's history."""
        return not self.ok and self.most is None


def why_not_included(holder: Position, other: Position) -> str:
    if holder.timeline == other.timeline:
        return (f"{other} is {other.lsn - holder.lsn} bytes of WAL ahead of it on the same "
                "timeline")
    if other.timeline > holder.timeline:
        return (f"{other} is on a later timeline than {holder.timeline}: it was promoted (or "
                "follows a peer that was) and wrote past the fork")
    left_at = holder.history.get(other.timeline)
    if left_at is None:
        return (f"{other} is on timeline {other.timeline}, which the history of timeline "
                f"{holder.timeline} does not name (cannot show it holds nothing more)")
    return (f"{other} went on past {format_lsn(left_at)}, where timeline "
            f"{holder.timeline} forked from timeline {other.timeline}: it holds commits "
            "the primary's history never had")


def judge_primary(positions: Sequence[Position], primary: str) -> DataVerdict:
    """Does the peer in zone ``primary`` hold everything every listed peer holds?"""
    head = next((p for p in positions if p.zone == primary), None)
    most = most_data(positions)
    if head is None:
        return DataVerdict(False, f"the primary {primary[:8]} reported no position, so "
                                  "whether it lacks data cannot be told", None, (), most)
    ahead = tuple(p for p in positions if p.zone != primary and not includes(head, p))
    if ahead:
        reasons = "; ".join(why_not_included(head, p) for p in ahead)
        where = (f"the peer with the most data is {most}" if most is not None
                 else "no single peer holds everything (the peers have forked)")
        return DataVerdict(False, f"the primary {head} lacks data: {reasons}; {where}",
                           head, ahead, most)
    others = [p for p in positions if p.zone != primary]
    shown = "; ".join(str(p) for p in others) or "no other peer"
    return DataVerdict(True, f"the primary {head} holds everything the peers hold "
                             f"({shown})", head, (), most)
