"""Timestamps as manatee writes them: JavaScript's ISO form, UTC to the millisecond.

Its own module, below everything else, so that the smallest processes (a sandbox
sitter's supervisor, started with every sitter) stamp times the one way without
importing the cluster model.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_now_ms(now: datetime | None = None) -> str:
    """JavaScript's ``Date.prototype.toISOString``: UTC, milliseconds, 'Z'."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
