"""Bunyan records: parsing, structured matching, and bunyan-style pretty printing (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.remote.bunyan import (
    RecordMatch,
    format_record,
    level_number,
    parse_inspected,
    parse_line,
)
from migrator.sandbox.bunyan import inspect

pytestmark = pytest.mark.unit


def _line(msg: str, level: int = 30, **fields: Any) -> str:
    return json.dumps({"name": "manatee-sitter", "hostname": "d0c715ab-1d55-43cd-88f2-"
                       "f6bfe3960683", "pid": 99642, "component": "cluster", "level": level,
                       "msg": msg, "time": "2014-12-02T18:27:15.984Z", "v": 0, **fields})


UPSTREAM = {"zoneId": "f29499ea-b50c-431e-9975-e4bf760fb5e1", "ip": "10.77.77.47",
            "pgUrl": "tcp://postgres@10.77.77.47:5432/postgres",
            "backupUrl": "http://10.77.77.47:12345", "id": "10.77.77.47:5432:12345"}


def test_pretty_print_matches_the_runbook() -> None:
    record = parse_line(_line("assuming role", role="unassigned"))
    assert format_record(record) == (
        "[2014-12-02T18:27:15.984Z]  INFO: manatee-sitter/cluster/99642 on "
        "d0c715ab-1d55-43cd-88f2-f6bfe3960683: assuming role (role=unassigned)"
    )


def test_pretty_print_multiline_msg_goes_to_details() -> None:
    record = parse_line(_line("pg: applied config { role: 'sync',\n  upstream: null }",
                              nretries=0))
    assert format_record(record).splitlines() == [
        "[2014-12-02T18:27:15.984Z]  INFO: manatee-sitter/cluster/99642 on "
        "d0c715ab-1d55-43cd-88f2-f6bfe3960683: (nretries=0)",
        "    pg: applied config { role: 'sync',",
        "      upstream: null }",
    ]


def test_pretty_print_error_stack_and_src() -> None:
    record = parse_line(_line(
        "backing off", level=40, src={"file": "manatee-peer.js", "line": 576,
                                     "func": "ManateePeer.startTakeover"},
        err={"name": "ClusterFrozenError", "message": "cluster is frozen",
             "stack": "ClusterFrozenError: cluster is frozen\n    at x"}))
    text = format_record(record)
    assert " WARN: manatee-sitter/cluster/99642 on " in text
    assert "(manatee-peer.js:576 in ManateePeer.startTakeover): backing off" in text
    assert "    ClusterFrozenError: cluster is frozen\n        at x" in text


def test_raw_lines_fall_back() -> None:
    record = parse_line("plain text line, not json\n")
    assert not record.is_bunyan and format_record(record) == "plain text line, not json"
    assert RecordMatch(contains="not json").matches(record)
    assert not RecordMatch(msg="plain text line, not json").matches(record)
    assert not parse_line("{broken json").is_bunyan


def test_structured_match_on_msg_and_fields() -> None:
    record = parse_line(_line("assuming role", role="async", which=0))
    assert RecordMatch(msg="assuming role", fields={"role": "async"}).matches(record)
    assert RecordMatch(fields={"which": "0"}).matches(record)  # YAML string vs number
    assert RecordMatch(fields={"which": 0}).matches(record)
    assert not RecordMatch(fields={"which": False}).matches(record)
    assert not RecordMatch(msg="assuming role", fields={"role": "sync"}).matches(record)
    assert not RecordMatch(msg="assuming").matches(record)
    assert RecordMatch(msg_prefix="assuming").matches(record)


def test_match_inside_an_inspected_msg() -> None:
    config = {"role": "sync", "upstream": UPSTREAM, "downstream": None}
    record = parse_line(_line("pg: applied config " + inspect(config), nretries=0))
    assert RecordMatch(msg="pg: applied config", fields={"role": "sync"}).matches(record)
    # a peer object matches its zone id, ip or id
    assert RecordMatch(fields={"upstream": UPSTREAM["zoneId"]}).matches(record)
    assert RecordMatch(fields={"upstream.ip": "10.77.77.47"}).matches(record)
    assert not RecordMatch(fields={"upstream": "4afba482-7670-4cfe-b11f-9df7f558106a"}
                           ).matches(record)
    assert RecordMatch(fields={"downstream": None}).matches(record)


def test_match_nested_error_name_and_level() -> None:
    record = parse_line(_line("backing off", level=40, err={"name": "ClusterFrozenError"}))
    assert RecordMatch(fields={"err.name": "ClusterFrozenError"},
                       min_level=level_number("warn")).matches(record)
    assert not RecordMatch(fields={"err.name": "ClusterFrozenError"},
                           min_level=level_number("error")).matches(record)


def test_runbook_multiline_inspect_parses() -> None:
    text = """{ role: 'sync',
      upstream:
       { zoneId: 'f29499ea-b50c-431e-9975-e4bf760fb5e1',
         ip: '10.77.77.47',
         pgUrl: 'tcp://postgres@10.77.77.47:5432/postgres',
         backupUrl: 'http://10.77.77.47:12345',
         id: '10.77.77.47:5432:12345' },
      downstream: null }"""
    assert parse_inspected(text) == {"role": "sync", "upstream": UPSTREAM, "downstream": None}
    assert parse_inspected("{ role: 'sync' } trailing") is None
    assert parse_inspected("{ [Circular *1] }") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), children,
                      max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
                       json_values, max_size=5))
def test_inspect_round_trips(value: dict[str, Any]) -> None:
    assert parse_inspected(inspect(value)) == value


@given(st.text(max_size=200))
def test_parse_line_never_raises(text: str) -> None:
    record = parse_line(text)
    assert record.raw == text.rstrip("\r\n")
    format_record(record)

