"""Command-line entry point: parse options, call a command, map errors to exit codes.

Subcommands are registered by dotted path and imported only when used
(``migrator.cli.lazy.LazyGroup``), so `migrator --help` does not import the
engine.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import click

from migrator import __version__, cancellation
from migrator.cli.lazy import LazyGroup
from migrator.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    MigratorError,
)
from migrator.ui.inert import inert

# name -> ("module:attribute" of its click command or group, the line `migrator --help`
# shows for it: the first line of the command's help, which a test keeps in step)
COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("migrator.cli.read:status",
               "Every shard with its mode; with a shard, peers by election and by /state."),
    "state": ("migrator.cli.read:state", "Print the shard's /state as stored."),
    "history": ("migrator.cli.read:history",
                "The shard's history records, oldest first, v1 events and v2 states."),
    "backfill": ("migrator.cli.expert:backfill",
                 "Create /state from the election order, as `manatee-adm state-backfill`."),
    "freeze": ("migrator.cli.expert:freeze",
               "Freeze the cluster state: peers will not take over or change the topology."),
    "unfreeze": ("migrator.cli.expert:unfreeze",
                 "Remove the freeze so that the sync may take over if the primary fails."),
    "delete-state": ("migrator.cli.expert:delete_state",
                     "Delete /state (rollback): back to election-order topology."),
    "inventory": ("migrator.cli.inventory:inventory",
                  "Zones and how to reach them (the inventory file)."),
    "plan": ("migrator.cli.plan:plan",
             "Dry run: every step, its zones, preconditions, exact writes, the risks."),
    "run": ("migrator.cli.run:run", "Migrate the shard step by step (resumable)."),
    "resume": ("migrator.cli.run:resume",
               "Continue a migration from its journal, from this or another machine."),
    "playbooks": ("migrator.cli.playbooks:playbooks", "List, show and validate playbooks."),
    "sandbox": ("migrator.cli.sandbox:sandbox",
                "A local manatee shard to rehearse on: ZooKeeper, zones, v1/v2 peers."),
    "rollback": ("migrator.cli.rollback:rollback",
                 "Undo a migration from wherever it stopped (resumable)."),
    "rebuild-deposed": ("migrator.cli.rollback:rebuild_deposed",
                        "Rebuild a deposed former primary (`manatee-adm rebuild`)."),
    "journal": ("migrator.cli.journal:journal",
                "The run's record: restore a damaged journal from a local audit copy."),
    "report": ("migrator.cli.report:report",
               "Who ran what, when and from where: the report for the change ticket."),
    "fleet": ("migrator.cli.fleet:fleet",
              "Every shard of a region: discover, plan, run a few at a time, one view."),
}
# Commands that only read the shard and the zones: an error in one never leaves anything
# half-done, and its message says so (the operator need not check the zones).
READ_ONLY_COMMANDS = frozenset({"status", "state", "history", "plan", "playbooks", "report"})
_invoked: dict[str, str | None] = {"command": None}  # set by the group as it dispatches


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrator")
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Migrate a Manatee shard from election-order topology to a persisted /state."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _invoked["command"] = ctx.invoked_subcommand


def _read_only_note() -> str:
    command = _invoked["command"]
    if command in READ_ONLY_COMMANDS:
        return f" (`migrator {command}` only reads: it changed nothing in the shard or the zones.)"
    return ""


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    _invoked["command"] = None
    try:
        cli.main(args=argv, prog_name="migrator", standalone_mode=False)
    except MigratorError as exc:
        _print_error(exc.paragraph() + _read_only_note())
        sys.exit(exc.exit_status)
    except click.exceptions.Abort as exc:
        if _from_ssh(exc.__cause__):
            # click turns every EOFError into Abort; paramiko raises EOFError when a zone's
            # SSH transport ends under a call. That is a lost connection, not a Ctrl-C.
            _print_error(
                "The SSH connection to a zone ended in the middle of an exchange (EOF); the "
                "command stopped there. " + (
                    "When `migrator inventory check` reaches the zones again, run it again."
                    + _read_only_note() if _read_only_note() else
                    "Every step is journalled: when `migrator inventory check` reaches the "
                    "zones again, run the command again (a migration: `migrator resume "
                    "--inventory INVENTORY`).")
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
        if cancellation.ctrl_c_pending():
            # pressed while a library call was under way, which turned it into this error
            _print_error("Interrupted; nothing more was done.")
            sys.exit(EXIT_INTERRUPTED)
        if debug:
            raise
        # only this error path needs the ZooKeeper layer; `migrator --help` must not import it
        from migrator.zk.faults import is_fault

        if is_fault(exc):
            # a ZooKeeper fault outside the run's guarded calls (connecting, the lock)
            _print_error(
                f"ZooKeeper failed ({type(exc).__name__}); the command stopped. Nothing "
                "half-written is left: every write is one conditional ZooKeeper operation. "
                "When `migrator status` answers again, run the command again (a migration: "
                "`migrator resume --inventory INVENTORY`)." + _read_only_note()
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

    return any("paramiko" in frame.filename for frame in traceback.extract_tb(cause.__traceback__))


def run() -> None:
    """The ``migrator`` program (console script): ``main()``, and a string exit becomes
    an error message. Tests and embedders call ``main()``, which ends with
    ``SystemExit``. The program's Ctrl-C is Python's KeyboardInterrupt, remembered in
    case a library swallows it (``migrator.cancellation.on_ctrl_c``)."""
    signal.signal(signal.SIGINT, cancellation.on_ctrl_c)
    try:
        main()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            _print_error(exc.code)
            raise SystemExit(EXIT_FAILED) from None
        raise


def _print_error(text: str) -> None:
    click.echo(f"error: {inert(text)}", err=True)
