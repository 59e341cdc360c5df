"""The interactive rollback in a real terminal (pexpect drives questionary's prompts):
a declined confirmation changes nothing and leaves the rollback resumable; accepting
every prompt, typing the shard name for the /state deletion, completes it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.journal_store import JournalStore
from migrator.sandbox.config import load_config
from tests.rollback.conftest import assert_v1, migrate_until, zk_of
from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox


@pytest.mark.slow
def test_interactive_rollback_declined_then_accepted(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    import pexpect

    config = sandbox(nodes=3, with_client=True)
    audit = tmp_path / "audit"
    migrate_until(config, "backfill", audit)
    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(audit)}
    argv = ["-m", "migrator", "rollback", "--inventory", str(config.directory / "inventory.yaml")]

    def spawn() -> Any:
        return pexpect.spawn(sys.executable, argv, env=env, encoding="utf-8", timeout=120,
                             dimensions=(50, 200))

    declined = spawn()
    try:
        declined.expect("So: rollback-before-primary")
        declined.expect("Roll back the current sync")  # the current async (B) is still v1
        declined.expect(r"\(y/N\)")
        declined.send("n")
        declined.expect(pexpect.EOF)
    finally:
        declined.close(force=True)
    assert declined.exitstatus == 3
    assert load_config(config.directory).zones[2].version == "v2"  # nothing rolled back
    with zk_of(config) as client:
        journal = JournalStore(client, config.shard).load()
        assert client.exists(f"/manatee/{config.shard}/state")
    assert journal is not None
    run = journal.run("rollback")
    assert run is not None and run.step("roll-back-sync").status == "pending"
    assert run.step("roll-back-async").status == "done"  # already held: B never left v1

    child = spawn()
    try:
        child.expect("Roll back the current sync")
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect("Type the shard name")
        child.send(config.shard + "\r")
        child.expect("rollback-before-primary complete", timeout=180)
        # the end-of-run table, with what the sandbox's write client saw
        child.expect(r"Step times and write outages \(rollback")
        child.expect("roll-back-sync")
        child.expect(r"Write outages observed \(the write client's records\)")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert_v1(config, [0, 1, 2])
