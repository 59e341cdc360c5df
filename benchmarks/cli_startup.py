"""Wall time of CLI commands, as an operator feels them (fresh process each run).

Prints median and min over N runs of:
  migrator --help
  migrator status --shard S      (one shard, local ZooKeeper)
  migrator status                (200 shards)
  migrator status --shard S      (a migration in progress: its journal and lock read too)
  migrator report --shard S      (a finished three-node journal, markdown)
Targets (issue 2): --help <= 0.15 s, one shard <= 0.2 s, 200 shards <= 0.4 s;
(issue 11): status with a journal in progress <= 0.2 s, report <= 0.3 s.
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


def report(label: str, args: list[str], target: float) -> None:
    median, best, cpu = measure(args)
    verdict = "ok" if median <= target else "OVER TARGET"
    print(f"{label:<37} median {median * 1000:7.1f} ms  min {best * 1000:7.1f} ms  "
          f"cpu {cpu * 1000:6.1f} ms  target {target * 1000:.0f} ms  {verdict}")


def main() -> None:
    report("migrator --help", ["--help"], 0.15)
    with zookeeper() as server:
        zk = server.connection_string
        seed_shards(zk, 200)
        report("migrator status --shard (1 shard)", ["status", "--zk", zk, "--shard",
                                                     "1.moray.bench"], 0.2)
        report("migrator status (200 shards)", ["status", "--zk", zk], 0.4)
        seed_journal(zk, "2.moray.bench", finished=False)
        seed_journal(zk, "3.moray.bench", finished=True)
        report("status --shard (journal in progress)", ["status", "--zk", zk, "--shard",
                                                        "2.moray.bench"], 0.2)
        report("report (finished journal)", ["report", "--zk", zk, "--shard",
                                             "3.moray.bench"], 0.3)


if __name__ == "__main__":
    main()
