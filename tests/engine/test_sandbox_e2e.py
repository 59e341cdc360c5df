"""End-to-end on the real sandbox: real ZooKeeper, zones over real sshd, v1/v2 sitters.

Every test brings its own sandbox up and always takes it down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.config import SandboxConfig
from tests.engine.sandbox_helpers import (
    count_our_writes,
    history_states,
    killed_when,
    migrator,
    step_statuses,
)

pytestmark = pytest.mark.sandbox

THREE_NODE = ["upgrade-morays", "reprovision-async", "backfill", "reprovision-sync",
              "unfreeze", "reprovision-primary"]


def _state(client: Any, shard: str) -> dict[str, Any]:
    data, _ = client.get(f"/manatee/{shard}/state")
    document: dict[str, Any] = json.loads(data)
    return document


def _assert_three_node_end(client: Any, config: SandboxConfig) -> None:
    """The runbook's end state: generation 1 after a takeover, the original async primary,
    every peer present, history with backfill, unfreeze and the new generation."""
    zones = [z.uuid for z in config.zones]
    state = _state(client, config.shard)
    assert state["generation"] == 1
    assert state["primary"]["zoneId"] == zones[2]
    assert state["sync"]["zoneId"] == zones[1]
    present = {p["zoneId"] for p in [state["primary"], state["sync"], *state["async"],
                                     *state.get("deposed", [])]}
    assert present == set(zones)
    assert "freeze" not in state
    assert count_our_writes(client, config.shard) == {"backfill": 1, "unfreeze": 1}
    assert any(s.get("generation") == 1 for _, s in history_states(client, config.shard))


def test_full_three_node_migration_with_yes(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    plan = migrator(config, tmp_path, "plan", "--json")
    assert plan.status == 0, plan.err
    planned = json.loads(plan.out)
    assert [s["id"] for s in planned["steps"]] == THREE_NODE
    assert planned["steps"][2]["write"]["op"] == "create"
    assert not client.exists(f"/manatee-migrator/{config.shard}/journal")  # plan wrote nothing
    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err
    assert "three-node complete" in result.err
    _assert_three_node_end(client, config)
    data, _ = client.get(f"/manatee-migrator/{config.shard}/journal")
    journal = json.loads(data)
    assert set(step_statuses(data).values()) == {"done"}
    assert journal["snapshot"]["state"] is None and len(journal["snapshot"]["election"]) == 3
    # the local copy is keyed by the ZooKeeper ensemble and the shard
    audit = next(tmp_path.glob(f"*/{config.shard}/journal.json"))
    assert audit.parent.parent.name == config.zk_connection
    assert json.loads(audit.read_text())["runs"][0]["status"] == "done"
    again = migrator(config, tmp_path, "run", "--yes")
    assert again.status == 0 and "Nothing to do" in again.err
    assert count_our_writes(client, config.shard) == {"backfill": 1, "unfreeze": 1}


def _kill_points() -> list[tuple[str, str]]:
    points = []
    for step in THREE_NODE:
        points += [(step, "acting"), (step, "verifying"), (step, "done")]
    return points


STATUS_ORDER = {"pending": 0, "started": 1, "acting": 2, "verifying": 3, "done": 4}


def _reached(step: str, status: str) -> Callable[[dict[str, str]], bool]:
    """True at the first journal write of this run at or past ``step``'s ``status``.

    At or past, not equal: a status held for a moment (a ZooKeeper step is `acting`
    for milliseconds) may be overwritten before a loaded machine delivers the watch,
    and then the kill lands at the next write instead of not at all. The journal as
    it was before this run (the watch's first delivery) never triggers a kill.
    """
    calls = []

    def condition(statuses: dict[str, str]) -> bool:
        calls.append(None)
        if len(calls) == 1:
            return False
        return STATUS_ORDER.get(statuses.get(step, "pending"), 0) >= STATUS_ORDER[status]

    return condition


def test_sigkill_at_every_boundary_and_wait_then_resume(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """Kill the migrator at each step's start of action, inside its wait, and after it is
    stamped; each time `resume` goes on from where the cluster really is."""
    config = sandbox(nodes=3)
    client = client_for(config)
    kills = 0
    command = ["run", "--yes"]
    for step, status in _kill_points():
        with killed_when(client, config, tmp_path, _reached(step, status),
                         *command) as (process, killed, output):
            process.wait(timeout=240)
        if killed.is_set():
            kills += 1
            assert process.returncode == -9
        else:  # the run finished before reaching the point (it was already past it)
            assert output.status == 0, (step, status, output.err)
        command = ["resume", "--yes"]
    final = migrator(config, tmp_path, "resume", "--yes")
    assert final.status == 0, final.err
    assert kills >= 15
    _assert_three_node_end(client, config)


def test_second_concurrent_run_is_refused_naming_the_holder(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    with killed_when(client, config, tmp_path,
                     lambda s: s.get("reprovision-primary") == "done",
                     "run", "--yes") as (first, _killed, _output):
        # wait until the first run holds the lock (its journal exists), then start another
        import threading

        from kazoo.recipe.watchers import DataWatch

        ready = threading.Event()
        DataWatch(client, f"/manatee-migrator/{config.shard}/journal",
                  lambda data, _s: (ready.set() if data else None) or not ready.is_set())
        assert ready.wait(60)
        second = migrator(config, tmp_path, "run", "--yes", timeout=30)
        assert second.status == 3
        assert f"pid {first.pid}" in second.err and "is being migrated by" in second.err
        first.wait(timeout=240)


@pytest.mark.parametrize("nodes,playbook", [(2, "two-node"), (1, "one-node"),
                                            (3, "three-node-frozen-primary")])
def test_other_playbooks_end_as_the_runbook_says(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path, nodes: int, playbook: str,
) -> None:
    config = sandbox(nodes=nodes)
    client = client_for(config)
    args = ["run", "--yes"] + (["--playbook", playbook] if nodes == 3 else [])
    result = migrator(config, tmp_path, *args)
    assert result.status == 0, result.err
    assert f"{playbook} complete" in result.err
    state = _state(client, config.shard)
    zones = [z.uuid for z in config.zones]
    present = {p["zoneId"] for p in [state["primary"], *([state["sync"]] if state["sync"]
                                                         else []),
                                     *state["async"], *state.get("deposed", [])]}
    assert present == set(zones)
    if playbook == "one-node":
        assert state["oneNodeWriteMode"] is True and state["freeze"]  # stays frozen
    else:
        assert "freeze" not in state
        assert count_our_writes(client, config.shard)["unfreeze"] == 1
    if playbook == "three-node-frozen-primary":
        assert state["generation"] == 0 and state["primary"]["zoneId"] == zones[0]


def test_wrong_playbook_size_is_bad_input_and_writes_nothing(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=2)
    client = client_for(config)
    result = migrator(config, tmp_path, "run", "--yes", "--playbook", "three-node")
    assert result.status == 2
    assert "written for a 3-node shard" in result.err and "Traceback" not in result.err
    assert not client.exists(f"/manatee-migrator/{config.shard}/journal")
    no_tty = migrator(config, tmp_path, "run")  # no --yes and stdin is not a terminal
    assert no_tty.status == 3 and "no terminal" in no_tty.err
    assert not client.exists(f"/manatee/{config.shard}/state")


def test_interactive_run_in_a_real_terminal(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """questionary prompts driven through a pseudo-terminal: a declined confirmation
    writes nothing; then a full run answering y/n prompts and typing the shard name."""
    import sys

    import pexpect

    from tests.engine.sandbox_helpers import cli_env

    config = sandbox(nodes=3)
    client = client_for(config)
    argv = ["-m", "migrator", "run", "--inventory", str(config.directory / "inventory.yaml")]

    def spawn() -> Any:
        return pexpect.spawn(sys.executable, argv, env=cli_env(tmp_path), encoding="utf-8",
                             timeout=120, dimensions=(50, 200))

    declined = spawn()
    try:
        # one summary first, with the outages expected, and one "proceed?"
        declined.expect("Write outages expected: 2 step")
        declined.expect(r"Proceed with 6 step\(s\)")
        declined.expect(r"\(y/N\)")
        declined.send("n")
        declined.expect(pexpect.EOF)
    finally:
        declined.close(force=True)
    assert declined.exitstatus == 3
    assert not client.exists(f"/manatee/{config.shard}/state")
    assert not client.exists(f"/manatee-migrator/{config.shard}/journal")

    declined = spawn()
    try:
        declined.expect(r"Proceed with 6 step\(s\)")
        declined.send("y")
        declined.expect("lists no Moray zones")
        declined.expect(r"\(y/N\)")
        declined.send("n")
        declined.expect(pexpect.EOF)
    finally:
        declined.close(force=True)
    assert declined.exitstatus == 3
    data, _ = client.get(f"/manatee-migrator/{config.shard}/journal")
    assert step_statuses(data)["upgrade-morays"] == "pending"

    child = spawn()
    try:
        child.expect(r"Proceed with 6 step\(s\)")
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect("lists no Moray zones")
        child.expect(r"\(y/N\)")
        child.send("y")
        # every zone reprovision is confirmed, even the async's
        child.expect("Reprovision the async: ")
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect(r"\[x\] the original async \S+ is the sync")
        child.expect(f"Create the /state of shard {config.shard}")
        child.expect(r"\(y/N\)")
        child.send("y")
        # the v1 sync's departure stops writes: typed, with its cause
        child.expect("Reprovision the sync: ")
        child.expect("This causes a write outage: the v1 primary's sync leaves")
        child.expect("Type the shard name")
        child.send(config.shard + "\r")
        child.expect("write outage expected from now")
        child.expect(f"Unfreeze shard {config.shard}", timeout=180)
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect("This causes a write outage: the primary leaves")
        child.expect("Type the shard name")
        child.send(config.shard + "\r")
        child.expect("three-node complete", timeout=180)
        child.expect("Step times and write outages")
        child.expect("Write outages observed")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    _assert_three_node_end(client, config)
