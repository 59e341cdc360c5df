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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.engine.writeplan import ProposedWrite


class RunConsole:
    def __init__(self, *, assume_yes: bool, shard: str, stream: Any = None) -> None:
        self.assume_yes = assume_yes
        self.shard = shard
        self.stream = stream or sys.stderr
        self._console: Any = None
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @property
    def console(self) -> Any:
        """The rich console, built on first use: `migrator plan` piped or with
        --json never prints through it, and importing rich costs it ~30 ms."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def say(self, text: str, style: str | None = None) -> None:
        from rich.markup import escape

        self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))

    def step(self, index: int, total: int, title: str, step_id: str) -> None:
        self.say(f"\n[{index}/{total}] {title} ({step_id})", "bold")

    def ok(self, text: str) -> None:
        self.say(f"  ✔ {text}", "green")

    def fail(self, text: str) -> None:
        self.say(f"  ✘ {text}", "red")

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[None]:
        line = f"waiting up to {timeout:.0f} s for: {what}"
        if not self.is_tty:
            self.say(f"  … {line}")
            yield
            return
        with self.console.status(line, spinner="dots"):
            yield

    def show(self, shown: Any) -> None:
        if shown is None:
            return
        if isinstance(shown, ProposedWrite):
            self.say(f"  ZooKeeper write: {shown.summary()}", "bold")
            for line in shown.checks:
                self.say(f"    {line}", "green" if line.startswith("[x]") else "red")
            self.console.print(_diff_text(shown.diff()))
            if shown.note:
                self.say(f"  ({shown.note})")
            return
        self.say(json.dumps(shown, indent=2, ensure_ascii=False, default=str))

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        from migrator.ui.confirm import confirm, confirm_typed

        self.show(shown)
        if self.assume_yes:
            self.say(f"  {question} yes (--yes)")
            return
        if typed:
            confirm_typed(question, self.shard, assume_yes=False)
        else:
            confirm(question, assume_yes=False)


def _diff_text(diff: str) -> Any:
    from rich.text import Text

    text = Text()
    for line in diff.splitlines():
        style = None
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        text.append("    " + line + "\n", style=style)
    return text
