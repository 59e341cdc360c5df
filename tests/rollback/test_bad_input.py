"""Refusals before anything is touched, against a real ZooKeeper (no zones needed:
every case stops before reaching one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.commands import expert
from migrator.engine.lock import RunLock
from migrator.sandbox.zkserver import ZooKeeperServer
from migrator.zk import reads
from tests.conftest import ZONES, V1Shard
from tests.rollback.conftest import events, migrator

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"


def _inventory(tmp_path: Path, server: ZooKeeperServer, roll_back_to: str | None) -> Path:
    versions: dict[str, str] = {"migrate_to": "2.1.1"}
    if roll_back_to:
        versions["roll_back_to"] = roll_back_to
    document = {
        "shard": SHARD, "zookeeper": server.connection_string, "ssh_config": False,
        "known_hosts": "known_hosts",
        "zones": {zone: {"host": ip} for ip, zone in list(ZONES.items())[:3]},
        "versions": versions,
    }
    (tmp_path / "known_hosts").write_text("")
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _three(v1_shard: V1Shard) -> None:
    for ip, zone in list(ZONES.items())[:3]:
        v1_shard.join(ip, zone)


def _backfilled(zk: Any, v1_shard: V1Shard) -> int:
    _three(v1_shard)
    expert.backfill(zk, SHARD, lambda _s: None)
    found = reads.read_state(zk, SHARD)
    assert found is not None
    return found[1]


def _untouched(zk: Any, version: int) -> None:
    found = reads.read_state(zk, SHARD)
    assert found is not None and found[1] == version
    assert not zk.exists(f"/manatee-migrator/{SHARD}/journal")


def test_nothing_to_roll_back_says_so_and_exits_0(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    _three(v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, "1.0.0"))
    result = migrator("rollback", "--inventory", inventory, "--yes", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "nothing to roll back" in result.stderr
    found = events(result.stdout)
    assert [e["event"] for e in found] == ["choice", "nothing", "finished"]
    assert found[0]["variant"] is None
    planned = migrator("plan", "--rollback", "--inventory", inventory, timeout=60)
    assert planned.returncode == 0 and "nothing to roll back" in planned.stdout
    assert not zk.exists(f"/manatee-migrator/{SHARD}/journal")


def test_lock_held_by_another_run_is_refused_naming_it(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    version = _backfilled(zk, v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, "1.0.0"))
    lock = RunLock(zk, SHARD, "alice@laptop pid 42")
    lock.acquire()
    try:
        result = migrator("rollback", "--inventory", inventory, "--yes", "--json",
                          timeout=60)
    finally:
        lock.release()
    assert result.returncode == 3, result.stderr
    assert "alice@laptop pid 42" in result.stderr
    error = events(result.stdout)[-1]
    assert error["event"] == "error" and error["exitStatus"] == 3
    assert "alice@laptop pid 42" in error["message"]
    _untouched(zk, version)


def test_inventory_without_the_old_version_is_refused_before_anything(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    version = _backfilled(zk, v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, None))
    for args in (["rollback", "--yes", "--json"], ["plan", "--rollback"]):
        result = migrator(*args, "--inventory", inventory, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "versions.roll_back_to" in result.stderr and "Traceback" not in result.stderr
    _untouched(zk, version)
    lock = f"/manatee-migrator/{SHARD}/lock"
    assert not zk.exists(lock) or not zk.get_children(lock)


def test_no_terminal_and_no_yes_fails_fast_without_writing(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    version = _backfilled(zk, v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, "1.0.0"))
    result = migrator("rollback", "--inventory", inventory, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "no terminal" in result.stderr and "--yes" in result.stderr
    _untouched(zk, version)


def test_rollback_without_an_inventory_is_bad_input(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard
) -> None:
    _three(v1_shard)
    result = migrator("rollback", "--zk", zk_server.connection_string, "--shard", SHARD,
                      "--yes", timeout=60)
    assert result.returncode == 2
    assert "needs the inventory" in result.stderr


def test_a_rollback_playbook_cannot_be_run_as_a_migration(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    _three(v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, "1.0.0"))
    for name in ("rollback-before-primary", "rollback-after-primary", "rebuild-deposed"):
        result = migrator("run", "--inventory", inventory, "--playbook", name, "--yes",
                          timeout=60)
        assert result.returncode == 2, result.stderr
        assert "migrator rollback" in result.stderr
    assert not zk.exists(f"/manatee/{SHARD}/state")
    assert not zk.exists(f"/manatee-migrator/{SHARD}/journal")


def test_plan_rollback_refuses_options_it_cannot_honour(
    zk: Any, zk_server: ZooKeeperServer, v1_shard: V1Shard, tmp_path: Path
) -> None:
    _three(v1_shard)
    inventory = str(_inventory(tmp_path, zk_server, "1.0.0"))
    saved = tmp_path / "plan.json"
    result = migrator("plan", "--rollback", "--inventory", inventory, "--playbook", "three-node",
                      "--out", str(saved), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--playbook, --out" in result.stderr and "Traceback" not in result.stderr
    assert not saved.exists()
