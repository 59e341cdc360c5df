"""The production quick start (docs/production.md, and its copy in the README) run
against a sandbox exactly as written, with the sandbox's names substituted: the
commands in order, then the ones for when a run stops."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
DOC_SHARD = "1.moray.us-east.joyent.us"


def _blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block."""
    return [block.strip().splitlines()
            for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)]


def test_the_readme_shows_the_pages_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## In production"):readme.index("## Adding a step")]
    page = _blocks((ROOT / "docs" / "production.md").read_text())
    assert _blocks(section) == [page[0]]


def test_every_command_of_the_quick_start_runs_against_a_sandbox(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    config = sandbox(nodes=3, access="zlogin")
    in_order, when_it_stops = _blocks((ROOT / "docs" / "production.md").read_text())
    assert [line.split()[:3] for line in in_order] == [
        ["migrator", "inventory", "discover"], ["migrator", "inventory", "check"],
        ["migrator", "plan", "--inventory"], ["migrator", "run", "--inventory"],
        ["migrator", "report", "--inventory"]]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}
    for line in [*in_order, *when_it_stops]:
        command = line.replace(DOC_SHARD, config.shard)
        done = subprocess.run(["bash", "-c", command], cwd=config.directory, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, (command, done.stderr[-3000:])
    written = yaml.safe_load((config.directory / f"{config.shard}.yaml").read_text())
    assert written["zookeeper_via"] == "headnode"
    ticket = (config.directory / "ticket.txt").read_text()
    assert config.shard in ticket
