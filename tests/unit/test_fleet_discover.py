"""`migrator fleet discover`'s pure parts: the headnode's postgres rows, ZooKeeper's
shards matched with them, the --shards filter and the fleet's default name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.discovery import parse
from migrator.discovery.build import Discovered
from migrator.discovery.parse import Unparseable
from migrator.errors import BadInput
from migrator.fleet.discover_match import (
    DISCOVER,
    SKIP,
    ZkShard,
    default_name,
    fleet_mode,
    match_shards,
    selected,
    zone_warnings,
)
from migrator.fleet.discover_write import fleet_files, fleet_text
from migrator.fleet.model import FleetFile

pytestmark = pytest.mark.unit

Z = [f"2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a{n:02d}" for n in range(20)]
DOMAIN = "us-east.joyent.us"


def name(n: int) -> str:
    return f"{n}.moray.{DOMAIN}"


def test_postgres_rows_by_shard_number() -> None:
    text = (f"SERVICE SHARD ZONENAME\npostgres 1 {Z[0]}\npostgres 1 {Z[1]}\n"
            f"moray 1 {Z[5]}\n\npostgres 2 {Z[2]}\npostgres 1 {Z[0]}\n")
    assert parse.parse_postgres_rows(text) == {"1": [Z[0], Z[1]], "2": [Z[2]]}
    assert parse.parse_postgres_rows("") == {}


@pytest.mark.parametrize("text", [
    f"postgres 1 {Z[0]} extra", "postgres 1 not-a-uuid", f"postgres one {Z[0]}",
    f"postgres \u0661 {Z[0]}"])
def test_postgres_rows_refused(text: str) -> None:
    with pytest.raises(Unparseable):
        parse.parse_postgres_rows(text)


def test_modes_are_the_fleets_words() -> None:
    assert [fleet_mode(m) for m in ("legacy", "backfilled-frozen", "migrated", "unknown")] == \
        ["v1", "mixed", "v2", "unknown"]


def test_both_sides_agree() -> None:
    matched = match_shards([ZkShard(name(2), "legacy"), ZkShard(name(1), "backfilled-frozen")],
                           {"1": [Z[0]], "2": [Z[1], Z[2]]})
    assert [(p.shard, p.mode, p.action) for p in matched.picks] == [
        (name(1), "mixed", DISCOVER), (name(2), "v1", DISCOVER)]
    assert matched.picks[1].headnode_zones == (Z[1], Z[2])
    assert matched.warnings == []


def test_v2_and_broken_shards_are_listed_skipped() -> None:
    matched = match_shards([ZkShard(name(1), "migrated", generation=3),
                            ZkShard(name(2), "unknown", problem="bad /state")],
                           {"1": [Z[0]], "2": [Z[1]]})
    assert [(p.action, p.reason) for p in matched.picks] == [
        (SKIP, "already at v2 (mode migrated, generation 3)"),
        (SKIP, "its ZooKeeper data cannot be read (bad /state); look at it with "
               "`migrator status`")]
    assert len(matched.warnings) == 1


def test_zookeeper_only_and_headnode_only_are_warned_and_listed() -> None:
    matched = match_shards([ZkShard(name(1), "legacy"), ZkShard(name(3), "legacy"),
                            ZkShard("sdc", "legacy")], {"1": [Z[0]], "2": [Z[1]]})
    rows = {p.shard: p for p in matched.picks}
    assert rows[name(1)].action == DISCOVER
    assert rows[name(3)].action == SKIP and "not listed by the headnode" in str(
        rows[name(3)].reason)
    assert rows["sdc"].action == SKIP
    assert rows[name(2)].action == SKIP and rows[name(2)].mode == "-"
    assert rows[name(2)].headnode_zones == (Z[1],)
    assert [p.shard for p in matched.picks] == [name(1), name(2), name(3), "sdc"]
    assert len(matched.warnings) == 3


def test_headnode_only_without_a_domain_is_only_warned() -> None:
    matched = match_shards([ZkShard("a", "legacy")], {"7": [Z[0]]})
    assert [p.shard for p in matched.picks] == ["a"]
    assert any("shard 7" in w and "not in the fleet file" in w for w in matched.warnings)


def test_a_name_no_inventory_can_hold_is_left_out_with_a_warning() -> None:
    matched = match_shards([ZkShard("1:moray", "legacy")], {})
    assert matched.picks == [] and "cannot hold" in matched.warnings[0]


def test_two_shards_of_one_number_are_warned() -> None:
    matched = match_shards([ZkShard("1.moray.a", "legacy"), ZkShard("1.moray.b", "legacy")],
                           {"1": [Z[0]]})
    assert [p.action for p in matched.picks] == [DISCOVER, DISCOVER]
    assert "2 shards numbered 1" in matched.warnings[0]


def test_glob_narrows_every_side() -> None:
    matched = match_shards([ZkShard(name(n), "legacy") for n in (1, 2, 10)],
                           {"1": [Z[0]], "2": [Z[1]], "10": [Z[2]], "11": [Z[3]]},
                           glob="1*.moray.*")
    assert [p.shard for p in matched.picks] == [name(1), name(10), name(11)]
    assert not selected("2.moray.x", "1*") and selected("2.moray.x", None)


@given(st.lists(st.integers(1, 40), unique=True), st.lists(st.integers(1, 40), unique=True))
def test_every_shard_of_either_side_is_listed_once(zk: list[int], headnode: list[int]) -> None:
    matched = match_shards([ZkShard(name(n), "legacy") for n in zk],
                           {str(n): [Z[n % 20]] for n in headnode})
    shards = [p.shard for p in matched.picks]
    assert len(shards) == len(set(shards))
    expected = set(zk) | (set(headnode) if zk else set())
    assert {int(s.split(".")[0]) for s in shards} == expected
    assert {p.shard for p in matched.to_discover} == {name(n) for n in set(zk) & set(headnode)}
    numbers = [int(s.split(".")[0]) for s in shards]
    assert numbers == sorted(numbers)
    warned = len(set(zk) ^ set(headnode)) if zk else len(headnode)
    assert len(matched.warnings) == warned


def test_default_name_is_the_shared_domain() -> None:
    assert default_name([name(1), name(2)]) == DOMAIN
    assert default_name([name(1), "2.moray.other"]) is None
    assert default_name(["sdc"]) is None


def test_zone_warnings_name_each_side() -> None:
    assert zone_warnings("s", [Z[0], Z[1]], (Z[0], Z[1])) == []
    said = zone_warnings("s", [Z[0], Z[2]], (Z[0], Z[1]))
    assert Z[2] in said[0] and Z[1] in said[1]


def test_fleet_file_lists_every_pick_and_validates(tmp_path: Path) -> None:
    matched = match_shards([ZkShard(name(1), "legacy"), ZkShard(name(2), "migrated")],
                           {"1": [Z[0]], "2": [Z[1]]})
    doc = {"shard": name(1), "zookeeper": "127.0.0.1:2181",
           "zones": {Z[0]: {"host": "127.0.0.2"}}}
    files = fleet_files(tmp_path / "headnode.yaml", tmp_path, DOMAIN, matched.picks,
                        {name(1): Discovered(doc)})
    assert files.inventories == [tmp_path / f"{name(1)}.yaml"]
    assert list(files.texts)[-1] == files.fleet
    fleet = files.texts[files.fleet]
    assert fleet.startswith("# Written by `migrator fleet discover`")
    assert "skip: already at v2" in fleet
    inventory_text = files.texts[tmp_path / f"{name(1)}.yaml"]
    assert inventory_text.startswith("# Written by `migrator inventory discover`")
    with pytest.raises(BadInput, match="would not be valid"):
        fleet_files(tmp_path / "h.yaml", tmp_path, "bad name!", matched.picks,
                    {name(1): Discovered(doc)})


def test_fleet_text_loads_as_a_fleet_file(tmp_path: Path) -> None:
    import yaml

    document = {"fleet": "x", "shards": [{"shard": name(1), "skip": "why\nnot # really"}]}
    loaded = yaml.safe_load(fleet_text(tmp_path / "a\nb.yaml", document))
    assert FleetFile.validate(loaded).shards[0].skip == "why\nnot # really"
