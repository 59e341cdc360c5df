"""Outside text on its way to a terminal, made inert.

Values from ZooKeeper (zone ids, freeze reasons, shard names), the zones
(versions, command output), the headnode, journals (operator names) and files
reach the operator's terminal in tables, messages and errors. A terminal acts
on control characters: ``ESC ] 0 ; title BEL`` sets its title, ``ESC [ 2 J``
clears the screen, OSC 8 makes links, and bidirectional overrides reorder what
is shown. rich also reads ``[style]`` markup in what it prints.

Every human-facing writer passes text through ``inert`` (plain output) or
``inert_markup`` (text that rich parses). Control characters (C0 but newline
and tab, DEL, C1) and the Unicode bidirectional controls are shown as Python
escapes (``\\x1b``, ``\\u202e``), as OpenSSH's ``vis`` shows remote text; the
text stays readable and nothing is dropped. ``--json`` output is not passed
through it: JSON escapes control characters itself and stays exact.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(text: str, *, one_line: bool = False) -> str:
    """``text`` with every terminal control shown as an escape; with ``one_line`` line
    breaks and tabs too (for a value that must stay on its line)."""
    pattern = _CONTROL_OR_LINE if one_line else _CONTROL
    return pattern.sub(_escaped, text) if pattern.search(text) else text


def inert_markup(text: str, *, one_line: bool = False) -> str:
    """``inert`` text to embed in rich markup: its brackets are escaped as well."""
    # deferred: rich costs ~30 ms to import; only terminal views pay it
    from rich.markup import escape

    return escape(inert(text, one_line=one_line))
