"""A throwaway ZooKeeper for benchmarks (the same runner as the tests and the sandbox)."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migrator.sandbox.zkserver import ZooKeeperServer

logging.getLogger("kazoo").setLevel(logging.CRITICAL)


@contextmanager
def zookeeper() -> Iterator[ZooKeeperServer]:
    with tempfile.TemporaryDirectory(prefix="migrator-bench-") as tmp:
        server = ZooKeeperServer(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def seed_shards(connection_string: str, count: int, peers: int = 3) -> list[str]:
    """Persistent (not ephemeral) election nodes: enough for read benchmarks."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=connection_string)
    client.start(timeout=10)
    names = []
    try:
        for index in range(count):
            shard = f"{index + 1}.moray.bench"
            names.append(shard)
            client.ensure_path(f"/manatee/{shard}/election")
            client.ensure_path(f"/manatee/{shard}/history")
            for k in range(peers):
                ip = f"127.0.{index % 250}.{k + 2}"
                data = {"zoneId": f"zone-{index}-{k}", "ip": ip,
                        "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
                client.create(
                    f"/manatee/{shard}/election/{ip}:5432:12345-",
                    json.dumps(data).encode(),
                    sequence=True,
                )
    finally:
        client.stop()
        client.close()
    return names
