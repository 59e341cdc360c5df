"""A sandbox fleet (`sandbox up --shards K`): K shards on one ZooKeeper, one headnode and
shared compute nodes, each shard a sandbox of its own in DIR/shards/<shard>.

Every shard elects in ZooKeeper, the headnode answers for every shard's zones, one
shard migrates with the single-shard engine while the others stay at v1, `status` and
`verify` cover every shard, `down` stops everything."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.inventory.load import load_inventory
from migrator.sandbox.config import (
    IMAGES,
    SandboxConfig,
    fleet_members,
    load_config,
    zone_address,
)
from migrator.sandbox.manage import UpOptions, live_processes, up
from migrator.sandbox.pgclient import read_acked
from migrator.sandbox.shard import election_children, zk_client
from migrator.sandbox.zones import ssh_user
from migrator.zk import reads
from tests.conftest import bring_down
from tests.rollback.conftest import migrator
from tests.waiting import until

pytestmark = pytest.mark.sandbox

FleetFactory = Callable[..., SandboxConfig]


@pytest.fixture
def fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FleetFactory]:
    """``fleet(shards=3, shard_nodes=(3, 2, 1), pg="sim", ...)`` -> the running fleet's
    top config; torn down after the test, and nothing of it may be left running."""
    started: list[Path] = []

    def factory(**options: Any) -> SandboxConfig:
        directory = tmp_path / f"fleet{len(started)}"
        if options.get("pg") == "real":
            from tests.tiers import require

            require(request.node, "pgreal", "brings up a sandbox fleet with real PostgreSQL")
            # the postgres user cannot enter pytest's private (0700) tmp_path
            directory = Path(tempfile.mkdtemp(prefix="migrator-pg-test-", dir="/var/tmp"))
        started.append(directory)
        return up(directory, UpOptions(access="zlogin", **options))

    try:
        yield factory
    finally:
        left = [process for directory in started for process in bring_down(directory)]
        if left:
            pytest.fail("left running after `sandbox down`: " + "; ".join(left), pytrace=False)


def _headnode(top: SandboxConfig, command: str) -> str:
    """``command`` on the fleet's headnode over its real sshd."""
    assert top.headnode is not None
    result = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(top.directory / "id_ed25519"),
         "-o", f"UserKnownHostsFile={top.directory / 'known_hosts'}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "ConnectTimeout=5", "-p", str(top.headnode.ssh_port),
         f"{ssh_user()}@{top.headnode.ip}", command],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _shard_view(member: SandboxConfig) -> tuple[list[str], bytes | None]:
    """The peer ids in the shard's election, in order, and its /state (None: v1)."""
    with zk_client(member) as client:
        names = sorted(election_children(client, member), key=lambda n: n.rsplit("-", 1)[1])
        found = reads.read_state_bytes(client, member.shard)
    return [n.rsplit("-", 1)[0] for n in names], None if found is None else found[0]


def test_three_shards_one_migrated_the_others_untouched(fleet: FleetFactory,
                                                       tmp_path: Path) -> None:
    top = fleet(shards=3, shard_nodes=(3, 2, 1), pg="sim", with_client=True)
    members = fleet_members(top)
    assert top.shards == [m.shard for m in members] == [
        "1.moray.sandbox.test", "2.moray.sandbox.test", "3.moray.sandbox.test"]
    assert [len(m.zones) for m in members] == [3, 2, 1]

    # every shard elects on the one ZooKeeper; addresses by shard, nodes shared
    for index, member in enumerate(members):
        assert member.directory == top.directory / "shards" / member.shard
        assert member.zk_port == top.zk_port
        assert [z.ip for z in member.zones] == [zone_address(k, index)
                                                for k in range(len(member.zones))]
        election, state = _shard_view(member)
        assert election == [z.peer_id for z in member.zones] and state is None
    hosts = {z.node for m in members for z in m.zones}
    assert hosts == {n.uuid for n in top.nodes}  # both nodes host zones of several shards
    by_node = {n.uuid: {m.shard for m in members for z in m.zones if z.node == n.uuid}
               for n in top.nodes}
    assert all(len(shards) >= 2 for shards in by_node.values())

    # the headnode answers for every shard's zones, in manta-adm's column shape
    rows = _headnode(top, "manta-adm show -H -o service,shard,zonename postgres").splitlines()
    assert [row.split() for row in rows] == [
        ["postgres", m.shard.split(".")[0], z.uuid] for m in members for z in m.zones]
    for member in members:
        for zone in member.zones:
            vm = json.loads(_headnode(top, f"sdc-vmapi /vms/{zone.uuid}").split("\n\n", 1)[1])
            assert vm["image_uuid"] == IMAGES["v1"] and vm["server_uuid"] == zone.node
    sapi = _headnode(top, "sdc-sapi /applications?name=manta")
    assert f'"port": {top.zk_port}' in sapi
    headnode_only = yaml.safe_load((top.directory / "headnode.yaml").read_text())
    assert "shard" not in headnode_only and "headnode" in headnode_only

    # status shows every shard; up refuses the running fleet
    shown = migrator("sandbox", "status", "--dir", str(top.directory), "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert [s["shard"] for s in document["shards"]] == top.shards
    assert all(s["client"]["running"] for s in document["shards"])
    again = migrator("sandbox", "up", "--dir", str(top.directory), "--shards", "3",
                     "--pg", "sim")
    assert again.returncode == 3 and "already holds a running sandbox" in again.stderr

    # the single-shard engine migrates shard 2 from its own inventory; 1 and 3 stay v1
    second = members[1]
    inventory = second.directory / "inventory.yaml"
    assert load_inventory(inventory).shard == second.shard
    audit = {"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    run = migrator("run", "--yes", "--inventory", str(inventory), env=audit)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"sapiadm reprovision {second.zones[0].uuid}" in run.stdout + run.stderr
    _, state = _shard_view(second)
    assert state is not None and json.loads(state)["generation"] >= 0
    assert [z.version for z in load_config(second.directory).zones] == ["v2", "v2"]
    for untouched in (members[0], members[2]):
        election, state = _shard_view(untouched)
        assert state is None and election == [z.peer_id for z in untouched.zones]
        assert [z.version for z in load_config(untouched.directory).zones] == \
            ["v1"] * len(untouched.zones)
    versions = _headnode(top, "manta-adm show -H -o shard,zonename,version").splitlines()
    assert sorted(line.split()[2] for line in versions if line.split()[0] == "2") == \
        ["2.1.1-sandbox"] * 2
    jobs = _headnode(top, f"sdc-vmapi '/jobs?vm_uuid={second.zones[0].uuid}&task=reprovision'")
    assert '"execution": "succeeded"' in jobs

    # verify needs real rows; down stops everything, and again finds nothing
    sim = migrator("sandbox", "verify", "--dir", str(top.directory))
    assert sim.returncode == 2 and "simulated postgres" in sim.stderr
    down = migrator("sandbox", "down", "--dir", str(top.directory))
    assert down.returncode == 0 and "Stopped" in down.stdout, down.stderr
    assert live_processes(top.directory) == []
    twice = migrator("sandbox", "down", "--dir", str(top.directory))
    assert twice.returncode == 0 and "Nothing was running." in twice.stdout


@pytest.mark.pgreal
def test_real_postgres_fleet_verifies_every_shard(fleet: FleetFactory) -> None:
    top = fleet(shards=2, nodes=2, pg="real", with_client=True)
    members = fleet_members(top)
    for member in members:  # each shard's own client acknowledges writes
        until(lambda m=member: len(read_acked(m.directory)) >= 20, 60,
              f"20 acknowledged writes in {member.shard}")
    result = migrator("sandbox", "verify", "--dir", str(top.directory), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and list(document["shards"]) == top.shards
    assert all(found["lost"] == 0 and found["acknowledged"] >= 20
               for found in document["shards"].values())
    text = migrator("sandbox", "verify", "--dir", str(top.directory))
    assert text.returncode == 0
    assert [line.split(":")[0] for line in text.stdout.splitlines()
            if line.startswith("shard ")] == [f"shard {s}" for s in top.shards]
    assert text.stdout.splitlines()[-1] == \
        "verdict: every shard's acknowledged writes are accounted for"
    # a shard's own directory is a one-shard sandbox to every sandbox command
    one = migrator("sandbox", "verify", "--dir", str(members[1].directory))
    assert one.returncode == 0 and "every acknowledged write is accounted for" in one.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--shards", "3", "--nodes", "3,2"], "lists 2 shard sizes but --shards is 3"),
    (["--shards", "9"], "--shards 9 is out of range"),
    (["--shards", "2", "--nodes", "3,7"], "out of range"),
    (["--shards", "2", "--access", "ssh"], "--access zlogin"),
])
def test_fleet_bad_input(tmp_path: Path, args: list[str], words: str) -> None:
    result = migrator("sandbox", "up", "--dir", str(tmp_path / "sb"), "--pg", "sim", *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sb").exists()


def test_shard_commands_at_the_top_name_the_shard(fleet: FleetFactory) -> None:
    top = fleet(shards=2, nodes=1, pg="sim")
    zone = fleet_members(top)[1].zones[0]
    result = migrator("sandbox", "stop-peer", "--dir", str(top.directory), zone.uuid)
    assert result.returncode == 2
    assert "is in its shard 2.moray.sandbox.test" in result.stderr
    assert shlex.quote(str(top.directory / "shards" / "2.moray.sandbox.test")) in result.stderr
