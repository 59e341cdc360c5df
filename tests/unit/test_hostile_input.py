"""Hostile input: refused with a typed error (exit 2 or 3), never a hang or an internal error.

Pure tests (no ZooKeeper, no SSH); the CLI and ZooKeeper side is in
tests/zk/test_hostile_znodes.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from migrator.cluster.backfill import compute_backfill_state
from migrator.cluster.election import (
    MAX_ELECTION_DATA,
    ElectionNode,
    legacy_topology,
    parse_election_node,
)
from migrator.cluster.history import parse_history_record
from migrator.cluster.peer import peer_from_json
from migrator.cluster.state import parse_state
from migrator.errors import BadInput, MalformedZnode
from migrator.inventory.load import load_inventory
from migrator.inventory.values import validate_image, validate_zone_id
from migrator.remote.bunyan import parse_inspected, parse_line
from migrator.strictjson import JsonRejected, loads
from migrator.yamldoc import AliasExpansionError, parse_document
from migrator.zk.paths import check_shard_name

pytestmark = pytest.mark.unit

SHARD = "1.moray.test"
NAME = "10.0.0.1:5432:12345-0000000000"
GOOD = {"zoneId": "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01", "ip": "10.0.0.1", "pgUrl": "tcp://postgres@10.0.0.1:5432/postgres"}
DEEP = b"[" * 100_000 + b"]" * 100_000


def _data(**extra: str) -> bytes:
    return json.dumps({**GOOD, **extra}).encode()


# --- strict JSON --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e999999}', '{"a": -1e999999}',
    '{"a": ' + "9" * 50_000 + "}", '{"a": 9007199254740992}', DEEP.decode(),
])
def test_strict_json_refuses_what_node_would_not_round_trip(text: str) -> None:
    with pytest.raises(JsonRejected):
        loads(text)


def test_strict_json_accepts_what_manatee_writes() -> None:
    doc = {"generation": 3, "initWal": "0/174A4D0", "a": [1.5, -2, 9007199254740991, None],
           "s": "[[[{{{ not brackets \\" + '"'}
    assert loads(json.dumps(doc).encode()) == doc


def test_strict_json_bounds_bytes_and_encoding() -> None:
    with pytest.raises(JsonRejected, match="more than the 10 allowed"):
        loads(b'{"a": "0123456789"}', max_bytes=10)
    with pytest.raises(JsonRejected, match="not UTF-8"):
        loads(b'{"a": "\xff"}')


def test_strict_json_deep_check_is_quick() -> None:
    started = time.monotonic()
    with pytest.raises(JsonRejected, match="deeper than 64"):
        loads(b'{"a":' * 400_000 + b"1" + b"}" * 400_000)
    assert time.monotonic() - started < 30  # generous: the point is that it returns


# --- znodes -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"zoneId":"z1","ip":"10.0.0.1","pgUrl":"p","x":NaN}',
    b'{"zoneId":"z1","ip":"10.0.0.1","pgUrl":"p","x":Infinity}',
    b'{"zoneId":"z1","ip":"10.0.0.1","pgUrl":"p","x":1e999999}',
    b'{"zoneId":"z1","ip":"10.0.0.1","pgUrl":"p","x":' + b"1" * 50_000 + b"}",
    DEEP,
])
def test_election_data_manatee_cannot_read_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedZnode) as caught:
        parse_election_node(NAME, raw, SHARD)
    assert NAME in caught.value.message and "JSON that manatee's readers accept" in (
        caught.value.message)


def test_oversized_election_node_is_refused_naming_it() -> None:
    raw = _data(pad="x" * 900_000)
    with pytest.raises(MalformedZnode) as caught:
        parse_election_node(NAME, raw, SHARD)
    assert NAME in caught.value.message and f"more than the {MAX_ELECTION_DATA}" in (
        caught.value.message)


def test_backfill_too_large_for_one_transaction_is_refused_naming_the_largest_node() -> None:
    # Nodes built directly (parse would already refuse them) to reach the transaction check.
    nodes = [
        ElectionNode(f"10.0.0.{i}:5432:12345-{i:010d}", f"10.0.0.{i}:5432:12345", f"10.0.0.{i}",
                     "12345", i, {**GOOD, "ip": f"10.0.0.{i}",
                                  "pgUrl": f"tcp://postgres@10.0.0.{i}:5432/postgres",
                                  **{f"pad{j}": "x" * 200
                                     for j in range(3000 if i == 2 else 1)}})
        for i in (1, 2)
    ]
    with pytest.raises(MalformedZnode) as caught:
        compute_backfill_state(legacy_topology(SHARD, nodes), "2026-01-01T00:00:00.000Z")
    assert "jute.maxbuffer" in caught.value.message
    assert "10.0.0.2:5432:12345-0000000002" in caught.value.message


@pytest.mark.parametrize("raw", [
    b'{"generation":0,"primary":{},"initWal":"0/0","x":NaN}', DEEP,
    b'{"generation":' + b"7" * 50_000 + b"}",
])
def test_state_manatee_cannot_read_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedZnode, match="JSON that manatee's readers accept"):
        parse_state(raw, "The /state of shard s")


def test_history_record_too_deep_is_shown_as_unreadable() -> None:
    record = parse_history_record("0-0000000004", DEEP, None)
    assert record.state is None and record.problem is not None and "deeper" in record.problem


def test_log_line_too_deep_or_not_json_is_a_raw_record() -> None:
    for line in (DEEP, b'{"msg":"x","level":30,"n":NaN}', b'{"msg":"x","level":' + b"1" * 50_000
                 + b"}"):
        assert not parse_line(line).is_bunyan
    assert parse_inspected("{ a: " * 10_000 + "1" + " }" * 10_000) is None
    nested = json.dumps({"msg": "pg: applied config " + "{ a: " * 5_000 + "1" + " }" * 5_000,
                         "level": 30})
    record = parse_line(nested)
    assert record.is_bunyan and record.get("role") is None


def test_values_with_a_trailing_newline_are_refused() -> None:
    for check, value in ((check_shard_name, "1.moray.test\n"), (validate_zone_id, "primary\n"),
                         (validate_image, "2.1.1\n")):
        with pytest.raises(BadInput):
            check(value)
    with pytest.raises(MalformedZnode):
        peer_from_json({**GOOD, "id": "10.0.0.1:5432:12345\n"}, "peer")
    with pytest.raises(MalformedZnode):
        parse_election_node(NAME + "\n", _data(), SHARD)


# --- YAML and files -----------------------------------------------------------------------

BOMB = """\
shard: x
zookeeper: 127.0.0.1:2181
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
zones: {z: {host: h}}
"""

GOOD_INVENTORY = """\
shard: 1.moray.test
zookeeper: 127.0.0.1:2181
ssh: &login {user: root, port: 22}
zones:
  primary: {<<: *login, host: 127.0.0.2}
  sync: {<<: *login, host: 127.0.0.3}
versions: {migrate_to: 2.1.1}
"""


def test_alias_bomb_is_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(AliasExpansionError, match="alias bomb"):
        parse_document(BOMB)
    assert time.monotonic() - started < 30


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(AliasExpansionError, match="contains it"):
        parse_document("a: &a [1, *a]\n")


def test_alias_bomb_inventory_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(BOMB)
    with pytest.raises(BadInput, match="aliases cannot be used"):
        load_inventory(path)


def test_modest_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(GOOD_INVENTORY)
    inventory = load_inventory(path)
    assert inventory.zones["sync"].user == "root" and inventory.zones["sync"].port == 22


def test_non_utf8_inventory_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(GOOD_INVENTORY.encode() + b"# caf\xe9\n")
    with pytest.raises(BadInput, match=r"not UTF-8 text \(line 8"):
        load_inventory(path)


def test_endless_inventory_is_bad_input() -> None:
    with pytest.raises(BadInput, match="is a character device, not a regular file"):
        load_inventory(Path("/dev/zero"))


@pytest.mark.parametrize("field_path,value", [
    (("shard",), "1.moray.test\n"),
    (("zookeeper",), "127.0.0.1:2181\n"),
    (("zones", "primary", "host"), "127.0.0.2\n"),
    (("zones", "primary", "user"), "root\n"),
    (("versions", "migrate_to"), "2.1.1\n"),
    (("versions", "roll_back_to"), "1.0.0\n"),
])
def test_inventory_values_with_a_trailing_newline_are_refused(
    tmp_path: Path, field_path: tuple[str, ...], value: str
) -> None:
    doc = yaml.safe_load(GOOD_INVENTORY)
    target = doc
    for key in field_path[:-1]:
        target = target[key]
    target[field_path[-1]] = value
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(BadInput, match=field_path[-1]):
        load_inventory(path)


def test_inventory_zone_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text('shard: s\nzookeeper: 127.0.0.1:2181\nzones:\n  "primary\\n": {host: h}\n')
    with pytest.raises(BadInput, match="is not a zone id"):
        load_inventory(path)


def test_other_operator_files_are_read_bounded_and_strictly(tmp_path: Path) -> None:
    from migrator.commands.engine import load_topology_file
    from migrator.engine.savedplan import load_plan
    from migrator.playbook.loader import PlaybookError, load_playbook_file

    endless = Path("/dev/zero")
    with pytest.raises(BadInput, match="character device"):
        load_playbook_file(endless)
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)
    with pytest.raises(PlaybookError, match="larger than 4 MiB"):
        load_playbook_file(big)
    for load in (load_topology_file, load_plan):
        with pytest.raises(BadInput, match="character device"):
            load(endless)
        with pytest.raises(BadInput, match="larger than 4 MiB"):
            load(big)
    latin1 = tmp_path / "plan.json"
    latin1.write_bytes(b'{"shard": "caf\xe9"}')
    with pytest.raises(BadInput, match="not UTF-8"):
        load_plan(latin1)
    nan = tmp_path / "topology.json"
    nan.write_text('{"shard": "s", "election": [], "weight": NaN}')
    with pytest.raises(BadInput, match="NaN"):
        load_topology_file(nan)


@pytest.mark.parametrize("depth", [100, 990, 3000])
def test_deeply_nested_yaml_is_bad_input(tmp_path: Path, depth: int) -> None:
    from migrator.playbook.loader import PlaybookError, load_playbook_file

    path = tmp_path / "deep.yaml"
    path.write_text("shard: s\nzookeeper: z:1\nzones: {a: {host: h, x: "
                    + "[" * depth + "]" * depth + "}}\n")
    with pytest.raises(BadInput, match="nest"):
        load_inventory(path)
    with pytest.raises(PlaybookError, match="nest"):
        load_playbook_file(path)


def test_lone_surrogates_are_refused_in_json_and_yaml(tmp_path: Path) -> None:
    assert loads(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}  # a pair is text
    with pytest.raises(JsonRejected, match="lone surrogate"):
        loads(b'{"a": "\\ud800"}')
    with pytest.raises(MalformedZnode, match="lone surrogate"):
        parse_election_node(NAME, b'{"zoneId":"\\ud800","ip":"10.0.0.1","pgUrl":"p"}', SHARD)
    path = tmp_path / "inv.yaml"
    path.write_text(GOOD_INVENTORY + 'commands: {sitter_disable: "echo \\ud800"}\n')
    with pytest.raises(BadInput, match=r"lone surrogate|invalid Unicode"):
        load_inventory(path)
