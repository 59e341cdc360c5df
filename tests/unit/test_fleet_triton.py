"""Triton's own `sdc` shard in `migrator fleet discover`, its pure parts: SAPI's
application (absent, its ensemble and datacenter name), VMAPI's moray zones, the same
ensemble told from two connection strings, Triton's row beside Manta's, the fleet's
default name, and the headnode inventory's Triton settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.discovery import parse
from migrator.discovery.build import settings_for
from migrator.discovery.headnode_inventory import HeadnodeInventory, load_headnode_inventory
from migrator.discovery.parse import Unparseable
from migrator.errors import BadInput
from migrator.fleet.discover_match import DISCOVER, SKIP, ZkShard, match_shards
from migrator.fleet.discover_triton import (
    ensemble_key,
    fleet_default_name,
    same_ensemble,
    split_triton,
    triton_row,
    with_triton,
)

pytestmark = pytest.mark.unit

Z = [f"2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a{n:02d}" for n in range(20)]
HTTP = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"


def sdc_app(servers: list[dict[str, object]], **metadata: object) -> str:
    return HTTP + json.dumps([{"name": "sdc", "metadata": {"ZK_SERVERS": servers,
                                                            **metadata}}])


# ---- SAPI's application -------------------------------------------------------------


def test_no_application_is_an_answer_not_a_failure() -> None:
    assert parse.parse_application(HTTP + "[]\n") is None
    assert parse.parse_application("[]") is None


def test_application_gives_its_ensemble_and_datacenter() -> None:
    found = parse.parse_application(sdc_app(
        [{"host": "10.99.99.11", "port": 2181}, {"host": "10.99.99.12"}],
        datacenter_name="us-east-1"))
    assert found == parse.Application("10.99.99.11:2181,10.99.99.12:2181", "us-east-1")


def test_a_datacenter_name_that_is_no_plain_word_is_not_used() -> None:
    found = parse.parse_application(sdc_app([{"host": "10.99.99.11", "port": 2181}],
                                            datacenter_name="us east; rm -rf /"))
    assert found is not None and found.datacenter is None


def test_an_application_without_zk_servers_is_unparseable() -> None:
    with pytest.raises(Unparseable, match="ZK_SERVERS"):
        parse.parse_application(HTTP + json.dumps([{"name": "sdc", "metadata": {}}]))
    with pytest.raises(Unparseable):
        parse.parse_application("HTTP/1.1 500 Internal Error\r\n\r\n{}")


# ---- VMAPI's moray zones ---------------------------------------------------------------


def vm(uuid: str, role: str | None, state: str = "running") -> dict[str, object]:
    return {"uuid": uuid, "state": state, "alias": f"{role}0",
            "tags": {} if role is None else {"smartdc_role": role}}


def test_role_vms_keep_the_running_ones_of_the_role_in_order() -> None:
    text = HTTP + json.dumps([vm(Z[3], "moray"), vm(Z[1], "manatee"), vm(Z[2], "moray"),
                              vm(Z[4], "moray", "destroyed"), vm(Z[5], None),
                              vm(Z[3], "moray")])
    assert parse.parse_role_vms(text, "moray") == [Z[3], Z[2]]
    assert parse.parse_role_vms(text, "manatee") == [Z[1]]
    assert parse.parse_role_vms(HTTP + "[]", "moray") == []


@pytest.mark.parametrize("body", ['{"uuid": "x"}', '[1, 2]',
                                  json.dumps([{"uuid": "not-a-uuid", "state": "running",
                                               "tags": {"smartdc_role": "moray"}}])])
def test_role_vms_refuse_what_is_no_list_of_vms(body: str) -> None:
    with pytest.raises(Unparseable):
        parse.parse_role_vms(HTTP + body, "moray")


@given(st.lists(st.tuples(st.sampled_from(Z), st.sampled_from(["moray", "manatee", None]),
                          st.sampled_from(["running", "stopped", "destroyed"])),
                max_size=12))
def test_role_vms_are_exactly_the_running_tagged_ones(
        vms: list[tuple[str, str | None, str]]) -> None:
    found = parse.parse_role_vms(json.dumps([vm(u, r, s) for u, r, s in vms]), "moray")
    wanted = list(dict.fromkeys(u for u, r, s in vms if r == "moray" and s == "running"))
    assert found == wanted


# ---- the same ensemble -------------------------------------------------------------------


def test_same_ensemble_ignores_order_and_case_but_not_chroot_or_port() -> None:
    assert same_ensemble("10.0.0.1:2181,10.0.0.2:2181", "10.0.0.2:2181,10.0.0.1:2181")
    assert same_ensemble("ZK1.example:2181", "zk1.example:2181")
    assert not same_ensemble("10.0.0.1:2181", "10.0.0.1:2182")
    assert not same_ensemble("10.0.0.1:2181/manta", "10.0.0.1:2181")
    assert same_ensemble("10.0.0.1:2181/manta", "10.0.0.1:2181/manta/")


hosts = st.lists(st.sampled_from(["10.0.0.1:2181", "10.0.0.2:2181", "zk.example:2181",
                                  "[fd00::1]:2181"]), min_size=1, max_size=4, unique=True)


@given(hosts, hosts, st.sampled_from(["", "/manta", "/a/b"]))
def test_same_ensemble_is_the_same_server_set(first: list[str], second: list[str],
                                              chroot: str) -> None:
    a, b = ",".join(first) + chroot, ",".join(second) + chroot
    assert same_ensemble(a, b) == (set(first) == set(second))
    assert same_ensemble(a, ",".join(reversed(first)) + chroot)
    assert ensemble_key(a)[1] == chroot


# ---- Triton's row ------------------------------------------------------------------------

DOMAIN = "us-east.joyent.us"
ONE, TWO = f"1.moray.{DOMAIN}", f"2.moray.{DOMAIN}"


def test_triton_child_on_the_same_ensemble_is_tritons_not_an_unlisted_manta_shard() -> None:
    on_manta = [ZkShard(ONE, "legacy"), ZkShard("sdc", "legacy")]
    split = split_triton(on_manta, "sdc", same=True)
    assert [s.name for s in split.manta] == [ONE]
    assert split.triton == ZkShard("sdc", "legacy") and split.warnings == []
    matched = match_shards(split.manta, {"1": [Z[0]]})
    row, said = triton_row(split.triton, None)
    fleet = with_triton(matched, row, said)
    assert [(p.shard, p.mode, p.action) for p in fleet.picks] == [
        (ONE, "v1", DISCOVER), ("sdc", "v1", DISCOVER)]
    assert not any("in ZooKeeper but the headnode lists no postgres zone" in w
                   for w in fleet.warnings)
    assert any("Triton's own" in w and "last in fleet.yaml" in w for w in fleet.warnings)


def test_tritons_shard_alone_gets_no_advice_about_other_shards() -> None:
    row, said = triton_row(ZkShard("sdc", "legacy"), None)
    fleet = with_triton(match_shards([], {}), row, said)
    assert [p.shard for p in fleet.picks] == ["sdc"] and fleet.warnings == []
    # Manta's shards all skipped: nothing runs beside it either
    skipped = match_shards([ZkShard(ONE, "migrated", 3)], {"1": [Z[0]]})
    assert with_triton(skipped, row, said).warnings == []


def test_a_triton_named_child_on_mantas_other_ensemble_is_left_out_and_said() -> None:
    split = split_triton([ZkShard("sdc", "legacy"), ZkShard(ONE, "legacy")], "sdc",
                         same=False)
    assert [s.name for s in split.manta] == [ONE] and split.triton is None
    assert len(split.warnings) == 1 and "left out" in split.warnings[0]


def test_no_triton_shard_looked_for_leaves_mantas_as_it_is() -> None:
    shards = [ZkShard("sdc", "legacy"), ZkShard(ONE, "legacy")]
    assert split_triton(shards, None, same=True).manta == shards


@pytest.mark.parametrize(("found", "mode", "action", "reason"), [
    (ZkShard("sdc", "legacy"), "v1", DISCOVER, None),
    (ZkShard("sdc", "backfilled-frozen", 1), "mixed", DISCOVER, None),
    (ZkShard("sdc", "migrated", 4), "v2", SKIP, "already at v2 (mode migrated, generation 4)"),
    (ZkShard("sdc", "unknown", problem="bad /state"), "unknown", SKIP,
     "its ZooKeeper data cannot be read (bad /state)"),
])
def test_triton_row_has_the_verdicts_of_any_shard(found: ZkShard, mode: str, action: str,
                                                  reason: str | None) -> None:
    row, said = triton_row(found, None)
    assert row is not None and (row.shard, row.mode, row.action) == ("sdc", mode, action)
    assert row.headnode_zones == ()
    if reason is None:
        assert row.reason is None
    else:
        assert row.reason is not None and row.reason.startswith(reason)
    assert bool(said) == (found.problem is not None)


def test_triton_row_absent_or_not_selected_is_no_row() -> None:
    assert triton_row(None, None) == (None, [])
    assert triton_row(ZkShard("sdc", "legacy"), "*.moray.*") == (None, [])
    row, _ = triton_row(ZkShard("sdc", "legacy"), "sd?")
    assert row is not None and row.shard == "sdc"


@given(st.lists(st.integers(1, 40), unique=True, max_size=8), st.booleans())
def test_tritons_row_is_last_and_only_once(numbers: list[int], present: bool) -> None:
    zookeeper = [ZkShard(f"{n}.moray.{DOMAIN}", "legacy") for n in numbers]
    postgres = {str(n): [Z[n % 20]] for n in numbers}
    sdc = [ZkShard("sdc", "legacy")] if present else []
    split = split_triton([*zookeeper, *sdc], "sdc", same=True)
    row, said = triton_row(split.triton, None)
    fleet = with_triton(match_shards(split.manta, postgres), row, said)
    names = [p.shard for p in fleet.picks]
    assert names.count("sdc") == (1 if present else 0)
    if present:
        assert names[-1] == "sdc"
    assert sorted(n for n in names if n != "sdc") == sorted(s.name for s in zookeeper)


# ---- the fleet's default name --------------------------------------------------------------


def test_default_name_is_mantas_domain_else_the_datacenter() -> None:
    assert fleet_default_name([ONE, TWO, "sdc"], "us-east-1") == DOMAIN
    assert fleet_default_name(["sdc"], "us-east-1") == "us-east-1"
    assert fleet_default_name(["sdc"], None) is None
    assert fleet_default_name(["sdc"], "x" * 64) is None  # not a fleet name
    # Manta shards that share no domain: --name, never the datacenter's
    assert fleet_default_name([ONE, "2.moray.other.example", "sdc"], "us-east-1") is None


# ---- the headnode inventory -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "headnode.yaml"
    path.write_text(text)
    return path


def test_triton_settings_default_to_tritons(tmp_path: Path) -> None:
    inventory, _ = load_headnode_inventory(write(tmp_path, "headnode: {host: hn}\n"))
    discovery = inventory.discovery
    assert discovery.triton_shard_name == "sdc"
    assert discovery.triton_zookeeper == "sdc-sapi '/applications?name=sdc'"
    assert discovery.triton_morays == "sdc-vmapi '/vms?tag.smartdc_role=moray&state=running'"
    assert discovery.triton_image_name == "sdc-manatee"
    assert "name=sdc-manatee" in discovery.triton_images
    assert inventory.triton_zookeeper is None
    triton, manta = settings_for(inventory, "sdc"), settings_for(inventory, ONE)
    assert triton.triton and triton.morays == discovery.triton_morays
    assert not manta.triton and manta.morays == discovery.morays


@pytest.mark.parametrize("value", ['""', "null"])
def test_an_empty_triton_shard_turns_it_off(tmp_path: Path, value: str) -> None:
    inventory, _ = load_headnode_inventory(write(
        tmp_path, f"headnode: {{host: hn}}\ndiscovery: {{triton_shard: {value}}}\n"))
    assert inventory.discovery.triton_shard_name is None
    assert not settings_for(inventory, "sdc").triton


def test_bad_triton_settings_are_refused_with_the_field(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="triton_shard"):
        load_headnode_inventory(write(
            tmp_path, "headnode: {host: hn}\ndiscovery: {triton_shard: 'a b'}\n"))
    with pytest.raises(BadInput, match="triton_zookeeper"):
        load_headnode_inventory(write(
            tmp_path, "headnode: {host: hn}\ntriton_zookeeper: 'not a:zk:string'\n"))
    with pytest.raises(BadInput, match="triton_morays"):
        load_headnode_inventory(write(
            tmp_path, "headnode: {host: hn}\ndiscovery: {triton_morays: 'vms {shard}'}\n"))


def test_triton_zookeeper_by_hand(tmp_path: Path) -> None:
    inventory, _ = load_headnode_inventory(write(
        tmp_path, "headnode: {host: hn}\ntriton_zookeeper: 10.99.99.11:2181\n"))
    assert isinstance(inventory, HeadnodeInventory)
    assert inventory.triton_zookeeper == "10.99.99.11:2181"
