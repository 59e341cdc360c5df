"""Driving `migrator` as a real process against a real sandbox, and killing it on cue."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.cluster.backfill import BACKFILL_REASON
from migrator.sandbox.config import SandboxConfig

RUN_TIMEOUT = 240.0


@dataclass
class Done:
    status: int
    out: str
    err: str


def cli_env(audit: Path) -> dict[str, str]:
    return {**os.environ, "MIGRATOR_AUDIT_DIR": str(audit), "NO_COLOR": "1",
            "COLUMNS": "200"}


def migrator_argv(inventory: Path, *args: str) -> list[str]:
    """`python -m migrator VERB --inventory INVENTORY REST...` for ``args`` = VERB, REST."""
    return [sys.executable, "-m", "migrator", args[0], "--inventory", str(inventory), *args[1:]]


def migrator(config: SandboxConfig, audit: Path, *args: str,
             timeout: float = RUN_TIMEOUT) -> Done:
    argv = migrator_argv(config.directory / "inventory.yaml", *args)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=cli_env(audit), stdin=subprocess.DEVNULL, check=False)
    return Done(result.returncode, result.stdout, result.stderr)


def journal_path(config: SandboxConfig) -> str:
    return f"/manatee-migrator/{config.shard}/journal"


def last_migration_run(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The journal's latest migration run, if any."""
    runs = [r for r in doc.get("runs", []) if r["kind"] == "migration"]
    return runs[-1] if runs else None


def step_statuses(data: bytes | None) -> dict[str, str]:
    if not data:
        return {}
    run = last_migration_run(json.loads(data))
    return {k: v["status"] for k, v in run["steps"].items()} if run else {}


@contextmanager
def killed_when(client: Any, config: SandboxConfig, audit: Path,
                condition: Callable[[dict[str, str]], bool],
                *args: str) -> Iterator[tuple[subprocess.Popen[str], threading.Event, Done]]:
    """Start `migrator run/resume` and SIGKILL it the moment the journal meets
    ``condition`` (seen through a ZooKeeper watch on the journal znode)."""
    from kazoo.recipe.watchers import DataWatch

    argv = migrator_argv(config.directory / "inventory.yaml", *args)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, env=cli_env(audit))
    killed = threading.Event()
    done = threading.Event()

    def on_change(data: bytes | None, _stat: Any) -> bool:
        if done.is_set():
            return False
        if condition(step_statuses(data)) and process.poll() is None:
            # said before it is done: the test's thread wakes from its wait the moment
            # the process dies, maybe before this thread runs another line
            killed.set()
            process.send_signal(signal.SIGKILL)
            return False
        return True

    client.ensure_path(f"/manatee-migrator/{config.shard}")
    DataWatch(client, journal_path(config), on_change)
    output = Done(-1, "", "")
    try:
        yield process, killed, output
    finally:
        done.set()
        if process.poll() is None:
            process.kill()
        output.out, output.err = process.communicate(timeout=30)
        output.status = process.returncode


def history_states(client: Any, shard: str) -> list[tuple[str, dict[str, Any]]]:
    base = f"/manatee/{shard}/history"
    out = []
    for name in sorted(client.get_children(base), key=lambda n: int(n.rsplit("-", 1)[1])):
        data, _ = client.get(f"{base}/{name}")
        if data:
            out.append((name, json.loads(data)))
    return out


def count_our_writes(client: Any, shard: str) -> dict[str, int]:
    """Backfill records and unfreeze transitions in history: each must appear once."""
    states = [s for _, s in history_states(client, shard)]
    backfills = sum(1 for s in states if isinstance(s.get("freeze"), dict)
                    and s["freeze"].get("reason") == BACKFILL_REASON and s["generation"] == 0
                    and "oneNodeWriteMode" not in s)
    unfreezes = sum(1 for a, b in itertools.pairwise(states)
                    if a.get("freeze") and not b.get("freeze"))
    return {"backfill": backfills, "unfreeze": unfreezes}
