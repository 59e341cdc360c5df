"""run's summary and "proceed?", run --json events, the end-of-run table, against the real
ZooKeeper of tests/conftest.py (the ZooKeeper-only playbook: no zones needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.errors import NotConfirmed
from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard, invoke_cli
from tests.engine.conftest import DecliningConsole, MakeRunner
from tests.engine.helpers import SHARD, ZK_ONLY_PLAYBOOK

pytestmark = pytest.mark.zk


def test_declining_the_summary_writes_nothing_not_even_a_journal(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    from migrator.engine.runner import RunOptions

    console = DecliningConsole(decline_proceed=True)
    with pytest.raises(NotConfirmed):
        make_runner(console=console, options=RunOptions(assume_yes=False)).execute()
    assert console.asked == [f"Proceed with 2 step(s) on shard {SHARD}?"]
    shown = console.stream.getvalue()
    assert f"Shard {SHARD}, playbook zk-only: 2 of 2 step(s) to do." in shown
    assert "Write outages expected: none." in shown
    assert "ZooKeeper writes: 2 (backfill, unfreeze)" in shown
    assert not zk.exists(f"/manatee-migrator/{SHARD}/journal")
    assert not zk.exists(f"/manatee/{SHARD}/state")


def test_run_json_is_one_event_per_line_and_human_text_on_stderr(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str
) -> None:
    ran = cli("run", "--playbook", book, "--yes", "--json")
    assert ran.status == 0, ran.err
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert all("event" in e and "time" in e for e in events)
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["plan", "summary"] and kinds[-1] == "finished"
    assert events[-1]["exitStatus"] == 0
    assert [s["id"] for s in events[0]["plan"]["steps"]] == ["backfill", "unfreeze"]
    summary = events[1]
    assert summary["steps"] == ["backfill", "unfreeze"] and summary["outages"] == []
    assert [w["step"] for w in summary["writes"]] == ["backfill", "unfreeze"]
    for expected in ("step", "step-started", "check", "confirm", "action-started", "write",
                     "step-finished", "step-times"):
        assert expected in kinds, expected
    times = next(e for e in events if e["event"] == "step-times")
    assert [s["step"] for s in times["steps"]] == ["backfill", "unfreeze"]
    assert all(s["status"] == "done" and s["seconds"] is not None for s in times["steps"])
    # the human side: summary, proceed answered by --yes, and the table
    assert "Proceed with 2 step(s)" in ran.err and "yes (--yes)" in ran.err
    assert "Step times and write outages (migration, playbook zk-only)" in ran.err
    assert "Write outages observed (ZooKeeper): none." in ran.err


def test_a_human_run_prints_nothing_on_stdout(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str
) -> None:
    ran = cli("run", "--playbook", book, "--yes")
    assert ran.status == 0, ran.err
    assert ran.out == ""
    assert "zk-only complete" in ran.err


def test_run_json_failure_ends_with_error_and_finished_events(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str
) -> None:
    ran = cli("resume", "--playbook", book, "--yes", "--json")
    assert ran.status == 2
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert [e["event"] for e in events][-2:] == ["error", "finished"]
    assert events[-1]["exitStatus"] == 2 and "no migration journal" in events[-2]["message"]


def _declined_run(make_runner: MakeRunner) -> None:
    """A run through the event console and store (as `migrator run`): yes to the summary,
    no to the backfill's write."""
    from migrator.engine.events import EventConsole, EventingStore, EventSink
    from migrator.engine.runner import RunOptions

    sink = EventSink(enabled=False)
    console = DecliningConsole()
    events = EventConsole(sink, assume_yes=False, shard=SHARD, stream=console.stream)
    events.ask = console.ask  # type: ignore[method-assign]
    probe = make_runner()  # for its client and audit folder
    runner = make_runner(
        options=RunOptions(assume_yes=False), console=events,
        store=EventingStore(probe.client, SHARD, audit_dir=probe.store.audit_dir, sink=sink,
                            kind="migration"))
    with pytest.raises(NotConfirmed):
        runner.execute()


def test_report_from_zookeeper_markdown_and_json(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str, tmp_path: Path
) -> None:
    from migrator.engine.journal import operator_identity

    assert cli("run", "--playbook", book, "--yes").status == 0
    md = cli("report")
    assert md.status == 0, md.err
    text = md.out
    assert text.startswith(f"# Manatee migration report: shard {SHARD}")
    assert "Journal created" in text and operator_identity() in text
    assert "## Run 1: migration, playbook zk-only: done" in text
    assert "| backfill | done |" in text and "| unfreeze | done |" in text
    assert f"Proceed with 2 step(s) on shard {SHARD}?" in text
    assert f"Create the /state of shard {SHARD}?" in text and "yes (--yes)" in text
    assert "step backfill: create /manatee/" in text
    assert "```diff" in text and '+  "freeze": {' in text  # the backfill's diff
    assert '-  "freeze": {' in text  # the unfreeze's
    as_json = cli("report", "--format", "json")
    doc = json.loads(as_json.out)
    (run,) = doc["runs"]
    assert [w["step"] for w in run["writes"]] == ["backfill", "unfreeze"]
    assert all(w["diff"] for w in run["writes"])
    assert {c["by"] for c in run["confirmations"]} == {operator_identity()}
    assert all(s["seconds"] is not None for s in run["steps"])
    assert run["outages"] == []
    assert all({"name", "status", "seconds"} <= set(s) for s in run["steps"])
    # the local audit copy gives the same report
    audit = next((tmp_path / "audit").rglob("journal.json"))
    local = cli("report", "--file", str(audit))
    assert local.status == 0 and "| unfreeze | done |" in local.out
    assert "local audit copy" in local.out


def test_report_of_a_declined_then_archived_attempt(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    _declined_run(make_runner)
    md = cli("report")
    assert "## Run 1: migration, playbook zk-only: stopped" in md.out
    assert "declined" in md.out
    # archived as a completed rollback leaves it: the latest archive is reported
    data, _ = zk.get(f"/manatee-migrator/{SHARD}/journal")
    zk.create(f"/manatee-migrator/{SHARD}/archive/journal-20261126T050000000Z", data,
              makepath=True)
    zk.delete(f"/manatee-migrator/{SHARD}/journal")
    archived = cli("report")
    assert archived.status == 0 and "(archived)" in archived.out
    assert "journal-20261126T050000000Z" in cli("report", "--list-archived").out
    missing = cli("report", "--archive", "nope")
    assert missing.status == 2 and "no archived journal 'nope'" in missing.err


def test_status_shard_shows_the_step_under_way_and_the_lock_holder(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, make_runner: MakeRunner,
    zk_server: ZooKeeperServer,
) -> None:
    from migrator.engine.lock import RunLock

    none = cli("status")
    assert "migration journal: none" in none.out and "run lock: free" in none.out
    _declined_run(make_runner)
    with RunLock(zk, SHARD, "alice@bastion pid 42"):
        shown = cli("status")
        as_json = cli("status", "--json")
    assert shown.status == 0, shown.err
    assert ("migration journal: migration with playbook zk-only, stopped: step 1/2 backfill: "
            "pending (declined:") in shown.out
    assert "run lock: alice@bastion pid 42" in shown.out
    doc = json.loads(as_json.out)
    assert doc["migration"]["index"] == 1 and doc["migration"]["total"] == 2
    assert doc["migration"]["step"] == "backfill" and doc["lockHolders"] == [
        "alice@bastion pid 42"]
    assert doc["versions"] is None  # no inventory given


def test_status_watch_in_a_real_terminal_follows_zookeeper_until_ctrl_c(
    zk: Any, three_peers: V1Shard, zk_server: ZooKeeperServer, tmp_path: Path
) -> None:
    import os
    import sys

    import pexpect

    from tests.engine.helpers import IPS, ZONES

    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "COLUMNS": "160"}
    child = pexpect.spawn(sys.executable, ["-m", "migrator", "status", "--zk",
                                           zk_server.connection_string, "--shard", SHARD,
                                           "--watch"],
                          env=env, encoding="utf-8", timeout=30, dimensions=(40, 160))
    try:
        child.expect("BY ELECTION")
        child.expect("run lock: free")
        assert ZONES[2] in child.before
        child.expect(r"(\d+) ZooKeeper change\(s\) seen")
        seen = int(child.match.group(1))
        # a peer leaves the election: the view redraws without the operator doing anything
        three_peers.leave(IPS[2])
        redrawn = ""
        for _ in range(20):
            child.expect(r"(\d+) ZooKeeper change\(s\) seen")
            if int(child.match.group(1)) > seen and ZONES[2] not in child.before:
                redrawn = child.before
                break
        assert "BY ELECTION" in redrawn and ZONES[0] in redrawn
        # someone takes the run lock: the view names the holder
        from migrator.engine.lock import RunLock

        with RunLock(zk, SHARD, "bob@bastion pid 7"):
            child.expect("run lock: bob@bastion pid 7")
        child.expect("run lock: free")
        child.sendintr()
        child.expect(f"Stopped watching shard {SHARD}.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_manatee_adm_short_options_and_every_writing_command_takes_yes(
    zk_server: ZooKeeperServer, zk: Any, three_peers: V1Shard,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from migrator.cli import COMMANDS
    from migrator.cli import cli as group

    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))
    short = invoke_cli(["status", "-z", zk_server.connection_string, "-s", SHARD], capsys)
    assert short.status == 0, short.err
    assert "BY ELECTION" in short.out and "run lock: free" in short.out
    writing = ["backfill", "freeze", "unfreeze", "delete-state", "run", "resume", "rollback",
               "rebuild-deposed"]
    import click

    for name in writing:
        assert name in COMMANDS
        command = group.get_command(click.Context(group), name)
        assert command is not None
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {"-y", "--yes", "-z", "--zk", "-s", "--shard"} <= options, name
    # freeze now shows the state and asks; without a terminal it refuses, writing nothing
    target = ["-z", zk_server.connection_string, "-s", SHARD]
    assert invoke_cli(["backfill", *target, "-y"], capsys).status == 0
    assert invoke_cli(["unfreeze", *target, "-y"], capsys).status == 0
    _, before = zk.get(f"/manatee/{SHARD}/state")
    refused = invoke_cli(["freeze", *target, "-r", "maintenance"], capsys)
    assert refused.status == 3 and "terminal" in refused.err
    assert zk.get(f"/manatee/{SHARD}/state")[1].version == before.version
    frozen = invoke_cli(["freeze", *target, "-r", "maintenance", "-y"], capsys)
    assert frozen.status == 0 and "Frozen: maintenance" in frozen.err + frozen.out
    assert '"reason": "maintenance"' in frozen.err + frozen.out  # the state it wrote, shown


def test_outages_observed_from_zookeeper_watches(
    zk: Any, three_peers: V1Shard, kazoo: Any
) -> None:
    """The primary's sync leaves the election: a window opens; the state names a sync in
    the election again: it closes (real ZooKeeper, watches)."""
    import threading

    from migrator.engine.outagewatch import OutageWatch
    from tests.engine.helpers import IPS

    names = sorted(zk.get_children(f"/manatee/{SHARD}/election"),
                   key=lambda n: n.rsplit("-", 1)[1])
    ids = [n.rsplit("-", 1)[0] for n in names]

    def state(primary: str, sync: str) -> bytes:
        return json.dumps({"primary": {"id": primary}, "sync": {"id": sync}}).encode()

    zk.create(f"/manatee/{SHARD}/state", state(ids[0], ids[2]))
    watch = OutageWatch(kazoo, SHARD, session_timeout=2.0).start()
    changed = threading.Event()

    def wait_for(predicate: Callable[[], bool]) -> bool:
        for _ in range(100):  # bounded: 10 s
            if predicate():
                return True
            changed.wait(0.1)
        return False

    assert wait_for(lambda: watch.judge._last is not None)
    three_peers.leave(IPS[2])  # the sync's session ends
    assert wait_for(lambda: watch.judge._open is not None)
    zk.set(f"/manatee/{SHARD}/state", state(ids[0], ids[1]))  # a new sync, in the election
    assert wait_for(lambda: bool(watch.judge.windows))
    (window,) = watch.stop()
    assert window.source == "zookeeper" and not window.inferred
    assert window.seconds is not None and window.seconds >= 0
    assert f"the sync {ids[2]} left the election" == window.cause


def _run_in_a_terminal(zk_server: ZooKeeperServer, tmp_path: Path, unfreeze: str) -> Any:
    """`migrator run` of the ZooKeeper-only playbook in a real terminal (pexpect), its
    unfreeze confirmed as ``unfreeze`` says (a playbook's ``confirm: ...`` and more)."""
    import os
    import sys

    import pexpect

    book = tmp_path / "typed.yaml"
    book.write_text(ZK_ONLY_PLAYBOOK.replace(
        '    action: {name: unfreeze}\n    confirm: "yes"',
        f"    action: {{name: unfreeze}}\n    {unfreeze}"))
    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    return pexpect.spawn(sys.executable, ["-m", "migrator", "run", "--zk",
                                          zk_server.connection_string, "--shard", SHARD,
                                          "--playbook", str(book)],
                         env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))


def test_typed_confirmation_of_an_outage_step_in_a_real_terminal(
    zk: Any, three_peers: V1Shard, zk_server: ZooKeeperServer, tmp_path: Path
) -> None:
    """The summary names the outage; proceed (y), the backfill (y), then the outage step
    wants the shard name typed: a wrong name is asked again, saying what is expected, and
    after three wrong names the run stops with nothing more written, naming the command
    that continues it."""
    import pexpect

    child = _run_in_a_terminal(zk_server, tmp_path, "confirm: typed\n    outage: true")
    try:
        child.expect(r"\(unfreeze\): writes set .*; WRITE OUTAGE")
        child.expect(r"Write outages expected: 1 step\(s\) \(unfreeze\)")
        child.expect(r"Proceed with 2 step\(s\)")
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect(f"Create the /state of shard {SHARD}")
        child.expect(r"\(y/N\)")
        child.send("y")
        child.expect(f"Unfreeze shard {SHARD}")
        for left in ("2 tries", "1 try"):
            child.expect("Type the shard name")
            child.send("not-the-shard\r")
            child.expect(f"That is not the shard name: type {SHARD} exactly \\({left} left\\)")
        child.expect("Type the shard name")
        child.send("not-the-shard\r")
        child.expect(f"The shard name \\({SHARD}\\) was not typed; nothing was written")
        child.expect("To continue this run from step unfreeze: `migrator resume")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 3
    data, _ = zk.get(f"/manatee/{SHARD}/state")
    assert json.loads(data).get("freeze")  # still frozen: the unfreeze was not written


def test_a_mistyped_shard_name_is_asked_again_and_the_right_one_goes_ahead(
    zk: Any, three_peers: V1Shard, zk_server: ZooKeeperServer, tmp_path: Path
) -> None:
    import pexpect

    child = _run_in_a_terminal(zk_server, tmp_path, "confirm: typed")
    try:
        for question in (r"Proceed with 2 step\(s\)", f"Create the /state of shard {SHARD}"):
            child.expect(question)
            child.expect(r"\(y/N\)")
            child.send("y")
        child.expect(f"Unfreeze shard {SHARD}")
        child.expect("Type the shard name")
        child.send(SHARD.replace(".", "-") + "\r")  # a typo
        child.expect("That is not the shard name")
        child.expect("Type the shard name")
        child.send(SHARD + "\r")
        child.expect(f"Shard {SHARD}: zk-only complete")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    data, _ = zk.get(f"/manatee/{SHARD}/state")
    assert "freeze" not in json.loads(data)  # the unfreeze was written
    # the transcript beside the audit record keeps each question and its answer
    (transcript,) = (tmp_path / "audit").rglob("transcripts/*-run.txt")
    text = transcript.read_text()
    assert "? Proceed with 2 step(s)" in text and "answered: yes" in text
    assert f"Unfreeze shard {SHARD}" in text and "(type the shard name)" in text
    assert "answered: yes (the shard name typed)" in text


def test_a_saved_plan_is_the_recorded_answer(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--playbook", book, "--out", str(plan_file)).status == 0
    ran = cli("run", "--plan", str(plan_file), "--playbook", book)
    assert ran.status == 0, ran.err
    doc = json.loads(cli("report", "--format", "json").out)
    answers = [c["answer"] for c in doc["runs"][0]["confirmations"]]
    assert answers[0] == "yes (saved plan)"  # the summary's "proceed?"
    assert answers[1:] == [f"yes (saved plan {plan_file})"] * 2  # backfill, unfreeze


def test_an_attended_json_run_asks_on_the_terminal_and_keeps_stdout_for_events(
    zk: Any, three_peers: V1Shard, zk_server: ZooKeeperServer, tmp_path: Path
) -> None:
    """`run --json > events.jsonl` in a terminal: the questions are drawn on stderr (the
    terminal) and answered there; the file holds only JSON events."""
    import os
    import shlex
    import sys

    import pexpect

    book = tmp_path / "zk-only.yaml"
    book.write_text(ZK_ONLY_PLAYBOOK)
    events = tmp_path / "events.jsonl"
    command = shlex.join([sys.executable, "-m", "migrator", "run", "--zk",
                          zk_server.connection_string, "--shard", SHARD, "--json",
                          "--playbook", str(book)]) + f" > {shlex.quote(str(events))}"
    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit")}
    child = pexpect.spawn("/bin/sh", ["-c", command], env=env, encoding="utf-8",
                          timeout=60, dimensions=(50, 200))
    try:
        for question in (r"Proceed with 2 step\(s\)", f"Create the /state of shard {SHARD}",
                         f"Unfreeze shard {SHARD}"):
            child.expect(question)
            child.expect(r"\(y/N\)")
            child.send("y")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    lines = events.read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # nothing but JSON events
    assert parsed[-1] == {**parsed[-1], "event": "finished", "exitStatus": 0}
    answers = [e["answer"] for e in parsed if e["event"] == "confirm"]
    assert answers == ["yes", "yes", "yes"]


def test_an_audit_copy_that_cannot_be_written_is_said_and_recorded(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local audit folder that cannot be written (here: its path runs through a file)
    does not stop the run: a warning at the first failure, an event in the journal's log
    (so `report` shows it), and a note at the end that the local copy is incomplete."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the audit folder should be")
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(blocked / "audit"))
    ran = cli("run", "--playbook", book, "--yes", "--json")
    assert ran.status == 0, ran.err
    assert ran.err.count("warning: The local audit copy under") == 1
    assert "Note: the local audit copy is incomplete." in ran.err
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert [e["event"] for e in events].count("audit-copy-failed") == 1
    report = cli("report")
    assert report.status == 0 and "audit copy" in report.out


def test_a_damaged_journal_is_restored_from_the_local_audit_copy(
    cli: Callable[..., CliResult], zk: Any, zk_server: ZooKeeperServer, three_peers: V1Shard,
    book: str, tmp_path: Path,
) -> None:
    """Every command refuses a journal it cannot read; `journal restore` puts back the
    local audit copy (shown, typed-confirmed, conditional), and only over a missing or
    damaged journal: a readable one is never rewritten."""
    def restore(copy: Path) -> CliResult:
        return cli("journal", "restore", "--zk", zk_server.connection_string, "--shard",
                   SHARD, "--from", str(copy), "--yes", shard=False)

    assert cli("run", "--playbook", book, "--yes").status == 0
    audit = next((tmp_path / "audit").rglob("journal.json"))
    path = f"/manatee-migrator/{SHARD}/journal"
    good, _ = zk.get(path)
    refused = restore(audit)
    assert refused.status == 3 and "is readable" in refused.err
    assert zk.get(path)[0] == good

    zk.set(path, b'{"shard": "1.moray.test", "runs": [[[')  # a damaged journal
    assert cli("status").status == 0  # status shows it unreadable
    assert cli("report").status == 2
    restored = restore(audit)
    assert restored.status == 0, restored.err
    assert "cannot be read" in restored.err and "steps done: backfill, unfreeze" in restored.err
    assert json.loads(zk.get(path)[0]) == json.loads(good)
    assert "| unfreeze | done |" in cli("report").out

    other = tmp_path / "other.json"
    doc = json.loads(audit.read_text())
    doc["shard"] = "2.moray.test"
    other.write_text(json.dumps(doc))
    zk.delete(path)
    wrong = restore(other)
    assert wrong.status == 2 and "not 1.moray.test" in wrong.err
    assert not zk.exists(path)
    back = restore(audit)  # a missing one, too
    assert back.status == 0 and zk.exists(path)


def test_a_run_waits_for_the_peers_of_an_empty_election_to_rejoin(
    cli: Callable[..., CliResult], zk: Any, v1_shard: V1Shard, book: str
) -> None:
    """A moment after a ZooKeeper pause the election is empty (every session expired)
    while the sitters rejoin: the run waits for them on a watch, then goes on."""
    import threading

    from tests.engine.helpers import IPS, ZONES

    zk.ensure_path(f"/manatee/{SHARD}/election")
    rejoin = threading.Timer(0.5, lambda: [v1_shard.join(ip, zone)
                                           for ip, zone in zip(IPS, ZONES, strict=True)])
    rejoin.start()
    try:
        ran = cli("run", "--playbook", book, "--yes")
    finally:
        rejoin.join()
    assert ran.status == 0, ran.err
    assert "is empty (after a ZooKeeper pause" in ran.err
    assert zk.exists(f"/manatee/{SHARD}/state")
