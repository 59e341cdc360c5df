"""Tables: rich on a terminal (colour unless NO_COLOR), plain text when piped."""

from __future__ import annotations

import io

import pytest

from migrator.ui.output import Cell, Output

pytestmark = pytest.mark.unit


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_is_plain_aligned_text() -> None:
    stream = io.StringIO()
    Output(stream=stream).table(["A", "LONGER"], [["x", Cell("y", "red")], ["long", "z"]])
    assert stream.getvalue().splitlines() == ["A     LONGER", "x     y", "long  z"]


def test_terminal_output_is_a_coloured_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    stream = FakeTerminal()
    Output(stream=stream).table(["ROLE"], [[Cell("DIFFERS", "bold red")]])
    assert "\x1b[" in stream.getvalue() and "┃" in stream.getvalue()


def test_no_color_keeps_the_table_but_drops_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    stream = FakeTerminal()
    Output(stream=stream).table(["ROLE"], [[Cell("DIFFERS", "bold red")]])
    text = stream.getvalue()
    assert "DIFFERS" in text and "\x1b[31m" not in text and "\x1b[1;31m" not in text


def test_markup_in_data_is_not_interpreted() -> None:
    stream = FakeTerminal()
    Output(stream=stream).table(["ZONE"], [["[bold]zone[/bold]"]])
    assert "[bold]zone[/bold]" in stream.getvalue()


HOSTILE = "\x1b]0;pwned\x07\x1b[2J[bold red][link=http://x]boom[/link][/]\u202eevil\r"


@pytest.mark.parametrize("tty", [True, False])
def test_outside_text_reaches_the_terminal_inert(monkeypatch: pytest.MonkeyPatch,
                                                 tty: bool) -> None:
    """Every writer: tables (cells, headers, titles), headings, raw text, the run's console
    and the plan; on a colour terminal and piped. Our own colours may use ESC; the
    hostile text's title, clear-screen and link sequences never arrive."""
    from migrator.engine.console import RunConsole

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    stream = FakeTerminal() if tty else io.StringIO()
    out = Output(stream=stream)
    out.table([HOSTILE, "B"], [[HOSTILE, Cell(HOSTILE, "red")]], title=HOSTILE)
    out.heading(HOSTILE)
    out.raw(HOSTILE)
    console = RunConsole(assume_yes=True, shard="s", stream=stream)
    console.say(HOSTILE, "bold")
    console.say(HOSTILE)
    text = stream.getvalue()
    for sequence in ("\x1b]0;", "\x07", "\x1b[2J", "\x1b]8;", "\u202e", "\r"):
        assert sequence not in text, (sequence, text)
    assert "\\x1b]0;pwned\\x07" in text and "\\u202eevil" in text
    assert "[link=http://x]boom[/link]" in text or not tty  # markup shown, not obeyed


def test_inert_keeps_ordinary_text_and_escapes_every_control() -> None:
    from migrator.ui.inert import inert

    assert inert("zone 1.moray — ok\n\tnext") == "zone 1.moray — ok\n\tnext"
    assert inert("a\nb\tc", one_line=True) == "a\\x0ab\\x09c"
    assert inert("\x00\x1f\x7f\x85\x9b\u2066") == "\\x00\\x1f\\x7f\\x85\\x9b\\u2066"
