"""History records: v1 names, v2 states, ordering and summaries."""

from __future__ import annotations

import json

import pytest

from migrator.cluster.history import order_history, parse_history_record, summarize

pytestmark = pytest.mark.unit

PEER_A = {"zoneId": "f29499ea-aaaa", "id": "a"}
PEER_B = {"zoneId": "d0c715ab-bbbb", "id": "b"}
PEER_C = {"zoneId": "4afba482-cccc", "id": "c"}


def v2(name: str, doc: object) -> object:
    return parse_history_record(name, json.dumps(doc).encode(), 1417545337553)


def test_v1_record_from_its_name() -> None:
    record = parse_history_record(
        "1417543693514-10.77.77.47:5432-NewStandby-leader-undefined-10.77.77.48:5432-0000000001",
        b"",
        1417543693600,
    )
    assert record.kind == "v1" and record.seq == 1
    assert record.to_json() == {
        "time": "1417543693514",
        "date": "2014-12-02T18:08:13.514Z",
        "ip": "10.77.77.47:5432",
        "action": "NewStandby",
        "role": "leader",
        "master": "",
        "slave": "10.77.77.48:5432",
        "zkSeq": "0000000001",
    }


def test_v2_records_and_order() -> None:
    backfill = {"primary": PEER_A, "sync": PEER_B, "async": [PEER_C], "generation": 0,
                "freeze": {"date": "d", "reason": "manatee-adm state-backfill"}}
    unfrozen = {k: v for k, v in backfill.items() if k != "freeze"}
    takeover = {"generation": 1, "primary": PEER_B, "sync": PEER_C, "async": []}
    records = order_history([v2("1-0000000006", takeover), v2("0-0000000004", backfill),
                             v2("0-0000000005", unfrozen)])  # type: ignore[list-item]
    assert [r.seq for r in records] == [4, 5, 6]
    assert summarize(records[0], None) == "cluster setup for normal (multi-peer) mode"
    assert summarize(records[1], records[0]) == "cluster unfrozen"
    # the old async became the sync: a takeover says nothing more (upstream's words)
    assert summarize(records[2], records[1]) == (
        "sync (d0c715ab) took over as primary (from f29499ea)"
    )


def test_summaries_in_manatee_adm_words() -> None:
    v1 = parse_history_record(
        "1417543693514-10.77.77.47:5432-NewStandby-leader-undefined-10.77.77.48:5432-0000000001",
        b"", 1417543693600)
    base = {"generation": 0, "primary": PEER_A, "sync": PEER_B, "async": [PEER_C],
            "deposed": [], "initWal": "0/0000000"}
    backfill = v2("0-0000000002", {**base, "freeze": {"date": "d", "reason": "backfill"}})
    assert summarize(backfill, v1) == "follow-up from 1.0 event"  # type: ignore[arg-type]
    single = v2("0-0000000000", {**base, "sync": None, "async": [], "oneNodeWriteMode": True})
    assert summarize(single, None) == (  # type: ignore[arg-type]
        "cluster setup for singleton (one-node-write) mode")
    steps = [
        ({**base, "generation": 1, "primary": PEER_B, "sync": PEER_C, "async": [],
          "deposed": [PEER_A]}, "sync (d0c715ab) took over as primary (from f29499ea)"),
        ({**base, "generation": 1, "primary": PEER_B, "sync": PEER_C, "async": [PEER_A],
          "deposed": []}, 'async "f29499ea" added, "f29499ea" no longer deposed'),
        ({**base, "generation": 2, "primary": PEER_B, "sync": PEER_A, "async": [PEER_C]},
         "primary (d0c715ab) selected new sync (was 4afba482, now f29499ea)"),
        ({**base, "generation": 2, "primary": PEER_B, "sync": PEER_C, "async": [PEER_A]},
         "error: sync changed, but gen number did not"),
        ({**base, "generation": 1, "primary": PEER_B, "sync": PEER_C, "async": [PEER_A]},
         "error: gen number went backwards"),
        ({**base, "generation": 3, "primary": PEER_C, "sync": PEER_B, "async": [PEER_A]},
         "error: new primary was not previous sync"),
    ]
    previous = v2("1-0000000003", {**base, "freeze": None})
    for seq, (state, expected) in enumerate(steps, start=4):
        record = v2(f"1-{seq:010d}", state)
        assert summarize(record, previous) == expected, state  # type: ignore[arg-type]
        if not expected.startswith("error"):
            previous = record


def test_damaged_record_is_reported_not_raised() -> None:
    record = parse_history_record("0-0000000009", b"{nope", None)
    assert record.problem is not None and "not JSON" in record.problem
    assert "unreadable" in summarize(record, None)
