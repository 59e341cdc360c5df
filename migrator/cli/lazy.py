"""A click group whose subcommands are imported only when used.

`migrator --help` (and `migrator fleet --help`) list the subcommands from a table of
"module:attribute" and one-line help, without importing the engine behind them (about
0.25 s; click's own listing would import every one to read its help). A test keeps
each line equal to the command's own first line of help.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self.lazy_commands.get(cmd_name)
        if found is None:
            return None
        module_name, attribute = found[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, line) for name, (_target, line) in sorted(self.lazy_commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
