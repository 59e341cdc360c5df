"""No internal errors from input (issue 21 §5), against a real ZooKeeper: a deeply nested
journal and a child of /manatee that is not a shard. The pure cases are in
tests/unit/test_input_errors.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import ZONES, V1Shard

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
JOURNAL = f"/manatee-migrator/{SHARD}/journal"
DEEP = b"[" * 3000 + b"]" * 3000


def _no_internal_error(err: str) -> None:
    assert "Internal error" not in err and "Traceback" not in err
    assert "RecursionError" not in err


def test_a_deeply_nested_journal_is_unreadable_in_status_and_bad_input_for_report(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join("127.0.1.47", ZONES["127.0.1.47"])
    zk.create(JOURNAL, DEEP, makepath=True)
    shown = run_cli("status", "--shard", SHARD)
    _no_internal_error(shown.err)
    assert shown.status == 0, shown.err
    assert f"unreadable: {JOURNAL} is not a journal" in shown.out
    assert "nests deeper than 128 levels" in shown.out
    as_json = run_cli("status", "--shard", SHARD, "--json")
    assert as_json.status == 0, as_json.err
    problem = json.loads(as_json.out)["journalProblem"]
    assert JOURNAL in problem and "nests deeper" in problem
    # and `report` of it is bad input naming the journal
    result = run_cli("report", "--shard", SHARD)
    _no_internal_error(result.err)
    assert result.status == 2 and JOURNAL in result.err


def test_a_child_of_manatee_that_is_not_a_shard_is_skipped_with_a_warning(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    v1_shard.join("127.0.1.47", ZONES["127.0.1.47"])
    for name in ("not a shard", "-leading-dash", "_leading_underscore", "semi;colon"):
        zk.create(f"/manatee/{name}", b"")
    listed = run_cli("status")
    _no_internal_error(listed.err)
    assert listed.status == 0, listed.err
    assert SHARD in listed.out and "not a shard" not in listed.out
    for name in ("not a shard", "-leading-dash", "_leading_underscore", "semi;colon"):
        assert f"warning: skipped the znode '/manatee/{name}'" in listed.err
    assert "its name is not a valid shard name" in listed.err
    as_json = run_cli("status", "--json")
    assert as_json.status == 0, as_json.err
    assert [s["shard"] for s in json.loads(as_json.out)] == [SHARD]
    assert as_json.err.count("warning: skipped") == 4
    unknown = run_cli("status", "--shard", "9.moray.nowhere")
    assert unknown.status == 2 and "not a shard" not in unknown.err  # known shards only


def test_a_chroot_that_climbs_or_a_port_out_of_range_is_bad_input(
    zk_server: ZooKeeperServer, run_cli: Any
) -> None:
    port = zk_server.connection_string.rsplit(":", 1)[1]
    for zk in (f"127.0.0.1:{port}/../x", "127.0.0.1:99999999", f"127.0.0.1:{port}/a/../b"):
        result = run_cli("status", zk=zk)
        _no_internal_error(result.err)
        assert result.status == 2, (zk, result.err)
        assert repr(zk) in result.err and "ZooKeeper connection string" in result.err
