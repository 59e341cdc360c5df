"""Engine reaction time: from a verification becoming true to the next step starting.

    .venv/bin/python benchmarks/engine_reaction.py [--samples N]

Two kinds of verification, each on a real sandbox:
  * a ZooKeeper change (``generation_at_least``), written by a separate client
    session: target median <= 20 ms;
  * a sitter log record (``log_record`` on a zone over SSH), appended to the
    zone's log: target median <= 50 ms.
The playbook has N steps; step i waits for the i-th change, which a writer
thread makes 150 ms after step i started. The next step's start is taken from
a step-start hook, so each figure includes stamping the step done and starting
the next one in the journal (two versioned ZooKeeper writes).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from migrator.cluster.state import ClusterState
from migrator.engine.console import RunConsole
from migrator.engine.journal_store import JournalStore
from migrator.engine.runner import Runner, RunOptions
from migrator.playbook.loader import load_playbook_text
from migrator.sandbox.manage import UpOptions, down, up
from migrator.stepkit.hooks import on_step_start

STARTS: dict[str, float] = {}


@on_step_start
def _record_start(_ctx: Any, step: Any) -> None:
    STARTS[step.id] = time.perf_counter()


def playbook(samples: int, kind: str) -> bytes:
    steps = []
    for i in range(1, samples + 2):
        if kind == "zk":
            verify = f"      - check: generation_at_least\n        params: {{generation: {i}}}\n"
        else:
            verify = (f"      - check: log_record\n        params: {{zone: original_primary,"
                      f" msg: bench-{i}}}\n")
        steps.append(
            f"  - id: s{i}\n    title: step {i}\n    explain: wait for change {i}\n"
            f"    zones: [original_primary]\n"
            f"    action: {{name: ask_operator, params: {{question: go {i}}}}}\n"
            f"    verify:\n{verify}    done_when: []\n    timeout: 30\n"
        )
    return ("name: bench\ntitle: reaction\ndescription: reaction benchmark\npeers: 3\n"
            "steps:\n" + "".join(steps)).encode()


def measure(config: Any, kind: str, samples: int, tmp: Path) -> list[float]:
    from kazoo.client import KazooClient

    from migrator.inventory.load import load_inventory
    from migrator.remote.prewarm import remote_session

    engine_client = KazooClient(hosts=config.zk_connection)
    writer_client = KazooClient(hosts=config.zk_connection)
    engine_client.start()
    writer_client.start()
    state_path = f"/manatee/{config.shard}/state"
    log = config.zone_dir(config.zones[0]) / "sitter.log"
    changed: dict[int, float] = {}
    stop = threading.Event()

    def writer() -> None:
        for i in range(1, samples + 2):
            step = f"s{i}"
            while step not in STARTS and not stop.is_set():
                time.sleep(0.005)  # the benchmark's own pacing, not the engine's
            if stop.is_set():
                return
            time.sleep(0.15)
            if kind == "zk":
                data, stat = writer_client.get(state_path)
                doc = json.loads(data)
                doc["generation"] = i
                writer_client.set(state_path, ClusterState(doc).to_bytes(), version=stat.version)
                # true from the commit on: the server acknowledged it (the writer's own
                # fsync is not the engine's reaction)
                changed[i] = time.perf_counter()
            else:
                line = json.dumps({"name": "manatee-sitter", "hostname": "bench", "pid": 1,
                                   "level": 30, "msg": f"bench-{i}", "v": 0,
                                   "time": "2026-01-01T00:00:00.000Z"})
                changed[i] = time.perf_counter()
                with log.open("a") as handle:
                    handle.write(line + "\n")

    if kind == "zk":
        from migrator.cluster.backfill import compute_backfill_state
        from migrator.zk import reads, writes

        snap = reads.read_shard(writer_client, config.shard)
        writes.create_state(writer_client, config.shard,
                            compute_backfill_state(snap.topology, "2026-01-01T00:00:00.000Z"))
    STARTS.clear()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    inventory = load_inventory(config.directory / "inventory.yaml")
    loaded = load_playbook_text(playbook(samples, kind), f"bench-{kind}.yaml")
    try:
        with remote_session(inventory) as remote:
            runner = Runner(
                client=engine_client, shard=config.shard, loaded=loaded, choice="bench",
                inventory=inventory, remote=remote,
                console=RunConsole(assume_yes=True, shard=config.shard, stream=io.StringIO()),
                store=JournalStore(engine_client, config.shard, root=f"/bench-{kind}",
                                   audit_dir=tmp / "audit"),
                options=RunOptions(assume_yes=True), operator="bench@host",
            )
            runner.execute()
    finally:
        stop.set()
        thread.join(5)
        engine_client.stop()
        writer_client.stop()
    # step i's verification became true at changed[i]; step i+1 started at STARTS[s(i+1)]
    return [(STARTS[f"s{i + 1}"] - changed[i]) * 1000 for i in range(1, samples + 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, target in (("zk", 20), ("log", 50)):
            config = up(Path(tmp) / f"sandbox-{kind}", UpOptions(nodes=3, access="ssh"))
            try:
                figures = measure(config, kind, args.samples, Path(tmp))
            finally:
                down(config.directory)
            what = "ZooKeeper change" if kind == "zk" else "sitter log record"
            print(f"{what} -> next step started: median {statistics.median(figures):.1f} ms, "
                  f"max {max(figures):.1f} ms over {len(figures)} (target median <= "
                  f"{target} ms)")


if __name__ == "__main__":
    main()
