"""Generate the man pages (migrator.1, migrator-<command>.1, ...) from the click commands.

    .venv/bin/python scripts/manpages.py [TARGET_DIR]     # default: man/man1

click-man writes one page per command and subcommand from the same help texts
and options `--help` shows, so the pages never drift from the program. The
``migrator`` group registers its commands lazily (for start-up time), and
click-man walks a group's ``commands`` mapping, so the pages are generated
from an eager copy of the group holding every command. The pages are committed
(``man/man1``), a test checks they are what this script writes now, a wheel ships
them in its data (``share/man/man1``), and `scripts/setup.sh` installs them where
``man migrator`` finds them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def eager_group() -> click.Group:
    from migrator.cli import COMMANDS, cli

    ctx = click.Context(cli, info_name="migrator")
    commands = {}
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        commands[name] = command
    return click.Group(name="migrator", commands=commands, params=list(cli.params),
                       help=cli.help, context_settings=cli.context_settings)


def main(argv: list[str]) -> int:
    from click_man.core import write_man_pages

    from migrator import __version__

    target = Path(argv[0] if argv else "man/man1")
    target.mkdir(parents=True, exist_ok=True)
    write_man_pages("migrator", eager_group(), version=__version__, target_dir=str(target))
    pages = sorted(p.name for p in target.glob("*.1"))
    print(f"manpages: {len(pages)} pages in {target}", file=sys.stderr)
    return 0 if "migrator.1" in pages else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
