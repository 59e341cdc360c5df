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
