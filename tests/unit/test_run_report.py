"""The outage judge (ZooKeeper views), the outage clock, heartbeats and the step table."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migrator.cluster.writability import KIND_TAKEOVER, Outage
from migrator.engine import events as ev
from migrator.engine.journal import RunRecord, StepRecord
from migrator.engine.outagewatch import (
    Judge,
    StatusSample,
    View,
    sample_of,
    view_of,
    writable,
)
from migrator.engine.runreport import OutageClock, step_times, table_lines

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)
A, B, C = "10.0.0.1:5432:12345", "10.0.0.2:5432:12345", "10.0.0.3:5432:12345"


def _state(primary: str, sync: str | None, one_node: bool = False) -> bytes:
    doc: dict[str, Any] = {"primary": {"id": primary},
                           "sync": None if sync is None else {"id": sync}}
    if one_node:
        doc["oneNodeWriteMode"] = True
    import json

    return json.dumps(doc).encode()


def test_view_orders_the_election_by_sequence_and_reads_state_roles() -> None:
    view = view_of([f"{B}-0000000007", f"{A}-0000000003", "junk"], _state(A, B))
    assert view.election == (A, B)
    assert (view.has_state, view.primary, view.sync) == (True, A, B)
    assert writable(view)
    assert not writable(view_of([f"{A}-0000000003"], _state(A, B)))  # sync gone
    assert writable(view_of([f"{A}-0000000003"], _state(A, None, one_node=True)))
    assert not writable(view_of([f"{A}-1"], b"not json"))


def test_judge_opens_at_the_loss_and_closes_at_a_writable_primary_with_a_sync() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, C, B), True, A, C), T0)
    judge.see(View((C, B), True, A, C), T0 + timedelta(seconds=1))  # primary left
    judge.see(View((C, B), True, C, B), T0 + timedelta(seconds=4))  # takeover
    (window,) = judge.finish(T0 + timedelta(seconds=9))
    assert window.seconds == 3.0 and "primary" in window.cause and not window.inferred
    assert window.start == "2026-11-26T05:00:01.000Z"


def test_judge_infers_a_v1_sync_departure_from_its_session_expiry() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C)), T0)
    judge.see(View((A, C)), T0 + timedelta(seconds=5))
    (window,) = judge.finish(T0 + timedelta(seconds=6))
    assert window.inferred and window.seconds == 2.0
    assert window.start == "2026-11-26T05:00:03.000Z"
    assert window.end == "2026-11-26T05:00:05.000Z"


def test_an_outage_still_open_at_the_end_is_reported_open() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B), True, A, B), T0)
    judge.see(View((B,), True, A, B), T0 + timedelta(seconds=1))
    (window,) = judge.finish(T0 + timedelta(seconds=2))
    assert window.end is None and window.seconds is None and "still open" in window.cause


class _Console:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sink = ev.EventSink(enabled=False)
        self.ticked = threading.Event()

    def say(self, text: str, style: str | None = None) -> None:
        self.lines.append(text)
        if " running for " in text:  # the clock's tick
            self.ticked.set()

    def essential(self, text: str, style: str | None = None) -> None:
        self.say(text, style)


def test_outage_clock_follows_the_step_statuses() -> None:
    console = _Console()
    outage = Outage(KIND_TAKEOVER, "the primary leaves", 2.0)
    clock = OutageClock(console, lambda: {"reprovision-primary": outage, "backfill": None},
                        every=0.02)
    clock("backfill", StepRecord(status="acting"))  # no outage expected: no clock
    assert console.lines == []
    clock("reprovision-primary", StepRecord(status="acting"))
    assert console.ticked.wait(5)
    clock("reprovision-primary", StepRecord(status="verifying"))  # still under way
    clock("reprovision-primary", StepRecord(status="done"))
    kinds = [e["event"] for e in console.sink.emitted]
    assert kinds == ["outage-started", "outage-ended"]
    assert console.sink.emitted[0]["cause"] == "the primary leaves"
    assert console.sink.emitted[1]["status"] == "done"
    assert "reprovision-primary" in clock.lasted
    assert any("write outage expected from now" in line for line in console.lines)


def test_the_clock_says_how_long_writes_failed_beside_the_steps_length() -> None:
    """The live clock and its end line give the outage the best observer saw, naming it,
    apart from the step's own length (a 25 s reprovision the client saw fail 1.5 s)."""
    from migrator.engine.runreport import Observed

    console = _Console()
    outage = Outage(KIND_TAKEOVER, "the primary leaves", 2.0)
    asked: list[tuple[str, str]] = []

    def observed(since: str, until: str) -> Observed:
        asked.append((since, until))
        return Observed(1.5, False, "the write client")

    clock = OutageClock(console, lambda: {"reprovision-primary": outage}, every=0.02,
                        observed=observed)
    clock("reprovision-primary", StepRecord(status="acting"))
    assert console.ticked.wait(5)
    clock("reprovision-primary", StepRecord(status="done"))
    ended = console.sink.emitted[-1]
    assert (ended["observedSeconds"], ended["observedSource"]) == (1.5, "the write client")
    assert any("(the step's own length); writes failed for 1.5 s in it (the write client)"
               in line for line in console.lines)
    assert any("writes going through now, 1.5 s failed so far" in line
               for line in console.lines)
    assert asked and all(since <= until for since, until in asked)


def test_failing_within_counts_only_the_span_and_open_windows_to_its_end() -> None:
    from migrator.engine.outagewatch import Window, failing_within

    windows = [Window("2026-11-26T05:00:00.000Z", "2026-11-26T05:00:04.000Z", 4.0, "c"),
               Window("2026-11-26T05:00:08.000Z", None, None, "c")]
    assert failing_within(windows, "2026-11-26T05:00:02.000Z",
                          "2026-11-26T05:00:10.000Z") == (4.0, True)
    assert failing_within(windows[:1], "2026-11-26T05:00:05.000Z",
                          "2026-11-26T05:00:10.000Z") == (0.0, False)


def _heartbeats(sink: ev.EventSink, phase: Any) -> list[dict[str, Any]]:
    """The heartbeats emitted while ``phase`` (a wait or an action) lasts, once at least
    two came; asserts none comes after it ends."""
    with phase:
        deadline = threading.Event()
        for _ in range(200):
            if sum(e["event"] == "heartbeat" for e in sink.emitted) >= 2:
                break
            deadline.wait(0.01)
    beats = [e for e in sink.emitted if e["event"] == "heartbeat"]
    threading.Event().wait(0.1)
    assert sum(e["event"] == "heartbeat" for e in sink.emitted) == len(beats)  # stopped
    return beats


def _console(monkeypatch: pytest.MonkeyPatch, step: str) -> tuple[ev.EventSink, Any]:
    monkeypatch.setattr(ev, "HEARTBEAT_SECONDS", 0.02)
    sink = ev.EventSink(stream=io.StringIO())
    console = ev.EventConsole(sink, assume_yes=True, shard="s", stream=io.StringIO())
    console.step(1, 1, "Step", step)
    return sink, console


def test_heartbeats_during_a_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    sink, console = _console(monkeypatch, "one")
    beats = _heartbeats(sink, console.waiting("something", 5.0))
    assert len(beats) >= 2
    assert beats[0]["what"] == "something" and beats[0]["step"] == "one"


def test_heartbeats_during_an_action_name_it_and_its_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, console = _console(monkeypatch, "reprovision-sync")
    beats = _heartbeats(
        sink, console.acting("reprovision zone-b to 2.1.1: run `sapiadm ...`", "zone-b"))
    assert len(beats) >= 2
    assert beats[0]["what"].startswith("reprovision zone-b") and beats[0]["zone"] == "zone-b"
    assert beats[0]["phase"] == "action" and beats[0]["step"] == "reprovision-sync"
    assert beats[0]["timeout"] is None and beats[-1]["elapsed"] >= beats[0]["elapsed"]


def test_step_times_and_table() -> None:
    run = RunRecord("migration", "three-node", "sha256:x", "2026-11-26T05:00:00.000Z", "op",
                    steps={"a": StepRecord("done", "2026-11-26T05:00:00.000Z",
                                           "2026-11-26T05:00:09.500Z", done_by="verified",
                                           answered_seconds=7.0),
                           "b": StepRecord("acting", "2026-11-26T05:00:03.000Z")})
    times = step_times(run, ["a", "b", "c"])
    assert [t.seconds for t in times] == [2.5, None, None]
    lines = table_lines(times, [], "ZooKeeper")
    assert lines[0].split() == ["STEP", "STATUS", "STARTED", "SECONDS", "ANSWERING"]
    assert lines[1].split()[-2:] == ["2.5", "7.0"]  # the step's own time, the operator's
    assert lines[-1] == "Write outages observed (ZooKeeper): none."
    assert "not observed" in table_lines(times, None, "ZooKeeper")[-1]


def test_emit_current_reaches_only_the_installed_sink() -> None:
    assert ev.emit_current("alarm", kind="x") is False
    stream = io.StringIO()
    with ev.current(ev.EventSink(stream=stream)):
        assert ev.emit_current("alarm", kind="x") is True
    assert '"event": "alarm"' in stream.getvalue()
    assert ev.emit_current("alarm", kind="x") is False


def test_the_audit_copy_is_keyed_by_the_zookeeper_ensemble() -> None:
    from migrator.engine.journal_store import cluster_key

    class Client:
        def __init__(self, hosts: list[tuple[str, int]], chroot: str | None = None) -> None:
            self.hosts, self.chroot = hosts, chroot

    one = cluster_key(Client([("127.0.0.1", 40123)]))
    two = cluster_key(Client([("127.0.0.1", 40999)]))
    assert one == "127.0.0.1:40123" and one != two
    assert cluster_key(Client([("10.0.0.2", 2181), ("10.0.0.1", 2181)], "/sdc")) == (
        "10.0.0.1:2181,10.0.0.2:2181+%2Fsdc")
    assert cluster_key(object()) == "unknown-cluster"


def test_status_reads_the_journal_and_lock_where_the_engine_keeps_them() -> None:
    from migrator.engine.journal_znode import journal_path
    from migrator.engine.lock import lock_path

    # commands.progress reads these paths without importing the engine (start-up time)
    assert journal_path("1.moray.x") == "/manatee-migrator/1.moray.x/journal"
    assert lock_path("1.moray.x") == "/manatee-migrator/1.moray.x/lock"


def test_progress_of_a_journal_document() -> None:
    from migrator.commands.progress import progress_of

    doc = {"runs": [{"kind": "migration", "playbook": "p", "status": "running",
                     "operator": "a@b", "started": "t",
                     "steps": {"one": {"status": "done"}, "two": {"status": "acting"}},
                     "log": [{"event": "summary", "steps": ["one", "two", "three"]}]}]}
    progress = progress_of(doc, None)
    assert progress is not None
    assert (progress.index, progress.total, progress.step, progress.step_status) == (
        2, 3, "two", "acting")
    doc["runs"][0]["steps"] = {k: {"status": "done"} for k in ("one", "two", "three")}
    done = progress_of(doc, None)
    assert done is not None and done.step is None and "all 3 steps done" in done.line()
    assert progress_of({"runs": []}, None) is None


def test_a_rollback_is_counted_by_its_summary_in_playbook_order() -> None:
    """A rollback asks no "proceed?" but logs its summary (``announce``), so `status`
    counts all its steps, in the playbook's order, from its first step on."""
    from types import SimpleNamespace

    from migrator.commands.progress import progress_of
    from migrator.engine.summary import announce

    emitted: list[tuple[str, dict[str, Any]]] = []
    sink = SimpleNamespace(emit=lambda event, **fields: emitted.append((event, fields)))
    step = SimpleNamespace(id="x", status="pending", write=None, outage_detail=None)
    plan = SimpleNamespace(shard="s", playbook="rollback-before-primary", pending=[step],
                           outages=[], writes=[])
    announce(SimpleNamespace(sink=sink), plan)  # type: ignore[arg-type]
    assert emitted == [("summary", {"shard": "s", "playbook": "rollback-before-primary",
                                    "steps": ["x"], "outages": [], "writes": []})]
    doc = {"runs": [{"kind": "rollback", "playbook": "rollback-before-primary",
                     "status": "running", "operator": "a@b", "started": "t",
                     "steps": {"roll-back-async": {"status": "acting"},
                               "record-topology": {"status": "done"}},
                     "log": [{"event": "summary", "steps": [
                         "record-topology", "roll-back-async", "roll-back-sync",
                         "delete-state", "confirm-v1"]}]}]}
    progress = progress_of(doc, None)
    assert progress is not None
    assert (progress.index, progress.total, progress.step) == (2, 5, "roll-back-async")


def test_a_watchdog_alarm_never_prints_json_on_a_human_runs_stdout(
    capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from migrator.engine.alarms import Alarm
    from migrator.engine.watchdog import alert

    alarm = Alarm("primary-lost", True, "zone-a", "The primary left.", "Roll back now.")
    alert(alarm)
    human = capsys.readouterr()
    assert human.out == "" and "WATCHDOG: STOP" in human.err and "!" * 78 in human.err
    # an alarm that does not stop the run (an expected deposed peer) is a plain note
    alert(Alarm("deposed", False, "zone-a", "Deposed peer(s) in /state: zone-a.",
                "Optional: `migrator rebuild-deposed`."))
    noted = capsys.readouterr()
    assert noted.out == "" and "!" not in noted.err and "WATCHDOG" not in noted.err
    assert "Note (watchdog): Deposed peer(s) in /state: zone-a." in noted.err
    with ev.current(ev.EventSink()):  # a --json run: the event goes to its stream
        alert(alarm)
    scripted = capsys.readouterr()
    (line,) = scripted.out.splitlines()
    assert json.loads(line)["event"] == "alarm" and json.loads(line)["zone"] == "zone-a"


def test_client_windows_drop_an_open_window_that_has_closed_since(tmp_path: Any) -> None:
    import json

    from migrator.engine.outagewatch import client_windows

    client = tmp_path / "client"
    client.mkdir()
    record = {"start": "2026-11-26T05:00:01.000Z", "end": "2026-11-26T05:00:03.000Z",
              "seconds": 2.0, "from": "a", "to": "b"}
    (client / "outages.jsonl").write_text(json.dumps(record) + "\n")
    (client / "stats.json").write_text(json.dumps({"open_outage_since": record["start"]}))
    (window,) = client_windows(client, "2026-11-26T05:00:00.000Z",
                               "2026-11-26T05:10:00.000Z") or []
    assert window.end == record["end"] and window.source == "client"
    (client / "stats.json").write_text(json.dumps(
        {"open_outage_since": "2026-11-26T05:00:09.000Z"}))
    windows = client_windows(client, "2026-11-26T05:00:00.000Z", "2026-11-26T05:10:00.000Z")
    assert windows is not None and windows[-1].end is None
    assert client_windows(tmp_path / "nothing", "a", "b") is None


# ---- the zones' status as a second source ------------------------------------------------

def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_status_gives_the_v1_sync_departure_a_real_start_and_end() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C)), _at(0))
    judge.see_status(StatusSample("zone-a", True), _at(1))
    judge.see_status(StatusSample("zone-a", False), _at(3.5))  # the sync stopped
    judge.see(View((A, C)), _at(5.5))  # its session expired: ZooKeeper sees it only now
    judge.see_status(StatusSample("zone-a", False), _at(5.7))
    judge.see_status(StatusSample("zone-a", True), _at(6.0))  # the next standby is sync
    (window,) = judge.finish(_at(9))
    assert not window.inferred and window.source == "zones"
    assert (window.start, window.end, window.seconds) == (
        "2026-11-26T05:00:03.500Z", "2026-11-26T05:00:06.000Z", 2.5)
    assert "no synchronous standby" in window.cause


def test_unreachable_zones_leave_the_zookeeper_inference() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C)), _at(0))
    judge.see_status(None, _at(3))  # SSH failed: proves nothing
    judge.see(View((A, C)), _at(5))
    (window,) = judge.finish(_at(6))
    assert window.inferred and window.source == "zookeeper"
    assert window.start == "2026-11-26T05:00:03.000Z"


def test_zones_falling_silent_end_the_window_when_zookeeper_shows_the_primary_moving_on(
) -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C)), _at(0))
    judge.see_status(StatusSample("zone-a", False), _at(3))
    judge.see(View((A, C)), _at(5))
    judge.see_status(None, _at(6))
    (window,) = judge.finish(_at(8))
    assert not window.inferred and window.source == "zones"
    assert (window.start, window.end, window.seconds) == (
        "2026-11-26T05:00:03.000Z", "2026-11-26T05:00:05.000Z", 2.0)


def test_a_status_window_with_state_ends_when_the_primary_streams_to_a_sync_again() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, B), _at(0))
    judge.see_status(StatusSample("zone-a", False), _at(1))  # the sync stopped streaming
    judge.see(View((A, C), True, A, B), _at(3))  # and then left: the zones still decide
    judge.see_status(StatusSample("zone-a", False), _at(3.2))
    # the primary commits again (in a rollback's mixed window a v1 primary takes the next
    # peer in the election as its sync, while /state still names B)
    judge.see_status(StatusSample("zone-a", True), _at(3.5))
    judge.see(View((A, C, B), True, A, B), _at(4))
    (window,) = judge.finish(_at(5))
    assert (window.start, window.seconds) == ("2026-11-26T05:00:01.000Z", 2.5)
    assert window.source == "zones" and not window.inferred


def test_zookeeper_ends_a_silent_zones_window_then_opens_its_own_on_a_new_loss() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, B), _at(0))
    judge.see_status(StatusSample("zone-a", False), _at(1))
    judge.see(View((A, C), True, A, C), _at(2))  # writable again as ZooKeeper sees it
    judge.see(View((C,), True, A, C), _at(6))  # the primary left: a new window
    judge.see(View((C, B), True, C, B), _at(7))
    first, second = judge.finish(_at(8))
    assert (first.source, first.start, first.end) == (
        "zones", "2026-11-26T05:00:01.000Z", "2026-11-26T05:00:02.000Z")
    assert (second.source, second.start, second.end) == (
        "zookeeper", "2026-11-26T05:00:06.000Z", "2026-11-26T05:00:07.000Z")
    assert "left the election" in second.cause


def test_a_late_sample_takes_over_the_window_zookeeper_saw_first() -> None:
    """A status read that lags (load) sees the loss after ZooKeeper did: the window
    keeps ZooKeeper's start and ends when the zones see commits resume, not when
    /state names a sync again."""
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, B), _at(0))
    judge.see(View((A, C), True, A, B), _at(2))  # the sync's session expired
    judge.see_status(StatusSample("zone-a", False), _at(2.5))  # the zones confirm it
    judge.see(View((A, C), True, A, C), _at(3))  # /state names C: ZooKeeper's end
    judge.see_status(StatusSample("zone-a", True), _at(4.1))  # C streams: commits resume
    (window,) = judge.finish(_at(5))
    assert (window.source, window.start, window.end, window.inferred) == (
        "zones", "2026-11-26T05:00:02.000Z", "2026-11-26T05:00:04.100Z", False)
    assert "the sync" in window.cause and "confirmed" in window.cause


def test_a_sample_just_after_zookeepers_window_continues_it() -> None:
    """The primary's reprovision: ZooKeeper sees it leave and, moments later, /state name
    the new primary (a window of milliseconds); the new primary commits only once its
    sync streams, which the zones see. One window, ZooKeeper's start, the zones' end."""
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, C), _at(0))
    judge.see(View((C, B), True, A, C), _at(2.0))  # the primary left
    judge.see(View((C, B), True, C, B), _at(2.004))  # the takeover: writable, by ZooKeeper
    judge.see_status(StatusSample("zone-c", False), _at(3.0))  # C has no sync yet
    judge.see_status(StatusSample("zone-c", True), _at(4.5))
    (window,) = judge.finish(_at(6))
    assert (window.source, window.start, window.end) == (
        "zones", "2026-11-26T05:00:02.000Z", "2026-11-26T05:00:04.500Z")
    assert "went on" in window.cause
    # long after ZooKeeper's window, a blocked sample is a new window of its own
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, C), _at(0))
    judge.see(View((C, B), True, A, C), _at(2.0))
    judge.see(View((C, B), True, C, B), _at(2.004))
    judge.see_status(StatusSample("zone-c", False), _at(9.0))
    judge.see_status(StatusSample("zone-c", True), _at(9.5))
    first, second = judge.finish(_at(10))
    assert (first.source, second.source, second.start) == (
        "zookeeper", "zones", "2026-11-26T05:00:09.000Z")


def test_a_sample_that_sees_no_loss_leaves_zookeepers_window_its_own() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A, B, C), True, A, B), _at(0))
    judge.see(View((A, C), True, A, B), _at(2))
    judge.see_status(StatusSample("zone-a", True), _at(2.5))  # a read begun before it
    judge.see(View((A, C), True, A, C), _at(3))
    (window,) = judge.finish(_at(5))
    assert (window.source, window.end) == ("zookeeper", "2026-11-26T05:00:03.000Z")


def test_a_primary_alone_is_no_outage_when_the_shard_expects_no_sync() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see(View((A,), True, A, None, one_node=True), _at(0))
    judge.see_status(StatusSample("zone-a", False), _at(1))
    judge.see(View((A,)), _at(2))  # a v1 shard of one
    judge.see_status(StatusSample("zone-a", False), _at(3))
    assert judge.finish(_at(4)) == []


def test_a_status_sample_before_any_zookeeper_view_is_ignored() -> None:
    judge = Judge(session_timeout=2.0)
    judge.see_status(StatusSample("zone-a", False), _at(0))
    judge.see(View((A, B)), _at(1))
    assert judge.finish(_at(2)) == []


def test_sample_of_reads_the_primary_repl() -> None:
    import json

    from migrator.remote.manatee_status import parse_status

    def doc(repl: dict[str, Any]) -> str:
        return json.dumps({"1": {"primary": {"zoneId": "zone-a", "ip": "10.0.0.1",
                                             "repl": repl},
                                 "sync": {"zoneId": "zone-b", "ip": "10.0.0.2"}}})

    streaming = {"client_addr": "10.0.0.2", "state": "streaming", "sync_state": "sync"}
    assert sample_of(parse_status(doc(streaming), "1")) == StatusSample("zone-a", True)
    assert sample_of(parse_status(doc({}), "1")) == StatusSample("zone-a", False)
    assert sample_of(parse_status(doc({**streaming, "sync_state": "async"}), "1")) \
        == StatusSample("zone-a", False)
    assert sample_of(parse_status(json.dumps({"1": {}}), "1")) == StatusSample(None, False)


def test_the_report_gives_each_observed_outage_its_step_and_source() -> None:
    """The report's JSON contract: ``runs[].steps[]`` with ``name``, ``status`` and
    ``seconds``; ``runs[].outages[]`` with ``step``, ``start``, ``end``, ``seconds`` and
    ``source`` (``client``, ``zones`` or ``zookeeper``; old journals said ``write
    client``)."""
    from migrator.commands.report import _run_doc
    from migrator.engine.journal import RunRecord, StepRecord

    steps = {"reprovision-sync": StepRecord(status="done", started="2026-11-26T05:00:00.000Z",
                                            finished="2026-11-26T05:00:30.000Z"),
             "unfreeze": StepRecord(status="done", started="2026-11-26T05:00:40.000Z",
                                    finished="2026-11-26T05:00:41.000Z")}
    log = ({"event": "outage-observed", "start": "2026-11-26T05:00:10.000Z",
            "end": "2026-11-26T05:00:12.000Z", "seconds": 2.0, "cause": "c",
            "inferred": False, "source": "zones"},
           {"event": "outage-observed", "start": "2026-11-26T05:00:35.000Z",
            "end": "2026-11-26T05:00:36.000Z", "seconds": 1.0, "cause": "c",
            "inferred": False, "source": "write client"})
    doc = _run_doc(RunRecord("migration", "three-node", "sha256:x", "2026-11-26T05:00:00.000Z",
                             "op@host", "done", steps, log))
    assert [(s["name"], s["status"], s["seconds"]) for s in doc["steps"]] == [
        ("reprovision-sync", "done", 30.0), ("unfreeze", "done", 1.0)]
    assert [(o["step"], o["seconds"], o["source"]) for o in doc["outages"]] == [
        ("reprovision-sync", 2.0, "zones"), (None, 1.0, "client")]


def test_a_reprovision_estimate_is_learnt_from_the_runs_own_reprovisions() -> None:
    from migrator.engine.console import WaitLine
    from migrator.engine.journal import StepRecord
    from migrator.engine.outage import learnt_reprovision

    assert learnt_reprovision([]) is None
    assert learnt_reprovision([24.0, 31.0, 25.0]) == 25.0
    assert learnt_reprovision([24.0, 26.0]) == 25.0
    record = StepRecord(status="done", action_seconds=24.5)
    assert StepRecord.from_json(record.to_json()).action_seconds == 24.5
    assert StepRecord.from_json({"actionSeconds": "x"}).action_seconds is None
    line = WaitLine("reprovision z", None, verb="acting",
                    estimate=(25.0, "learnt from this run's 2 reprovision(s)"))
    assert "elapsed of about 25 s (learnt from this run's 2 reprovision(s))" in line.text()


def test_the_sitters_session_timeout_comes_from_their_config() -> None:
    from migrator.cluster.writability import Timing
    from migrator.engine.outage import sitters_session_timeout
    from migrator.remote.probe import session_timeout_of

    config = json.dumps({"zkCfg": {"connStr": "10.0.0.1:2181",
                                   "opts": {"sessionTimeout": 60000}}})
    assert session_timeout_of(config) == 60.0
    for bad in ("not json", "{}", '{"zkCfg": {"opts": {"sessionTimeout": "60"}}}',
                '{"zkCfg": {"opts": {"sessionTimeout": -1}}}', "[1]"):
        assert session_timeout_of(bad) is None
    assert sitters_session_timeout([None, 2.0, 60.0]) == 60.0  # the slowest bounds it
    assert sitters_session_timeout([None]) is None
    timing = Timing(60.0, 300.0, "inventory", session_source="from the sitters' config")
    assert timing.describe().startswith(
        "ZooKeeper session timeout 60 s (from the sitters' config), reprovision 300 s")

