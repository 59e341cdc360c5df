"""The records a write client keeps of the windows in which its writes failed.

A client that writes to the shard steadily through the change window (the sandbox's
Moray-like client does; a probe an operator runs could) is the best witness of a
write outage. It keeps, in one directory:

``outages.jsonl``
    one JSON object per window, written when the window closes:
    ``{"start": ISO, "end": ISO, "seconds": S, "from": PEER, "to": PEER}`` (the primary
    it wrote to before and after);
``stats.json``
    rewritten about once a second: counters, and ``open_outage_since`` (ISO) while a
    window is open.

An inventory that names the directory (``outage_records``) makes a run's outage
figures come from these records (``migrator.engine.outagewatch``); the sandbox's
inventory names its client's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUTAGES_FILE = "outages.jsonl"
STATS_FILE = "stats.json"


def read_outages(directory: Path) -> list[dict[str, Any]]:
    """Every closed window recorded (oldest first); none when there is no file."""
    try:
        lines = (directory / OUTAGES_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def read_stats(directory: Path) -> dict[str, Any] | None:
    """The client's last counters, or None (no client ran, or its file is unreadable)."""
    try:
        document = json.loads((directory / STATS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return document if isinstance(document, dict) else None
