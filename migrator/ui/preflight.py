"""The pre-flight table (``migrator.engine.preflight``'s verdict) on the terminal: one
row per zone, Moray, ZooKeeper, the lock and this machine, then every problem or note
in a paragraph of its own. The verdict is the engine's data; how it looks is decided
here."""

from __future__ import annotations

import sys
from typing import Any

from migrator.ui.output import Cell, Output


def table(verdict: Any) -> tuple[list[str], list[list[Any]]]:
    """The ``inventory check`` table, with the election and the gate's verdict per row."""
    headers = ["ZONE", "KIND", "ROUTE", "REACHABLE", "HOST KEY", "VERSION", "SITTER",
               "ELECTION", "LOG", "VERDICT"]
    rows: list[list[Any]] = []
    for row in verdict.rows:
        verdict_cell = (Cell("ok", "green") if row.ok and not row.note else
                        Cell("note", "yellow") if row.ok else Cell("REFUSED", "red"))
        report = row.report
        if report is None:
            rows.append([row.subject, row.kind, "-", "-", "-", "-", "-", "-", row.detail,
                         verdict_cell])
            continue
        rows.append([
            report.zone, report.kind, report.route,
            Cell("yes", "green") if report.reachable else Cell("NO", "red"),
            Cell(report.host_key, None if report.host_key in ("known", "recorded", "-")
                 else "red"),
            report.version or "-",
            report.sitter or "-",
            Cell(row.election, "red" if row.election == "NO" else None),
            report.log or "-", verdict_cell,
        ])
    return headers, rows


def show(verdict: Any, stream: Any = None, as_json: bool = False) -> None:
    """The table and every problem or note, one paragraph each (stderr by default)."""
    if as_json:
        return
    out = Output(False, stream=stream or sys.stderr)
    headers, rows = table(verdict)
    out.heading("Pre-flight check:")
    out.table(headers, rows)
    for row in verdict.rows:
        if not row.ok or row.note:
            out.heading(f"{'REFUSED' if not row.ok else 'note'}: {row.subject}: {row.detail}")
