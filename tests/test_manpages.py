"""The man pages (man/man1) are what scripts/manpages.py generates from the commands now
(click-man), one per command: committed, shipped in a wheel's data, never stale."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "man" / "man1"


def _without_date(text: str) -> str:
    """A page with the date of its .TH line left out (the day it was generated)."""
    return re.sub(r'^(\.TH "[^"]*" "1") "[^"]*"', r"\1", text, count=1, flags=re.M)


# click-man 0.6 calls click's make_default_short_help, deprecated in click 8.2
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_committed_man_pages_are_the_commands_own(tmp_path: Path) -> None:
    main = runpy.run_path(str(ROOT / "scripts" / "manpages.py"))["main"]
    assert main([str(tmp_path)]) == 0
    generated = {p.name: _without_date(p.read_text()) for p in tmp_path.glob("*.1")}
    committed = {p.name: _without_date(p.read_text()) for p in COMMITTED.glob("*.1")}
    assert sorted(generated) == sorted(committed), "run: python scripts/manpages.py"
    stale = [name for name in generated if generated[name] != committed[name]]
    assert stale == [], f"stale man pages {stale}: run python scripts/manpages.py"
    assert {"migrator.1", "migrator-run.1", "migrator-report.1", "migrator-status.1",
            "migrator-sandbox-up.1"} <= set(generated)
    run = generated["migrator-run.1"]
    assert ".TH" in run and "\\-\\-yes" in run and "\\-\\-json" in run
