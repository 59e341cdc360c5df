"""Wall time of CLI commands, as an operator feels them (fresh process each run).

Prints median and min over N runs of:
  migrator --help
  migrator status --shard S      (one shard, local ZooKeeper)
  migrator status                (200 shards)
Targets (issue 2): --help <= 0.15 s, one shard <= 0.2 s, 200 shards <= 0.4 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._zk import seed_shards, zookeeper

RUNS = 10
MIGRATOR = [sys.executable, "-m", "migrator"]


def measure(args: list[str]) -> tuple[float, float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([*MIGRATOR, *args], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def report(label: str, args: list[str], target: float) -> None:
    median, best = measure(args)
    verdict = "ok" if median <= target else "OVER TARGET"
    print(f"{label:<34} median {median * 1000:7.1f} ms  min {best * 1000:7.1f} ms  "
          f"target {target * 1000:.0f} ms  {verdict}")


def main() -> None:
    report("migrator --help", ["--help"], 0.15)
    with zookeeper() as server:
        zk = server.connection_string
        seed_shards(zk, 200)
        report("migrator status --shard (1 shard)", ["status", "--zk", zk, "--shard",
                                                     "1.moray.bench"], 0.2)
        report("migrator status (200 shards)", ["status", "--zk", zk], 0.4)


if __name__ == "__main__":
    main()
