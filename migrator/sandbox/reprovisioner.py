"""The reprovision command of a sandbox's inventory (zones over SSH):
``python -m migrator.sandbox.reprovisioner --dir DIR ZONE --to IMAGE``.

It reprovisions as `migrator sandbox reprovision` does (``peers.reprovision``: the
sitter stopped, the version changed, the sitter started), prints the same line and
ends as it does (a refusal: ``error: ...`` and the error's exit status; Ctrl-C: 130).
It is an entry of its own, as the zones' ``manatee-adm`` is (``adm.py``), because the
migrator runs it for every zone it reprovisions (some 240 times in the test suite)
and the CLI's ``sandbox`` group imports every sandbox command's modules: a
reprovision cost about 235 ms of CPU through the CLI, about 125 ms through this module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migrator.errors import EXIT_INTERRUPTED, MigratorError
from migrator.sandbox.peers import reprovision


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m migrator.sandbox.reprovisioner")
    parser.add_argument("--dir", dest="directory", type=Path, required=True)
    parser.add_argument("zone")
    parser.add_argument("--to", required=True, help="v1|v2, a release or an image UUID")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = reprovision(args.directory, args.zone, args.to)
    except MigratorError as exc:
        sys.stderr.write(f"error: {exc.paragraph()}\n")
        sys.exit(exc.exit_status)
    except KeyboardInterrupt:
        sys.stderr.write("error: Interrupted; nothing more was done.\n")
        sys.exit(EXIT_INTERRUPTED)
    print(f"Reprovisioned zone {result['zone']} to {result['version']} "
          f"(down {result['delay']:g} s, from {result['started']} to {result['finished']}).")


if __name__ == "__main__":
    main()
