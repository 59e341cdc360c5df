"""The `migrator` program's exit (``migrator.cli.run``): status and output survive the fast exit.

These start the real program as a process (no ZooKeeper, no SSH involved).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.local


def _program(*args: str, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


def test_success_keeps_status_zero_and_all_output() -> None:
    shown = _program("playbooks", "show", "three-node")
    assert shown.returncode == 0
    # the last line (the last step's verifications) arrived: nothing stayed in a buffer
    last = shown.stdout.rstrip().splitlines()[-1]
    assert last.strip().startswith("verify: primary_settled, peers_all_present")


def test_bad_input_keeps_its_status_and_message(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    done = _program("plan", "--inventory", str(missing))
    assert done.returncode == 2
    assert f"Cannot read the inventory {missing}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_usage_error_keeps_clicks_status() -> None:
    done = _program("plan", "--no-such-option")
    assert done.returncode == 2
    assert "No such option" in done.stderr


def test_output_to_a_file_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    with out.open("w") as handle:
        done = _program("playbooks", "show", "three-node", "--json", stdout=handle.fileno())
    assert done.returncode == 0
    assert json.loads(out.read_text())["name"] == "three-node"

