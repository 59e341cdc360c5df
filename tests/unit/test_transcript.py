"""The transcript (plain, stamped, inert, written through) and --quiet's console."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from migrator.engine.console import RunConsole
from migrator.engine.transcript import Transcript

pytestmark = pytest.mark.unit

STAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  ")


def test_lines_are_stamped_inert_and_on_disk_at_once(tmp_path: Path) -> None:
    transcript, problem = Transcript.start(tmp_path, "run")
    assert transcript is not None and problem is None
    assert transcript.path.parent == tmp_path / "transcripts"
    transcript.write("[1/2] Backfill\n  ✔ done")
    transcript.write("zone said \x1b[2Jcleared\x07")
    # written through: readable before the transcript is closed (a SIGKILL keeps it)
    lines = transcript.path.read_text().splitlines()
    assert [STAMP.sub("", line) for line in lines] == [
        "[1/2] Backfill", "  ✔ done", "zone said \\x1b[2Jcleared\\x07"]
    assert all(STAMP.match(line) for line in lines)
    transcript.close()
    transcript.write("after close")  # ignored, not an error
    assert "after close" not in transcript.path.read_text()


def test_a_transcript_that_cannot_be_written_says_why_and_stops(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    transcript, problem = Transcript.start(blocked, "run")
    assert transcript is None and problem is not None
    assert "could not be written" in problem and "goes on without it" in problem


def test_quiet_shows_only_essential_lines_and_the_transcript_keeps_all(tmp_path: Path
                                                                      ) -> None:
    transcript, _ = Transcript.start(tmp_path, "run")
    assert transcript is not None
    stream = io.StringIO()
    console = RunConsole(assume_yes=True, shard="1.moray.test", stream=stream, quiet=True,
                         transcript=transcript)
    console.step(1, 2, "Backfill", "backfill")
    console.ok("state_absent: no /state")
    console.essential("  ⏱ write outage expected from now")
    console.ask("Write it?", {"generation": 0}, typed=False)  # --yes: nobody is asked
    with console.acting("reprovision z1", "z1"):
        console.seen("VMAPI job 1 running")
    shown = stream.getvalue()
    assert "⏱ write outage expected from now" in shown
    for hidden in ("Backfill", "state_absent", "Write it?", "generation", "VMAPI job"):
        assert hidden not in shown, hidden
    kept = transcript.path.read_text()
    for line in ("[1/2] Backfill (backfill)", "✔ state_absent: no /state", "⏱ write outage",
                 "Write it? yes (--yes)", '"generation": 0', "acting: reprovision z1",
                 "last seen: VMAPI job 1 running"):
        assert line in kept, line
