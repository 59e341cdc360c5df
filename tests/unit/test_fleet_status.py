"""`migrator fleet status` rows and `migrator fleet report` totals, from journal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.commands.progress import progress_of
from migrator.errors import BadInput, MigratorError, Refused
from migrator.fleet.model import Fleet, FleetShard
from migrator.fleet.report import (
    ShardReport,
    fleet_document,
    fleet_summary,
    migrated,
    render_fleet_markdown,
)
from migrator.fleet.status_reads import assemble
from migrator.fleet.status_rows import (
    HEADERS,
    TABLE_WIDTH,
    WIDTHS,
    Outages,
    ShardRow,
    counts,
    elapsed_text,
    error_row,
    fit,
    notes,
    run_outages,
    run_state,
    shard_row,
    skipped_row,
    table_cells,
)
from migrator.fleet.status_sessions import Member, combined_error, group_members, route_key

pytestmark = pytest.mark.unit

SHARD = "1.moray.us-east.joyent.us"
NOW = datetime(2026, 12, 6, 10, 5, 0, tzinfo=UTC)


def step(status: str, started: str | None = None, finished: str | None = None,
         ) -> dict[str, Any]:
    return {"status": status, "started": started, "finished": finished}


def journal(status: str, steps: dict[str, Any], log: list[dict[str, Any]] | None = None,
            kind: str = "migration") -> dict[str, Any]:
    return {"shard": SHARD, "runs": [{
        "kind": kind, "playbook": "three-node", "playbookDigest": "x",
        "started": "2026-12-06T10:00:00.000Z", "operator": "alice@bastion",
        "status": status, "steps": steps,
        "log": [{"event": "summary", "steps": ["backfill", "freeze", "reprovision"]},
                *(log or [])]}]}


def row_of(doc: dict[str, Any] | None, holders: list[str] | None = None,
           mode: str = "legacy") -> ShardRow:
    progress = None if doc is None else progress_of(doc, None)
    return shard_row(SHARD, mode, doc, progress, holders or [], NOW)


def test_a_shard_without_a_journal_has_no_run() -> None:
    row = row_of(None)
    assert (row.state, row.mode, row.step_text(), row.elapsed) == ("no run", "v1", "-", None)
    assert table_cells(row) == [SHARD, "v1", "no run", "-", "-", "-", "-"]


def test_a_running_run_names_its_step_the_lock_holder_and_time_so_far() -> None:
    doc = journal("running", {
        "backfill": step("done", "2026-12-06T10:00:01.000Z", "2026-12-06T10:00:02.000Z"),
        "freeze": step("acting", "2026-12-06T10:00:03.000Z")})
    row = row_of(doc, ["bob@bastion pid 7"], mode="backfilled-frozen")
    assert row.state == "running" and row.mode == "mixed"
    assert row.step_text() == "2/3 freeze (acting)"
    assert row.elapsed == 300.0  # from the run's start to now
    assert table_cells(row)[3] == "bob@bastion pid 7"
    assert table_cells(row)[5] == "5m00s"


def test_a_run_nobody_holds_is_stopped_and_its_time_ends_at_its_last_activity() -> None:
    for status in ("running", "interrupted"):
        doc = journal(status, {
            "backfill": step("done", "2026-12-06T10:00:01.000Z", "2026-12-06T10:00:42.500Z"),
            "freeze": step("interrupted", "2026-12-06T10:00:43.000Z")})
        row = row_of(doc)
        assert row.state == "stopped" and row.elapsed == 43.0
        assert row.last_activity == "2026-12-06T10:00:43.000Z"


def test_done_and_failed_runs() -> None:
    done = journal("done", {sid: step("done", "2026-12-06T10:00:01.000Z",
                                      "2026-12-06T11:02:00.000Z")
                            for sid in ("backfill", "freeze", "reprovision")})
    row = row_of(done, mode="migrated")
    assert (row.state, row.mode, row.step_text()) == ("done", "v2", "3/3 all done")
    assert table_cells(row)[5] == "1h02m"
    failed = journal("failed", {"backfill": step("failed", "2026-12-06T10:00:01.000Z")})
    assert row_of(failed).state == "failed"
    assert row_of(failed).step_text() == "1/3 backfill (failed)"


def test_a_rollback_says_so_in_its_step() -> None:
    doc = journal("running", {"delete-state": step("started")}, kind="rollback")
    assert row_of(doc, ["a@b pid 1"]).step_text().startswith("rollback 1/")


def test_the_lock_held_before_the_journal_says_running_is_running() -> None:
    assert row_of(None, ["carol@ws pid 9"]).state == "running"
    assert run_state("done", ["carol@ws pid 9"]) == "running"
    assert run_state(None, []) == "no run"


def test_outages_observed_are_preferred_to_the_clock() -> None:
    log = [{"event": "outage-started", "step": "reprovision"},
           {"event": "outage-ended", "step": "reprovision", "seconds": 12.0},
           {"event": "outage-observed", "seconds": 3.25},
           {"event": "outage-observed", "seconds": 1.5},
           {"event": "outage-observed", "seconds": None}]
    assert run_outages(log) == Outages(2, 4.75, 1, "observed")
    assert Outages(2, 4.75, 1, "observed").cell() == "2, 4.8s +1"


def test_outages_from_the_clock_while_the_run_goes_on() -> None:
    log = [{"event": "outage-started", "step": "a"},
           {"event": "outage-ended", "step": "a", "seconds": 12.0},
           {"event": "outage-started", "step": "b"}]
    found = run_outages(log)
    assert found == Outages(1, 12.0, 1, "clock") and found.cell() == "~1, 12.0s +1"
    assert run_outages([]).cell() == "-"
    assert run_outages([{"event": "outage-observed", "seconds": True}]).open == 1


def test_skipped_and_unreadable_shards_say_why() -> None:
    skipped = skipped_row("2.moray.us-east.joyent.us", "already at v2")
    assert table_cells(skipped)[2:5] == ["skipped", "-", "already at v2"]
    long = "Cannot read the inventory /a/very/long/path/to/3.moray.us-east.joyent.us.yaml: " \
        "No such file or directory. Check the path given to --inventory."
    error = error_row("3.moray.us-east.joyent.us", long)
    cells = table_cells(error)
    assert cells[2] == "error" and cells[4].endswith("…") and len(cells[4]) == WIDTHS[4]
    assert notes([skipped, error]) == [f"3.moray.us-east.joyent.us: {long}"]
    assert counts([skipped, error, row_of(None)]) == {
        "no run": 1, "running": 0, "stopped": 0, "failed": 0, "done": 0, "skipped": 1,
        "error": 1}


def test_a_journal_that_cannot_be_read_is_noted_beside_the_mode() -> None:
    row = shard_row(SHARD, "legacy", None, None, [], NOW, "/x is not a journal (bad)")
    assert row.state == "no run" and table_cells(row)[4].startswith("journal unreadable")
    assert notes([row]) == [f"{SHARD}: journal unreadable: /x is not a journal (bad)"]


@given(shard=st.text(min_size=1, max_size=80), note=st.text(max_size=300),
       holder=st.text(min_size=1, max_size=90), seconds=st.floats(0, 10**7))
def test_every_row_fits_the_table_width(shard: str, note: str, holder: str,
                                        seconds: float) -> None:
    row = ShardRow(shard, "running", "mixed", index=9, total=12, step=note,
                   step_status="verifying", elapsed=seconds, outages=Outages(99, 1e6, 3,
                                                                             "observed"),
                   holders=(holder,))
    cells = table_cells(row)
    assert all(len(c) <= w for c, w in zip(cells, WIDTHS, strict=True))
    widths = [max(len(h), w) for h, w in zip(HEADERS, WIDTHS, strict=True)]
    assert sum(widths) + 2 * (len(widths) - 1) <= TABLE_WIDTH


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["runs", "steps", "log", "status", "started", "finished", "kind",
                         "event", "seconds", "operator", "playbook"]), inner, max_size=5),
    max_leaves=25)


@given(st.dictionaries(st.sampled_from(["runs", "shard"]), JSON, max_size=2),
       st.lists(st.text(min_size=1, max_size=20), max_size=2))
def test_any_journal_document_gives_a_row(journal_doc: dict[str, Any],
                                          holders: list[str]) -> None:
    row = shard_row(SHARD, "legacy", journal_doc, None, holders, NOW)
    assert row.state in ("no run", "running", "stopped", "failed", "done")
    assert len(table_cells(row)) == len(HEADERS)
    json.dumps(row.to_json())


@given(st.text(max_size=60), st.integers(1, 40))
def test_fit_keeps_short_text_and_marks_a_cut(text: str, width: int) -> None:
    cut = fit(text, width)
    assert len(cut) <= width
    assert cut == text if len(text) <= width else cut.endswith("…")


def test_elapsed_words() -> None:
    assert [elapsed_text(s) for s in (None, 0, 59.9, 60, 3599, 3600, 90061)] == [
        "-", "0s", "59s", "1m00s", "59m59s", "1h00m", "25h01m"]


# ---- the report -----------------------------------------------------------------------


def doc(shard: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"shard": shard, "source": "ZooKeeper x", "created": "c", "createdBy": "alice",
            "original": {"peers": []}, "snapshotTaken": None, "runs": runs}


def run(kind: str, status: str, started: str, last: str | None,
        outages: list[float | None]) -> dict[str, Any]:
    return {"kind": kind, "playbook": "three-node", "playbookDigest": "d", "started": started,
            "lastActivity": last, "operator": "alice", "status": status, "steps": [],
            "confirmations": [], "writes": [], "alarms": [], "warnings": [],
            "outages": [{"step": None, "start": "s", "end": "e", "seconds": s,
                         "source": "client", "cause": "x", "inferred": False}
                        for s in outages],
            "outageClock": []}


REPORTS = [
    ShardReport("1.a", doc("1.a", [run("migration", "failed", "2026-01-02T00:00:00.000Z",
                                       "2026-01-02T00:10:00.000Z", [1.0]),
                                   run("migration", "done", "2026-01-02T01:00:00.000Z",
                                       "2026-01-02T01:30:00.000Z", [2.5, None])])),
    ShardReport("2.a", doc("2.a", [run("migration", "done", "2026-01-01T23:00:00.000Z",
                                       "2026-01-01T23:20:00.000Z", [0.25]),
                                   run("rollback", "done", "2026-01-02T02:00:00.000Z",
                                       "2026-01-02T02:05:00.000Z", [])])),
    ShardReport("3.a"),
    ShardReport("4.a", skip="already at v2"),
    ShardReport("5.a", error="Cannot read the inventory x.yaml."),
]


def test_the_fleet_summary_totals() -> None:
    assert [r.result for r in REPORTS] == ["migrated", "not migrated", "not migrated",
                                           "skipped", "unreadable"]
    assert fleet_summary(REPORTS) == {
        "shards": 5, "migrated": 1, "notMigrated": 2, "skipped": 1, "unreadable": 1,
        "outageSeconds": 3.75, "outageWindows": 4, "openOutages": 1,
        "firstStart": "2026-01-01T23:00:00.000Z", "lastEnd": "2026-01-02T02:05:00.000Z"}
    empty = fleet_summary([ShardReport("1.a")])
    assert (empty["firstStart"], empty["lastEnd"], empty["outageSeconds"]) == (None, None, 0)
    assert not migrated(None) and not migrated(doc("x", []))


def test_the_fleet_markdown_has_the_summary_a_row_per_shard_and_each_shard_report() -> None:
    fleet = Fleet("us-east-1", Path("/f/fleet.yaml"), tuple(
        FleetShard(shard=r.shard, skip=r.skip, inventory=None if r.skip else Path("i.yaml"))
        for r in REPORTS))
    document = fleet_document(fleet, REPORTS)
    text = render_fleet_markdown(document)
    assert text.startswith("# Fleet migration report: fleet us-east-1\n")
    assert "- Shards: 5: 1 migrated, 2 not migrated, 1 skipped, 1 unreadable" in text
    assert "- Write outages observed: 3.8 s in 4 window(s) (1 still open)" in text
    assert "| 3.a | not migrated: no journal | - | - | - | - |" in text
    assert "| 4.a | skipped: already at v2 | - |" in text
    assert "| 1.a | migrated | 2 | 3.5 |" in text
    assert text.count("# Manatee migration report: shard ") == 2
    assert [s["outageSeconds"] for s in document["shards"]] == [3.5, 0.25, None, None, None]


# ---- sessions and errors --------------------------------------------------------------


class Inv:
    def __init__(self, zookeeper: str, via: str = "direct") -> None:
        self.zookeeper = zookeeper
        self.zookeeper_via = via
        self.headnode = None


def test_shards_of_one_ensemble_share_a_session() -> None:
    members = [Member(FleetShard(shard=f"{i}.a", inventory=Path("x")), Inv(zk))
               for i, zk in enumerate(["10.0.0.1:2181", "10.0.0.2:2181", "10.0.0.1:2181"])]
    members.append(Member(FleetShard(shard="9.a", skip="no")))
    members.append(Member(FleetShard(shard="8.a", inventory=Path("y")),
                          error=BadInput("bad")))
    members.append(Member(FleetShard(shard="7.a", inventory=Path("z")),
                          Inv("10.0.0.1:2181", "headnode")))
    groups = [[m.shard for m in g] for g in group_members(members)]
    assert groups == [["0.a", "2.a"], ["1.a"], ["7.a"]]
    assert route_key(Inv("z:1")) != route_key(Inv("z:1", "headnode"))


def test_the_fleet_error_takes_the_gravest_exit_status() -> None:
    assert combined_error([("a", BadInput("x")), ("b", BadInput("y"))]).exit_status == 2
    both = combined_error([("a", BadInput("x")), ("b", Refused("y"))])
    assert both.exit_status == 3 and "2 shard(s)" in both.message and "a, b" in both.message
    assert combined_error([("a", MigratorError("x"))]).exit_status == 1


def test_rows_come_in_the_fleet_file_s_order_with_each_shard_s_error() -> None:
    members = [Member(FleetShard(shard="1.a", inventory=Path("x")), Inv("z:1")),
               Member(FleetShard(shard="2.a", skip="already at v2")),
               Member(FleetShard(shard="3.a", inventory=Path("y")), error=BadInput("no file")),
               Member(FleetShard(shard="4.a", inventory=Path("w")), Inv("z:1"))]
    unreachable = BadInput("ZooKeeper z:1 did not answer.")
    read = shard_row("1.a", "legacy", None, None, [], NOW)
    rows, errors = assemble(members, {"1.a": read, "4.a": unreachable})
    assert [(r.shard, r.state) for r in rows] == [
        ("1.a", "no run"), ("2.a", "skipped"), ("3.a", "error"), ("4.a", "error")]
    assert rows[3].note == "ZooKeeper z:1 did not answer."
    assert [(shard, exc.message) for shard, exc in errors] == [
        ("3.a", "no file"), ("4.a", "ZooKeeper z:1 did not answer.")]
