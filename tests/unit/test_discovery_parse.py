"""Parsing the headnode's and ZooKeeper's answers during discovery (pure, no I/O)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.discovery import parse
from migrator.discovery.parse import Unparseable

pytestmark = pytest.mark.unit

ZONE = "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"
SERVER = "44454c4c-3800-104b-8036-b2c04f4e4d31"
IMAGE = "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0001"


def http(status: int, body: object) -> str:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Date: now\r\n\r\n{json.dumps(body)}\n")


def vm(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "uuid": ZONE, "server_uuid": SERVER, "image_uuid": IMAGE, "state": "running",
        "alias": "1.postgres", "nics": [
            {"ip": "10.77.77.47", "nic_tag": "manta", "primary": True},
            {"ip": "10.99.99.47", "nic_tag": "admin"}]}
    doc.update(changes)
    return doc


def test_vm_with_headers_or_bare_body() -> None:
    for text in (http(200, vm()), json.dumps(vm())):
        facts = parse.parse_vm(text, ZONE)
        assert (facts.server_uuid, facts.image_uuid, facts.ip) == (SERVER, IMAGE, "10.99.99.47")


def test_vm_without_admin_nic_uses_the_primary() -> None:
    facts = parse.parse_vm(http(200, vm(nics=[{"ip": "10.0.0.5", "primary": True}])), ZONE)
    assert facts.ip == "10.0.0.5"


@pytest.mark.parametrize("text, problem", [
    (http(404, {"code": "ResourceNotFound", "message": "VM not found"}),
     "HTTP 404 for VM .*ResourceNotFound VM not found"),
    (http(200, vm(uuid="c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03")), "another zone"),
    (http(200, vm(server_uuid="$(reboot)")), "server_uuid .* is not a UUID"),
    (http(200, vm(server_uuid=SERVER + "\n")), "server_uuid .* is not a UUID"),
    (http(200, vm(nics=[{"ip": "10.0.0.1; rm -rf /", "nic_tag": "admin"}])), "not an IP"),
    ("HTTP/1.1 200 OK\r\n\r\nnot json", "not JSON"),
    ("HTTP/1.1 oops\r\n", "malformed HTTP status line"),
    (http(200, [1, 2]), "not a JSON object"),
])
def test_bad_vm_answers_say_what_was_wrong(text: str, problem: str) -> None:
    with pytest.raises(Unparseable, match=problem):
        parse.parse_vm(text, ZONE)


def test_server_admin_ip_from_sysinfo_or_nic_names() -> None:
    direct = {"uuid": SERVER, "hostname": "cn7", "sysinfo": {"Admin IP": "10.99.99.7"}}
    assert parse.parse_server(http(200, direct), SERVER).admin_ip == "10.99.99.7"
    nics = {"uuid": SERVER, "sysinfo": {"Network Interfaces": {
        "ixgbe0": {"ip4addr": "10.1.1.1", "NIC Names": ["external"]},
        "igb0": {"ip4addr": "10.99.99.8", "NIC Names": ["admin"]}}}}
    facts = parse.parse_server(http(200, nics), SERVER)
    assert facts.admin_ip == "10.99.99.8" and facts.hostname is None
    with pytest.raises(Unparseable, match="no admin IP"):
        parse.parse_server(http(200, {"uuid": SERVER, "sysinfo": {}}), SERVER)


def test_zookeeper_servers_from_sapi() -> None:
    apps = [{"name": "manta", "metadata": {"ZK_SERVERS": [
        {"host": "10.77.77.10", "port": 2181}, {"host": "10.77.77.11", "port": 2181}]}}]
    assert parse.parse_zk_servers(http(200, apps)) == "10.77.77.10:2181,10.77.77.11:2181"
    with pytest.raises(Unparseable, match=r"no metadata\.ZK_SERVERS"):
        parse.parse_zk_servers(http(200, [{"name": "manta", "metadata": {}}]))
    with pytest.raises(Unparseable, match="ZK_SERVERS entry"):
        parse.parse_zk_servers(http(200, {"metadata": {"ZK_SERVERS": [{"host": "a;b"}]}}))


def test_morays_of_the_shard_from_manta_adm_rows() -> None:
    other = "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03"
    text = (f"SERVICE SHARD ZONENAME\nmoray 1 {ZONE}\nmoray 2 {other}\n"
            f"postgres 1 {other}\n\n")
    assert parse.parse_moray_rows(text, "1.moray.us-east.joyent.us") == [ZONE]
    assert parse.parse_moray_rows("", "1.moray.x") == []
    with pytest.raises(Unparseable, match="SERVICE SHARD ZONENAME"):
        parse.parse_moray_rows("moray 1\n", "1.moray.x")
    with pytest.raises(Unparseable, match="not a UUID"):
        parse.parse_moray_rows("moray 1 `id`\n", "1.moray.x")


def test_image() -> None:
    facts = parse.parse_image(http(200, {"uuid": IMAGE, "name": "manta-manatee",
                                         "version": "master-20141204T233537Z-g1a2b3c"}), IMAGE)
    assert (facts.uuid, facts.name) == (IMAGE, "manta-manatee")
    with pytest.raises(Unparseable, match="HTTP 404"):
        parse.parse_image(http(404, {"code": "ResourceNotFound"}), IMAGE)


def _election(ip: str, zone: str, seq: int) -> tuple[str, bytes]:
    data = {"zoneId": zone, "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
    return f"{ip}:5432:12345-{seq:010d}", json.dumps(data).encode()


def test_peers_in_election_order_then_state() -> None:
    a, b, c = ZONE, "7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02", "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03"
    election = [_election("10.0.0.2", b, 7), _election("10.0.0.1", a, 6)]
    state = json.dumps({"primary": {"zoneId": a}, "sync": {"zoneId": b},
                        "async": [], "deposed": [{"zoneId": c}]}).encode()
    found = parse.peer_zones(election, state, "1.moray.x")
    assert [z for z, _ in found] == [a, b, c]
    assert found[0][1].endswith("election/10.0.0.1:5432:12345-0000000006")
    assert found[2][1].endswith("/state")
    assert parse.peer_zones([], None, "1.moray.x") == []
    with pytest.raises(Unparseable, match="does not hold JSON"):
        parse.peer_zones([("x-0000000001", b"{")], None, "1.moray.x")
    with pytest.raises(Unparseable, match="not a UUID"):
        parse.peer_zones([("x-0000000001", b'{"zoneId": "../../etc"}')], None, "1.moray.x")


@given(st.text(max_size=300))
def test_any_answer_parses_or_is_unparseable(text: str) -> None:
    for call in (lambda: parse.parse_vm(text, ZONE), lambda: parse.parse_server(text, SERVER),
                 lambda: parse.parse_zk_servers(text), lambda: parse.parse_image(text, IMAGE),
                 lambda: parse.parse_moray_rows(text, "1.moray.x")):
        with contextlib.suppress(Unparseable):
            call()


@given(st.lists(st.tuples(st.text(max_size=30), st.binary(max_size=60)), max_size=5),
       st.one_of(st.none(), st.binary(max_size=80)))
def test_any_znodes_give_peers_or_unparseable(election: list[tuple[str, bytes]],
                                              state: bytes | None) -> None:
    try:
        found = parse.peer_zones(list(election), state, "1.moray.x")
    except Unparseable:
        return
    assert all(parse.UUID_RE.match(zone) for zone, _ in found)


def test_document_assembly_from_facts(tmp_path: object) -> None:
    from pathlib import Path

    from migrator.discovery.build import Source, _document
    from migrator.discovery.headnode_inventory import HeadnodeInventory
    from migrator.inventory.model import Inventory

    raw = {"ssh": {"user": "root", "identity": "id"}, "headnode": {"host": "hn", "port": 2222},
           "zones": {"c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03": {"node": "cn9", "host": "10.0.0.9"}},
           "discovery": {"zones_root": "/z/{server}"}}
    inventory = HeadnodeInventory.validate(raw)
    hand = "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03"
    vms = {ZONE: parse.VmFacts(ZONE, SERVER, IMAGE, "10.0.0.1", "running", None)}
    servers = {SERVER: parse.ServerFacts(SERVER, "cn7", "10.99.99.7"),
               "cn9": parse.ServerFacts("cn9", None, "10.99.99.9")}
    notes: list[Source] = []
    here = Path("/etc/hn.yaml")
    document = _document(inventory, raw, here, "1.moray.x", "zk:2181",
                         [(ZONE, "election"), (hand, "state")], vms, [], {}, servers,
                         {"roll_back_to": IMAGE}, here.parent, notes.append,
                         inventory.discovery.morays)
    assert document["ssh"] == {"user": "root", "identity": "id", "via": "zlogin"}
    assert document["nodes"][SERVER] == {"host": "10.99.99.7", "jump": "root@hn:2222",
                                         "zones_root": f"/z/{SERVER}"}
    assert document["zones"] == {ZONE: {"node": SERVER, "host": "10.0.0.1"},
                                 hand: {"node": "cn9", "host": "10.0.0.9"}}
    assert "discovery" not in document and document["morays"] == {}
    Inventory.validate(document)  # what discovery writes loads as an inventory
    fields = {n.field: n.source for n in notes}
    assert fields[f"zones.{hand}.node"] == "hn.yaml"
    assert "sdc-cnapi /servers/" + SERVER in fields[f"nodes.{SERVER}.host"]


def test_the_newest_active_image_of_the_name_is_picked() -> None:
    images = [
        {"uuid": IMAGE, "name": "manta-manatee", "version": "a", "state": "active",
         "published_at": "2016-01-01T00:00:00.000Z"},
        {"uuid": SERVER, "name": "manta-manatee", "version": "b", "state": "active",
         "published_at": "2017-01-01T00:00:00.000Z"},
        {"uuid": ZONE, "name": "manta-manatee", "version": "c", "state": "disabled",
         "published_at": "2018-01-01T00:00:00.000Z"},
        {"uuid": ZONE, "name": "manta-moray", "version": "d", "state": "active",
         "published_at": "2019-01-01T00:00:00.000Z"},
    ]
    newest = parse.parse_newest_image(http(200, images), "manta-manatee")
    assert (newest.uuid, newest.version) == (SERVER, "b")
    for bad in ([], {"uuid": IMAGE}, [{"name": "manta-manatee", "uuid": "x",
                                       "published_at": "2016"}]):
        with pytest.raises(Unparseable):
            parse.parse_newest_image(json.dumps(bad), "manta-manatee")

