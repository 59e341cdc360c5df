"""A zone's `sitter-ctl enable|disable|log|status|clear` (the sandbox's svcadm/svcs).

``disable`` kills the sitter as `svcadm disable` on a real zone does (its
ZooKeeper session then times out); ``enable`` starts it at the zone's current
version and returns once it has joined the election; ``log`` prints the sitter
log's path (as `svcs -L manatee-sitter`); ``clear`` starts a sitter left in
``maintenance`` by its supervisor (as `svcadm clear`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from migrator.errors import MigratorError
from migrator.sandbox import procs
from migrator.sandbox.config import load_config
from migrator.sandbox.peers import sitter_pid_file, start_sitter, stop_sitter
from migrator.sandbox.supervisor import read_service


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[2] not in ("enable", "disable", "log", "status", "clear"):
        sys.stderr.write("usage: sitter-ctl enable|disable|log|status|clear\n")
        sys.exit(2)
    try:
        config = load_config(Path(args[0]))
        zone = config.zone(args[1])
        action = args[2]
        running = procs.recorded_pid(sitter_pid_file(config, zone)) is not None
        if action == "log":
            print(config.zone_dir(zone) / "sitter.log")
        elif action == "status":

            state = read_service(config.zone_dir(zone)).get("state")
            print("online" if running else "maintenance" if state == "maintenance"
                  else "disabled")
        elif action == "disable":
            stop_sitter(config, zone)
        elif not running:
            start_sitter(config, zone)
    except MigratorError as exc:
        sys.stderr.write(f"error: {exc.paragraph()}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
