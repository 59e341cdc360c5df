"""At datacenter distance: `plan`, `status` and a zone command with the headnode and
ZooKeeper a round trip away, side by side with the same sandbox reached directly.

    .venv/bin/python benchmarks/distance.py [--latency MS] [--runs N]

Brings up one three-zone sandbox behind a headnode (`sandbox up --access zlogin
--latency MS --pg sim`) and writes a second inventory of it that goes around the
relays. Each figure is measured both ways, in fresh processes (the zone command in
one process on a connection opened beforehand, as a step finds it), and the
difference divided by the round trip is the number of round trips the operator
waits for one after the other (connection set-ups and commands in parallel count
once). Targets (issue 19), at 25 ms each way: plan <= 1.5 s, status <= 0.3 s, a zone
command on a reused route <= one round trip + 10 ms.

With ZooKeeper through the headnode (issue 25: the inventory `inventory discover`
writes, `zookeeper_via: headnode`), the same figures for `status --inventory` and
`plan`, and a full three-node run's engine overhead (its wall time less the time it
waited for the cluster) on a second sandbox per side; targets: status <= 0.3 s,
plan <= 1.5 s, engine overhead <= 3 s. `--no-run` skips the runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrator.inventory.load import load_inventory
from migrator.remote.session import RemoteSession
from migrator.sandbox.config import IMAGES, RELAY_ADDRESS, SandboxConfig
from migrator.sandbox.manage import UpOptions, down, up

MIGRATOR = [sys.executable, "-m", "migrator"]


def direct_inventory(config: SandboxConfig) -> Path:
    """The sandbox's inventory with the headnode and ZooKeeper reached directly."""
    assert config.headnode is not None
    relayed = f"{config.operator_zk_connection.split(':')[0]}:{config.operator_headnode_port}"
    headnode = f"{config.headnode.ip}:{config.headnode.ssh_port}"
    document = yaml.safe_load((config.directory / "inventory.yaml").read_text())
    document["zookeeper"] = config.zk_connection
    document["headnode"] = {"host": config.headnode.ip, "port": config.headnode.ssh_port}
    for node in document["nodes"].values():
        node["jump"] = node["jump"].replace(relayed, headnode)
    path = config.directory / "direct.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def via_headnode_inventories(config: SandboxConfig) -> tuple[Path, Path]:
    """The inventory `inventory discover` writes (ZooKeeper through the headnode, the
    headnode through the relay), and a copy of it reaching the headnode directly."""
    assert config.headnode is not None
    far = config.directory / "via-headnode.yaml"
    subprocess.run([*MIGRATOR, "inventory", "discover", "--inventory",
                    str(config.directory / "headnode.yaml"), "--shard", config.shard,
                    "--out", str(far), "--migrate-to", IMAGES["v2"], "--yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relayed = f"{RELAY_ADDRESS}:{config.operator_headnode_port}"
    headnode = f"{config.headnode.ip}:{config.headnode.ssh_port}"
    document = yaml.safe_load(far.read_text())
    assert document["zookeeper_via"] == "headnode", document
    document["headnode"] = {"host": config.headnode.ip, "port": config.headnode.ssh_port}
    for node in document["nodes"].values():
        node["jump"] = node["jump"].replace(relayed, headnode)
    near = config.directory / "via-headnode-direct.yaml"
    near.write_text(yaml.safe_dump(document, sort_keys=False))
    return near, far


def run_overhead(latency: float, near: bool) -> float:
    """A full three-node run's engine overhead (wall time less the cluster's), with
    ZooKeeper through the headnode, on a sandbox of its own."""
    from migrator.commands import engine
    from migrator.commands.session import zk_session
    from migrator.engine.runner import RunOptions

    with tempfile.TemporaryDirectory(prefix="migrator-bench-") as tmp:
        config = up(Path(tmp) / "sandbox", UpOptions(nodes=3, access="zlogin", pg="sim",
                                                     latency_ms=latency))
        try:
            inventory = load_inventory(via_headnode_inventories(config)[0 if near else 1])
            with zk_session(inventory.zookeeper, 10.0, inventory=inventory) as client:
                started = time.perf_counter()
                result = engine.run(
                    engine.EngineTarget(client, config.shard, inventory, "inventory.yaml",
                                        audit_dir=Path(tmp) / "audit"),
                    "auto", RunOptions(assume_yes=True))
                wall = time.perf_counter() - started
            assert result.complete, result
        finally:
            down(config.directory)
    return wall - result.cluster_seconds


def wall(args: list[str], runs: int) -> float:
    """Median wall time of `migrator ARGS` as a fresh process."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*MIGRATOR, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def zone_command(inventory: Path, zone: str, runs: int) -> float:
    """Median time of `true` in a zone over a connection already open."""
    with RemoteSession(load_inventory(inventory)) as session:
        session.connect(zone)
        session.run(zone, "true")  # the route is warm: what a step after the first sees
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = session.run(zone, "true")
            times.append(time.perf_counter() - start)
            assert result.status == 0, result
    return statistics.median(times)


def row(label: str, near: float, far: float, rtt: float, target: float) -> None:
    trips = (far - near) / rtt
    verdict = "ok" if far <= target else "OVER TARGET"
    print(f"{label:<28} direct {near * 1000:7.1f} ms   at distance {far * 1000:7.1f} ms   "
          f"sequential round trips {trips:4.1f}   target {target * 1000:.0f} ms  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=25.0, help="ms each way")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-run", dest="run", action="store_false",
                        help="skip the full runs' engine overhead")
    args = parser.parse_args()
    rtt = 2 * args.latency / 1000.0
    with tempfile.TemporaryDirectory(prefix="migrator-bench-") as tmp:
        config = up(Path(tmp) / "sandbox", UpOptions(nodes=3, access="zlogin", pg="sim",
                                                     latency_ms=args.latency))
        try:
            far = config.directory / "inventory.yaml"
            near = direct_inventory(config)
            print(f"round trip {rtt * 1000:.0f} ms (the relay's {args.latency:g} ms each "
                  f"way); medians of {args.runs} runs")
            row("migrator plan", wall(["plan", "--inventory", str(near)], args.runs),
                wall(["plan", "--inventory", str(far)], args.runs), rtt, 1.5)
            shard = ["--shard", config.shard]
            row("migrator status -z -s",
                wall(["status", "--zk", config.zk_connection, *shard], args.runs),
                wall(["status", "--zk", config.operator_zk_connection, *shard], args.runs),
                rtt, 0.3)
            zone = config.zones[0].uuid
            row("zone command, reused route", zone_command(near, zone, args.runs * 4),
                zone_command(far, zone, args.runs * 4), rtt, rtt + 0.010)
            print("ZooKeeper through the headnode (zookeeper_via: headnode)")
            via_near, via_far = via_headnode_inventories(config)
            row("migrator status --inventory",
                wall(["status", "--inventory", str(via_near)], args.runs),
                wall(["status", "--inventory", str(via_far)], args.runs), rtt, 0.3)
            row("migrator plan", wall(["plan", "--inventory", str(via_near)], args.runs),
                wall(["plan", "--inventory", str(via_far)], args.runs), rtt, 1.5)
        finally:
            down(config.directory)
        if args.run:
            row("three-node run, engine overhead", run_overhead(args.latency, True),
                run_overhead(args.latency, False), rtt, 3.0)


if __name__ == "__main__":
    main()
