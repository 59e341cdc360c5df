"""`migrator fleet status`: one row per shard, from what its single-shard reads found.

Pure: the rows are built from the shard's mode (``migrator status``'s), its journal's
latest run (as JSON, the way ``ProgressReads`` reads it), its position (``Progress``)
and who holds its run lock, at a given time; the table's cells are fitted to 120
columns here too, so that what a terminal shows is what the tests check.

The migration's state, from the latest run and the lock:

  no run    no journal, or a journal without runs
  running   the lock is held (whatever the journal says: a run takes the lock before
            it writes its journal, and `resume` before it marks the run running again)
  stopped   the run is marked running or interrupted but nobody holds the lock (a
            Ctrl-C, a crash, a lost session): `migrator resume` continues it
  failed    the run failed
  done      the run finished
  skipped   the fleet file says not to run it (and why)
  error     the shard could not be read: its inventory, its ZooKeeper, its znodes
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from migrator.cluster.shard import MODE_BACKFILLED_FROZEN, MODE_LEGACY, MODE_MIGRATED
from migrator.commands.progress import Progress
from migrator.engine.outagewatch import parse_iso
from migrator.isotime import iso_now_ms

# the fleet's words for `migrator status`'s modes
MODE_WORDS = {MODE_LEGACY: "v1", MODE_BACKFILLED_FROZEN: "mixed", MODE_MIGRATED: "v2"}
STATES = ("no run", "running", "stopped", "failed", "done", "skipped", "error")

TABLE_WIDTH = 120
HEADERS = ("SHARD", "MODE", "RUN", "BY", "STEP", "ELAPSED", "OUTAGES")
# each column's widest cell; with two spaces between columns the table is 120 wide
WIDTHS = (26, 5, 7, 20, 31, 7, 12)


@dataclass(frozen=True)
class Outages:
    """The write outages a run has seen so far.

    ``observed`` windows are the run's own measurement, written to its journal when
    the run ends; until then the outage clock's entries (each outage step's length,
    from when it began acting to when it ended) are what there is: ``source`` says
    which (``observed``, ``clock``, or None when there was neither)."""

    count: int = 0
    seconds: float = 0.0
    open: int = 0
    source: str | None = None

    def cell(self) -> str:
        if self.source is None:
            return "-"
        mark = "~" if self.source == "clock" else ""
        text = f"{mark}{self.count}, {self.seconds:.1f}s" if self.count else f"{mark}0"
        return text + (f" +{self.open}" if self.open else "")

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "seconds": round(self.seconds, 3), "open": self.open,
                "source": self.source}


def run_outages(log: Iterable[Any]) -> Outages:
    """The outages of a run, from its journal log (see ``Outages``)."""
    events = [e for e in log if isinstance(e, dict)]
    observed = [e for e in events if e.get("event") == "outage-observed"]
    if observed:
        closed = [_number(e.get("seconds")) for e in observed]
        lengths = [s for s in closed if s is not None]
        return Outages(len(lengths), sum(lengths), len(closed) - len(lengths), "observed")
    started = [str(e.get("step")) for e in events if e.get("event") == "outage-started"]
    ended = [e for e in events if e.get("event") == "outage-ended"]
    if not started and not ended:
        return Outages()
    lengths = [s for s in (_number(e.get("seconds")) for e in ended) if s is not None]
    still = len(started) - len(ended)
    return Outages(len(lengths), sum(lengths), max(still, 0), "clock")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


@dataclass(frozen=True)
class ShardRow:
    """One shard as `fleet status` shows it."""

    shard: str
    state: str
    mode: str | None = None  # v1, mixed, v2; None when it could not be read
    kind: str | None = None  # the latest run's: migration or rollback
    playbook: str | None = None
    run_status: str | None = None  # as the journal says: running, done, failed, ...
    index: int | None = None  # the current or last step, 1-based
    total: int | None = None
    step: str | None = None
    step_status: str | None = None
    operator: str | None = None  # who started the latest run
    started: str | None = None
    last_activity: str | None = None
    elapsed: float | None = None  # seconds
    outages: Outages = field(default_factory=Outages)
    holders: tuple[str, ...] = ()  # the run lock's holders, ``user@host pid N``
    note: str | None = None  # the skip reason, the error, a journal problem

    def step_text(self) -> str:
        if self.index is None or self.total is None:
            return "-"
        prefix = "rollback " if self.kind == "rollback" else ""
        if self.step is None:
            return f"{prefix}{self.total}/{self.total} all done"
        status = "" if self.step_status in (None, "pending") else f" ({self.step_status})"
        return f"{prefix}{self.index}/{self.total} {self.step}{status}"

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard, "state": self.state, "mode": self.mode, "kind": self.kind,
            "playbook": self.playbook, "runStatus": self.run_status, "index": self.index,
            "total": self.total, "step": self.step, "stepStatus": self.step_status,
            "operator": self.operator, "started": self.started,
            "lastActivity": self.last_activity, "elapsedSeconds": self.elapsed,
            "outages": self.outages.to_json(), "lockHolders": list(self.holders),
            "note": self.note,
        }


def mode_word(mode: str) -> str:
    return MODE_WORDS.get(mode, mode)


def run_state(run_status: str | None, holders: Sequence[str]) -> str:
    if holders:
        return "running"
    if run_status is None:
        return "no run"
    if run_status == "failed":
        return "failed"
    if run_status == "done":
        return "done"
    return "stopped"  # running or interrupted, and nobody holds the lock


def last_activity(run: dict[str, Any]) -> str | None:
    """The latest time the run's steps record (as `migrator report` gives it)."""
    steps = run.get("steps")
    times = [str(t) for r in (steps.values() if isinstance(steps, dict) else ())
             if isinstance(r, dict) for t in (r.get("finished") or r.get("started"),) if t]
    return max(times) if times else None


def _elapsed(started: str | None, end: str | None) -> float | None:
    if not started or not end:
        return None
    try:
        seconds = (parse_iso(end) - parse_iso(started)).total_seconds()
    except (TypeError, ValueError):
        return None
    return max(round(seconds, 3), 0.0)


def shard_row(shard: str, mode: str, journal: dict[str, Any] | None,
              progress: Progress | None, holders: Sequence[str], now: datetime,
              journal_problem: str | None = None) -> ShardRow:
    """The row of a shard that could be read. ``journal``: its journal as JSON (None
    without one); ``progress``: the latest run's position as ``migrator status`` gives it;
    ``now``: an aware time, the end of a running run's elapsed time."""
    runs = (journal or {}).get("runs")
    run = runs[-1] if isinstance(runs, list) and runs and isinstance(runs[-1], dict) else None
    if run is None:
        return ShardRow(shard, run_state(None, holders), mode_word(mode),
                        holders=tuple(holders), note=journal_problem)
    status = str(run.get("status", "running"))
    state = run_state(status, holders)
    started = None if run.get("started") is None else str(run.get("started"))
    last = last_activity(run)
    end = iso_now_ms(now) if state == "running" else last
    return ShardRow(
        shard, state, mode_word(mode),
        kind=str(run.get("kind")), playbook=str(run.get("playbook")), run_status=status,
        index=None if progress is None else progress.index,
        total=None if progress is None else progress.total,
        step=None if progress is None else progress.step,
        step_status=None if progress is None else progress.step_status,
        operator=None if run.get("operator") is None else str(run.get("operator")),
        started=started, last_activity=last, elapsed=_elapsed(started, end),
        outages=run_outages(log if isinstance(log := run.get("log"), list) else ()),
        holders=tuple(holders),
        note=journal_problem)


def skipped_row(shard: str, reason: str) -> ShardRow:
    return ShardRow(shard, "skipped", note=reason)


def error_row(shard: str, message: str) -> ShardRow:
    return ShardRow(shard, "error", note=message)


# ---- the table ------------------------------------------------------------------------


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut shown by an ellipsis."""
    return text if len(text) <= width else text[:width - 1] + "…"


def elapsed_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def table_cells(row: ShardRow) -> list[str]:
    """The row's cells, each within its column's width. A skipped or unreadable shard
    says why across the step column: its full reason follows the table (``notes``)."""
    by = row.holders[0] if row.holders else "-"
    if row.state in ("skipped", "error"):
        step = row.note or "-"
    elif row.note:  # a journal that could not be read beside a shard that could
        step = f"journal unreadable: {row.note}"
    else:
        step = row.step_text()
    cells = [row.shard, row.mode or "-", row.state, by, step, elapsed_text(row.elapsed),
             row.outages.cell()]
    return [fit(c, w) for c, w in zip(cells, WIDTHS, strict=True)]


def notes(rows: Sequence[ShardRow]) -> list[str]:
    """The lines below the table: each reason cut in its row, whole, and each run lock
    held by more than one contender (the rest wait for the first)."""
    lines = []
    for row in rows:
        step = table_cells(row)[4]
        if row.note and row.state in ("skipped", "error") and step != row.note:
            lines.append(f"{row.shard}: {row.note}")
        elif row.note and row.state not in ("skipped", "error"):
            lines.append(f"{row.shard}: journal unreadable: {row.note}")
        if len(row.holders) > 1:
            lines.append(f"{row.shard}: run lock held by {row.holders[0]}; waiting: "
                         + ", ".join(row.holders[1:]))
    return lines


def counts(rows: Sequence[ShardRow]) -> dict[str, int]:
    """How many shards are in each state (every state named, in ``STATES`` order)."""
    return {state: sum(1 for r in rows if r.state == state) for state in STATES}


def counts_line(rows: Sequence[ShardRow]) -> str:
    found = counts(rows)
    return f"{len(rows)} shard(s): " + ", ".join(
        f"{n} {state}" for state, n in found.items() if n)
