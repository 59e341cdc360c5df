"""Command-line entry point: parse options, call a command, map errors to exit codes.

Subcommands are registered by dotted path and imported only when used (and for
``--help``, whose modules import nothing heavy), so start-up stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from migrator import __version__
from migrator.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    MigratorError,
)

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "status": "migrator.cli.read:status",
    "state": "migrator.cli.read:state",
    "history": "migrator.cli.read:history",
    "backfill": "migrator.cli.expert:backfill",
    "freeze": "migrator.cli.expert:freeze",
    "unfreeze": "migrator.cli.expert:unfreeze",
    "delete-state": "migrator.cli.expert:delete_state",
    "inventory": "migrator.cli.inventory:inventory",
    "plan": "migrator.cli.engine:plan",
    "run": "migrator.cli.engine:run",
    "resume": "migrator.cli.engine:resume",
    "playbooks": "migrator.cli.engine:playbooks",
    "sandbox": "migrator.cli.sandbox:sandbox",
    "rollback": "migrator.cli.rollback:rollback",
    "rebuild-deposed": "migrator.cli.rollback:rebuild_deposed",
    "report": "migrator.cli.report:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrator")
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Migrate a Manatee shard from election-order topology to a persisted /state."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="migrator", standalone_mode=False)
    except MigratorError as exc:
        _print_error(exc.paragraph())
        sys.exit(exc.exit_status)
    except click.exceptions.Abort as exc:
        if _from_ssh(exc.__cause__):
            # click turns every EOFError into Abort; paramiko raises EOFError when a zone's
            # SSH transport ends under a call. That is a lost connection, not a Ctrl-C.
            _print_error(
                "The SSH connection to a zone ended in the middle of an exchange (EOF); the "
                "command stopped there. Every step is journalled: when `migrator inventory "
                "check` reaches the zones again, run the command again (a migration: "
                "`migrator resume --inventory INVENTORY`)."
            )
            sys.exit(EXIT_FAILED)
        if isinstance(exc.__cause__, EOFError):
            _print_error(
                "A question could not be answered: standard input ended (EOF), so nothing "
                "more was done. Run the command in a terminal, or pass --yes once you have "
                "reviewed what it will do."
            )
            sys.exit(EXIT_REFUSED)
        _print_error("Interrupted; nothing more was done.")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        _print_error("Interrupted; nothing more was done.")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # the reader of stdout went away (`migrator plan | head`): nothing more to say,
        # and Python's own flush at exit must not fail again (its documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
    except Exception as exc:
        if debug:
            raise
        from migrator.zk.faults import is_fault

        if is_fault(exc):
            # a ZooKeeper fault outside the run's guarded calls (connecting, the lock)
            _print_error(
                f"ZooKeeper failed ({type(exc).__name__}); the command stopped. Nothing "
                "half-written is left: every write is one conditional ZooKeeper operation. "
                "When `migrator status` answers again, run the command again (a migration: "
                "`migrator resume --inventory INVENTORY`)."
            )
            sys.exit(EXIT_BAD_INPUT)
        _print_error(
            f"Internal error: {type(exc).__name__}: {exc}. This is a bug in migrator; "
            "rerun with --debug for the traceback and report it."
        )
        sys.exit(EXIT_FAILED)
    sys.exit(0)


def _from_ssh(cause: BaseException | None) -> bool:
    """An EOFError raised inside paramiko (a transport that ended), not stdin's EOF."""
    if not isinstance(cause, EOFError):
        return False
    import traceback

    return any("paramiko" in frame.filename for frame in traceback.extract_tb(cause.__traceback__))


def run() -> None:
    """The ``migrator`` program (console script): ``main()``, and a string exit becomes
    an error message. Tests and embedders call ``main()``, which ends with
    ``SystemExit``."""
    try:
        main()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            _print_error(exc.code)
            raise SystemExit(EXIT_FAILED) from None
        raise


def _print_error(text: str) -> None:
    click.echo(f"error: {text}", err=True)
