"""Rendering for people and for programs.

On a terminal: rich tables and colour (``NO_COLOR`` honoured by rich). Piped:
plain aligned text, no escape codes. ``--json``: one JSON document on stdout.
Messages for the operator go to stderr so stdout stays parseable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from migrator.ui.inert import inert, inert_markup


@dataclass
class Cell:
    """A table cell with an optional rich style (ignored in plain output)."""

    text: str
    style: str | None = None


CellLike = str | Cell


def _text(cell: CellLike) -> str:
    return cell.text if isinstance(cell, Cell) else cell


class Output:
    def __init__(self, as_json: bool = False, stream: Any = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def json(self, document: Any) -> None:
        self.stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def raw(self, text: str) -> None:
        text = inert(text)
        self.stream.write(text if text.endswith("\n") else text + "\n")

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[CellLike]],
        title: str | None = None, max_width: int | None = None,
    ) -> None:
        """On a terminal, rich lays the table out within its width (and ``max_width``),
        folding a cell that does not fit rather than cutting it; piped, plain columns."""
        if self.is_tty:
            # deferred: rich costs ~30 ms to import; only terminal views pay it
            from rich.console import Console
            from rich.table import Table

            table = Table(title=None if title is None else _escape(title),
                          title_justify="left")
            for header in headers:
                table.add_column(_escape(header), overflow="fold")
            for row in rows:
                table.add_row(
                    *(
                        f"[{c.style}]{_escape(c.text)}[/]" if isinstance(c, Cell) and c.style
                        else _escape(_text(c))
                        for c in row
                    )
                )
            console = Console(file=self.stream, no_color=bool(os.environ.get("NO_COLOR")))
            if max_width is not None:
                console.width = min(console.width, max_width)
            console.print(table)
            return
        if title:
            self.stream.write(inert(title) + "\n")
        headers = [inert(h, one_line=True) for h in headers]
        texts = [[inert(_text(c), one_line=True) for c in row] for row in rows]
        widths = [
            max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(headers)
        ]
        lines = [headers, *texts]
        for line in lines:
            self.stream.write(
                "  ".join(v.ljust(widths[i]) for i, v in enumerate(line)).rstrip() + "\n"
            )

    def heading(self, text: str) -> None:
        self.stream.write(inert(text) + "\n")


def _escape(text: str) -> str:
    return inert_markup(text)


def say(text: str) -> None:
    """A line for the operator, on stderr."""
    sys.stderr.write(inert(text) + "\n")
    sys.stderr.flush()
