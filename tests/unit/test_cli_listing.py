"""`migrator --help` lists the commands without importing them."""

from __future__ import annotations

import click
import pytest

from migrator.cli import COMMANDS, cli

pytestmark = pytest.mark.unit


def test_the_listing_of_migrator_help_is_each_commands_own_first_line() -> None:
    """Each line of ``COMMANDS`` is the first paragraph of the command's own help."""
    ctx = click.Context(cli)
    for name, (_target, line) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None, name
        assert command.help.split("\n\n")[0].split() == line.split(), name


def test_the_listing_of_migrator_fleet_help_is_each_verbs_own_first_line() -> None:
    from migrator.cli.fleet import FLEET_COMMANDS, fleet

    ctx = click.Context(fleet)
    for name, (_target, line) in FLEET_COMMANDS.items():
        command = fleet.get_command(ctx, name)
        assert command is not None and command.help is not None, name
        assert command.help.split("\n\n")[0].split() == line.split(), name
