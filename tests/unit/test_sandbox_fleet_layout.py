"""A sandbox fleet's layout (pure): `--nodes` as one size or a list per shard, the shard
names, the zones' addresses (shard 1's where a one-shard sandbox's are, never two
alike, never ZooKeeper's, the nodes', the headnode's or the relays'), the zones spread
in turn over the shared compute nodes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import BadInput
from migrator.sandbox.config import (
    HEADNODE_ADDRESS,
    MAX_NODES,
    MAX_SHARDS,
    RELAY_ADDRESS,
    node_address,
    zone_address,
)
from migrator.sandbox.fleetlayout import (
    node_assignment,
    parse_node_sizes,
    shard_addresses,
    shard_names,
)

pytestmark = pytest.mark.unit

sizes_strategy = st.lists(st.integers(1, MAX_NODES), min_size=1, max_size=MAX_SHARDS)


def test_one_size_for_every_shard() -> None:
    assert parse_node_sizes("3", 1) == [3]
    assert parse_node_sizes("2", 4) == [2, 2, 2, 2]


def test_a_size_per_shard() -> None:
    assert parse_node_sizes("3,3,2,1", 4) == [3, 3, 2, 1]
    assert parse_node_sizes(" 3, 2 ,1", 3) == [3, 2, 1]


def test_a_list_of_the_wrong_length_is_bad_input() -> None:
    with pytest.raises(BadInput) as caught:
        parse_node_sizes("3,2", 3)
    assert "lists 2 shard sizes but --shards is 3" in caught.value.message
    assert "exactly 3 sizes" in (caught.value.hint or "")


@pytest.mark.parametrize("text", ["0", "6", "-1", "3,0,2", "3,6,1"])
def test_a_size_out_of_range_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_node_sizes(text, 3 if "," in text else 1)
    assert "out of range" in caught.value.message and "1 to 5" in caught.value.message


@pytest.mark.parametrize("text", ["", "three", "3,,2", "3;2", "2.5"])
def test_not_a_size_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_node_sizes(text, 3)
    assert "is not a shard size" in caught.value.message


@pytest.mark.parametrize("shards", [0, -1, MAX_SHARDS + 1])
def test_shards_out_of_range_is_bad_input(shards: int) -> None:
    with pytest.raises(BadInput) as caught:
        parse_node_sizes("3", shards)
    assert f"--shards {shards} is out of range" in caught.value.message


def test_shard_names_continue_the_single_shards() -> None:
    assert shard_names(3) == ["1.moray.sandbox.test", "2.moray.sandbox.test",
                              "3.moray.sandbox.test"]


def test_the_address_scheme() -> None:
    assert shard_addresses([3, 2, 1]) == [["127.0.0.2", "127.0.0.3", "127.0.0.4"],
                                          ["127.0.0.12", "127.0.0.13"], ["127.0.0.22"]]
    assert zone_address(4, MAX_SHARDS - 1) == "127.0.0.76"


@given(sizes_strategy)
def test_addresses_are_distinct_and_clear_of_the_shared_ones(sizes: list[int]) -> None:
    found = [ip for ips in shard_addresses(sizes) for ip in ips]
    assert len(found) == len(set(found)) == sum(sizes)
    reserved = {"127.0.0.1", HEADNODE_ADDRESS, RELAY_ADDRESS,
                *(node_address(i) for i in range(8))}
    assert not reserved & set(found)
    assert all(ip.startswith("127.0.0.") and 2 <= int(ip.rsplit(".", 1)[1]) <= 254
               for ip in found)
    # shard 1's zones are where a one-shard sandbox puts them
    assert shard_addresses(sizes)[0] == [zone_address(k) for k in range(sizes[0])]


@given(sizes_strategy, st.integers(1, 8))
def test_zones_spread_in_turn_over_the_nodes(sizes: list[int], nodes: int) -> None:
    assignment = node_assignment(sizes, nodes)
    assert [len(a) for a in assignment] == sizes
    flat = [node for shard in assignment for node in shard]
    assert flat == [i % nodes for i in range(sum(sizes))]
    counts = Counter(flat)
    assert max(counts.values()) - min(counts.get(n, 0) for n in range(nodes)) <= 1
