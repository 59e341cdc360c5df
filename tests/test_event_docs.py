"""Every event the JSON stream can carry is in docs/events.md, and the page lists no
event the code no longer emits (scripts parse the stream by that page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
EMITTED = re.compile(r'emit(?:_current)?\(\s*"([a-z][a-z-]*)"|"event": "([a-z][a-z-]*)"')
DOCUMENTED = re.compile(r"^\| `([a-z][a-z-]*)` \|", re.MULTILINE)


def _emitted() -> set[str]:
    names: set[str] = set()
    for source in (ROOT / "migrator").rglob("*.py"):
        if "sandbox" in source.relative_to(ROOT / "migrator").parts:
            continue  # the sandbox's own logs are not the event stream
        for match in EMITTED.finditer(source.read_text()):
            names.add(match.group(1) or match.group(2))
    return names


def test_every_emitted_event_is_documented_and_none_documented_is_gone() -> None:
    emitted = _emitted()
    documented = set(DOCUMENTED.findall((ROOT / "docs" / "events.md").read_text()))
    assert {"run", "alarm", "choice", "journal-archived", "finished"} <= emitted
    assert emitted - documented == set(), "emitted but not in docs/events.md"
    assert documented - emitted == set(), "in docs/events.md but never emitted"
