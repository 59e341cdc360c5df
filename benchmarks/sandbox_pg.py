"""Figures for the sandbox on real PostgreSQL (`--pg real`).

    .venv/bin/python benchmarks/sandbox_pg.py [--runs R] [--steady S]

Prints:
  * `sandbox up --nodes 3 --pg real` wall time (target <= 10 s): ZooKeeper, three
    zones (sshd, sitter, a postgres each, one initdb copied), the chain streaming;
  * the write client's commits/s at full speed (no pause between writes) over S
    steady seconds, each commit waiting for the sync's flush (target >= 200/s);
  * a three-node migration (`migrator run --yes`, the three-node playbook) with the
    client writing: wall time (target <= 60 s), commits/s outside the outage windows,
    the outage windows, and `sandbox verify`'s counts (lost must be 0).

Each run brings its own sandbox up under /var/tmp (the postgres user must reach it)
and takes it down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from migrator.outagerecords import read_outages
from migrator.sandbox.manage import UpOptions, down, start_client, up
from migrator.sandbox.pgclient import read_acked


def _fresh_dir() -> Path:
    parent = Path(tempfile.mkdtemp(prefix="migrator-bench-pg-", dir="/var/tmp"))
    parent.chmod(0o711)
    return parent


def bench_up(runs: int) -> None:
    times = []
    for _ in range(runs):
        parent = _fresh_dir()
        try:
            started = time.monotonic()
            up(parent / "sb", UpOptions(nodes=3, pg="real"))
            times.append(time.monotonic() - started)
        finally:
            down(parent / "sb")
            shutil.rmtree(parent, ignore_errors=True)
    print(f"sandbox up --nodes 3 --pg real: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s over {runs} run(s)")


def bench_commits_and_migration(steady: float) -> None:
    parent = _fresh_dir()
    directory = parent / "sb"
    try:
        config = up(directory, UpOptions(nodes=3, pg="real"))
        start_client(config, interval=0.0)
        time.sleep(1.0)  # connection set up; start counting from here
        before, t0 = len(read_acked(directory)), time.monotonic()
        time.sleep(steady)
        rate = (len(read_acked(directory)) - before) / (time.monotonic() - t0)
        print(f"client commits/s (synchronous replication, full speed, {steady:g} s): "
              f"{rate:.0f}")
        acked_before, started = len(read_acked(directory)), time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "migrator", "run", "--inventory",
             str(directory / "inventory.yaml"), "--yes"],
            capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "MIGRATOR_AUDIT_DIR": str(parent / "audit"), "NO_COLOR": "1"},
        )
        wall = time.monotonic() - started
        acked = len(read_acked(directory)) - acked_before
        windows = [w["seconds"] for w in read_outages(directory / "client")]
        print(f"three-node migration (migrator run --yes): exit {result.returncode}, "
              f"wall {wall:.1f} s")
        print(f"  outage windows (s): {windows}")
        outside = max(0.001, wall - sum(windows))
        print(f"  commits/s outside outage windows during the run: {acked / outside:.0f}")
        from migrator.sandbox import procs
        from migrator.sandbox.verify import summary_lines, verify

        procs.kill_recorded(config.pid_file("client"))
        for line in summary_lines(verify(directory)):
            print(f"  {line}")
    finally:
        down(directory)
        shutil.rmtree(parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steady", type=float, default=5.0)
    args = parser.parse_args()
    bench_up(args.runs)
    bench_commits_and_migration(args.steady)


if __name__ == "__main__":
    main()
