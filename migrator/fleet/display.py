"""The fleet's three views (``migrator.fleet.run.Display``).

* ``JsonDisplay`` (`--json`): every child event on stdout with a ``shard`` field
  added, and the fleet's own events; human notes on stderr.
* ``PlainDisplay`` (no terminal): one line per event worth one, on stderr.
* ``LiveDisplay`` (a terminal): a rich Live table on stderr, redrawn on each event
  and every half second; notes printed above it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.fleet import view
from migrator.fleet.view import ShardRow
from migrator.isotime import iso_now_ms
from migrator.ui.inert import inert


def _line(stream: Any, text: str) -> None:
    stream.write(inert(text) + "\n")
    stream.flush()


class _Lines:
    """What the two line views share: notes on stderr, no table to redraw or pause."""

    def __init__(self, err: Any = None) -> None:
        self.err = err or sys.stderr

    def note(self, text: str) -> None:
        _line(self.err, text)

    def refresh(self, rows: list[ShardRow], now: float) -> None:
        return

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield


class JsonDisplay(_Lines):
    def __init__(self, out: Any = None, err: Any = None) -> None:
        super().__init__(err)
        self.out = out or sys.stdout

    def _write(self, document: dict[str, Any]) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def fleet_event(self, event: dict[str, Any]) -> None:
        self._write({"event": event["event"], "time": iso_now_ms(),
                     **{k: v for k, v in event.items() if k != "event"}})

    def shard_event(self, shard: str, event: dict[str, Any]) -> None:
        self._write({**event, "shard": shard})


class PlainDisplay(_Lines):

    def fleet_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "fleet-started":
            _line(self.err, f"Fleet {event['fleet']}: {len(event['shards'])} shard(s) to "
                  f"{event['verb']}, at most {event['parallel']} at once"
                  + (f"; skipped: {', '.join(event['skipped'])}" if event["skipped"] else ""))
        elif kind == "shard-started":
            _line(self.err, f"{event['shard']}: started ({event['verb']}, pid {event['pid']}; "
                  f"its output: {event['log']})")
        elif kind == "shard-finished":
            _line(self.err, f"{event['shard']}: {event['verdict']} (exit status "
                  f"{event['exitStatus']})")
        elif kind == "fleet-finished":
            for shard, found in event["verdicts"].items():
                _line(self.err, f"  {shard}: {found}")
            if event.get("resume"):
                _line(self.err, f"To continue: {event['resume']}")

    def shard_event(self, shard: str, event: dict[str, Any]) -> None:
        line = view.plain_line(shard, event)
        if line is not None:
            _line(self.err, line)


class LiveDisplay(PlainDisplay):
    """The table; the shards' events themselves are in their logs and journals."""

    def __init__(self, err: Any = None) -> None:
        super().__init__(err)
        # deferred: rich costs ~30 ms to import; only terminal views pay it
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.err, highlight=False, width=view.WIDTH + 2)
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.live.start()

    def _table(self, rows: list[ShardRow], now: float) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False)
        for name, width in view.COLUMNS:
            table.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
        for row in rows:
            style = {"migrated": "green", "already migrated": "green", "skipped": "dim",
                     "running": None}.get(row.verdict or "running", "red")
            table.add_row(*(Text(inert(cell, one_line=True)) for cell in view.cells(row, now)),
                          style=style)
        return table

    def shard_event(self, shard: str, event: dict[str, Any]) -> None:
        if event.get("event") in ("alarm", "error"):
            line = view.plain_line(shard, event)
            if line is not None:
                self.live.console.print(inert(line), style="red", markup=False)

    def fleet_event(self, event: dict[str, Any]) -> None:
        if event["event"] == "fleet-finished":
            self.live.stop()
            super().fleet_event(event)

    def note(self, text: str) -> None:
        self.live.console.print(inert(text), markup=False)

    def refresh(self, rows: list[ShardRow], now: float) -> None:
        self.live.update(self._table(rows, now), refresh=True)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """A question owns the terminal: no live table under it."""
        self.live.stop()
        try:
            yield
        finally:
            self.live.start()

    def close(self) -> None:
        self.live.stop()
