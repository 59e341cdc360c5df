"""The Triton route on a real sandbox (--access zlogin): zones without sshd behind two
compute nodes, a headnode answering VMAPI/CNAPI/SAPI/IMGAPI/manta-adm/sapiadm.

Discovery end to end, then the three-node migration with the discovered inventory
(reprovisions through the headnode's `sapiadm`), a rollback over the zlogin route,
a zone missing from VMAPI, a compute node unreachable, the headnode's host key."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.inventory.load import load_inventory
from migrator.sandbox import procs
from migrator.sandbox.config import IMAGES, RELAY_ADDRESS, SandboxConfig
from tests.rollback.conftest import assert_v1, events, migrator
from tests.sandbox.conftest import SandboxFactory, zone_ssh

pytestmark = pytest.mark.sandbox

SHARD = "1.moray.sandbox.test"
# the tests that only look at the route (or change a copy of the headnode's inventory)
# share one sandbox; the ones that migrate, roll back or stop a node bring up their own
SHARED_SANDBOX = {"nodes": 3, "access": "zlogin"}


def _discover(config: SandboxConfig, out: Path, *extra: str,
              headnode: Path | None = None) -> Any:
    return migrator("inventory", "discover", "--inventory",
                    str(headnode or config.directory / "headnode.yaml"), "--shard", SHARD,
                    "--out", str(out), *extra)


def _headnode_copy(config: SandboxConfig, where: Path) -> tuple[Path, dict[str, Any]]:
    """The sandbox's HEADNODE.yaml copied to ``where`` (its paths made absolute), for a
    test to change without touching the shared sandbox; the path and the document."""
    document = yaml.safe_load((config.directory / "headnode.yaml").read_text())
    document["known_hosts"] = str(config.directory / document["known_hosts"])
    document["ssh"]["identity"] = str(config.directory / document["ssh"]["identity"])
    path = where / "headnode.yaml"
    path.write_text(yaml.safe_dump(document))
    return path, document


def _up(sandbox: SandboxFactory, **options: Any) -> SandboxConfig:
    return sandbox(access="zlogin", **options)


def test_zones_have_no_sshd_and_zlogin_reaches_them(shared_sandbox: SandboxConfig) -> None:
    config = shared_sandbox
    pid_names = sorted(p.stem for p in (config.directory / "pids").glob("sshd-*.pid"))
    assert pid_names == sorted([*(f"sshd-node-{n.uuid}" for n in config.nodes),
                                "sshd-headnode"])
    assert len(config.nodes) == 2 and all(z.ssh_port == 0 for z in config.zones)
    assert {z.node for z in config.zones} == {n.uuid for n in config.nodes}
    for zone in config.zones:
        result = zone_ssh(config, zone, "echo $ZONENAME; manatee-adm version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == zone.uuid
    # the node's zones root shows the zone's own directory, as /zones/<uuid>/root does
    zone = config.zones[0]
    node = config.node_of(zone)
    assert node is not None
    seen = (config.zones_root(node) / zone.uuid / "root"
            / config.zone_dir(zone).relative_to("/") / "sitter.log")
    assert seen.read_bytes() == (config.zone_dir(zone) / "sitter.log").read_bytes()


def test_discovery_then_three_node_migration_through_the_headnode(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = _up(sandbox, nodes=3, with_client=True)
    out = tmp_path / "discovered.yaml"
    found = _discover(config, out, "--migrate-to", IMAGES["v2"], "--yes", "--json")
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    document = yaml.safe_load(out.read_text())
    assert document == report["inventory"]
    assert document["zookeeper"] == config.zk_connection
    assert list(document["zones"]) == [z.uuid for z in config.zones]  # election order
    for zone in config.zones:
        node = config.node_of(zone)
        assert node is not None
        assert document["zones"][zone.uuid] == {"node": node.uuid, "host": zone.ip}
        assert document["nodes"][node.uuid]["host"] == node.ip
        assert document["nodes"][node.uuid]["jump"].endswith(
            f"@{config.headnode.ip}:{config.headnode.ssh_port}")  # type: ignore[union-attr]
    assert document["versions"] == {"roll_back_to": IMAGES["v1"], "migrate_to": IMAGES["v2"]}
    assert document["ssh"]["via"] == "zlogin"
    sources = {s["field"]: s["source"] for s in report["sources"]}
    assert "sdc-sapi" in sources["zookeeper"]
    assert "sdc-vmapi /vms/{zone}" in sources[f"zones.{config.zones[0].uuid}.node"]
    assert "sdc-cnapi /servers/" in sources[f"nodes.{config.nodes[0].uuid}.host"]
    assert "election" in sources[f"zones.{config.zones[0].uuid}"]
    assert any("lists no Moray" in w for w in report["warnings"])
    assert "Where each value came from" in out.read_text()
    inventory = load_inventory(out)
    assert inventory.commands.reprovision.run_on == "headnode"  # the Triton default

    run = migrator("run", "--inventory", str(out), "--yes",
                   env={"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")})
    assert run.returncode == 0, run.stderr[-3000:]
    said = run.stdout + run.stderr
    for zone in config.zones:
        assert (f"run `sapiadm reprovision {zone.uuid} {IMAGES['v2']}` on the headnode"
                in said)
        assert f"reprovisioned {zone.uuid} to {IMAGES['v2']}" in said
    state = json.loads(zone_ssh(config, config.zones[2], "manatee-adm state").stdout)
    assert state["generation"] == 1
    assert state["primary"]["zoneId"] == config.zones[2].uuid


def test_rollback_over_the_zlogin_route(sandbox: SandboxFactory, tmp_path: Path) -> None:
    """With the discovered inventory: images by UUID, the rollback verified by the image
    each zone reports (`mdata-get sdc:image_uuid`)."""
    config = _up(sandbox, nodes=3, with_client=True)
    out = tmp_path / "discovered.yaml"
    assert _discover(config, out, "--migrate-to", IMAGES["v2"], "--yes").returncode == 0
    inventory = str(out)
    audit = {"MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    run = migrator("run", "--inventory", inventory, "--yes", env=audit)
    assert run.returncode == 0, run.stderr[-3000:]
    back = migrator("rollback", "--inventory", inventory, "--yes", "--json", env=audit)
    assert back.returncode == 0, back.stderr[-3000:]
    found = events(back.stdout)
    assert found[0]["variant"] == "rollback-after-primary"
    assert all(e["passed"] for e in found if e["event"] == "check" and e["kind"] == "verify")
    assert f"at the old image {IMAGES['v1']}" in back.stdout
    assert_v1(config, [2, 1, 0])


def test_zone_missing_from_vmapi_names_the_command_and_field(
    shared_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    config = shared_sandbox
    missing = config.zones[1].uuid
    hidden = config.directory / "headnode" / "vmapi-hidden"
    hidden.write_text(missing + "\n")
    try:
        out = tmp_path / "discovered.yaml"
        result = _discover(config, out, "--yes")
        assert result.returncode == 2, result.stderr
        assert f"sdc-vmapi /vms/{missing}" in result.stderr
        assert "HTTP 404" in result.stderr
        assert f"zones: {{{missing}: {{node: SERVER, host: IP}}}}" in result.stderr
        assert "nothing was written" in result.stderr
        assert not out.exists()
        # filled by hand in HEADNODE.yaml, discovery goes through
        headnode, document = _headnode_copy(config, tmp_path)
        document["zones"] = {missing: {"node": config.zones[1].node,
                                       "host": config.zones[1].ip}}
        document["zookeeper"] = config.zk_connection  # given: SAPI is not asked
        headnode.write_text(yaml.safe_dump(document))
        again = _discover(config, out, "--yes", "--json", headnode=headnode)
    finally:
        hidden.unlink()
    assert again.returncode == 0, again.stderr
    assert load_inventory(out).zones[missing].node == config.zones[1].node
    sources = {s["field"]: s["source"] for s in json.loads(again.stdout)["sources"]}
    assert sources["zookeeper"] == "headnode.yaml"
    assert sources[f"zones.{missing}.node"] == "headnode.yaml"


def test_hostile_headnode_values_stay_data_through_discovery_and_plan(
    shared_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    """Issue 21 §1 end to end: a CNAPI hostname and an IMGAPI version that would end the
    provenance comment they are quoted in and add a `commands:` key. Discovery either
    refuses them or writes them as data; the next `plan` runs nothing of them."""
    config = shared_sandbox
    canary = tmp_path / "PWNED"
    injected = f"\ncommands:\n  manatee_version: touch {canary}\n#"
    records = config.directory / "headnode" / "records"
    node = config.zones[0].node
    server_file = records / "servers" / f"{node}.json"
    image_file = records / "images" / f"{IMAGES['v2']}.json"
    saved = {path: path.read_text() for path in (server_file, image_file)}
    try:
        server = json.loads(saved[server_file])
        server["hostname"] = server["sysinfo"]["Hostname"] = "cn0" + injected
        server_file.write_text(json.dumps(server))
        image = json.loads(saved[image_file])
        image["version"] = "2.1.1" + injected
        image_file.write_text(json.dumps(image))
        out = tmp_path / "discovered.yaml"
        found = _discover(config, out, "--migrate-to", IMAGES["v2"], "--yes")
    finally:
        for path, text in saved.items():
            path.write_text(text)
    if found.returncode != 0:  # refused: cleanly, naming nothing written
        assert found.returncode == 2, found.stderr
        assert "Traceback" not in found.stderr and not out.exists()
    else:
        text = out.read_text()
        assert text.count(f"touch {canary}") == 2  # both kept, as quoted data
        document = yaml.safe_load(text)
        assert "touch" not in json.dumps(document.get("commands") or {})
        assert load_inventory(out).shard == SHARD
        plan = migrator("plan", "--inventory", str(out))
        assert plan.returncode in (0, 3), plan.stderr
    assert not canary.exists()


def test_compute_node_unreachable_is_named_per_zone(sandbox: SandboxFactory) -> None:
    config = _up(sandbox, nodes=3)
    down_node = config.nodes[1]
    pid = procs.recorded_pid(config.pid_file(f"sshd-node-{down_node.uuid}"))
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    procs.kill_recorded(config.pid_file(f"sshd-node-{down_node.uuid}"))
    result = migrator("inventory", "check", "--inventory",
                      str(config.directory / "inventory.yaml"), "--json")
    assert result.returncode == 1
    reports = {r["zone"]: r for r in json.loads(result.stdout)["zones"]}
    for zone in config.zones:
        report = reports[zone.uuid]
        assert report["node"] == zone.node and report["via"] == "zlogin"
        if zone.node == down_node.uuid:
            assert not report["reachable"]
            assert f"compute node {down_node.uuid}" in report["problems"][0]
        else:
            assert report["reachable"] and report["ok"], report["problems"]


def test_headnode_host_key_is_verified(shared_sandbox: SandboxConfig, tmp_path: Path) -> None:
    config = shared_sandbox
    headnode = config.headnode
    assert headnode is not None
    known = tmp_path / "known_hosts"
    known.write_text("".join(
        line + "\n" for line in (config.directory / "known_hosts").read_text().splitlines()
        if not line.startswith(f"[{headnode.ip}]:{headnode.ssh_port} ")))
    copy, document = _headnode_copy(config, tmp_path)
    document["known_hosts"] = str(known)
    copy.write_text(yaml.safe_dump(document))
    out = tmp_path / "discovered.yaml"
    result = _discover(config, out, "--yes", headnode=copy)
    assert result.returncode == 3, result.stderr
    assert "headnode" in result.stderr and "SHA256:" in result.stderr
    assert not out.exists()


def test_the_plan_names_each_reprovision_command_and_the_runs_length(
    shared_sandbox: SandboxConfig,
) -> None:
    """`plan` says what each reprovision will run, where, to which image (the headnode's
    `sapiadm reprovision` here), and about how long the whole run takes."""
    config = shared_sandbox
    inventory = str(config.directory / "inventory.yaml")
    planned = migrator("plan", "--inventory", inventory, "--json")
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(planned.stdout)
    reprovisions = [s for s in doc["steps"] if s["id"].startswith("reprovision-")]
    assert len(reprovisions) == 3 and doc["runEstimateSeconds"] > 0
    target = yaml.safe_load(Path(inventory).read_text())["versions"]["migrate_to"]
    zones = {z.uuid for z in config.zones}
    for step in reprovisions:
        zone = step["does"].split()[1]
        assert zone in zones and zone in step["zones"].values()
        assert step["does"] == (f"reprovision {zone} to {target}: run `sapiadm reprovision "
                                f"{zone} {target}` on the headnode")
    human = migrator("plan", "--inventory", inventory)
    assert "does: reprovision " in human.stdout and "The run should take about" in human.stdout


def test_status_with_the_inventory_shows_each_peers_replication(
    shared_sandbox: SandboxConfig,
) -> None:
    inventory = str(shared_sandbox.directory / "inventory.yaml")
    shown = migrator("status", "--inventory", inventory, "--json")
    assert shown.returncode == 0, shown.stderr
    replication = json.loads(shown.stdout)["replication"]
    zones = [z.uuid for z in shared_sandbox.zones]
    assert set(replication) == set(zones[1:])  # every standby, by its upstream's row
    assert replication[zones[1]].startswith(f"sync from {zones[0][:8]}: streaming")
    human = migrator("status", "--inventory", inventory)
    assert "replication (manatee-adm status in the primary's zone):" in human.stdout


def test_migrate_to_latest_picks_the_newest_manatee_image_and_says_which(
    shared_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    config = shared_sandbox
    out = tmp_path / "latest.yaml"
    found = _discover(config, out, "--migrate-to", "latest", "--yes", "--json")
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert report["inventory"]["versions"]["migrate_to"] == IMAGES["v2"]
    source = next(s for s in report["sources"] if s["field"] == "versions.migrate_to")
    assert "newest manta-manatee image" in source["source"]
    assert any(f"--migrate-to latest picked {IMAGES['v2']}" in w for w in report["warnings"])


def test_discovery_failures_name_the_command_and_write_nothing(
    shared_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    config = shared_sandbox
    out = tmp_path / "discovered.yaml"
    unknown_image = "00000000-0000-4000-8000-000000000000"
    result = _discover(config, out, "--migrate-to", unknown_image, "--yes")
    assert result.returncode == 2
    assert f"sdc-imgapi /images/{unknown_image}" in result.stderr
    assert "`versions.migrate_to`" in result.stderr

    wrong = migrator("inventory", "discover", "--inventory",
                     str(config.directory / "headnode.yaml"), "--shard", "9.moray.nowhere",
                     "--out", str(out), "--yes")
    assert wrong.returncode == 2 and "does not exist under /manatee" in wrong.stderr

    unasked = _discover(config, out)  # no --yes, no terminal: shown, not written
    assert unasked.returncode == 3 and "nothing was written" in unasked.stderr
    assert "sdc-vmapi /vms/{zone}" in unasked.stdout  # the sources were shown

    headnode, document = _headnode_copy(config, tmp_path)
    # a Moray the headnode lists but VMAPI does not know
    moray = "5e0c0e1f-0b7a-4f1c-9a61-1c7e2a4d5f10"
    document["discovery"]["morays"] = f"echo moray 1 {moray}"
    headnode.write_text(yaml.safe_dump(document))
    lost = _discover(config, out, "--yes", headnode=headnode)
    assert lost.returncode == 2
    assert f"sdc-vmapi /vms/{moray}" in lost.stderr
    assert f"`morays: {{{moray}: {{node: SERVER, host: IP}}}}`" in lost.stderr

    document["discovery"]["morays"] = f"echo moray 1 {config.zones[0].uuid}"  # a peer
    headnode.write_text(yaml.safe_dump(document))
    mixed = _discover(config, out, "--yes", headnode=headnode)
    assert mixed.returncode == 2
    assert f"lists the shard's own peer(s) {config.zones[0].uuid} as Morays" in mixed.stderr

    document["discovery"]["zookeeper"] = "sdc-sapi /applications?name=nothing; false"
    headnode.write_text(yaml.safe_dump(document))
    broken = _discover(config, out, "--yes", headnode=headnode)
    assert broken.returncode == 2
    assert "`sdc-sapi /applications?name=nothing; false` on the headnode" in broken.stderr
    assert "Fill `zookeeper:` by hand" in broken.stderr
    assert not out.exists()


def test_latency_puts_the_headnode_and_zookeeper_at_a_distance(
    sandbox: SandboxFactory
) -> None:
    """`up --latency`: the operator's inventory names the relays, whose known host key
    is the headnode's; the zones answer through them; `down` stops them."""
    config = _up(sandbox, nodes=2, latency_ms=20.0)
    assert sorted(config.relay_ports) == ["headnode", "zookeeper"]
    assert sorted(p.stem for p in (config.directory / "pids").glob("relay-*.pid")) == [
        "relay-headnode", "relay-zookeeper"]
    inventory = load_inventory(config.directory / "inventory.yaml")
    assert inventory.zookeeper == f"{RELAY_ADDRESS}:{config.relay_ports['zookeeper']}"
    assert inventory.headnode is not None
    assert (inventory.headnode.host, inventory.headnode.port) == (
        RELAY_ADDRESS, config.relay_ports["headnode"])
    result = migrator("status", "--inventory", str(config.directory / "inventory.yaml"),
                      "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert [p["zoneId"] for p in status["peers"]] == [z.uuid for z in config.zones]
    # each zone's version, asked over SSH through the headnode's relay (host key checked)
    assert sorted(status["versions"]) == sorted(z.uuid for z in config.zones)
    assert not any(v.startswith("unknown") for v in status["versions"].values()), status
