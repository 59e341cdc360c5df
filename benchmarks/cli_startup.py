"""Wall time of CLI commands, as an operator feels them (fresh process each run).

Prints median and min over N runs of:
  migrator --help
  migrator status --shard S      (one shard, local ZooKeeper)
  migrator status                (200 shards)
  migrator status --shard S      (a migration in progress: its journal and lock read too)
  migrator report --shard S      (a finished three-node journal, markdown)
Figures only: start-up on loopback is not a target (issue 19). What operators feel
is measured side by side with upstream and Ansible (benchmarks/anchored.py) and at
datacenter distance (benchmarks/distance.py).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._zk import seed_journal, seed_shards, zookeeper

RUNS = 10
MIGRATOR = [sys.executable, "-m", "migrator"]


def measure(args: list[str]) -> tuple[float, float, float]:
    """Median and min wall time, and the median CPU time (user + system) of the child,
    which the machine's load disturbs much less than the wall time."""
    import resource

    times = []
    cpus = []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*MIGRATOR, *args], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpus)


def report(label: str, args: list[str]) -> None:
    median, best, cpu = measure(args)
    print(f"{label:<37} median {median * 1000:7.1f} ms  min {best * 1000:7.1f} ms  "
          f"cpu {cpu * 1000:6.1f} ms")


def main() -> None:
    report("migrator --help", ["--help"])
    with zookeeper() as server:
        zk = server.connection_string
        seed_shards(zk, 200)
        report("migrator status --shard (1 shard)", ["status", "--zk", zk, "--shard",
                                                     "1.moray.bench"])
        report("migrator status (200 shards)", ["status", "--zk", zk])
        seed_journal(zk, "2.moray.bench", finished=False)
        seed_journal(zk, "3.moray.bench", finished=True)
        report("status --shard (journal in progress)", ["status", "--zk", zk, "--shard",
                                                        "2.moray.bench"])
        report("report (finished journal)", ["report", "--zk", zk, "--shard",
                                             "3.moray.bench"])


if __name__ == "__main__":
    main()
