"""How a run talks to the operator: progress and waits (rich), confirmations (questionary).

``RunConsole`` renders to stderr, so stdout stays free for ``--json``. On a
terminal the wait line is a live rich status (a spinner with what we wait for
and the time left); piped, it is one plain line. Confirmations follow the
policy of ``migrator.ui.confirm``: ``--yes`` answers for the operator, and
without it a terminal is required (a script fails fast instead of hanging).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.engine.transcript import Transcript
from migrator.stepkit.writes import ProposedWrite
from migrator.ui.confirm import confirm, confirm_typed
from migrator.ui.inert import inert, inert_markup


class RunConsole:
    """``quiet`` (``--quiet``): the terminal gets only the questions (and the write each
    one is about), the outage clock, the watchdog and the end of the run (``essential``
    lines); everything still goes to the ``transcript`` when there is one."""

    def __init__(self, *, assume_yes: bool, shard: str, stream: Any = None,
                 quiet: bool = False, transcript: Transcript | None = None) -> None:
        self.assume_yes = assume_yes
        self.shard = shard
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.transcript = transcript
        self._console: Any = None
        self._wait: WaitLine | None = None
        self._live: Any = None  # the live line of an action under way, on a terminal
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @property
    def console(self) -> Any:
        """The rich console, built on first use: `migrator plan` piped or with
        --json never prints through it, so it does not import rich."""
        if self._console is None:
            # deferred: rich costs ~30 ms to import; only terminal views pay it
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def say(self, text: str, style: str | None = None, *, essential: bool = False) -> None:
        """A line for the operator (``essential``: shown with ``--quiet`` too)."""
        if self.transcript is not None:
            self.transcript.write(text)
        if self.quiet and not essential:
            return
        shown = inert_markup(text)
        self.console.print(f"[{style}]{shown}[/]" if style else shown)

    def essential(self, text: str, style: str | None = None) -> None:
        """An outage, the watchdog or the end of the run: shown even with ``--quiet``."""
        self.say(text, style, essential=True)

    def step(self, index: int, total: int, title: str, step_id: str) -> None:
        self.say(f"\n[{index}/{total}] {title} ({step_id})", "bold")

    def ok(self, text: str) -> None:
        self.say(f"  ✔ {text}", "green")

    def fail(self, text: str) -> None:
        self.say(f"  ✘ {text}", "red")

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[None]:
        """A wait: on a terminal a live line with the time elapsed and left and the last
        thing seen (``seen``); piped, one line at the start and one per new sighting."""
        wait = WaitLine(what, timeout)
        self._wait = wait
        try:
            if not self.is_tty or self.quiet:
                self.say(f"  … waiting up to {timeout:.0f} s for: {what}")
                yield
                return
            # rich redraws the status several times a second; each redraw renders
            # ``wait`` afresh, so the clock moves without a thread of ours
            with self.console.status(wait, spinner="dots"):
                yield
        finally:
            self._wait = None

    @contextmanager
    def acting(self, what: str, zone: str | None,
               estimate: tuple[float, str] | None = None) -> Iterator[None]:
        """An action under way: on a terminal a live line with the time elapsed, the
        estimate (seconds, and where it comes from) when there is one, and the last thing
        seen (``seen``); piped, the estimate once and what is seen."""
        line = WaitLine(what, None, verb="acting", estimate=estimate)
        self._wait = line
        try:
            if not self.is_tty or self.quiet:
                if self.transcript is not None:
                    self.transcript.write(f"  acting: {what}")
                if estimate is not None:
                    self.say(f"    expected to take about {estimate[0]:g} s ({estimate[1]})")
                yield
                return
            with self.console.status(line, spinner="dots") as status:
                self._live = status  # paused while the action asks (``ask``)
                yield
        finally:
            self._wait = None
            self._live = None

    def seen(self, text: str) -> None:
        """The last relevant thing a wait saw (shown with the wait's clock)."""
        wait = getattr(self, "_wait", None)
        if wait is None or text == wait.last:
            return
        wait.last = text
        if not self.is_tty or self.quiet:
            self.say(f"    {wait.clock()}; last seen: {text}")
        elif self.transcript is not None:  # the live line shows it; the transcript keeps it
            self.transcript.write(f"    {wait.clock()}; last seen: {text}")

    def show(self, shown: Any, *, essential: bool = False) -> None:
        """What a question is about (``essential``: a question will be asked)."""
        if shown is None:
            return
        if isinstance(shown, ProposedWrite):
            self.say(f"  ZooKeeper write: {shown.summary()}", "bold", essential=essential)
            for line in shown.checks:
                self.say(f"    {line}", "green" if line.startswith("[x]") else "red",
                         essential=essential)
            if self.transcript is not None:
                self.transcript.write(shown.diff())
            if essential or not self.quiet:
                self.console.print(_diff_text(shown.diff()))
            if shown.note:
                self.say(f"  ({shown.note})", essential=essential)
            return
        self.say(json.dumps(shown, indent=2, ensure_ascii=False, default=str),
                 essential=essential)

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        live = self._live
        if live is not None:  # a question owns the terminal: no live line under it
            live.stop()
        try:
            asking = not self.assume_yes
            self.show(shown, essential=asking)
            if not asking:
                self.say(f"  {question} yes (--yes)")
                return
            if self.transcript is not None:
                self.transcript.write(f"  ? {question}" + (" (type the shard name)"
                                                           if typed else ""))
            try:
                if typed:
                    confirm_typed(question, self.shard, assume_yes=False)
                else:
                    confirm(question, assume_yes=False)
            except BaseException:
                if self.transcript is not None:
                    self.transcript.write("    answered: no")
                raise
            if self.transcript is not None:
                self.transcript.write("    answered: yes" + (" (the shard name typed)"
                                                             if typed else ""))
        finally:
            if live is not None:
                live.start()


class WaitLine:
    """What a wait shows: what for, elapsed and remaining time, the last thing seen."""

    def __init__(self, what: str, timeout: float | None, verb: str = "waiting for",
                 estimate: tuple[float, str] | None = None) -> None:
        self.what = what
        self.timeout = timeout  # None: an action, bounded by its own means
        self.verb = verb
        self.estimate = estimate  # an action's expected seconds and their source
        self.started = time.monotonic()
        self.last: str | None = None

    def clock(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.timeout is None and self.estimate is not None:
            return (f"{elapsed:.0f} s elapsed of about {self.estimate[0]:g} s "
                    f"({self.estimate[1]})")
        if self.timeout is None:
            return f"{elapsed:.0f} s elapsed"
        return (f"{elapsed:.0f} s elapsed, {max(self.timeout - elapsed, 0.0):.0f} s left "
                f"of {self.timeout:.0f} s")

    def text(self) -> str:
        seen = f"; last seen: {self.last}" if self.last else ""
        return inert(f"{self.verb}: {self.what} ({self.clock()}){seen}", one_line=True)

    def __rich__(self) -> Any:
        # deferred: rich costs ~30 ms to import; only terminal views pay it
        from rich.text import Text

        return Text(self.text())


def _diff_text(diff: str) -> Any:
    # deferred: rich costs ~30 ms to import; only terminal views pay it
    from rich.text import Text

    text = Text()
    for line in diff.splitlines():
        style = None
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        text.append("    " + inert(line, one_line=True) + "\n", style=style)
    return text
