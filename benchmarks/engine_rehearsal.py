"""Engine overhead and client-visible outages in a full three-node rehearsal.

    .venv/bin/python benchmarks/engine_rehearsal.py [--playbook three-node]

Runs the whole playbook with --yes on a fresh sandbox with its Moray-like
client writing, in this process, and prints:
  * wall time, time spent waiting for the cluster (inside actions such as a
    reprovision, and inside verification waits), and the difference: the
    engine's own overhead (target <= 1 s; sdcadm polls every 5 s, so each of
    its waits overshoots by 2.5 s on average);
  * every outage window the client saw (target: none beyond the takeovers the
    runbook implies: one around the primary's reprovision).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from migrator.outagerecords import read_outages
from migrator.sandbox.manage import UpOptions, down, up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--playbook", default="three-node")
    args = parser.parse_args()
    from migrator.commands import engine
    from migrator.commands.session import zk_session
    from migrator.engine.runner import RunOptions
    from migrator.inventory.load import load_inventory

    with tempfile.TemporaryDirectory() as tmp:
        config = up(Path(tmp) / "sandbox", UpOptions(nodes=3, with_client=True, access="ssh"))
        try:
            inventory = load_inventory(config.directory / "inventory.yaml")
            time.sleep(1.0)  # let the client establish its steady write stream
            with zk_session(config.zk_connection, 10.0) as client:
                started = time.perf_counter()
                result = engine.run(
                    engine.EngineTarget(client, config.shard, inventory, "inventory.yaml",
                                        audit_dir=Path(tmp) / "audit"),
                    args.playbook, RunOptions(assume_yes=True),
                )
                wall = time.perf_counter() - started
            time.sleep(1.0)  # let the client record the end of the last window
            outages = read_outages(config.client_dir)
        finally:
            down(config.directory)
    overhead = wall - result.cluster_seconds
    print(f"{args.playbook}: {len(result.ran)} steps run, wall {wall:.2f} s, waiting for "
          f"the cluster (actions, verification waits) {result.cluster_seconds:.2f} s")
    print(f"engine overhead: {overhead:.2f} s (target <= 1 s), of which "
          f"{result.query_seconds:.2f} s asking the cluster once (preconditions such as "
          f"`manatee-adm status` over SSH, done-checks) and {overhead - result.query_seconds:.2f}"
          " s the engine itself (start-up, journal writes, rendering)")
    print(f"client outage windows: {len(outages)}")
    for window in outages:
        print("  " + ", ".join(f"{k}={v}" for k, v in window.items()))


if __name__ == "__main__":
    main()
