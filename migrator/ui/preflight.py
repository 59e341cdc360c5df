"""The pre-flight table (``migrator.engine.preflight``'s verdict) and the ``inventory check``
table on the terminal. The verdict and the zones' reports are the engine's data; how they
look is decided here.

Both fit in 120 columns (``WIDTH``; a narrower terminal's width when on one) with
real Triton values, and no fact is dropped (issue 20 §7). Decisions:

* The table holds what is judged, one short cell per fact: reachable, host key, version,
  sitter, election, the sitter log's state and size, the verdict. What is long goes
  below it, under "Zones in full:", one block per zone: its full id and kind, how it is
  reached (its own sshd, or zlogin on which compute node), the route as the session
  reaches it, and the sitter log's path with its exact size. The route and the log
  path are shown there only: in columns (with ZooKeeper's answer in the LOG column)
  they made the table of a three-zone Triton shard about 300 columns wide.
* A zone whose id is a UUID is shown in the table by its first 8 characters (more when
  two zones of the table share them, so that each stays told apart), as ``git`` shows
  commits; the full id opens its block below, and every problem or note names the zone
  in full. A zone named otherwise (a sandbox's short names) is shown whole.
* The sitter log's cell is ``ok (N bytes)`` for a log that exists and was read (sizes
  of 1000 bytes and more in KiB, MiB or GiB), ``MISSING`` for one that does not exist,
  ``-`` when it was not looked at; the exact size is in the block below.
* A value the zone reports itself (its version, its sitter's state) that is longer than
  its column allows is cut in the table with ``…`` and given whole in the zone's block.
* ZooKeeper, the lock, this machine and the inventory keep a row of their own (their
  verdict in the VERDICT column); what was seen is a line below the table, or the
  problem's or note's paragraph when there is one.
* Lines below the table are wrapped at the width, never inside a word: a path or a
  command stays whole (a single word longer than the width is the only thing that can
  pass it). On a terminal rich lays the table out within the width and folds a cell
  rather than cutting it (``Output.table``).
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from migrator.ui.inert import inert
from migrator.ui.output import Cell, Output

WIDTH = 120  # the widest the tables and the lines below them are

_UUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")
_SHORT = 8
# the longest a value the zone reports (version, sitter state) is shown in the table
_VERSION_CELL = 16  # a Moray's image stamp, 20141204T233537Z
_SITTER_CELL = 11
_LOG_END = re.compile(r"^(?P<path>.*) \((?P<what>\d+ bytes|does not exist)\)\Z", re.S)


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Each UUID by its shortest prefix of at least 8 characters that no other name
    shares; any other name whole."""
    names = list(dict.fromkeys(names))
    out: dict[str, str] = {}
    for name in names:
        if not _UUID.fullmatch(name):
            out[name] = name
            continue
        length = _SHORT
        while length < len(name) and any(
                other != name and other.startswith(name[:length]) for other in names):
            length += 1
        out[name] = name[:length]
    return out


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _log_cell(log: str | None) -> Cell:
    """The sitter log's state in a few characters (the path and exact size are below)."""
    if not log:
        return Cell("-")
    found = _LOG_END.match(log)
    if found is None:
        return Cell(_clip(log, 16))
    if found.group("what") == "does not exist":
        return Cell("MISSING", "red")
    return Cell(f"ok ({_size(int(found.group('what').split()[0]))})")


def _host_key(report: Any) -> Cell:
    return Cell(report.host_key, None if report.host_key in ("known", "recorded", "-")
                else "red")


def _reachable(report: Any) -> Cell:
    return Cell("yes", "green") if report.reachable else Cell("NO", "red")


def table(verdict: Any) -> tuple[list[str], list[list[Any]]]:
    """The pre-flight table: the ``inventory check`` facts with the sitter, the election
    and the gate's verdict per row (see the module docstring for what is below it)."""
    headers = ["ZONE", "KIND", "REACHABLE", "HOST KEY", "VERSION", "SITTER", "ELECTION",
               "LOG", "VERDICT"]
    short = short_names(row.report.zone for row in verdict.rows if row.report is not None)
    rows: list[list[Any]] = []
    for row in verdict.rows:
        verdict_cell = (Cell("ok", "green") if row.ok and not row.note else
                        Cell("note", "yellow") if row.ok else Cell("REFUSED", "red"))
        report = row.report
        if report is None:
            rows.append([row.subject, "-", "-", "-", "-", "-", "-", "-", verdict_cell])
            continue
        rows.append([
            short[report.zone], report.kind, _reachable(report), _host_key(report),
            _clip(report.version or "-", _VERSION_CELL),
            _clip(report.sitter or "-", _SITTER_CELL),
            Cell(row.election, "red" if row.election == "NO" else None),
            _log_cell(report.log), verdict_cell,
        ])
    return headers, rows


def check_table(reports: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
    """The ``inventory check`` table: one row per zone and Moray (its details below it,
    ``zone_lines``)."""
    headers = ["ZONE", "KIND", "VIA", "REACHABLE", "HOST KEY", "VERSION", "LOG", "DEBUG LOG"]
    short = short_names(r.zone for r in reports)
    rows: list[list[Any]] = []
    for r in reports:
        rows.append([
            short[r.zone], r.kind, "zlogin" if r.via == "zlogin" else "ssh",
            _reachable(r), _host_key(r), _clip(r.version or "-", _VERSION_CELL),
            _log_cell(r.log),
            "-" if r.kind != "manatee" else
            Cell("yes") if r.debug_records else
            Cell("unknown") if r.debug_records is None else Cell("no", "yellow"),
        ])
    return headers, rows


def zone_lines(reports: Sequence[Any]) -> list[str]:
    """Below the table: each zone in full (id, kind, how it is reached, route, sitter
    log), and its version or sitter state when the table had to cut it; unwrapped."""
    if not reports:
        return []
    lines = ["Zones in full:"]
    for r in reports:
        how = (f"zlogin on compute node {r.node}" if r.via == "zlogin" and r.node
               else "zlogin" if r.via == "zlogin" else "its own sshd")
        lines.append(f"  {r.zone} ({r.kind}) via {how}")
        lines.append(f"    route: {r.route}")
        if r.log:
            lines.append(f"    sitter log: {r.log}")
        if r.version and len(r.version) > _VERSION_CELL:
            lines.append(f"    version: {r.version}")
        if r.sitter and len(r.sitter) > _SITTER_CELL:
            lines.append(f"    sitter: {r.sitter}")
    return lines


def width(out: Output) -> int:
    """``WIDTH``, or a narrower terminal's width (its ``COLUMNS`` when set)."""
    if not out.is_tty:
        return WIDTH
    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


def wrapped(lines: Iterable[str], columns: int) -> list[str]:
    """Each line made inert and wrapped at ``columns``, never inside a word; a wrapped
    line's continuation is indented four more than its start."""
    out: list[str] = []
    for text in lines:
        for line in inert(text).split("\n"):
            indent = " " * (len(line) - len(line.lstrip(" ")))
            out.extend(textwrap.wrap(
                line, columns, initial_indent="", subsequent_indent=indent + "    ",
                break_long_words=False, break_on_hyphens=False) or [""])
    return out


def show_check(reports: Sequence[Any], out: Output) -> None:
    """The ``inventory check`` table and each zone in full below it."""
    columns = width(out)
    out.table(*check_table(reports), max_width=columns)
    for line in wrapped(zone_lines(reports), columns):
        out.heading(line)


def show(verdict: Any, stream: Any = None, as_json: bool = False) -> None:
    """The table, each zone in full, what was seen of ZooKeeper and the lock, and every
    problem or note, one paragraph each (stderr by default)."""
    if as_json:
        return
    out = Output(False, stream=stream or sys.stderr)
    columns = width(out)
    headers, rows = table(verdict)
    out.heading("Pre-flight check:")
    out.table(headers, rows, max_width=columns)
    lines = [f"{row.subject}: {row.detail}" for row in verdict.rows
             if row.report is None and row.ok and not row.note]
    lines += zone_lines([row.report for row in verdict.rows if row.report is not None])
    lines += [f"{'REFUSED' if not row.ok else 'note'}: {row.subject}: {row.detail}"
              for row in verdict.rows if not row.ok or row.note]
    for line in wrapped(lines, columns):
        out.heading(line)
