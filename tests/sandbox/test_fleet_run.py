"""`migrator fleet run|resume` end to end: a fleet file naming the inventories of
ordinary single-shard sandboxes (each its own ZooKeeper), every shard migrated by a
child `migrator run|resume`, stop-all, the fleet lock, a SIGKILLed fleet resumed.

A fleet lists a shard once: each sandbox is brought up under a name of its own
(`sandbox up --shard`, ``_named_sandboxes``)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.journal_store import JournalStore
from migrator.fleet.display import JsonDisplay
from migrator.fleet.lock import fleet_lock
from migrator.fleet.model import load_fleet
from migrator.fleet.run import FleetOptions, run_fleet
from migrator.sandbox.config import SandboxConfig
from migrator.zk.client import ZkTarget, connect, disconnect
from tests.conftest import SandboxFactory
from tests.waiting import until

pytestmark = pytest.mark.sandbox

FLEET = "sandbox-fleet"
RUN_TIMEOUT = 400.0


def _named_sandboxes(sandbox: SandboxFactory, count: int) -> list[SandboxConfig]:
    """``count`` one-shard sandboxes named 1.moray.fleet.test, 2.moray..."""
    return [sandbox(nodes=3, pg="sim", shard=f"{index}.moray.fleet.test")
            for index in range(1, count + 1)]


def _fleet_file(tmp_path: Path, configs: list[SandboxConfig],
                inventories: dict[str, Path] | None = None) -> Path:
    lines = [f"fleet: {FLEET}", "shards:"]
    for config in configs:
        inventory = (inventories or {}).get(config.shard, config.directory / "inventory.yaml")
        lines += [f"  - shard: {config.shard}", f"    inventory: {inventory}"]
    lines += ["  - shard: 9.moray.fleet.test", "    skip: already at v2"]
    path = tmp_path / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}


def _fleet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", "fleet", *args],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env=_env(tmp_path), stdin=subprocess.DEVNULL, check=False)


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _verdicts(events: list[dict[str, Any]]) -> dict[str, str]:
    return {e["shard"]: e["verdict"] for e in events if e["event"] == "shard-finished"}


def _migrated(config: SandboxConfig) -> bool:
    """The shard's /state exists and its journal's migration run is done."""
    client = connect(ZkTarget(config.zk_connection))
    try:
        journal = JournalStore(client, config.shard).load()
        run = journal.run("migration") if journal is not None else None
        return bool(client.exists(f"/manatee/{config.shard}/state")) and run is not None \
            and run.status == "done"
    finally:
        disconnect(client)


def test_fleet_migrates_every_shard_and_holds_its_lock(
        sandbox: SandboxFactory, tmp_path: Path) -> None:
    configs = _named_sandboxes(sandbox, 2)
    fleet = _fleet_file(tmp_path, configs)
    done = _fleet(tmp_path, "run", "--fleet", str(fleet), "--parallel", "2", "--yes",
                  "--json")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert events[0]["event"] == "fleet-started" and events[0]["parallel"] == 2
    assert events[0]["skipped"] == ["9.moray.fleet.test"]
    assert events[-1] == {**events[-1], "event": "fleet-finished", "exitStatus": 0}
    assert events[-1]["verdicts"]["9.moray.fleet.test"] == "skipped"
    assert _verdicts(events) == {c.shard: "migrated" for c in configs}
    for config in configs:  # every child event re-emitted with its shard
        own = [e for e in events if e.get("shard") == config.shard]
        assert any(e["event"] == "finished" and e["exitStatus"] == 0 for e in own)
        assert _migrated(config)
    # both ran at once: each started before the other finished
    order = [(e["event"], e["shard"]) for e in events
             if e["event"] in ("shard-started", "shard-finished")]
    assert [kind for kind, _ in order[:2]] == ["shard-started", "shard-started"]
    logs = Path(events[0]["logs"])
    assert {p.name for p in logs.iterdir()} >= {f"{c.shard}.log" for c in configs}

    # a second run: nothing to do, every shard reported already migrated, none started
    again = _fleet(tmp_path, "run", "--fleet", str(fleet), "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert set(_verdicts(_events(again.stdout)).values()) == {"already migrated"}
    assert not [e for e in _events(again.stdout) if e["event"] == "shard-started"]

    # while someone else holds the fleet's lock, a fleet run refuses naming the holder
    client = connect(ZkTarget(configs[0].zk_connection))
    try:
        with fleet_lock(client, FLEET, "alice@elsewhere pid 4242", "zk"):
            refused = _fleet(tmp_path, "run", "--fleet", str(fleet), "--yes")
    finally:
        disconnect(client)
    assert refused.returncode == 3, refused.stderr
    assert "alice@elsewhere pid 4242" in refused.stderr
    assert "Traceback" not in refused.stderr


def _broken_inventory(config: SandboxConfig, tmp_path: Path) -> Path:
    """The sandbox's inventory with one zone's SSH port closed: its pre-flight refuses."""
    text = (config.directory / "inventory.yaml").read_text()
    zone = config.zones[1]
    broken = text.replace(f"port: {zone.ssh_port}\n", "port: 1\n")
    assert broken != text
    path = config.directory / "broken.yaml"
    path.write_text(broken)
    return path


def test_a_refused_shard_stops_the_fleet_or_not_with_keep_going(
        sandbox: SandboxFactory, tmp_path: Path) -> None:
    good, bad = _named_sandboxes(sandbox, 2)
    fleet = _fleet_file(tmp_path, [bad, good], {bad.shard: _broken_inventory(bad, tmp_path)})

    # one at a time, the refused shard first: the fleet stops, the other never starts
    stopped = _fleet(tmp_path, "run", "--fleet", str(fleet), "--yes", "--json")
    assert stopped.returncode == 3, stopped.stderr
    events = _events(stopped.stdout)
    assert _verdicts(events) == {bad.shard: "refused", good.shard: "not started"}
    assert events[-1]["event"] == "fleet-finished" and events[-1]["exitStatus"] == 3
    assert f"migrator fleet resume --fleet {fleet}" in events[-1]["resume"]
    assert not _migrated(good)

    # --keep-going: the other shard runs to the end; the fleet still exits non-zero
    going = _fleet(tmp_path, "run", "--fleet", str(fleet), "--parallel", "2", "--yes",
                   "--json", "--keep-going")
    assert going.returncode == 3, going.stderr
    assert _verdicts(_events(going.stdout)) == {bad.shard: "refused", good.shard: "migrated"}
    assert _migrated(good) and not _migrated(bad)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped by its new parent counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_a_killed_fleet_is_resumed(sandbox: SandboxFactory, tmp_path: Path) -> None:
    configs = _named_sandboxes(sandbox, 2)
    fleet = _fleet_file(tmp_path, configs)
    argv = [sys.executable, "-m", "migrator", "fleet", "run", "--fleet", str(fleet),
            "--parallel", "2", "--yes", "--json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, text=True, env=_env(tmp_path))
    children: list[int] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "shard-started":
                children.append(event["pid"])
            if event["event"] == "action-started":  # a shard is changing the cluster
                break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    # its children were told (SIGINT on their parent's death): they stop, journalled
    until(lambda: all(_gone(pid) for pid in children), 120, "the killed fleet's children end")
    assert not all(_migrated(c) for c in configs)

    resumed = _fleet(tmp_path, "resume", "--fleet", str(fleet), "--parallel", "2", "--yes",
                     "--json")
    assert resumed.returncode == 0, resumed.stderr
    events = _events(resumed.stdout)
    assert set(_verdicts(events).values()) <= {"migrated", "already migrated"}
    verbs = {e["shard"]: e["verb"] for e in events if e["event"] == "shard-started"}
    assert "resume" in verbs.values()
    assert all(_migrated(c) for c in configs)


def test_fleet_without_yes_needs_a_terminal(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"fleet: {FLEET}\nshards:\n  - shard: 1.moray.fleet.test\n"
                     "    inventory: nowhere.yaml\n")
    refused = _fleet(tmp_path, "run", "--fleet", str(fleet))
    assert refused.returncode == 3
    assert "no terminal" in refused.stderr and "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_each_shards_questions_are_relayed(sandbox: SandboxFactory,
                                           monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Without --yes every child asks through the fleet (`question` events, answers on
    its stdin): a declined question stops that shard and the fleet; answered, they run."""
    configs = _named_sandboxes(sandbox, 2)
    fleet = load_fleet(_fleet_file(tmp_path, configs))
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))
    asked: list[tuple[str, dict[str, Any]]] = []

    def declining(shard: str, event: dict[str, Any]) -> str:
        asked.append((shard, event))
        return "no" if event["typed"] else str(event["expected"])

    out = io.StringIO()
    status = run_fleet(fleet, FleetOptions("run"), JsonDisplay(out, io.StringIO()),
                       lambda _count: None, declining)
    assert status == 3
    assert _verdicts(_events(out.getvalue())) == {configs[0].shard: "refused",
                                                  configs[1].shard: "not started"}
    assert {shard for shard, _ in asked} == {configs[0].shard}
    assert asked[-1][1]["typed"] and asked[-1][1]["expected"] == configs[0].shard

    asked.clear()

    def answering(shard: str, event: dict[str, Any]) -> str:
        asked.append((shard, event))
        return str(event["expected"])

    out = io.StringIO()
    status = run_fleet(fleet, FleetOptions("resume", parallel=2),
                       JsonDisplay(out, io.StringIO()), lambda _count: None, answering)
    assert status == 0, out.getvalue()[-2000:]
    assert {shard for shard, _ in asked} == {c.shard for c in configs}
    confirms = [e for e in _events(out.getvalue()) if e["event"] == "confirm"]
    assert confirms and all(e["answer"] == "yes" for e in confirms)
    assert all(_migrated(c) for c in configs)


def test_a_fleet_runs_its_saved_plans(sandbox: SandboxFactory, tmp_path: Path) -> None:
    """--plan: each child runs its shard's saved plan (`migrator run --plan`), no prompt."""
    (config,) = _named_sandboxes(sandbox, 1)
    fleet = _fleet_file(tmp_path, [config])
    plans = tmp_path / "plans"
    plans.mkdir()
    planned = subprocess.run(
        [sys.executable, "-m", "migrator", "plan", "--inventory",
         str(config.directory / "inventory.yaml"), "--out", str(plans / f"{config.shard}.json")],
        capture_output=True, text=True, timeout=120, env=_env(tmp_path), check=False)
    assert planned.returncode == 0, planned.stderr
    (plans / "fleet-plan.json").write_text(json.dumps({
        "format": "manatee-migrator-fleet-plan/1", "fleet": FLEET, "fleetFile": str(fleet),
        "fleetDigest": load_fleet(fleet).digest, "plans": {config.shard: f"{config.shard}.json"},
        "skipped": {"9.moray.fleet.test": "already at v2"}}))
    done = _fleet(tmp_path, "run", "--fleet", str(fleet), "--plan",
                  str(plans / "fleet-plan.json"), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert _verdicts(events) == {config.shard: "migrated"}
    answers = {e["answer"] for e in events if e["event"] == "confirm"}
    assert answers and all(a.startswith("yes (saved plan") for a in answers), answers
    assert _migrated(config)


def _outage_windows(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(shard, start, end) of every outage step, from the shards' own events."""
    started: dict[str, str] = {}
    windows = []
    for event in events:
        if event["event"] == "outage-started":
            started[event["shard"]] = event["time"]
        elif event["event"] == "outage-ended":
            windows.append((event["shard"], started.pop(event["shard"]), event["time"]))
    return windows


def test_shards_sharing_compute_nodes_take_turns_in_their_outages(
        sandbox: SandboxFactory, tmp_path: Path) -> None:
    """A sandbox fleet (`up --shards 2`): both shards' zones sit on the same two compute
    nodes, so with --parallel 2 their outage steps wait for each other (never overlap)."""
    top = sandbox(shards=2, access="zlogin", pg="sim")
    shards = sorted(p.name for p in (top.directory / "shards").iterdir())
    assert len(shards) == 2
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"fleet: {FLEET}\nshards:\n" + "".join(
        f"  - shard: {shard}\n    inventory: {top.directory / 'shards' / shard}/inventory.yaml\n"
        for shard in shards))
    done = _fleet(tmp_path, "run", "--fleet", str(fleet), "--parallel", "2", "--yes",
                  "--json")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert set(_verdicts(events).values()) == {"migrated"}
    windows = _outage_windows(events)
    assert {shard for shard, _, _ in windows} == set(shards)
    for shard, start, end in windows:
        for other, other_start, other_end in windows:
            if other != shard:
                assert end <= other_start or other_end <= start, (windows, shard, other)
    assert any("outage lock" in str(e.get("what")) for e in events
               if e["event"] == "waiting"), "neither shard ever waited for the other"


def test_ctrl_c_stops_every_shard_and_the_fleet_says_how_to_resume(
        sandbox: SandboxFactory, tmp_path: Path) -> None:
    """Ctrl-C at a terminal reaches the whole process group (the fleet and its children):
    no shard starts any more, the running ones stop resumable, the fleet exits 130."""
    configs = _named_sandboxes(sandbox, 2)
    fleet = _fleet_file(tmp_path, configs)
    argv = [sys.executable, "-m", "migrator", "fleet", "run", "--fleet", str(fleet),
            "--yes", "--json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, text=True, env=_env(tmp_path),
                               start_new_session=True)  # a group of its own, as a terminal's
    events: list[dict[str, Any]] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "action-started":
                os.killpg(process.pid, signal.SIGINT)
                break
        events += _events(process.stdout.read())
        assert process.wait(timeout=RUN_TIMEOUT) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert events[-1]["event"] == "fleet-finished" and events[-1]["exitStatus"] == 130
    assert events[-1]["resume"] == f"migrator fleet resume --fleet {fleet}"
    # one at a time: the first shard was stopped (its Ctrl-C, and the fleet's SIGUSR1:
    # whichever it heard first), the second never started
    verdicts = _verdicts(events)
    assert verdicts[configs[0].shard] in ("stopped", "interrupted")
    assert verdicts[configs[1].shard] == "not started"

    resumed = _fleet(tmp_path, "resume", "--fleet", str(fleet), "--yes", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert all(_migrated(c) for c in configs)


def test_a_watchdog_alarm_in_one_shard_stops_the_fleet(sandbox: SandboxFactory,
                                                       tmp_path: Path) -> None:
    """The first shard's primary dies while its sync is reprovisioned: its watchdog
    stops it (exit 3); the fleet starts no other shard (the third, waiting for a slot,
    is never started) and asks the second to stop at its next safe point."""
    from migrator.sandbox.peers import stop_peer

    first, second, third = _named_sandboxes(sandbox, 3)
    fleet = _fleet_file(tmp_path, [first, second, third])
    process = subprocess.Popen(
        [sys.executable, "-m", "migrator", "fleet", "run", "--fleet", str(fleet),
         "--parallel", "2", "--yes", "--json"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=_env(tmp_path),
        start_new_session=True)
    events: list[dict[str, Any]] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            events.append(json.loads(line))
            event = events[-1]
            if event.get("shard") == first.shard and event["event"] == "action-started" \
                    and event["step"] == "reprovision-sync":
                stop_peer(first.directory, first.zones[0].uuid)  # its primary
                break
        events += _events(process.stdout.read())
        assert process.wait(timeout=RUN_TIMEOUT) == 3
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    alarm = next(e for e in events if e["event"] == "alarm")
    assert alarm["shard"] == first.shard and alarm["stop"] is True
    verdicts = _verdicts(events)
    assert verdicts[first.shard] == "refused"
    assert verdicts[third.shard] == "not started"
    assert not [e for e in events
                if e["event"] == "shard-started" and e["shard"] == third.shard]
    # the second either stopped between two steps, as asked, or had already finished
    assert verdicts[second.shard] in ("stopped", "migrated"), verdicts
    client = connect(ZkTarget(second.zk_connection))
    try:
        journal = JournalStore(client, second.shard).load()
    finally:
        disconnect(client)
    assert journal is not None
    run = journal.run("migration")
    assert run is not None
    assert run.status == ("stopped" if verdicts[second.shard] == "stopped" else "done")
    assert events[-1]["event"] == "fleet-finished" and events[-1]["exitStatus"] == 3


def test_a_shard_whose_lock_another_operator_holds_is_refused(
        sandbox: SandboxFactory, tmp_path: Path) -> None:
    """Each shard's own lock still applies in a fleet: a shard another operator is
    migrating is refused naming them; with --keep-going the other shard migrates."""
    from migrator.engine.lock import RunLock

    held, free = _named_sandboxes(sandbox, 2)
    fleet = _fleet_file(tmp_path, [held, free])
    client = connect(ZkTarget(held.zk_connection))
    try:
        with RunLock(client, held.shard, "bob@elsewhere pid 77"):
            done = _fleet(tmp_path, "run", "--fleet", str(fleet), "--parallel", "2",
                          "--keep-going", "--yes", "--json")
    finally:
        disconnect(client)
    assert done.returncode == 3, done.stderr
    events = _events(done.stdout)
    assert _verdicts(events) == {held.shard: "refused", free.shard: "migrated"}
    error = next(e for e in events if e["event"] == "error" and e["shard"] == held.shard)
    assert "bob@elsewhere pid 77" in error["message"]
    assert _migrated(free) and not _migrated(held)



def test_an_attended_fleet_run_in_a_real_terminal(sandbox: SandboxFactory,
                                                  tmp_path: Path) -> None:
    """No --yes, no plan, a terminal: the fleet's name typed once, then the shard's own
    questions asked one at a time, each naming its shard (typed ones want the shard's
    name), and the shard migrated."""
    import pexpect

    (config,) = [sandbox(nodes=1, pg="sim", shard="1.moray.fleet.test")]
    fleet = _fleet_file(tmp_path, [config])
    child = pexpect.spawn(sys.executable, ["-m", "migrator", "fleet", "run", "--fleet",
                                           str(fleet)],
                          env={**_env(tmp_path), "TERM": "xterm"}, encoding="utf-8",
                          timeout=120, dimensions=(50, 200))
    asked: list[str] = []
    try:
        child.expect(r"Run 1 shard\(s\) of fleet sandbox-fleet")
        child.expect(r"Type the fleet name \(sandbox-fleet\) to go ahead")
        child.send("sandbox-fleet\r")
        for _ in range(20):  # bounded: a one-node run asks a handful of questions
            # the prompt is styled: escape sequences between its words and (y/N)
            found = child.expect([r"\(y/N\)", r"Type the shard name \(1\.moray\.fleet\.test\)",
                                  pexpect.EOF])
            if found == 2:
                break
            question = str(child.before).rsplit("[1.moray.fleet.test]", 1)
            assert len(question) == 2, f"a question without its shard: {child.before!r}"
            asked.append(question[1])
            child.send("y" if found == 0 else "1.moray.fleet.test\r")
        else:
            pytest.fail(f"more questions than a one-node run asks: {asked}")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert asked, "no question of the shard was relayed"
    assert _migrated(config)
