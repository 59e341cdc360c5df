"""`migrator fleet status` and `migrator fleet report` over two real sandbox shards.

Each shard is an ordinary one-shard sandbox with its own ZooKeeper; the second is
brought up under another shard name (`sandbox up --shard`: a fleet lists a shard once).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.sandbox.config import SandboxConfig
from tests.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

FIRST = "1.moray.sandbox.test"  # the sandbox's own name: left at v1
SECOND = "2.moray.sandbox.test"  # migrated
SKIPPED = "3.moray.sandbox.test"
BROKEN = "4.moray.sandbox.test"
ABSENT = "5.moray.sandbox.test"
TIMEOUT = 240.0


def _renamed_sandbox(sandbox: SandboxFactory, shard: str) -> SandboxConfig:
    config = sandbox(nodes=1, pg="sim", shard=shard)
    assert config.shard == shard
    return config


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1",
            "COLUMNS": "200"}


def _migrator(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, env=_env(tmp_path),
                          stdin=subprocess.DEVNULL, check=False)


def _fleet_file(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"fleet": "sandbox-fleet", "shards": entries}))
    return path


def _row(text: str, shard: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(shard + " ")]
    assert len(found) == 1, text
    return found[0]


def test_fleet_status_and_report_show_each_shard_and_the_totals(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    first = sandbox(nodes=1, pg="sim")
    second = _renamed_sandbox(sandbox, SECOND)
    inventory = second.directory / "inventory.yaml"
    run = _migrator(tmp_path, "run", "--yes", "--inventory", str(inventory))
    assert run.returncode == 0, run.stderr[-3000:]
    entries = [{"shard": SECOND, "inventory": str(inventory)},
               {"shard": FIRST, "inventory": str(first.directory / "inventory.yaml")},
               {"shard": SKIPPED, "skip": "already at v2"}]
    fleet = _fleet_file(tmp_path / "fleet.yaml", entries)

    shown = _migrator(tmp_path, "fleet", "status", "--fleet", str(fleet))
    assert shown.returncode == 0, shown.stderr
    assert all(len(line) <= 120 for line in shown.stdout.splitlines()), shown.stdout
    assert re.fullmatch(rf"{re.escape(SECOND)}\s+v2\s+done\s+-\s+(\d+)/\1 all done\s+"
                        r"\d+s\s+\S.*", _row(shown.stdout, SECOND)), shown.stdout
    assert re.fullmatch(rf"{re.escape(FIRST)}\s+v1\s+no run\s+-\s+-\s+-\s+-",
                        _row(shown.stdout, FIRST)), shown.stdout
    assert re.fullmatch(rf"{re.escape(SKIPPED)}\s+-\s+skipped\s+-\s+already at v2\s+-\s+-",
                        _row(shown.stdout, SKIPPED)), shown.stdout
    assert "3 shard(s): 1 no run, 1 done, 1 skipped" in shown.stdout

    as_json = _migrator(tmp_path, "fleet", "status", "--fleet", str(fleet), "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    rows = {r["shard"]: r for r in document["shards"]}
    assert [r["shard"] for r in document["shards"]] == [SECOND, FIRST, SKIPPED]
    done = rows[SECOND]
    assert (done["state"], done["mode"], done["kind"], done["runStatus"]) == (
        "done", "v2", "migration", "done")
    assert done["index"] == done["total"] + 1 and done["step"] is None
    assert done["lockHolders"] == [] and done["elapsedSeconds"] > 0
    assert (rows[FIRST]["state"], rows[FIRST]["mode"]) == ("no run", "v1")
    assert (rows[SKIPPED]["state"], rows[SKIPPED]["note"]) == ("skipped", "already at v2")
    assert document["counts"]["done"] == 1

    # the report: every shard's `migrator report`, as that command gives it, and the totals
    single = _migrator(tmp_path, "report", "--inventory", str(inventory))
    single_json = _migrator(tmp_path, "report", "--inventory", str(inventory),
                            "--format", "json")
    assert single.returncode == 0 and single_json.returncode == 0, single.stderr
    markdown = _migrator(tmp_path, "fleet", "report", "--fleet", str(fleet))
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("# Fleet migration report: fleet sandbox-fleet\n")
    assert "- Shards: 3: 1 migrated, 1 not migrated, 1 skipped\n" in markdown.stdout
    assert single.stdout in markdown.stdout
    assert f"| {FIRST} | not migrated: no journal | - |" in markdown.stdout
    assert f"| {SKIPPED} | skipped: already at v2 | - |" in markdown.stdout
    expected = json.loads(single_json.stdout)
    report = _migrator(tmp_path, "fleet", "report", "--fleet", str(fleet), "--json")
    assert report.returncode == 0, report.stderr
    found = json.loads(report.stdout)
    assert found["shards"][0]["report"] == expected
    assert [s["result"] for s in found["shards"]] == ["migrated", "not migrated", "skipped"]
    windows = [w["seconds"] for r in expected["runs"] for w in r["outages"]
               if w["seconds"] is not None]
    summary = found["summary"]
    assert (summary["migrated"], summary["notMigrated"], summary["skipped"]) == (1, 1, 1)
    assert summary["outageSeconds"] == round(sum(windows), 3)
    assert summary["outageWindows"] == sum(len(r["outages"]) for r in expected["runs"])
    assert summary["firstStart"] == expected["runs"][0]["started"]
    assert summary["lastEnd"] == expected["runs"][-1]["lastActivity"]
    out = tmp_path / "ticket.md"
    written = _migrator(tmp_path, "fleet", "report", "--fleet", str(fleet), "--markdown",
                        "--out", str(out))
    assert written.returncode == 0 and written.stdout == "", written.stderr
    assert out.read_text() == markdown.stdout

    # a shard whose inventory cannot be read, and one its ZooKeeper does not have (read
    # over the session of the shard beside it): their rows say why, the others are shown
    absent = tmp_path / "absent.yaml"
    absent.write_text(inventory.read_text().replace(SECOND, ABSENT))
    broken = _fleet_file(tmp_path / "broken.yaml", [
        *entries, {"shard": BROKEN, "inventory": str(tmp_path / "missing.yaml")},
        {"shard": ABSENT, "inventory": str(absent)}])
    failing = _migrator(tmp_path, "fleet", "status", "--fleet", str(broken))
    assert failing.returncode == 2, failing.stderr
    assert "Traceback" not in failing.stderr
    assert re.fullmatch(rf"{re.escape(BROKEN)}\s+-\s+error\s+-\s+Cannot read the inventory.*",
                        _row(failing.stdout, BROKEN)), failing.stdout
    assert f"{BROKEN}: Cannot read the inventory {tmp_path / 'missing.yaml'}" in " ".join(
        failing.stdout.split())
    assert _row(failing.stdout, SECOND).split() == _row(shown.stdout, SECOND).split()
    assert re.fullmatch(rf"{re.escape(ABSENT)}\s+-\s+error\s+-\s+No such shard in ZooKeeper.*",
                        _row(failing.stdout, ABSENT)), failing.stdout
    assert f"/manatee/{ABSENT} does not exist" in " ".join(failing.stdout.split())
    assert f"2 shard(s) of the fleet could not be read: {BROKEN}, {ABSENT}." in failing.stderr
    failing_json = _migrator(tmp_path, "fleet", "status", "--fleet", str(broken), "--json")
    assert failing_json.returncode == 2
    assert json.loads(failing_json.stdout)["shards"][3]["state"] == "error"
    failing_report = _migrator(tmp_path, "fleet", "report", "--fleet", str(broken), "--json")
    assert failing_report.returncode == 2
    assert json.loads(failing_report.stdout)["summary"]["unreadable"] == 2


def test_fleet_status_watch_redraws_when_a_shard_s_run_starts_and_stops_on_ctrl_c(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    import pexpect

    config = _renamed_sandbox(sandbox, SECOND)
    inventory = config.directory / "inventory.yaml"
    fleet = _fleet_file(tmp_path / "fleet.yaml", [
        {"shard": SECOND, "inventory": str(inventory)},
        {"shard": SKIPPED, "skip": "already at v2"}])
    env = {**_env(tmp_path), "COLUMNS": "160"}
    child = pexpect.spawn(sys.executable, ["-m", "migrator", "fleet", "status", "--fleet",
                                           str(fleet), "--watch"],
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, 160))
    run: subprocess.Popen[str] | None = None
    try:
        child.expect(rf"{re.escape(SECOND)}\s+v1\s+no run")
        child.expect(r"ZooKeeper change\(s\) seen")
        run = subprocess.Popen(
            [sys.executable, "-m", "migrator", "run", "--yes", "--inventory", str(inventory)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=_env(tmp_path))
        # the run takes the shard's lock: the view redraws with it, naming the holder
        child.expect(rf"{re.escape(SECOND)}\s+\S+\s+running\s+\S+@\S+ pid \d+")
        child.expect(rf"{re.escape(SECOND)}\s+v2\s+done", timeout=TIMEOUT)
        _, err = run.communicate(timeout=TIMEOUT)
        assert run.returncode == 0, err[-3000:]
        child.sendintr()
        child.expect("Stopped watching fleet sandbox-fleet.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        if run is not None and run.poll() is None:
            run.kill()
            run.communicate(timeout=30)
    assert child.exitstatus == 0
