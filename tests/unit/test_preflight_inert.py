"""What the zones say reaches the pre-flight and `inventory check` tables inert (issue 21 §3):
a version, the sitter's service state, a log path and a problem, each holding a terminal
title, a clear-screen, rich markup and a bidirectional override, on a terminal and piped.
Pure rendering into a string (no zone: the over-SSH reading is in tests/remote)."""

from __future__ import annotations

import io

import pytest

from migrator.engine.preflight import Facts, decide
from migrator.remote.probe import ZoneReport
from migrator.ui import preflight
from migrator.ui.output import Output

pytestmark = pytest.mark.unit

# markup without spaces: wrapping at words must not be what splits a tag from its word
HOSTILE = "\x1b]0;pwned\x07\x1b[2J[red]boom[/red]\u202eevil"
RAW = ("\x1b]0;", "\x07", "\x1b[2J", "\u202e")
ZONE = "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _report() -> ZoneReport:
    return ZoneReport(ZONE, "manatee", f"root@127.0.0.2:22 ({HOSTILE})", reachable=True,
                      host_key="known", version=f"2.1.1{HOSTILE}", log=f"/var/{HOSTILE}.log",
                      sitter=f"online{HOSTILE}", missing=[f"svcs{HOSTILE}"],
                      problems=[f"svcs said {HOSTILE}"])


def _assert_inert(text: str) -> None:
    for sequence in RAW:
        assert sequence not in text, (sequence, text)
    assert "\\x1b]0;pwned\\x07" in text, text
    # markup shown as text, never read: wherever the word arrives, its tags arrive with it
    assert text.count("boom") == text.count("[red]boom[/red]") > 0, text


@pytest.fixture(autouse=True)
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables' full width, whatever terminal runs the tests (cells fold by it)."""
    monkeypatch.setenv("COLUMNS", "120")


@pytest.mark.parametrize("tty", [True, False])
def test_zone_outputs_reach_the_preflight_table_inert(tty: bool) -> None:
    verdict = decide(Facts(
        zones=[_report()], election_zones=frozenset([ZONE]), zookeeper_problem=None,
        zookeeper_detail=f"answers ({HOSTILE})", holders=[], identity="me@here pid 1",
        local_missing=[]))
    stream = FakeTerminal() if tty else io.StringIO()
    preflight.show(verdict, stream=stream)
    _assert_inert(stream.getvalue())


@pytest.mark.parametrize("tty", [True, False])
def test_zone_outputs_reach_the_inventory_check_table_inert(tty: bool) -> None:
    stream = FakeTerminal() if tty else io.StringIO()
    preflight.show_check([_report()], Output(stream=stream))
    _assert_inert(stream.getvalue())
