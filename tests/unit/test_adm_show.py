"""The sandbox's ``manatee-adm show``/``pg-status`` from a status body (pure): upstream's
layout, its LAG durations and its errors and warnings, with the standby named by its
application_name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.sandbox.admshow import duration, issues, show_lines

pytestmark = pytest.mark.unit

A, B, C, D = ("3dfc6cde-2898-4203-aaab-cda8e14eb3f5", "0ba589be-014a-4ffb-a1d5-448eb163282a",
              "8f8ff00e-8332-4351-aa27-308b9266d947", "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03")


def _peer(zone: str, ip: str, repl: dict[str, Any] | None = None,
          lag: dict[str, Any] | None = None, online: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"zoneId": zone, "ip": ip,
                             "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
    if not online:
        return {**entry, "error": json.dumps({"name": "Error",
                                              "message": "connect ECONNREFUSED"}),
                "online": False}
    entry.update(online=True, repl=repl or {})
    if lag is not None:
        entry["lag"] = {"time_lag": lag}
    return entry


def _row(ip: str, sync_state: str, client: str = "127.0.0.1",
         state: str = "streaming") -> dict[str, Any]:
    return {"application_name": f"tcp://postgres@{ip}:5432/postgres", "client_addr": client,
            "state": state, "sent_lsn": "0/7E53A8", "write_lsn": "0/7E53A8",
            "flush_lsn": "0/7E53A8", "replay_lsn": "0/7E5000", "sync_state": sync_state}


def test_show_layout_after_a_takeover() -> None:
    body = {"primary": _peer(A, "127.0.0.4", _row("127.0.0.3", "sync")),
            "sync": _peer(B, "127.0.0.3", lag={"minutes": 1, "seconds": 32}),
            "deposed": {"zoneId": C, "ip": "127.0.0.2",
                        "pgUrl": "tcp://postgres@127.0.0.2:5432/postgres"}}
    state = {"generation": 1, "initWal": "0/734940", "primary": {}, "sync": {}}
    lines = show_lines("127.0.0.1:2181", "1.moray", state, body, verbose=True)
    assert lines == [
        "zookeeper:   127.0.0.1:2181",
        "cluster:     1.moray",
        "generation:  1 (0/734940)",
        "mode:        normal",
        "freeze:      not frozen",
        "",
        "ROLE     PEERNAME                             IP              ",
        f"primary  {A} 127.0.0.4       ",
        f"sync     {B} 127.0.0.3       ",
        f"deposed  {C} 127.0.0.2       ",
        "",
        "ROLE     PEER     PG   REPL  SENT          FLUSH         REPLAY        LAG   ",
        "primary  3dfc6cde ok   sync  0/7E53A8      0/7E53A8      0/7E5000      -     ",
        "sync     0ba589be ok   -     -             -             -             1m32s ",
        "deposed  8f8ff00e ok   -     -             -             -             -     ",
        "",
        "warning: cluster has a deposed peer",
        "warning: cluster has no async peers",
    ]


def test_show_frozen_singleton() -> None:
    body = {"primary": _peer(A, "127.0.0.2")}
    state = {"generation": 0, "initWal": "0/0000000", "oneNodeWriteMode": True,
             "freeze": {"date": "2026-12-06T18:56:37.287Z", "reason": "one node"}}
    lines = show_lines("zk", "s", state, body, verbose=False)
    assert lines[3:6] == ["mode:        singleton (one-node-write)",
                          "freeze:      frozen since 2026-12-06T18:56:37.287Z",
                          "freeze info: one node"]
    assert not any(line.startswith(("error", "warning")) for line in lines)


def test_the_standby_is_named_by_application_name_then_client_addr() -> None:
    healthy = {"primary": _peer(A, "10.0.0.1", _row("10.0.0.2", "sync")),
               "sync": _peer(B, "10.0.0.2", _row("10.0.0.3", "async")),
               "async": _peer(D, "10.0.0.3", lag={"minutes": 0, "seconds": 0})}
    assert issues(healthy, singleton=False) == ([], [])
    # the primary streams to the async: its application_name says so, whatever the address
    wrong = {**healthy, "primary": _peer(A, "10.0.0.1", _row("10.0.0.3", "sync",
                                                              client="10.0.0.2"))}
    errors, _ = issues(wrong, singleton=False)
    assert errors == ['peer "3dfc6cde": expected downstream peer to be "10.0.0.2", '
                      'but found "10.0.0.3"']
    # a name that is no peer's pgUrl: the address decides, as upstream's check does
    unnamed = {**_row("10.0.0.2", "sync", client="10.0.0.2"), "application_name": "walreceiver"}
    assert issues({**healthy, "primary": _peer(A, "10.0.0.1", unnamed)},
                  singleton=False) == ([], [])


@pytest.mark.parametrize(("primary", "sync", "expected"), [
    (_peer(A, "10.0.0.1"), _peer(B, "10.0.0.2"),
     ['peer "3dfc6cde": downstream replication peer not connected']),
    (_peer(A, "10.0.0.1", _row("10.0.0.2", "sync", state="catchup")), _peer(B, "10.0.0.2"),
     ['peer "3dfc6cde": downstream replication not yet established (expected state '
      '"streaming", found "catchup")']),
    (_peer(A, "10.0.0.1", _row("10.0.0.2", "async")), _peer(B, "10.0.0.2"),
     ['peer "3dfc6cde": expected downstream replication to be "sync", but found "async"']),
    (_peer(A, "10.0.0.1", online=False), _peer(B, "10.0.0.2", online=False),
     ['cannot query postgres on primary: peer "3dfc6cde": connect ECONNREFUSED',
      'cannot query postgres on sync: peer "0ba589be": connect ECONNREFUSED']),
])
def test_errors_about_the_sync(primary: dict[str, Any], sync: dict[str, Any],
                               expected: list[str]) -> None:
    errors, warnings = issues({"primary": primary, "sync": sync}, singleton=False)
    assert errors == expected
    assert warnings == ["cluster has no async peers"]


def test_an_async_not_replicating_is_a_warning_and_singleton_counts_peers() -> None:
    body = {"primary": _peer(A, "10.0.0.1", _row("10.0.0.2", "sync")),
            "sync": _peer(B, "10.0.0.2"), "async": _peer(D, "10.0.0.3")}
    assert issues(body, singleton=False) == (
        [], ['peer "0ba589be": downstream replication peer not connected'])
    assert issues(body, singleton=True) == ([], ["found 3 peers in singleton mode"])


@pytest.mark.parametrize(("lag", "shown"), [
    (None, "-"), ({}, "0m00s"), ({"minutes": 0, "seconds": 7}, "0m07s"),
    ({"hours": 1, "minutes": 27, "seconds": 12}, "87m12s"), ({"days": 1}, "1440m00s"),
    ({"months": 1}, "?"),
])
def test_lag_durations(lag: dict[str, int] | None, shown: str) -> None:
    assert duration(lag) == shown
