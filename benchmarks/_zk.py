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


def seed_journal(connection_string: str, shard: str, *, finished: bool) -> None:
    """A three-node migration journal as `migrator run` writes it: steps with times, and a
    log of confirmations, writes with their diffs, and outages. ``finished``: every step
    done; otherwise the sync's reprovision is under way (acting)."""
    from dataclasses import replace

    from kazoo.client import KazooClient

    from migrator.cluster.original import capture
    from migrator.engine.journal import StepRecord, new_journal, new_run
    from migrator.engine.journal_store import JournalStore
    from migrator.playbook import catalog
    from migrator.zk import reads

    client = KazooClient(hosts=connection_string)
    client.start(timeout=10)
    try:
        snapshot = reads.read_shard(client, shard)
        loaded = catalog.resolve("three-node")
        journal = new_journal(shard, capture(snapshot), {"taken": "2026-11-26T05:00:00.000Z",
                                                         "election": []}, "ops@bastion")
        run = new_run("migration", loaded.name, loaded.digest, "ops@bastion")
        steps = [s.id for s in loaded.playbook.steps]
        records = {}
        log: list[dict[str, object]] = [{"event": "summary", "time": "2026-11-26T04:59:59.000Z",
                                         "steps": steps, "outages": [], "writes": []}]
        diff = "\n".join(f"+  line {i}" for i in range(40))
        for index, step_id in enumerate(steps):
            minute = f"{index:02d}"
            under_way = not finished and step_id == "reprovision-sync"
            records[step_id] = StepRecord(
                status="acting" if under_way else "done",
                started=f"2026-11-26T05:{minute}:00.000Z",
                finished=None if under_way else f"2026-11-26T05:{minute}:30.000Z",
                operator="ops@bastion", done_by=None if under_way else "verified",
                attempts=1)
            log.append({"event": "confirm", "time": f"2026-11-26T05:{minute}:01.000Z",
                        "step": step_id, "question": f"{step_id}?", "answer": "yes",
                        "typed": False, "by": "ops@bastion"})
            if step_id in ("backfill", "unfreeze"):
                log.append({"event": "write", "time": f"2026-11-26T05:{minute}:02.000Z",
                            "step": step_id, "op": "set", "path": f"/manatee/{shard}/state",
                            "history": "0-0000000001", "detail": "written", "diff": diff})
            if under_way:
                break
        log.append({"event": "outage-observed", "start": "2026-11-26T05:05:00.000Z",
                    "end": "2026-11-26T05:05:03.000Z", "seconds": 3.0,
                    "cause": "the primary left", "inferred": False, "source": "zookeeper"})
        run = replace(run, steps=records, log=tuple(log),
                      status="done" if finished else "running")
        JournalStore(client, shard).create(journal.with_run(run))
    finally:
        client.stop()
        client.close()
