"""status, state and history against a real ZooKeeper with v1 peers holding sessions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ZONES, V1Shard
from tests.zk.conftest import Result

pytestmark = pytest.mark.zk

IPS = list(ZONES)


def three_peers(v1_shard: V1Shard) -> None:
    for ip in IPS[:3]:
        v1_shard.join(ip, ZONES[ip])


def test_status_lists_shards_with_their_modes(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    three_peers(v1_shard)
    zk.ensure_path("/manatee/2.moray.test/election")
    result: Result = run_cli("status", "--json")
    assert result.status == 0, result.err
    listing = {s["shard"]: s for s in json.loads(result.out)}
    assert listing["1.moray.test"]["mode"] == "legacy"
    assert listing["1.moray.test"]["peersInElection"] == 3
    assert listing["2.moray.test"]["peersInElection"] == 0


def test_status_of_a_shard_by_election_and_state(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    three_peers(v1_shard)
    result = run_cli("status", "--shard", "1.moray.test", "--json")
    assert result.status == 0, result.err
    status = json.loads(result.out)
    assert status["mode"] == "legacy"
    assert [p["electionRole"] for p in status["peers"]] == ["primary", "sync", "async"]
    assert [p["zoneId"] for p in status["peers"]] == [ZONES[ip] for ip in IPS[:3]]
    assert all(p["stateRole"] is None for p in status["peers"])

    assert run_cli("backfill", "--shard", "1.moray.test", "--yes").status == 0
    status = json.loads(run_cli("status", "--shard", "1.moray.test", "--json").out)
    assert status["mode"] == "backfilled-frozen"
    roles = [(p["electionRole"], p["stateRole"], p["agrees"]) for p in status["peers"]]
    assert roles == [("primary", "primary", True), ("sync", "async", False),
                     ("async", "sync", False)]


def test_status_of_a_shard_writes_nothing(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    """Reading who holds the run lock must not create the lock's node (kazoo's
    contenders() would), nor anything else: `status` is a read."""
    three_peers(v1_shard)
    result = run_cli("status", "--shard", "1.moray.test", "--json")
    assert result.status == 0, result.err
    assert json.loads(result.out)["migration"] is None
    assert zk.exists("/manatee-migrator") is None


def test_status_plain_text_when_piped_marks_disagreements(
    v1_shard: V1Shard, run_cli: Any
) -> None:
    three_peers(v1_shard)
    run_cli("backfill", "--shard", "1.moray.test", "--yes")
    result = run_cli("status", "--shard", "1.moray.test")
    assert result.status == 0
    assert "\x1b[" not in result.out
    assert "mode backfilled-frozen" in result.out
    lines = [line for line in result.out.splitlines() if ZONES[IPS[1]] in line]
    assert len(lines) == 1 and "DIFFERS" in lines[0] and "async" in lines[0]


def test_state_prints_stored_bytes(zk: Any, v1_shard: V1Shard, run_cli: Any) -> None:
    three_peers(v1_shard)
    assert run_cli("state", "--shard", "1.moray.test").status == 3  # legacy: no state
    run_cli("backfill", "--shard", "1.moray.test", "--yes")
    stored, _ = zk.get("/manatee/1.moray.test/state")
    result = run_cli("state", "--shard", "1.moray.test")
    assert result.status == 0
    assert result.out == stored.decode() + "\n"
    as_json = json.loads(run_cli("state", "--shard", "1.moray.test", "--json").out)
    assert as_json["version"] == 0 and as_json["state"]["generation"] == 0


def test_history_shows_v1_and_v2_records_in_order(
    zk: Any, v1_shard: V1Shard, run_cli: Any
) -> None:
    three_peers(v1_shard)
    zk.create(
        "/manatee/1.moray.test/history/1417543665280-127.0.1.47:5432-AssumeLeader-Leader-"
        "undefined-undefined-", b"", sequence=True,
    )
    run_cli("backfill", "--shard", "1.moray.test", "--yes")
    run_cli("unfreeze", "--shard", "1.moray.test", "--yes")
    result = run_cli("history", "--shard", "1.moray.test", "--json")
    assert result.status == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r.get("action") for r in records] == ["AssumeLeader", None, None]
    assert [r["zkSeq"] for r in records] == ["0000000000", "0000000001", "0000000002"]
    assert records[1]["state"]["freeze"]["reason"] == "manatee-adm state-backfill"
    assert "freeze" not in records[2]["state"]
    assert records[2]["summary"] == "cluster unfrozen"


def test_a_session_closed_behind_the_last_reads_still_gets_their_answers(
    zk_server: Any, v1_shard: V1Shard,
) -> None:
    """`status` sends its session's close right behind its last reads: ZooKeeper answers
    a session's requests in order, so every answer arrives before the close's."""
    from migrator.commands import read
    from migrator.commands.progress import ProgressReads
    from migrator.zk.client import connect, disconnect, resolve_target

    three_peers(v1_shard)
    client = connect(resolve_target(zk_server.connection_string, 10.0))
    try:
        progress = ProgressReads(client, "1.moray.test")
        closed: list[bool] = []

        def last_sent() -> None:
            progress.send_last()
            disconnect(client)
            closed.append(not client.connected)

        status = read.shard_status(client, "1.moray.test", last_sent)
        underway = progress.result()
    finally:
        disconnect(client)
    assert closed == [True]
    assert [r.zone_id for r in status.rows] == [ZONES[ip] for ip in IPS[:3]]
    assert underway.progress is None and underway.lock_holders == []
