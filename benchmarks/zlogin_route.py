"""The Triton route on a `--access zlogin` sandbox (compute nodes behind a headnode).

Prints:
  a zone command through zlogin on a reused node connection (via the headnode jump)
      median and p90 over N runs                       target median <= 8 ms
  the same command over a direct SSH route to the node (no zlogin) for comparison
  discovery of the three-zone shard (in-process, warm imports)   target <= 1 s
  `migrator inventory discover` as a fresh process (wall)
  a sitter-log record written -> matched through the node's zones root
      median and p90                                   target median <= 50 ms

The sandbox's zlogin is a shell script (two /bin/sh starts); SmartOS's zlogin
sets up the zone's credentials and a pipe through zoneadmd, which costs more
than that; measure it on a real node before trusting the first figure there.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from migrator.discovery.build import discover
from migrator.discovery.headnode_inventory import load_headnode_inventory
from migrator.inventory.load import load_inventory
from migrator.remote.bunyan import RecordMatch, parse_line
from migrator.remote.session import RemoteSession
from migrator.sandbox.config import IMAGES
from migrator.sandbox.manage import UpOptions, down, up

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"median {statistics.median(samples):7.2f} ms, p90 "
            f"{ordered[int(len(ordered) * 0.9)]:7.2f} ms (n={len(samples)})")


def timed(func: object, runs: int) -> list[float]:
    assert callable(func)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def record(msg: str, n: int) -> bytes:
    return (f'{{"name":"manatee-sitter","hostname":"z","pid":1,"level":30,"msg":"{msg}",'
            f'"n":{n},"time":"2026-01-01T00:00:00.000Z","v":0}}\n').encode()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zlogin-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        config = up(directory, UpOptions(nodes=3, access="zlogin"))
        try:
            run(config, directory)
        finally:
            down(directory)


def run(config: object, directory: Path) -> None:
    from migrator.sandbox.config import SandboxConfig

    assert isinstance(config, SandboxConfig)
    inventory = load_inventory(directory / "inventory.yaml")
    zone = config.zones[0].uuid
    with RemoteSession(inventory, use_agent=False) as session:
        assert session.run(zone, ["true"]).ok  # connect (and the first channel) first
        zlogin = timed(lambda: session.run(zone, ["true"]).require_ok(), RUNS)
        connection = session.connection(zone)
        from migrator.remote.commands import run_command

        direct = timed(lambda: run_command(connection, "true", timeout=10), RUNS)
        latencies = follow(session, zone, config)
    print(f"zone command via zlogin, reused node connection   {stats(zlogin)}   "
          "(target median <= 8)")
    print(f"the same on the node itself (no zlogin)           {stats(direct)}")

    headnode, raw = load_headnode_inventory(directory / "headnode.yaml")
    path = directory / "headnode.yaml"
    shard = config.shard
    discover(headnode, raw, path, shard=shard, migrate_to=IMAGES["v2"])  # warm
    found = timed(lambda: discover(headnode, raw, path, shard=shard,
                                   migrate_to=IMAGES["v2"]), 5)
    print(f"discovery of a three-zone shard (in-process)      {stats(found)}   "
          "(target <= 1000)")
    wall = timed(lambda: subprocess.run(
        [sys.executable, "-m", "migrator", "inventory", "discover", "--inventory", str(path),
         "--shard", shard, "--migrate-to", IMAGES["v2"], "--yes",
         "--out", str(directory / "bench.yaml")],
        capture_output=True, check=True, timeout=60), 3)
    print(f"`migrator inventory discover`, fresh process      {stats(wall)}")
    print(f"log record written -> matched via the zones root  {stats(latencies)}   "
          "(target median <= 50)")


def follow(session: RemoteSession, zone: str, config: object, samples: int = 50
           ) -> list[float]:
    from migrator.sandbox.config import SandboxConfig

    assert isinstance(config, SandboxConfig)
    log = config.zone_dir(config.zones[0]) / "bench.log"
    log.write_bytes(b"")
    mark = session.mark_log(zone, str(log))
    spec = RecordMatch(msg="assuming role", fields={})
    latencies: list[float] = []
    with session.follow(zone, mark) as follower:
        for index in range(samples):
            written: list[float] = []

            def write(index: int = index, written: list[float] = written) -> None:
                with log.open("ab") as handle:
                    written.append(time.perf_counter())
                    handle.write(record("assuming role", index))

            timer = threading.Timer(0.01, write)
            timer.start()
            for line in follower.lines(time.monotonic() + 5):
                found = parse_line(line)
                if spec.matches(found) and found.get("n") == index:
                    latencies.append((time.perf_counter() - written[0]) * 1000)
                    break
            timer.join()
    return latencies


if __name__ == "__main__":
    main()
