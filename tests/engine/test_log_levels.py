"""Sitters at info write no DEBUG records: inventory check says so, plan warns, and the
run's checks fall back on INFO-level evidence instead of waiting out their timeouts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.logwatch import read_records
from tests.engine.sandbox_helpers import cli_env, migrator

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("level", ["info", "debug"])
def test_three_node_run_at_each_sitter_log_level(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path, level: str
) -> None:
    config = sandbox(nodes=3, sitter_log_level=level)
    check = subprocess.run(
        [sys.executable, "-m", "migrator", "inventory", "check", "--json", "--inventory",
         str(config.directory / "inventory.yaml")],
        capture_output=True, text=True, timeout=120, env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL, check=False,
    )
    assert check.returncode == 0, check.stderr
    seen = {z["zone"]: z["debug_records"] for z in json.loads(check.stdout)["zones"]}
    assert seen == {z.uuid: level == "debug" for z in config.zones}

    plan = migrator(config, tmp_path, "plan")
    assert plan.status == 0, plan.err
    warned = "waits for the DEBUG record 'cluster not yet setup'" in plan.out
    assert warned is (level == "info")
    assert ("waits for the DEBUG record 'pg.reconfigure'" in plan.out) is (level == "info")

    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err
    assert "three-node complete" in result.err
    fell_back = "so instead of 'cluster not yet setup' this waited for" in result.err
    assert fell_back is (level == "info")
    assert ("so instead of 'pg.reconfigure'" in result.err) is (level == "info")
    levels = {r["level"] for z in config.zones
              for r in read_records(config.zone_dir(z) / "sitter.log")}
    assert (20 in levels) is (level == "debug")


@pytest.mark.parametrize("layout", ["append", "fresh"])
def test_v1_sitters_at_debug_then_v2_sitters_at_info_in_either_log_layout(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path, layout: str
) -> None:
    """Issue 22 §3: the v1 sitters write DEBUG records, the v2 sitters after each
    reprovision do not. Appended to, the log still holds the v1 sitter's DEBUG records
    when the step waits (the whole log's end said "debug" and the run waited for
    `cluster not yet setup` until its timeout); fresh, it holds only the v2 sitter's.
    Either way the run takes the v2 sitter's INFO evidence and finishes."""
    config = sandbox(nodes=3, sitter_log_level="debug", v2_sitter_log_level="info",
                     reprovision_log=layout)
    result = migrator(config, tmp_path, "run", "--yes")
    assert result.status == 0, result.err
    assert "three-node complete" in result.err
    assert "so instead of 'cluster not yet setup' this waited for" in result.err
    assert "so instead of 'pg.reconfigure' this waited for" in result.err
    for zone in config.zones:
        log = config.zone_dir(zone) / "sitter.log"
        if layout == "append":
            written = read_records(log)
        else:
            written = read_records(config.zone_dir(zone) / "sitter.log.0") + read_records(log)
            assert all(r["level"] > 20 for r in read_records(log))  # the v2 sitter's file
        pids = list(dict.fromkeys(r["pid"] for r in written))
        assert len(pids) >= 2  # the v1 sitter, then the v2 sitter the reprovision started
        v1 = [r for r in written if r["pid"] == pids[0]]
        assert any(r["level"] == 20 for r in v1)
        assert all(r["level"] > 20 for r in written if r["pid"] == pids[-1])
        # what the log holds is what made the run wait before: DEBUG records in the
        # file the v2 sitter writes (appended), though not from it
        same_file = read_records(log)
        assert any(r["level"] == 20 for r in same_file) is (layout == "append")
