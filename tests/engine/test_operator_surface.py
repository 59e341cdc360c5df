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


@pytest.fixture
def cli(zk_server: ZooKeeperServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., CliResult]:
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))

    def run(*args: str) -> CliResult:
        argv = list(args)
        argv[1:1] = ["--zk", zk_server.connection_string, "--shard", SHARD]
        return invoke_cli(argv, capsys)

    return run


@pytest.fixture
def book(tmp_path: Path) -> str:
    path = tmp_path / "zk-only.yaml"
    path.write_text(ZK_ONLY_PLAYBOOK)
    return str(path)


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
    assert kinds[0] == "summary" and kinds[-1] == "finished"
    assert events[-1]["exitStatus"] == 0
    summary = events[0]
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
