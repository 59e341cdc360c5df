"""Triton's own `sdc` shard in a fleet, against a sandbox (`sandbox up --triton-shard`):
`fleet discover` finds it on its own ZooKeeper (the binder SAPI's sdc application names)
beside the Manta shard, with Triton's Morays and image, lists it last, `fleet plan`
plans it and `fleet run --parallel 2` migrates it; a headnode without Manta (`--shards
0`) gives a fleet of it alone, named by the datacenter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.engine.journal_store import audit_dir_of
from migrator.fleet.model import load_fleet
from migrator.inventory.load import load_inventory
from migrator.sandbox.config import TRITON_IMAGES, SandboxConfig, fleet_members
from migrator.sandbox.fleetview import fleet_status
from migrator.sandbox.manage import UpOptions, up
from tests.conftest import bring_down

pytestmark = pytest.mark.sandbox

ONE = "1.moray.sandbox.test"

Factory = Callable[..., SandboxConfig]


@pytest.fixture
def triton_fleet(tmp_path: Path) -> Iterator[Factory]:
    """``triton_fleet(shards=K)``: K Manta shards of one zone and Triton's `sdc` of one
    zone, simulated postgres; taken down after the test, nothing left running."""
    started: list[Path] = []

    def factory(shards: int) -> SandboxConfig:
        directory = tmp_path / f"fleet{len(started)}"
        started.append(directory)
        return up(directory, UpOptions(nodes=1, shards=shards, access="zlogin", pg="sim",
                                       shard_nodes=(1,) * shards, triton_zones=1))

    try:
        yield factory
    finally:
        left = [process for directory in started for process in bring_down(directory)]
        if left:
            pytest.fail("left running after `sandbox down`: " + "; ".join(left),
                        pytrace=False)


def migrator(*args: str | Path, cwd: Path, env: dict[str, str]) -> Any:
    return subprocess.run(["migrator", *map(str, args)], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300, check=False)


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}


def test_tritons_shard_on_its_own_zookeeper_is_discovered_planned_and_migrated(
        triton_fleet: Factory, tmp_path: Path) -> None:
    top = triton_fleet(1)
    env = environment(tmp_path)
    sdc = next(m for m in fleet_members(top) if m.triton)
    assert top.binder_port is not None and sdc.zk_port == top.binder_port
    assert sdc.zk_connection != top.zk_connection
    status = fleet_status(top)
    assert status["binder"] == sdc.zk_connection
    assert [s["zookeeper"] for s in status["shards"]] == [top.zk_connection,
                                                          sdc.zk_connection]

    headnode = top.directory / "headnode.yaml"
    sshd_log = top.directory / "headnode" / "ssh" / "sshd.log"
    connections = sshd_log.read_text().count("Accepted publickey")
    out = tmp_path / "fleet"
    found = migrator("fleet", "discover", "--inventory", headnode, "--out", out,
                     "--migrate-to", "latest", "--yes", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr[-3000:]
    # one headnode connection for both ensembles' sessions and every question
    assert sshd_log.read_text().count("Accepted publickey") == connections + 1
    table = {line.split()[0]: line.split() for line in found.stdout.splitlines()[2:]}
    assert table["sdc"][1:] == ["v1", "1", "sdc.yaml"]
    assert "in ZooKeeper but the headnode lists no postgres zone" not in found.stderr
    assert "Shard sdc is Triton's own" in found.stderr

    fleet = load_fleet(out / "fleet.yaml")
    assert fleet.name == "sandbox.test"
    assert [s.shard for s in fleet.shards] == [ONE, "sdc"]  # Triton's last
    inventory = load_inventory(out / "sdc.yaml")
    assert inventory.shard == "sdc"
    assert inventory.zookeeper == sdc.zk_connection  # the binder, not Manta's
    assert load_inventory(out / f"{ONE}.yaml").zookeeper == top.zk_connection
    assert inventory.versions.roll_back_to == TRITON_IMAGES["v1"]
    assert inventory.versions.migrate_to == TRITON_IMAGES["v2"]
    assert list(inventory.morays) == [z.uuid for z in sdc.morays]
    assert list(inventory.zones) == [z.uuid for z in sdc.zones]
    text = (out / "sdc.yaml").read_text()
    assert "the newest sdc-manatee image" in text
    assert "sdc-vmapi '/vms?tag.smartdc_role=moray&state=running'" in text

    # `inventory discover --shard sdc` takes Triton's settings too: the very same file
    single = tmp_path / "single" / "sdc.yaml"
    single.parent.mkdir()
    alone = migrator("inventory", "discover", "--inventory", headnode, "--shard", "sdc",
                     "--out", single, "--migrate-to", "latest", "--yes", cwd=tmp_path, env=env)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert single.read_text() == text

    # --shards narrows Triton's shard too; alone, the fleet takes the datacenter's name
    narrow = migrator("fleet", "discover", "--inventory", headnode, "--out",
                      tmp_path / "only-sdc", "--shards", "sdc", "--yes", cwd=tmp_path, env=env)
    assert narrow.returncode == 0, narrow.stderr[-3000:]
    assert yaml.safe_load((tmp_path / "only-sdc" / "fleet.yaml").read_text()) == {
        "fleet": "sandbox-1", "shards": [{"shard": "sdc", "inventory": "sdc.yaml"}]}
    manta_only = migrator("fleet", "discover", "--inventory", headnode, "--out",
                          tmp_path / "manta", "--shards", "*.moray.*", "--yes",
                          cwd=tmp_path, env=env)
    assert manta_only.returncode == 0, manta_only.stderr[-3000:]
    assert [s.shard for s in load_fleet(tmp_path / "manta" / "fleet.yaml").shards] == [ONE]

    plan = migrator("fleet", "plan", "--fleet", out / "fleet.yaml", "--json", cwd=tmp_path,
                    env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    rows = {row["shard"]: row for row in json.loads(plan.stdout)["rows"]}
    assert rows["sdc"]["status"] == "ready" and rows["sdc"]["mode"] == "v1"

    run = migrator("fleet", "run", "--fleet", out / "fleet.yaml", "--parallel", "2", "--yes",
                   cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # fleet status reads both ensembles
    watched = migrator("fleet", "status", "--fleet", out / "fleet.yaml", "--json",
                       cwd=tmp_path, env=env)
    assert watched.returncode == 0, watched.stderr[-3000:]
    assert {row["shard"]: row["mode"] for row in json.loads(watched.stdout)["shards"]} == {
        ONE: "v2", "sdc": "v2"}
    shown = migrator("status", "--inventory", out / "sdc.yaml", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "shard sdc: mode migrated" in shown.stdout
    vm = json.loads((top.directory / "headnode" / "records" / "vms" /
                     f"{sdc.zones[0].uuid}.json").read_text())
    assert vm["image_uuid"] == TRITON_IMAGES["v2"]  # reprovisioned to sdc-manatee's
    assert vm["tags"] == {"smartdc_role": "manatee"}

    # `sandbox down` of the fleet removes the audit copies kept for both ensembles
    audits = [tmp_path / "audit" / audit_dir_of(connection).name
              for connection in (top.operator_zk_connection, sdc.operator_zk_connection)]
    assert all(audit.is_dir() for audit in audits), audits
    down = migrator("sandbox", "down", "--dir", top.directory, cwd=tmp_path, env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert not any(audit.exists() for audit in audits), down.stdout


def test_a_headnode_without_manta_gives_tritons_shard_alone(
        triton_fleet: Factory, tmp_path: Path) -> None:
    top = triton_fleet(0)
    env = environment(tmp_path)
    assert top.binder_port is None  # one ZooKeeper: Triton's
    assert not (top.directory / "headnode" / "bin" / "manta-adm").exists()
    out = tmp_path / "fleet"
    found = migrator("fleet", "discover", "--inventory", top.directory / "headnode.yaml",
                     "--out", out, "--yes", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr[-3000:]
    assert "Triton's own" not in found.stderr  # no other shard to keep it from
    assert yaml.safe_load((out / "fleet.yaml").read_text()) == {
        "fleet": "sandbox-1", "shards": [{"shard": "sdc", "inventory": "sdc.yaml"}]}
    assert load_inventory(out / "sdc.yaml").zookeeper == top.zk_connection

    # the Triton shard looked for under another name: no shard at all, nothing written
    renamed = top.directory / "renamed.yaml"
    document = yaml.safe_load((top.directory / "headnode.yaml").read_text())
    document["discovery"]["triton_shard"] = "other"
    renamed.write_text(yaml.safe_dump(document))
    none = migrator("fleet", "discover", "--inventory", renamed, "--out", tmp_path / "none",
                    "--yes", cwd=tmp_path, env=env)
    assert none.returncode == 2, none.stderr[-3000:]
    assert "No shard was found" in none.stderr and not (tmp_path / "none").exists()

    # not looked for at all, on a headnode without Manta: nothing to find, said so
    document["discovery"]["triton_shard"] = ""
    renamed.write_text(yaml.safe_dump(document))
    off = migrator("fleet", "discover", "--inventory", renamed, "--out", tmp_path / "off",
                   "--yes", cwd=tmp_path, env=env)
    assert off.returncode == 2, off.stderr[-3000:]
    assert "knows no Manta" in off.stderr and "triton_shard" in off.stderr
    assert not (tmp_path / "off").exists()
