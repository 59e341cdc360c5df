"""A Moray-like writer: ``python -m migrator.sandbox.client DIR``.

It finds the primary as backward-compatible Morays (node-manatee) do: the
``/state`` primary while /state exists, otherwise the first election node by
sequence number, switching when /state appears or disappears (watches on
both). It writes to that primary at a steady rate (WRITE_INTERVAL) and records
every window in which writes failed in DIR/client, in the format of
``migrator.outagerecords`` (the sandbox's inventory names that directory, so a run's
outage figures come from it). The machinery is in ``migrator.sandbox.writer``; real
PostgreSQL commits in ``migrator.sandbox.pgclient``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from migrator.sandbox.config import load_config
from migrator.sandbox.pgclient import RealWriter
from migrator.sandbox.procs import on_termination
from migrator.sandbox.shard import sandbox_zk
from migrator.sandbox.writer import REAL_WRITE_INTERVAL, WRITE_INTERVAL, PrimaryTracker, Writer
from migrator.zk.client import disconnect


def run(directory: Path, interval: float | None = None) -> int:
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    config = load_config(directory)
    (directory / "client").mkdir(exist_ok=True)
    client = sandbox_zk(config)
    tracker = PrimaryTracker(client, config.shard)
    tracker.start()
    writer: Writer
    if config.pg == "real":
        # psycopg, imported only by a sandbox with real PostgreSQL

        writer = RealWriter(config, tracker, REAL_WRITE_INTERVAL if interval is None else interval)
    else:
        writer = Writer(config, tracker, WRITE_INTERVAL if interval is None else interval)
    on_termination(writer.stop.set)
    try:
        writer.run()
    finally:
        disconnect(client)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        sys.stderr.write("usage: python -m migrator.sandbox.client DIR [INTERVAL]\n")
        sys.exit(2)
    sys.exit(run(Path(args[0]), float(args[1]) if len(args) == 2 else None))


if __name__ == "__main__":
    main()
