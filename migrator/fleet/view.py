"""What the fleet shows of each shard, from its child's events (docs/events.md). Pure.

One row per shard (the live table on a terminal) and one plain line per event worth
a line (without a terminal). Every cell is cut to its column, so a row fits 120
columns whatever a shard's events say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from migrator.fleet.schedule import SKIPPED

# (heading, width): 113 characters, 118 with the single spaces between the columns
COLUMNS: tuple[tuple[str, int], ...] = (
    ("SHARD", 25), ("STEP", 22), ("ELAPSED", 7), ("NOW", 38), ("OUTAGE", 7),
    ("VERDICT", 14),
)
WIDTH = sum(width for _name, width in COLUMNS) + len(COLUMNS) - 1


@dataclass(frozen=True)
class ShardRow:
    """Where one shard stands, as the fleet knows it from its events."""

    shard: str
    verb: str | None = None  # run or resume, once started
    started: float | None = None  # the parent's monotonic clock when its child started
    ended: float | None = None
    index: int | None = None
    total: int | None = None
    step: str | None = None
    now: str = "waiting to start"
    outage_since: float | None = None  # an outage step under way, since
    last_outage: float | None = None  # the last outage step's own length, seconds
    verdict: str | None = None
    skip: str | None = None

    @property
    def running(self) -> bool:
        return self.started is not None and self.ended is None


def skipped(shard: str, why: str) -> ShardRow:
    return ShardRow(shard, now=f"skipped: {why}", verdict=SKIPPED, skip=why)


def apply(row: ShardRow, event: Mapping[str, Any], now: float) -> ShardRow:
    """The row after one of its child's events (``now``: the parent's monotonic clock)."""
    kind = event.get("event")
    if kind == "step":
        return replace(row, index=_int(event.get("index")), total=_int(event.get("total")),
                       step=_text(event.get("step")), now="starting the step")
    if kind == "step-started":
        return replace(row, now="checking preconditions")
    if kind == "question":
        return replace(row, now=f"asking: {_text(event.get('question'))}")
    if kind == "confirm":
        return replace(row, now=f"confirmed: {_text(event.get('answer'))}")
    if kind == "action-started":
        zone = event.get("zone")
        return replace(row, now="acting: " + _text(event.get("command") or event.get("step"))
                       + (f" on {_text(zone)}" if zone else ""))
    if kind == "heartbeat":
        seen = event.get("lastSeen")
        what = _text(event.get("command") if event.get("phase") == "action"
                     else event.get("what"))
        elapsed = event.get("elapsed")
        clock = f" ({elapsed:.0f} s)" if isinstance(elapsed, (int, float)) else ""
        return replace(row, now=(f"{what}{clock}: {_text(seen)}" if seen else f"{what}{clock}"))
    if kind == "waiting":
        return replace(row, now=f"waiting: {_text(event.get('what'))}")
    if kind == "action-finished":
        return replace(row, now="verifying")
    if kind == "step-finished":
        return replace(row, now=f"done: {_text(event.get('step'))}")
    if kind == "outage-started":
        return replace(row, outage_since=now)
    if kind == "outage-ended":
        seconds = event.get("seconds")
        return replace(row, outage_since=None,
                       last_outage=float(seconds) if isinstance(seconds, (int, float))
                       else row.last_outage)
    if kind == "alarm":
        return replace(row, now=f"ALARM {_text(event.get('kind'))}: "
                       f"{_text(event.get('message'))}")
    if kind == "error":
        return replace(row, now=_text(event.get("message")))
    if kind == "nothing":
        return replace(row, now=_text(event.get("reason")))
    return row


def started(row: ShardRow, verb: str, now: float) -> ShardRow:
    return replace(row, verb=verb, started=now, now=f"{verb}: starting")


def finished(row: ShardRow, found: str, now: float, why: str | None = None) -> ShardRow:
    """The row once the shard's verdict is known (``why``: replaces what it was doing)."""
    return replace(row, verdict=found, ended=now if row.started is not None else None,
                   outage_since=None, now=why if why is not None else row.now)


def cells(row: ShardRow, now: float) -> list[str]:
    """The row's cells, each cut to its column."""
    step = ""
    if row.index is not None and row.total is not None:
        step = f"{row.index}/{row.total} {row.step or ''}"
    elapsed = ""
    if row.started is not None:
        elapsed = clock((row.ended if row.ended is not None else now) - row.started)
    outage = ""
    if row.outage_since is not None:
        outage = "! " + clock(now - row.outage_since)
    elif row.last_outage is not None:
        outage = clock(row.last_outage)
    verdict = row.verdict or ("running" if row.running else "")
    values = [row.shard, step, elapsed, row.now, outage, verdict]
    return [fit(value, width) for value, (_name, width) in zip(values, COLUMNS, strict=True)]


def clock(seconds: float) -> str:
    """``42s``, ``3m07s``, ``1h02m``."""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def fit(text: str, width: int) -> str:
    """One line of at most ``width`` characters (cut with an ellipsis)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def plain_line(shard: str, event: Mapping[str, Any]) -> str | None:
    """The line a run without a terminal prints for one of a shard's events, if any."""
    kind = event.get("event")
    text: str | None = None
    if kind == "step":
        text = (f"step {event.get('index')}/{event.get('total')} {_text(event.get('step'))}: "
                f"{_text(event.get('title'))}")
    elif kind == "action-started":
        text = f"acting: {_text(event.get('command') or event.get('step'))}"
    elif kind == "waiting":
        text = f"waiting{_seconds(event.get('timeout'), ' up to')} for: {_text(event.get('what'))}"
    elif kind == "outage-started":
        text = (f"write outage expected ({_text(event.get('step'))}): "
                f"{_text(event.get('cause'))}")
    elif kind == "outage-ended":
        text = (f"write outage step {_text(event.get('step'))} over"
                f"{_seconds(event.get('seconds'), ' after')}")
    elif kind == "step-finished":
        text = f"done: {_text(event.get('step'))} ({_text(event.get('doneBy'))})"
    elif kind == "alarm":
        text = f"ALARM {_text(event.get('kind'))}: {_text(event.get('message'))}"
    elif kind == "error":
        text = f"error: {_text(event.get('message'))}"
    if text is None:
        return None
    return f"{shard}: {' '.join(text.split())}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(value: Any, before: str) -> str:
    """`` up to 60 s`` from a figure in an event (rounded as the single run prints it);
    nothing when the event has none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{before} {value:.0f} s"
