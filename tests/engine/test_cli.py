"""The engine's CLI verbs in-process against the real ZooKeeper: exit codes and messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.lock import RunLock
from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard
from tests.engine.helpers import IPS, SHARD, ZK_ONLY_PLAYBOOK, ZONES

pytestmark = pytest.mark.zk


Result = CliResult


def test_playbooks_validate_reports_file_and_line(cli: Callable[..., Result],
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(ZK_ONLY_PLAYBOOK.replace("check: shard_frozen", "check: frozen"))
    result = cli("playbooks", "validate", str(bad), shard=False)
    assert result.status == 2
    assert f"{bad}, line " in result.err and "unknown check 'frozen'" in result.err
    assert "Traceback" not in result.err
    good = tmp_path / "good.yaml"
    good.write_text(ZK_ONLY_PLAYBOOK)
    valid = cli("playbooks", "validate", str(good), shard=False)
    assert valid.status == 0 and "valid playbook zk-only (2 steps" in valid.out


def test_playbooks_list_and_show(cli: Callable[..., Result]) -> None:
    listed = cli("playbooks", "list", "--json", shard=False)
    assert listed.status == 0
    names = [p["name"] for p in json.loads(listed.out)["playbooks"]]
    assert {"one-node", "three-node", "three-node-frozen-primary", "two-node"} <= set(names)
    shown = cli("playbooks", "show", "three-node-frozen-primary", shard=False)
    assert shown.status == 0
    assert "Trade-off:" in shown.out and "Reprovision the primary while frozen" in shown.out


def test_plan_writes_nothing_and_saved_plan_runs(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard, book: str, tmp_path: Path,
) -> None:
    plan_file = tmp_path / "plan.json"
    planned = cli("plan", "--playbook", book, "--json", "--out", str(plan_file))
    assert planned.status == 0, planned.err
    doc = json.loads(planned.out)
    assert [s["status"] for s in doc["steps"]] == ["pending", "pending"]
    assert doc["steps"][0]["write"]["op"] == "create"
    assert not zk.exists(f"/manatee-migrator/{SHARD}/journal")
    assert not zk.exists(f"/manatee/{SHARD}/state")
    ran = cli("run", "--plan", str(plan_file), "--playbook", book)
    assert ran.status == 0, ran.err
    assert "(saved plan" in ran.err
    stale = cli("run", "--plan", str(plan_file), "--playbook", book)
    assert stale.status == 3 and "stale" in stale.err


def test_offline_plan_from_a_topology_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    topology = {
        "shard": SHARD,
        "election": [
            {"name": f"{ip}:5432:12345-{i:010d}",
             "data": {"zoneId": zone, "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}}
            for i, (ip, zone) in enumerate(zip(IPS, ZONES, strict=False))
        ],
        "state": None,
    }
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topology))
    result = cli("plan", "--topology", str(path), shard=False)
    assert result.status == 0, result.err
    assert "playbook three-node" in result.out and "[PENDING] Backfill" in result.out
    assert '+  "freeze": {' in result.out and "Risks:" in result.out
    # both three-node orders are shown, with the trade-off
    assert "Trade-off: This order unfreezes the shard *before*" in result.out
    assert "Alternative: three-node-frozen-primary: Keeping the freeze" in result.out
    path.write_text("{}")
    broken = cli("plan", "--topology", str(path), shard=False)
    assert broken.status == 2 and "not shaped as expected" in broken.err


def test_bad_inputs_exit_with_a_paragraph(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard,
) -> None:
    unknown = cli("run", "--yes", "--playbook", "four-node")
    assert unknown.status == 2 and "Unknown playbook 'four-node'" in unknown.err
    no_tty = cli("run")
    assert no_tty.status == 3 and "no terminal" in no_tty.err
    no_journal = cli("resume", "--yes")
    assert no_journal.status == 2 and "nothing to resume" in no_journal.err
    wrong_size = cli("run", "--yes", "--playbook", "two-node")
    assert wrong_size.status == 2 and "2-node shard" in wrong_size.err
    assert not zk.exists(f"/manatee/{SHARD}/state")


def test_break_lock_then_run(cli: Callable[..., Result], zk: Any, three_peers: V1Shard,
                             book: str) -> None:
    holder = RunLock(zk, SHARD, "carol@elsewhere pid 7")
    holder.acquire()
    refused = cli("run", "--yes", "--playbook", book)
    assert refused.status == 3 and "carol@elsewhere pid 7" in refused.err
    broke = cli("run", "--yes", "--break-lock", "--playbook", book)
    assert broke.status == 0, broke.err
    assert "held by carol@elsewhere pid 7" in broke.err and "Lock broken." in broke.err
    again = cli("run", "--yes", "--playbook", book)
    assert again.status == 0 and "Nothing to do" in again.err


def test_half_migrated_by_hand_is_reconstructed_shown_and_asked(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard, book: str,
) -> None:
    from migrator.cluster.backfill import compute_backfill_state
    from migrator.zk import reads, writes

    snap = reads.read_shard(zk, SHARD)
    writes.create_state(zk, SHARD, compute_backfill_state(snap.topology,
                                                          "2026-11-26T05:00:00.000Z"))
    planned = cli("plan", "--playbook", book)
    assert planned.status == 0
    assert "half-migrated without this tool" in planned.out
    assert "[DONE] Backfill" in planned.out and "[PENDING] Unfreeze" in planned.out
    asked = cli("run", "--playbook", book)  # no terminal: it must ask, so it fails fast
    assert asked.status == 3
    ran = cli("run", "--yes", "--playbook", book)
    assert ran.status == 0, ran.err
    assert "reconstructed" in ran.err and "Continue the migration" in ran.err
    state = reads.read_state(zk, SHARD)
    assert state is not None and state[0].freeze is None


def test_ctrl_c_inside_a_wait_leaves_the_journal_consistent(
    zk_server: ZooKeeperServer, zk: Any, three_peers: V1Shard, tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading

    from kazoo.recipe.watchers import DataWatch

    from migrator.engine.journal import Journal

    slow = tmp_path / "slow.yaml"
    slow.write_text(ZK_ONLY_PLAYBOOK.replace(
        "      - check: shard_unfrozen\n    done_when:",
        "      - check: generation_at_least\n        params: {generation: 5}\n    done_when:",
    ).replace("    timeout: 5\n", "    timeout: 120\n"))
    # faulthandler: if the process ever hangs after Ctrl-C, SIGABRT dumps every thread
    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"),
           "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "migrator", "run", "--zk", zk_server.connection_string,
         "--shard", SHARD, "--yes", "--playbook", str(slow)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )
    waiting = threading.Event()

    def watch(data: bytes | None, _stat: Any) -> bool:
        if data and '"unfreeze":{"status":"verifying"' in data.decode():
            waiting.set()
            return False
        return True

    zk.ensure_path(f"/manatee-migrator/{SHARD}")
    DataWatch(zk, f"/manatee-migrator/{SHARD}/journal", watch)
    try:
        assert waiting.wait(60)
        process.send_signal(signal.SIGINT)
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _out, err = process.communicate(timeout=15)
            pytest.fail(f"migrator did not exit within 30 s of Ctrl-C; its threads:\n{err}")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    data, _ = zk.get(f"/manatee-migrator/{SHARD}/journal")
    journal = Journal.from_json(json.loads(data))
    run = journal.run("migration")
    assert run is not None and run.status == "interrupted"
    assert run.steps["backfill"].status == "done"
    assert run.steps["unfreeze"].status == "verifying"
    assert run.steps["unfreeze"].detail == "interrupted (Ctrl-C)"


def test_a_finished_run_is_never_rewritten_and_a_refused_command_writes_nothing(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard, book: str,
) -> None:
    from migrator.engine.journal_znode import journal_path

    path = journal_path(SHARD)
    ran = cli("run", "--yes", "--playbook", book)
    assert ran.status == 0, ran.err
    data, stat = zk.get(path)
    first = json.loads(data)["runs"][0]
    assert first["status"] == "done" and first["log"], first

    again = cli("run", "--yes", "--playbook", book)
    assert again.status == 0 and "Nothing to do" in again.err, again.err
    holder = RunLock(zk, SHARD, "carol@elsewhere pid 7")
    holder.acquire()
    try:
        refused = cli("run", "--yes", "--playbook", book)
    finally:
        holder.release()
    assert refused.status == 3 and "carol@elsewhere pid 7" in refused.err
    assert zk.get(path) == (data, stat)  # neither wrote a byte


def test_nothing_to_do_only_once_every_step_is_recorded_done(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard, book: str,
) -> None:
    """A step the journal left `acting` (a run stopped after the action was sent) whose
    done-check now holds is recorded done, as proved by that check, before the run says
    there is nothing to do: the record never reads done with a step still acting."""
    from migrator.engine.journal_znode import journal_path

    path = journal_path(SHARD)
    assert cli("run", "--yes", "--playbook", book).status == 0
    data, stat = zk.get(path)
    doc = json.loads(data)
    run = doc["runs"][-1]
    run["status"] = "interrupted"
    run["steps"]["unfreeze"].update(status="acting", finished=None,
                                    detail="interrupted (Ctrl-C)")
    zk.set(path, json.dumps(doc).encode(), version=stat.version)

    resumed = cli("resume", "--yes", "--playbook", book)
    assert resumed.status == 0, resumed.err
    assert "Nothing to do" in resumed.err
    run = json.loads(zk.get(path)[0])["runs"][-1]
    assert run["status"] == "done"
    unfreeze = run["steps"]["unfreeze"]
    assert unfreeze["status"] == "done" and unfreeze["doneBy"] == "already-held", unfreeze
    assert unfreeze["detail"] == "already holds: the shard is not frozen", unfreeze


def test_action_started_names_what_the_action_does_and_its_zone(
    cli: Callable[..., Result], zk: Any, three_peers: V1Shard, book: str,
) -> None:
    from migrator.engine.journal_znode import journal_path

    ran = cli("run", "--yes", "--json", "--playbook", book)
    assert ran.status == 0, ran.err
    events = [json.loads(line) for line in ran.out.splitlines() if line.startswith("{")]
    started = {e["step"]: e for e in events if e["event"] == "action-started"}
    assert started["unfreeze"]["command"] == (
        f"set /manatee/{SHARD}/state without its freeze + history/0-")
    assert started["unfreeze"]["zone"] is None  # a ZooKeeper write names no zone
    assert started["backfill"]["command"].startswith(f"create /manatee/{SHARD}/state")
    # journalled apart from what an action records itself: a resume reads `command` (and
    # `pid`...) in the intent as evidence that the action began
    intent = json.loads(zk.get(journal_path(SHARD))[0])["runs"][-1]["steps"]["unfreeze"][
        "intent"]
    assert intent["described"] == started["unfreeze"]["command"] and "command" not in intent
