"""An operator's ssh_config with `Match exec` lines is read as OpenSSH reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.local
def test_match_exec_in_an_ssh_config_still_runs(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        'Match host zone-a exec "true"\n  Hostname 127.0.0.31\n'
        'Match host zone-b exec "false"\n  Hostname 127.0.0.32\n'
    )
    # In a fresh process (invoke not imported yet), as the CLI runs it; invoke
    # mirrors stdin to the command, so give it an empty one.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from migrator.remote.endpoint import load_ssh_config\n"
        f"parsed = load_ssh_config(Path({str(config)!r}))\n"
        "print(parsed.lookup('zone-a')['hostname'], parsed.lookup('zone-b')['hostname'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, stdin=subprocess.DEVNULL)
    assert done.stdout.split() == ["127.0.0.31", "zone-b"]
