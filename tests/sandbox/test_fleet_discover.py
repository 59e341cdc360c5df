"""`migrator fleet discover` against a sandbox fleet (`sandbox up --shards K`: K shards on
one ZooKeeper and one headnode): every shard's inventory exactly as `inventory discover`
writes it, fleet.yaml with the v2 shard and a shard only ZooKeeper has skipped (and
warned about), --shards narrowing it, an existing fleet.yaml never replaced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.fleet.model import load_fleet
from migrator.inventory.load import load_inventory
from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

ONE, TWO, THREE = (f"{n}.moray.sandbox.test" for n in (1, 2, 3))
STRAY = "9.moray.sandbox.test"  # in ZooKeeper, not among the headnode's postgres zones


def migrator(*args: str | Path, cwd: Path, env: dict[str, str]) -> Any:
    return subprocess.run(["migrator", *map(str, args)], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300, check=False)


def test_every_shard_discovered_once_confirmed(sandbox: SandboxFactory, tmp_path: Path) -> None:
    top = sandbox(shards=3, nodes=1, access="zlogin")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}
    headnode = top.directory / "headnode.yaml"
    done = migrator("run", "--yes", "--inventory",
                    top.directory / "shards" / THREE / "inventory.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    from kazoo.client import KazooClient

    client = KazooClient(hosts=top.zk_connection, timeout=4.0)
    client.start(timeout=10)
    try:
        client.ensure_path(f"/manatee/{STRAY}/election")
    finally:
        client.stop()
        client.close()

    out = tmp_path / "fleet"
    unasked = migrator("fleet", "discover", "--inventory", headnode, "--out", out,
                       "--migrate-to", "latest", cwd=tmp_path, env=env)
    assert unasked.returncode == 3, unasked.stderr[-3000:]  # no terminal to ask on
    assert not out.exists()

    sshd_log = top.directory / "headnode" / "ssh" / "sshd.log"
    connections = sshd_log.read_text().count("Accepted publickey")
    found = migrator("fleet", "discover", "--inventory", headnode, "--out", out,
                     "--migrate-to", "latest", "--yes", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr[-3000:]
    # one SSH connection to the headnode for the whole fleet (ZooKeeper's forward included)
    assert sshd_log.read_text().count("Accepted publickey") == connections + 1
    table = {line.split()[0]: line.split() for line in found.stdout.splitlines()[2:]}
    assert table[ONE][1:] == ["v1", "1", f"{ONE}.yaml"]
    assert table[THREE][1:3] == ["v2", "1"] and table[THREE][3] == "skip:"
    assert table[STRAY][1] == "v1"
    assert f"Shard {STRAY} is in ZooKeeper but the headnode lists no postgres zone" in \
        found.stderr
    fleet = load_fleet(out / "fleet.yaml")
    assert fleet.name == "sandbox.test"
    assert [(s.shard, s.inventory is not None) for s in fleet.shards] == [
        (ONE, True), (TWO, True), (THREE, False), (STRAY, False)]
    assert str(fleet.shard(THREE).skip).startswith("already at v2 (mode migrated")
    assert "not listed by the headnode" in str(fleet.shard(STRAY).skip)
    for shard in (ONE, TWO):
        assert load_inventory(out / f"{shard}.yaml").shard == shard

    # the same file `inventory discover` writes for that shard
    single = tmp_path / "single" / f"{TWO}.yaml"
    single.parent.mkdir()
    alone = migrator("inventory", "discover", "--inventory", headnode, "--shard", TWO,
                     "--out", single, "--migrate-to", "latest", "--yes", cwd=tmp_path, env=env)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert (out / f"{TWO}.yaml").read_text() == single.read_text()

    again = migrator("fleet", "discover", "--inventory", headnode, "--out", out, "--yes",
                     cwd=tmp_path, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr

    narrow = migrator("fleet", "discover", "--inventory", headnode, "--out", tmp_path / "two",
                      "--shards", "2.*", "--name", "just-two", "--migrate-to", "latest",
                      "--yes", cwd=tmp_path, env=env)
    assert narrow.returncode == 0, narrow.stderr[-3000:]
    written = yaml.safe_load((tmp_path / "two" / "fleet.yaml").read_text())
    assert written == {"fleet": "just-two",
                       "shards": [{"shard": TWO, "inventory": f"{TWO}.yaml"}]}
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [f"{TWO}.yaml",
                                                                     "fleet.yaml"]

    # one shard that cannot be discovered: nothing at all is written
    missing = next(iter(load_inventory(out / f"{TWO}.yaml").zones))
    hidden = top.directory / "headnode" / "vmapi-hidden"
    hidden.write_text(missing + "\n")
    try:
        failed = migrator("fleet", "discover", "--inventory", headnode, "--out",
                          tmp_path / "failed", "--migrate-to", "latest", "--yes",
                          cwd=tmp_path, env=env)
    finally:
        hidden.unlink()
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert f"shard {TWO}: " in failed.stderr and f"sdc-vmapi /vms/{missing}" in failed.stderr
    assert "nothing was written" in failed.stderr
    assert not (tmp_path / "failed").exists()

    plan = migrator("fleet", "plan", "--fleet", out / "fleet.yaml", "--json", cwd=tmp_path,
                    env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
