"""A throwaway ZooKeeper with a three-peer v1 shard; show status, backfill, unfreeze, history."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from migrator.sandbox.zkserver import ZooKeeperServer

SHARD = "1.moray.demo"


def migrator(*args: str, zk: str) -> None:
    command = [sys.executable, "-m", "migrator", args[0], "--zk", zk, *args[1:]]
    print(f"\n$ migrator {' '.join(args)}", flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    from kazoo.client import KazooClient

    with tempfile.TemporaryDirectory(prefix="migrator-demo-") as tmp:
        server = ZooKeeperServer(Path(tmp))
        server.start()
        peers = KazooClient(hosts=server.connection_string)
        try:
            peers.start(timeout=10)
            for k in range(3):
                ip = f"127.0.0.{k + 2}"
                data = {"zoneId": f"demo-zone-{k + 1}", "ip": ip,
                        "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
                peers.ensure_path(f"/manatee/{SHARD}/election")
                peers.create(f"/manatee/{SHARD}/election/{ip}:5432:12345-",
                             json.dumps(data).encode(), ephemeral=True, sequence=True)
            zk = server.connection_string
            migrator("status", zk=zk)
            migrator("status", "--shard", SHARD, zk=zk)
            migrator("backfill", "--shard", SHARD, "--yes", zk=zk)
            migrator("status", "--shard", SHARD, zk=zk)
            migrator("unfreeze", "--shard", SHARD, "--yes", zk=zk)
            migrator("history", "--shard", SHARD, zk=zk)
        finally:
            peers.stop()
            peers.close()
            server.stop()


if __name__ == "__main__":
    main()
