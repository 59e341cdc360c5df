"""ZooKeeper through the headnode (`zookeeper_via: headnode`) on a real sandbox: the
inventory discovery writes, a migration and a rollback over it, the headnode's SSH
connection killed in the middle of a run (the run pauses and goes on), and a headnode
whose sshd refuses forwarding (a clear error, nothing written)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.engine.journal_store import audit_dir_of
from migrator.sandbox import procs
from migrator.sandbox.config import IMAGES, SandboxConfig
from migrator.sandbox.nodes import set_headnode_forwarding
from tests.engine.sandbox_helpers import step_statuses
from tests.rollback.conftest import assert_v1, events, migrator, zk_of
from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

RUN_TIMEOUT = 240.0


def _discovered(config: SandboxConfig, tmp_path: Path) -> Path:
    out = tmp_path / "discovered.yaml"
    found = migrator("inventory", "discover", "--inventory",
                     str(config.directory / "headnode.yaml"), "--shard", config.shard,
                     "--out", str(out), "--migrate-to", IMAGES["v2"], "--yes", "--json")
    assert found.returncode == 0, found.stderr
    sources = {s["field"]: s["source"] for s in json.loads(found.stdout)["sources"]}
    assert "discovery.jump" in sources["zookeeper_via"]
    return out


def _forwarding_sshd(config: SandboxConfig) -> int | None:
    """The headnode's sshd process holding a TCP connection to ZooKeeper (the one
    relaying a forwarded channel), found in /proc; None when there is none."""
    listener = procs.recorded_pid(config.pid_file("sshd-headnode"))
    assert listener is not None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            # remote address's port, state 01 (ESTABLISHED), inode
            if int(fields[2].rsplit(":", 1)[1], 16) == config.zk_port and fields[3] == "01":
                inodes.add(f"socket:[{fields[9]}]")
    for pid in procs.descendants(listener):
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            return pid
    return None


def _headnode_logins(config: SandboxConfig) -> int:
    """SSH connections the headnode's sshd has accepted so far (its log, at INFO)."""
    log = config.directory / "headnode" / "ssh" / "sshd.log"
    return log.read_text().count("Accepted publickey")


def test_discovery_writes_it_and_a_migration_and_rollback_go_through_the_headnode(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = sandbox(nodes=3, access="zlogin", with_client=True)
    inventory = _discovered(config, tmp_path)
    document = yaml.safe_load(inventory.read_text())
    assert document["zookeeper_via"] == "headnode"
    assert document["zookeeper"] == config.zk_connection  # as the headnode reaches it
    audit = {"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    status = migrator("status", "--inventory", str(inventory), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["shard"] == config.shard
    # one SSH connection to the headnode carries the plan's ZooKeeper session, the
    # zones' route to their compute nodes and the headnode's own commands
    before = _headnode_logins(config)
    plan = migrator("plan", "--inventory", str(inventory))
    assert plan.returncode == 0, plan.stderr
    assert _headnode_logins(config) == before + 1
    run = migrator("run", "--inventory", str(inventory), "--yes", env=audit)
    assert run.returncode == 0, run.stderr[-3000:]
    back = migrator("rollback", "--inventory", str(inventory), "--yes", "--json", env=audit)
    assert back.returncode == 0, back.stderr[-3000:]
    found = events(back.stdout)
    assert all(e["passed"] for e in found if e["event"] == "check" and e["kind"] == "verify")
    assert_v1(config, [2, 1, 0])
    # both sessions came through forwards on other local ports, yet the run's and the
    # rollback's audit copies are in one folder, named by the ensemble's own address
    assert [p.name for p in (tmp_path / "audit").iterdir()] == [
        audit_dir_of(config.zk_connection).name]
    kept = (tmp_path / "audit" / audit_dir_of(config.zk_connection).name / config.shard)
    assert len(list((kept / "transcripts").iterdir())) == 2


def test_the_headnode_connection_killed_mid_run_pauses_the_run_and_it_goes_on(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    from kazoo.recipe.watchers import DataWatch

    config = sandbox(nodes=3, access="zlogin")
    inventory = _discovered(config, tmp_path)
    argv = [sys.executable, "-m", "migrator", "run", "--inventory", str(inventory), "--yes"]
    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}
    killed: list[int] = []
    done = threading.Event()
    with zk_of(config) as client:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True, env=env)

        def on_change(data: bytes | None, _stat: Any) -> bool:
            if done.is_set() or killed:
                return False
            # while the run waits for the backfill's effects (ZooKeeper and the logs)
            if step_statuses(data).get("backfill") == "verifying":
                pid = _forwarding_sshd(config)
                assert pid is not None, "the run's ZooKeeper session is not forwarded"
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return False
            return True

        client.ensure_path(f"/manatee-migrator/{config.shard}")
        DataWatch(client, f"/manatee-migrator/{config.shard}/journal", on_change)
        try:
            out, err = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            done.set()
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
    assert killed, "the run never reached the backfill's verification"
    assert process.returncode == 0, err[-3000:]
    said = out + err
    assert "ZooKeeper connection lost" in said, said[-3000:]
    assert "ZooKeeper is back" in said, said[-3000:]
    # after the run, a new forward (through a new SSH connection) carries `status`
    status = migrator("status", "--inventory", str(inventory), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["mode"] not in ("legacy", None)


def test_a_headnode_refusing_forwarding_is_a_clear_error_and_nothing_is_written(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = sandbox(nodes=3, access="zlogin")
    inventory = _discovered(config, tmp_path)
    set_headnode_forwarding(config, allowed=False)
    audit = {"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    for args in (["run", "--inventory", str(inventory), "--yes"],
                 ["status", "--inventory", str(inventory)],
                 ["plan", "--inventory", str(inventory)]):
        result = migrator(*args, env=audit)
        assert result.returncode == 2, (args, result.stderr)
        assert "refused to forward a connection to ZooKeeper" in result.stderr
        assert "AllowTcpForwarding" in result.stderr
        assert "on the headnode itself, or in a zone on the admin network" in result.stderr
        assert "Traceback" not in result.stderr
    again = tmp_path / "again.yaml"
    discover = migrator("inventory", "discover", "--inventory",
                        str(config.directory / "headnode.yaml"), "--shard", config.shard,
                        "--out", str(again), "--yes")
    assert discover.returncode == 2, discover.stderr
    assert "AllowTcpForwarding" in discover.stderr
    assert not again.exists()
    with zk_of(config) as client:
        assert client.exists(f"/manatee/{config.shard}/state") is None
        assert client.exists(f"/manatee-migrator/{config.shard}/journal") is None
    assert not (tmp_path / "audit").exists() or not any((tmp_path / "audit").rglob("*.json"))
    set_headnode_forwarding(config, allowed=True)
    status = migrator("status", "--inventory", str(inventory))
    assert status.returncode == 0, status.stderr
