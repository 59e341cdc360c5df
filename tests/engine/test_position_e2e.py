"""Position on the real sandbox: a migration begun by hand (runbook commands, no journal)
is adopted and finished without reprovisioning any zone twice; after a completed
rollback a new `run` migrates the shard again from the start. (Every cut point of every
playbook is covered purely in test_position.py; these are the end-to-end witnesses.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.config import SandboxConfig, load_config
from tests.engine.sandbox_helpers import count_our_writes, migrator
from tests.engine.test_inflight_e2e import sitter_starts
from tests.rollback.conftest import drive, migrate_until
from tests.rollback.conftest import migrator as script

pytestmark = pytest.mark.sandbox

HAND = {
    # (nodes, playbook, steps done by hand with the runbook's commands)
    "three-node-after-backfill": (3, "three-node", ["reprovision-async", "backfill"]),
    "three-node-after-unfreeze": (3, "three-node", ["reprovision-async", "backfill",
                                                    "reprovision-sync", "unfreeze"]),
    "two-node-after-sync": (2, "two-node", ["reprovision-sync"]),
}


@pytest.mark.parametrize("case", list(HAND))
def test_run_adopts_a_migration_begun_by_hand(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path, case: str
) -> None:
    nodes, playbook, by_hand = HAND[case]
    config = sandbox(nodes=nodes)
    before = sitter_starts(config)
    for step in by_hand:
        drive(config, step)
    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err[-3000:]
    assert f"{playbook} complete" in result.err
    for step in by_hand:
        # stamped from the shard, not acted on again
        assert f"({step})\n  ✔ already done" in result.err, step
    if "unfreeze" in by_hand:
        assert "implied by step unfreeze" in result.err
    # every zone reprovisioned exactly once (by hand or by the run)
    assert sitter_starts(config) == {zone: n + 1 for zone, n in before.items()}
    assert all(z.version == "v2" for z in load_config(config.directory).zones)
    from migrator.sandbox.shard import zk_client

    with zk_client(config) as client:
        assert count_our_writes(client, config.shard) == {"backfill": 1, "unfreeze": 1}


@pytest.mark.parametrize("nodes", [3, 2])
def test_after_a_completed_rollback_run_migrates_again(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path, nodes: int
) -> None:
    config = sandbox(nodes=nodes)
    audit = tmp_path / "audit"
    migrate_until(config, "backfill", audit)
    inventory = str(config.directory / "inventory.yaml")
    env = {"MIGRATOR_AUDIT_DIR": str(audit)}
    rolled = script("rollback", "--inventory", inventory, "--yes", env=env)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert "archived" in rolled.stderr
    result = migrator(config, audit, "run", "--yes")
    assert result.status == 0, result.err[-3000:]
    assert ("three-node" if nodes == 3 else "two-node") + " complete" in result.err
    # the backfill of the rolled-back attempt did not count: it was written again
    assert "(backfill)\n  ✔ already done" not in result.err
    from migrator.sandbox.shard import zk_client
    from tests.engine.sandbox_helpers import history_states

    with zk_client(config) as client:
        states: list[Any] = [s for _, s in history_states(client, config.shard)]
        data, _ = client.get(f"/manatee/{config.shard}/state")
    assert sum(1 for s in states if s.get("generation") == 0 and s.get("freeze")) >= 2
    assert b'"freeze"' not in data
    assert all(z.version == "v2" for z in load_config(config.directory).zones)
