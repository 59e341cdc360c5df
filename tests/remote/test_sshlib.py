"""paramiko imported without invoke and importlib.metadata, and Match exec still working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrator.remote.sshlib import needs_match_exec


@pytest.mark.local
def test_paramiko_is_imported_without_invoke_or_a_distribution_scan() -> None:
    code = (
        "import sys\n"
        "from migrator.remote.sshlib import paramiko\n"
        "skipped = sorted({'invoke', 'importlib.metadata'} & set(sys.modules))\n"
        "banner = paramiko.Transport._CLIENT_ID\n"
        "import importlib.metadata\n"
        "print(skipped, banner == 'paramiko_' + importlib.metadata.version('paramiko'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[] True"


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


@pytest.mark.unit
def test_only_a_match_line_with_exec_needs_invoke() -> None:
    assert needs_match_exec('Match host x exec "test -f /y"\n')
    assert needs_match_exec('  match exec "true"\n')
    assert not needs_match_exec("Host zone-c\n  Hostname 127.0.0.33\n  # exec is a word here\n")
    assert not needs_match_exec("Host exec\n")
