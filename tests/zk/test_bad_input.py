"""Bad input: a clear paragraph, the documented exit status, and nothing written."""

from __future__ import annotations

import time
from typing import Any

import pytest

from migrator.sandbox.ports import free_port
from tests.conftest import ZONES, V1Shard

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
IPS = list(ZONES)


def test_election_data_that_is_not_json(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    v1_shard.join(IPS[1], ZONES[IPS[1]], data=b"garbage")
    for args in (("status", "--shard", SHARD), ("backfill", "--shard", SHARD, "--yes")):
        result = run_cli(*args)
        assert result.status == 3
        assert "does not hold JSON" in result.err and "Traceback" not in result.err
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_election_name_not_shaped_like_manatee(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    zk.create(f"/manatee/{SHARD}/election/intruder", b"{}")
    result = run_cli("backfill", "--shard", SHARD, "--yes")
    assert result.status == 3 and "'intruder'" in result.err and "not shaped" in result.err
    assert zk.exists(f"/manatee/{SHARD}/state") is None
    overview = run_cli("status")
    assert overview.status == 0 and "unknown" in overview.out


def test_state_that_is_not_json_or_lacks_fields(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    zk.create(f"/manatee/{SHARD}/state", b"{not json")
    for command in ("state", "status", "unfreeze"):
        result = run_cli(command, "--shard", SHARD)
        assert result.status == 3, (command, result.err)
        assert "does not hold JSON" in result.err
    zk.set(f"/manatee/{SHARD}/state", b'{"generation":0}')
    result = run_cli("state", "--shard", SHARD)
    assert result.status == 3 and "primary, initWal" in result.err


def test_unknown_shard_and_missing_manatee_root(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    result = run_cli("status", "--shard", SHARD)
    assert result.status == 2 and "no /manatee node" in result.err
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    result = run_cli("status", "--shard", "9.moray.nowhere")
    assert result.status == 2
    assert "'9.moray.nowhere' does not exist" in result.err and SHARD in result.err


def test_zookeeper_unreachable_names_the_string_within_the_timeout(run_cli: Any) -> None:
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli("status", "--connect-timeout", "1", zk=dead)
    elapsed = time.monotonic() - started
    assert result.status == 2 and dead in result.err and "Traceback" not in result.err
    assert elapsed < 10  # bounded by the timeout, not retried forever
    # a reading command says that it changed nothing; a writing one does not claim it
    assert "`migrator status` only reads: it changed nothing" in result.err
    written = run_cli("backfill", "--yes", "--connect-timeout", "1", zk=dead)
    assert written.status == 2 and "only reads" not in written.err


def test_election_with_no_peers(zk: Any, run_cli: Any) -> None:
    zk.ensure_path(f"/manatee/{SHARD}/election")
    result = run_cli("backfill", "--shard", SHARD, "--yes")
    assert result.status == 3 and "no peers in its election" in result.err
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_backfill_when_state_exists_says_so_and_shows_it(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    assert run_cli("backfill", "--shard", SHARD, "--yes").status == 0
    before = zk.get(f"/manatee/{SHARD}/state")
    result = run_cli("backfill", "--shard", SHARD, "--yes")
    assert result.status == 3 and "already exists" in result.err and "generation 0" in result.err
    assert before[0].decode() in result.err
    assert zk.get(f"/manatee/{SHARD}/state") == before


def test_confirmation_without_terminal_fails_fast_and_writes_nothing(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join(IPS[0], ZONES[IPS[0]])
    result = run_cli("backfill", "--shard", SHARD)
    assert result.status == 3 and "no terminal" in result.err and "--yes" in result.err
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_usage_errors_exit_2(run_cli: Any) -> None:
    result = run_cli("freeze", "--shard", SHARD)  # --reason missing
    assert result.status == 2 and "--reason" in result.err
    result = run_cli("status", "--shard", "../etc")
    assert result.status == 2 and "not a valid shard name" in result.err
