"""`migrator plan` wall time on a three-node sandbox over loopback (figures only: the
targets are at datacenter distance, benchmarks/distance.py).

    .venv/bin/python benchmarks/engine_plan.py [--runs N]

Prints the median wall time of `migrator plan` as a fresh process (interpreter
start, imports, ZooKeeper and SSH connections, every done-check), with the CPU
time it used (steadier than wall time on a shared machine), and of the plan
command alone inside a warm process, so the two costs can be told apart. The
package is byte-compiled first, as an installed one is (`scripts/setup.sh` does
the same): where PYTHONDONTWRITEBYTECODE is set, source would otherwise be
compiled again by every process.
"""

from __future__ import annotations

import argparse
import compileall
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from migrator.sandbox.manage import UpOptions, down, up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "migrator"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        config = up(Path(tmp) / "sandbox", UpOptions(nodes=3, access="ssh"))
        inventory = config.directory / "inventory.yaml"
        try:
            walls, cpus = [], []
            for _ in range(args.runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "migrator", "plan", "--inventory",
                                str(inventory)], check=True, capture_output=True, timeout=60)
                walls.append(time.perf_counter() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            from migrator.commands import planning
            from migrator.commands.session import zk_session
            from migrator.inventory.load import load_inventory

            loaded = load_inventory(inventory)
            warm = []
            with zk_session(config.zk_connection, 10.0) as client:
                for _ in range(args.runs):
                    started = time.perf_counter()
                    planning.plan(planning.EngineTarget(client, config.shard, loaded, "inv"))
                    warm.append(time.perf_counter() - started)
            imports = subprocess.run(
                [sys.executable, "-c", "import time; t=time.perf_counter(); "
                 "import migrator.cli.plan, migrator.cli.planned, "
                 "migrator.remote.probe, migrator.zk.client, "
                 "kazoo.client, migrator.steps.zk, migrator.steps.remote; "
                 "print(time.perf_counter()-t)"],
                check=True, capture_output=True, text=True, timeout=60)
        finally:
            down(config.directory)
    print(f"migrator plan, fresh process, median of {args.runs}: "
          f"{statistics.median(walls):.3f} s (min {min(walls):.3f} s); "
          f"CPU time, median: {statistics.median(cpus):.3f} s")
    print(f"  of which importing the engine and ZooKeeper modules: "
          f"{float(imports.stdout):.3f} s")
    print(f"plan command in a warm process (ZooKeeper session open; SSH connect + every "
          f"done-check), median: {statistics.median(warm):.3f} s")


if __name__ == "__main__":
    main()
