"""Which address kazoo is given (`zookeeper_via`), and the inventory setting: pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import BadInput
from migrator.inventory.model import Inventory
from migrator.inventory.zkroute import kazoo_hosts, zk_servers
from migrator.record import RecordError

pytestmark = pytest.mark.unit

BASE = {"shard": "1.moray.x", "zookeeper": "10.0.0.1:2181", "zones": {"z1": {"host": "h"}}}


def test_servers_and_chroot_are_split_with_every_port() -> None:
    found = zk_servers("10.0.0.1:2181,zk2,[fd00::1]:2182/tenant/manta")
    assert found.servers == (("10.0.0.1", 2181), ("zk2", 2181), ("fd00::1", 2182))
    assert found.chroot == "/tenant/manta"
    assert zk_servers("a:1/").chroot == ""


def test_direct_gives_the_string_and_headnode_the_local_ends_in_order() -> None:
    assert kazoo_hosts("a:1,b:2/c", None) == "a:1,b:2/c"
    local = [("127.0.0.1", 40001), ("127.0.0.1", 40002)]
    assert kazoo_hosts("a:1,b:2/c", local) == "127.0.0.1:40001,127.0.0.1:40002/c"
    with pytest.raises(ValueError, match="2 local ends for 1"):
        kazoo_hosts("a:1", local)


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
                          st.integers(1, 65535)), min_size=1, max_size=5),
       st.sampled_from(["", "/x", "/a/b"]))
def test_one_local_end_per_server_whatever_the_string(servers: list[tuple[str, int]],
                                                      chroot: str) -> None:
    text = ",".join(f"{h}:{p}" for h, p in servers) + chroot
    parsed = zk_servers(text)
    assert list(parsed.servers) == servers
    local = [("127.0.0.1", 1000 + i) for i in range(len(servers))]
    hosts = kazoo_hosts(text, local)
    assert hosts.endswith(chroot) and hosts.count(",") == len(servers) - 1


def test_the_inventory_defaults_to_direct_and_headnode_needs_a_headnode() -> None:
    assert Inventory.validate(BASE).zookeeper_via == "direct"
    through = Inventory.validate({**BASE, "zookeeper_via": "headnode",
                                  "headnode": {"host": "hn"}})
    assert through.zookeeper_via == "headnode"
    with pytest.raises(RecordError, match="needs `headnode:`"):
        Inventory.validate({**BASE, "zookeeper_via": "headnode"})
    with pytest.raises(RecordError):
        Inventory.validate({**BASE, "zookeeper_via": "ssh"})


def test_a_bad_zookeeper_via_in_a_file_names_the_line(tmp_path: object) -> None:
    from pathlib import Path

    from migrator.inventory.load import load_inventory

    path = Path(str(tmp_path)) / "inv.yaml"
    path.write_text("shard: 1.moray.x\nzookeeper: 10.0.0.1:2181\nzookeeper_via: headnode\n"
                    "zones: {z1: {host: h}}\n")
    with pytest.raises(BadInput) as caught:
        load_inventory(path)
    assert "headnode" in caught.value.message and str(path) in caught.value.message


def test_zones_connect_before_zookeeper_except_after_the_forwards_check() -> None:
    from migrator.remote.prewarm import zones_before_zookeeper

    assert not zones_before_zookeeper(None)  # no zones to connect
    assert zones_before_zookeeper(Inventory.validate(BASE))
    # through the headnode the forward's first channel (the check that forwarding is
    # allowed) goes before the zones' channels on the same connection
    through = Inventory.validate({**BASE, "zookeeper_via": "headnode",
                                  "headnode": {"host": "hn"}})
    assert not zones_before_zookeeper(through)
