"""The README's first command: `migrator sandbox rehearse` walks the runbook end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrator.sandbox.manage import live_processes

pytestmark = [pytest.mark.pgreal, pytest.mark.sandbox]


def test_rehearse_three_nodes_through_the_cli() -> None:
    import shutil
    import tempfile

    # real postgres (the default) runs as the postgres user: not in pytest's 0700 tmp_path
    parent = Path(tempfile.mkdtemp(prefix="migrator-pg-test-", dir="/var/tmp"))
    parent.chmod(0o711)
    directory = parent / "sb"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "migrator", "sandbox", "rehearse", "--dir", str(directory)],
            capture_output=True, text=True, timeout=240, check=False,
        )
    finally:
        if (directory / "pids").exists():
            subprocess.run([sys.executable, "-m", "migrator", "sandbox", "down", "--dir",
                            str(directory)], capture_output=True, timeout=60, check=False)
        shutil.rmtree(parent, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sandbox up: 3 zone(s)")
    assert any(line.startswith("reprovisioned the async") and "unassigned" in line
               for line in lines)
    assert any("took over (generation 1)" in line and "deposed" in line for line in lines)
    assert lines[-1] == "rehearsal complete: the shard is migrated and writable"
    # real commits, every acknowledged one read back
    counts = next(line for line in lines if line.strip().startswith("acknowledged "))
    assert ", lost 0," in counts and not counts.strip().startswith("acknowledged 0,")
    assert any("every acknowledged write is accounted for" in line for line in lines)
    # the rehearsal's client saw the sync's and the primary's reprovisions as outages
    assert sum("write outage" in line for line in lines) >= 1
    assert live_processes(directory) == []  # it tears its sandbox down
