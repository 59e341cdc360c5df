"""Issue 22 §3: log evidence is judged on the current sitter's records only.

A reprovision restarts the sitter (a new pid) and either starts a fresh log or
appends to the old one. A DEBUG record the v1 sitter left must not make the
level "debug" for the v2 sitter, nor may a record of the replaced sitter match.
Pure: records in, verdicts out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.remote.bunyan import LogRecord, RecordMatch, parse_line
from migrator.remote.loglevels import (
    SitterEvidence,
    current_sitter,
    judge_end,
    records_of,
)
from migrator.remote.logs import LogEnd, LogMark

pytestmark = pytest.mark.unit

V1, V2 = 4101, 5202  # the pids of the sitter before and after the reprovision


def rec(pid: int | None, level: int, msg: str, **fields: Any) -> LogRecord:
    doc: dict[str, Any] = {"name": "manatee-sitter", "hostname": "z", "level": level,
                           "msg": msg, "time": "2026-01-01T00:00:00.000Z", "v": 0, **fields}
    if pid is not None:
        doc["pid"] = pid
    return parse_line(json.dumps(doc))


def line(record: LogRecord) -> bytes:
    return record.raw.encode() + b"\n"


# what the sitters of a reprovisioned zone write, v1 at debug and v2 at info
V1_AT_DEBUG = [rec(V1, 30, "manatee-sitter starting"),
               rec(V1, 20, "zookeeper session established"),
               rec(V1, 30, "joined election")]
V2_AT_INFO = [rec(V2, 30, "manatee-sitter starting"),
              rec(V2, 30, "assuming role", role="unassigned"),
              rec(V2, 30, "pg: applied config { role: 'none', upstream: null }", nretries=0)]
V2_AT_DEBUG = [rec(V2, 30, "manatee-sitter starting"),
               rec(V2, 20, "zookeeper session established"),
               rec(V2, 20, "cluster not yet setup"),
               rec(V2, 30, "assuming role", role="unassigned")]

SETUP = RecordMatch(msg="cluster not yet setup")
UNASSIGNED = RecordMatch(msg="assuming role", fields={"role": "unassigned"})


def test_the_current_sitter_is_the_newest_records_pid_and_only_its_level_counts() -> None:
    run = current_sitter([*V1_AT_DEBUG, *V2_AT_INFO])
    assert run.pid == V2 and run.start == len(V1_AT_DEBUG)
    assert run.debug is False  # v1's DEBUG record says nothing about the v2 sitter
    assert current_sitter([*V1_AT_DEBUG, *V2_AT_DEBUG]).debug is True
    assert current_sitter(V1_AT_DEBUG).debug is True
    assert current_sitter([]).pid is None and current_sitter([]).debug is None
    # lines that are not bunyan belong to no sitter and judge nothing
    raw = parse_line("[ Jan  1 00:00:00 Executing start method (\"node sitter.js\"). ]")
    assert current_sitter([*V2_AT_INFO, raw]).pid == V2
    assert current_sitter([raw]).debug is None
    # records without a pid (a log that never names one) form one run
    assert current_sitter([rec(None, 20, "a"), rec(None, 30, "b")]).debug is True


@pytest.mark.parametrize("layout", ["appended", "fresh"])
def test_a_sampled_end_judges_the_current_sitter_in_both_layouts(layout: str) -> None:
    """`inventory check` and `plan` judge the end of the log: in an appended log it
    holds the v1 sitter's DEBUG records too, in a fresh one only the v2 sitter's."""
    written = [*V1_AT_DEBUG, *V2_AT_INFO] if layout == "appended" else V2_AT_INFO
    data = b"".join(line(r) for r in written)
    end = LogEnd(LogMark("z", "/log", len(data), "1", "2"), data, cut=False)
    assert judge_end(end) is False
    data = b"".join(line(r) for r in [*V1_AT_DEBUG, *V2_AT_DEBUG])
    assert judge_end(LogEnd(LogMark("z", "/log", len(data), "1", "2"), data, cut=False))
    # cut from inside the file: the first (partial) line is dropped, then judged alike
    assert current_sitter(records_of(b"x" + data)).pid == V2


def _first_accepted(evidence: SitterEvidence, before: list[LogRecord],
                    since: list[LogRecord], later: list[LogRecord]) -> LogRecord | None:
    """What `find_sitter_record` does with records: prime, look, then follow."""
    for record in evidence.prime(before, since):
        if evidence.accepts(record):
            return record
    for record in later:
        if evidence.matches(record):
            return record
    return None


@pytest.mark.parametrize("layout", ["appended", "fresh"])
def test_a_debug_record_of_the_v1_sitter_does_not_make_the_v2_sitter_debug(
    layout: str
) -> None:
    """The issue's case: v1 at debug, v2 at info after the reprovision. In an appended
    log the v1 records are before the mark and since it (it ran into the step); in a
    fresh log the v2 sitter's file holds only its own records."""
    before = V1_AT_DEBUG if layout == "appended" else []
    since = [rec(V1, 20, "zookeeper session established")] if layout == "appended" else []
    evidence = SitterEvidence.for_spec(SETUP)
    found = _first_accepted(evidence, before, [*since, *V2_AT_INFO[:1]], V2_AT_INFO[1:])
    assert found is not None and found.msg == "assuming role"
    assert evidence.used_fallback and evidence.sitter.pid == V2
    assert evidence.fallback == RecordMatch(msg="assuming role", fields={"role": "unassigned"})


@pytest.mark.parametrize("layout", ["appended", "fresh"])
def test_a_v2_sitter_at_debug_is_waited_for_with_its_debug_record(layout: str) -> None:
    before = V1_AT_DEBUG if layout == "appended" else []
    evidence = SitterEvidence.for_spec(SETUP)
    found = _first_accepted(evidence, before, V2_AT_DEBUG[:2], V2_AT_DEBUG[2:])
    assert found is not None and found.msg == "cluster not yet setup"
    assert not evidence.used_fallback


def test_the_level_is_judged_again_when_a_new_sitter_starts_during_the_wait() -> None:
    """The wait begins before the v2 sitter has written anything: the v1 sitter (at
    debug) is current until the first v2 record, which starts the judging afresh."""
    evidence = SitterEvidence.for_spec(SETUP)
    assert evidence.prime(V1_AT_DEBUG, V1_AT_DEBUG[1:2]) == V1_AT_DEBUG[1:2]
    assert evidence.sitter.debug is True
    found = _first_accepted(evidence, [], [], V2_AT_INFO)
    assert found is not None and evidence.used_fallback and evidence.sitter.pid == V2


def test_records_of_a_replaced_sitter_never_match() -> None:
    """A record the v1 sitter wrote after the step's mark matches the check's spec, but
    the v2 sitter has written since: only its records are looked at."""
    evidence = SitterEvidence.for_spec(UNASSIGNED)
    old = rec(V1, 30, "assuming role", role="unassigned")
    candidates = evidence.prime([], [old, *V2_AT_INFO[:1]])
    assert candidates == V2_AT_INFO[:1]
    assert _first_accepted(SitterEvidence.for_spec(UNASSIGNED), [], [old, V2_AT_INFO[0]],
                           []) is None
    # the same record from the current sitter matches
    assert _first_accepted(SitterEvidence.for_spec(UNASSIGNED), [], [old],
                           []) is old


def test_records_before_the_mark_count_only_for_a_sitter_still_writing() -> None:
    """A sitter that was running when the step began keeps its level: its DEBUG records
    before the mark say it writes them, so the DEBUG record itself is waited for."""
    evidence = SitterEvidence.for_spec(RecordMatch(msg="pg.reconfigure"))
    applied = rec(V2, 30, "pg: applied config { role: 'sync' }", nretries=0)
    assert evidence.prime(V2_AT_DEBUG, [applied]) == [applied]
    assert not evidence.accepts(applied) and evidence.sitter.debug is True
    # the same records before the mark, but a restarted sitter at info since
    restarted = SitterEvidence.for_spec(RecordMatch(msg="pg.reconfigure"))
    info = [rec(V2 + 1, 30, "manatee-sitter starting"),
            rec(V2 + 1, 30, "pg: applied config { role: 'sync' }", nretries=0)]
    found = _first_accepted(restarted, V2_AT_DEBUG, info, [])
    assert found is info[1] and restarted.used_fallback


def test_a_debug_record_without_a_fallback_is_hopeless_only_at_info() -> None:
    gone = RecordMatch(msg="preparing for new generation (primary gone)")
    at_info = SitterEvidence.for_spec(gone)
    at_info.prime(V1_AT_DEBUG, V2_AT_INFO)
    assert at_info.hopeless and at_info.fallback is None
    at_debug = SitterEvidence.for_spec(gone)
    at_debug.prime(V2_AT_INFO, V2_AT_DEBUG)  # v2 at debug after v2 at info: judged afresh
    assert not at_debug.hopeless
    unknown = SitterEvidence.for_spec(gone)
    unknown.prime([], [])
    assert not unknown.hopeless  # nothing to judge by: the wait goes on
    assert not SitterEvidence.for_spec(UNASSIGNED).debug_only


def test_a_raw_line_still_matches_a_contains_only_check() -> None:
    evidence = SitterEvidence.for_spec(RecordMatch(contains="Executing start method"))
    raw = parse_line("[ Jan  1 00:00:00 Executing start method (\"node sitter.js\"). ]")
    assert _first_accepted(evidence, [], [*V2_AT_INFO, raw], []) is raw
