"""Hostile znodes and input files through the CLI, against a real ZooKeeper.

Each: one paragraph, exit 2 (bad input) or 3 (refused: malformed znodes), nothing
written, no traceback and no "Internal error".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ZONES, CliResult, V1Shard, invoke_cli, peer_data

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
IPS = list(ZONES)


def _refused(result: CliResult, status: int, *words: str) -> None:
    assert result.status == status, result.err
    assert "Traceback" not in result.err and "Internal error" not in result.err
    for word in words:
        assert word in result.err, result.err


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999999"])
def test_election_data_node_cannot_parse_is_never_backfilled(
    zk: Any, v1_shard: V1Shard, run_cli: Any, literal: str
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    data = json.dumps(peer_data(IPS[1], ZONES[IPS[1]]))[:-1] + f',"weight":{literal}}}'
    name = v1_shard.join(IPS[1], ZONES[IPS[1]], data=data.encode())
    for args in (("status", "--shard", SHARD), ("backfill", "--shard", SHARD, "--yes")):
        _refused(run_cli(*args), 3, name, "JSON that manatee's readers accept")
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_oversized_election_node_is_refused_before_the_backfill(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    big = {**peer_data(IPS[1], ZONES[IPS[1]]), "pad": "x" * 900_000}
    name = v1_shard.join(IPS[1], ZONES[IPS[1]], data=json.dumps(big).encode())
    _refused(run_cli("backfill", "--shard", SHARD, "--yes"), 3, name, "bytes long")
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_deeply_nested_or_huge_number_state_is_refused(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    zk.create(f"/manatee/{SHARD}/state", b"[" * 50_000 + b"]" * 50_000)
    for command in ("state", "status", "unfreeze"):
        _refused(run_cli(command, "--shard", SHARD), 3, "nests deeper")
    zk.set(f"/manatee/{SHARD}/state", b'{"generation":' + b"9" * 50_000 + b"}")
    _refused(run_cli("state", "--shard", SHARD), 3, "cannot be represented exactly")


def test_deeply_nested_history_record_is_shown_unreadable(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    zk.create(f"/manatee/{SHARD}/history/0-", b"[" * 50_000 + b"]" * 50_000, sequence=True)
    result = run_cli("history", "--shard", SHARD)
    assert result.status == 0, result.err
    assert "unreadable record" in result.out and "Traceback" not in result.err


def _inventory(path: Path, zk: str, **override: str) -> Path:
    fields = {"shard": SHARD, "zookeeper": zk, "host": "127.0.0.2"}
    fields.update(override)
    path.write_text(
        f"shard: {json.dumps(fields['shard'])}\nzookeeper: {json.dumps(fields['zookeeper'])}\n"
        f"zones:\n  primary: {{host: {json.dumps(fields['host'])}}}\n"
    )
    return path


def test_inventory_files_that_cannot_be_used(
    tmp_path: Path, zk_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    zk = zk_server.connection_string
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("shard: s\nzookeeper: z:1\na: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ) + "zones: {z: {host: h}}\n")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(_inventory(tmp_path / "ok.yaml", zk).read_bytes() + b"# caf\xe9\n")
    cases = [
        (bomb, "aliases cannot be used"),
        (latin1, "not UTF-8"),
        (Path("/dev/zero"), "is a character device, not a regular file"),
        (_inventory(tmp_path / "nl1.yaml", zk, shard=SHARD + "\n"), "not a shard name"),
        (_inventory(tmp_path / "nl2.yaml", zk + "\n"), "not a ZooKeeper connection string"),
        (_inventory(tmp_path / "nl3.yaml", zk, host="127.0.0.2\n"), "not a host name"),
    ]
    for path, words in cases:
        for command in (["inventory", "check"], ["plan"], ["status"]):
            result = invoke_cli([*command, "--inventory", str(path)], capsys)
            _refused(result, 2, words)


@pytest.mark.parametrize("field,value,words", [
    ("zoneId", "../../etc", "not a UUID"),
    ("ip", "127.0.1.48;touch PWNED", "not an IPv4 address"),
    ("pgUrl", "tcp://postgres@127.0.1.48:5432/$(touch PWNED)", "not tcp://"),
    ("zoneId", "[bold red]boom[/] \x1b]0;title\x07", "not a UUID"),
])
def test_hostile_election_data_never_becomes_state(
    zk: Any, v1_shard: V1Shard, run_cli: Any, field: str, value: str, words: str
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    data = {**peer_data(IPS[1], ZONES[IPS[1]]), field: value}
    name = v1_shard.join(IPS[1], ZONES[IPS[1]], data=json.dumps(data).encode())
    _refused(run_cli("backfill", "--shard", SHARD, "--yes"), 2, name, words)
    assert zk.exists(f"/manatee/{SHARD}/state") is None
