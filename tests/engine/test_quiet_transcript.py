"""`--quiet` and the transcript beside the audit record, on a real ZooKeeper (the
ZooKeeper-only playbook, its unfreeze an outage step)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.journal_store import audit_dir_of
from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard
from tests.engine.helpers import SHARD, ZK_ONLY_PLAYBOOK

pytestmark = pytest.mark.zk

OUTAGE_PLAYBOOK = ZK_ONLY_PLAYBOOK.replace(
    '    action: {name: unfreeze}\n    confirm: "yes"',
    '    action: {name: unfreeze}\n    confirm: typed\n    outage: true')
STAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  ")


def _transcript(err: str) -> Path:
    (line,) = [line for line in err.splitlines() if line.startswith("Transcript: ")]
    return Path(line.removeprefix("Transcript: ").strip())


def test_quiet_prints_the_outage_and_the_end_and_the_transcript_keeps_everything(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, zk_server: ZooKeeperServer,
    tmp_path: Path,
) -> None:
    assert "outage: true" in OUTAGE_PLAYBOOK
    book = tmp_path / "outage.yaml"
    book.write_text(OUTAGE_PLAYBOOK)
    ran = cli("run", "--playbook", str(book), "--yes", "--quiet")
    assert ran.status == 0, ran.err
    # the terminal: the outage clock, the table and the end; no step headers, no checks
    assert "⏱ write outage expected from now" in ran.err
    assert "⏱ the outage step unfreeze done after" in ran.err
    assert "Step times and write outages (migration, playbook zk-only)" in ran.err
    assert "zk-only complete" in ran.err
    assert "[1/2] Backfill" not in ran.err and "✔" not in ran.err
    assert "Pre-flight check:" not in ran.err  # it passed: in the transcript only
    assert "ZooKeeper write:" not in ran.err  # --yes: no question, so no write shown
    # the transcript, beside the audit record, holds all of it, each line stamped
    path = _transcript(ran.err)
    assert path.parent == audit_dir_of(zk_server.connection_string) / SHARD / "transcripts"
    assert path.name.endswith("-run.txt")
    text = path.read_text()
    lines = text.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines[:3]
    for seen in ("migrator run, shard " + SHARD, "Pre-flight check:", "[1/2] Backfill",
                 "ZooKeeper write:",
                 "yes (--yes)", "⏱ write outage expected from now", "zk-only complete",
                 "Step times and write outages"):
        assert seen in text, seen
    # a run without --quiet says the same, and gets a transcript of its own
    again = cli("run", "--playbook", str(book), "--yes")
    assert again.status == 0, again.err
    assert "Nothing to do" in again.err or "already" in again.err
    assert _transcript(again.err) != path


def test_a_refused_run_keeps_its_error_in_the_transcript(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, tmp_path: Path,
) -> None:
    book = tmp_path / "bad.yaml"  # an outage step that is not typed: the run refuses it
    book.write_text(OUTAGE_PLAYBOOK.replace("confirm: typed", 'confirm: "yes"'))
    refused = cli("run", "--playbook", str(book), "--yes", "--quiet")
    assert refused.status == 2, refused.err
    text = _transcript(refused.err).read_text()
    assert "migrator run, shard" in text
    assert "error: " in text and "must use confirm: typed" in text, text
