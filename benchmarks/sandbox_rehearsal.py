"""Figures for the sandbox: how long `up` and each rehearsal step take, and the write
outages the Moray-like client saw (v1 sync replacement, v2 takeover).

    .venv/bin/python benchmarks/sandbox_rehearsal.py [--nodes N] [--runs R]

The takeover outage is dominated by the sitters' ZooKeeper session timeout
(migrator.sandbox.config.SESSION_TIMEOUT); by default a reprovision keeps the zone
down until its old election node has expired, then half a second more
(migrator.sandbox.peers.reprovision).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from migrator.outagerecords import read_outages
from migrator.sandbox.config import SESSION_TIMEOUT
from migrator.sandbox.rehearsal import rehearse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pg", choices=["real", "sim"], default="real")
    args = parser.parse_args()
    totals: list[float] = []
    outages: list[float] = []
    print(f"session timeout {SESSION_TIMEOUT:g} s, {args.nodes} node(s), {args.runs} run(s)")
    for run in range(args.runs):
        # /var/tmp: a real postgres runs as the postgres user, which must reach the zones
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-", dir="/var/tmp") as tmp:
            Path(tmp).chmod(0o711)
            directory = Path(tmp) / "sb"
            started = last = time.monotonic()
            steps = rehearse(directory, nodes=args.nodes, keep=True, pg=args.pg)
            try:
                for line in steps:
                    now = time.monotonic()
                    if not line.startswith("  "):
                        print(f"run {run}: {now - last:6.2f} s  {line}")
                    last = now
                windows = [w["seconds"] for w in read_outages(directory / "client")]
            finally:
                from migrator.sandbox.manage import down

                down(directory)
            totals.append(time.monotonic() - started)
            outages.extend(windows)
            print(f"run {run}: total {totals[-1]:.2f} s; outages {windows}")
    print(f"total seconds: median {statistics.median(totals):.2f}, max {max(totals):.2f}")
    if outages:
        print(f"outage seconds: n={len(outages)} median {statistics.median(outages):.3f} "
              f"max {max(outages):.3f}")


if __name__ == "__main__":
    main()
