"""`migrator fleet plan` against a sandbox fleet: one shard already at v2, one at v1, one
with a bad inventory and one skipped give their rows and the exit status, and `--out`
saves plans that `migrator run --plan` runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox.conftest import SandboxFactory

pytestmark = pytest.mark.sandbox

ONE, TWO, BAD = (f"{n}.moray.sandbox.test" for n in (1, 2, 3))


def migrator(*args: str | Path, cwd: Path, env: dict[str, str]) -> Any:
    return subprocess.run(["migrator", *map(str, args)], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300, check=False)


def fleet_file(path: Path, shards: list[dict[str, str]]) -> Path:
    path.write_text(yaml.safe_dump({"fleet": "sandbox-test", "shards": shards},
                                   sort_keys=False))
    return path


def test_rows_exit_status_and_saved_plans(sandbox: SandboxFactory, tmp_path: Path) -> None:
    top = sandbox(shards=2, nodes=1, access="zlogin")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "NO_COLOR": "1"}
    inventory = {s: top.directory / "shards" / s / "inventory.yaml" for s in (ONE, TWO)}
    done = migrator("run", "--yes", "--inventory", inventory[ONE], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"shard: {BAD}\nzones: [\n")
    fleet = fleet_file(tmp_path / "fleet.yaml", [
        {"shard": ONE, "inventory": str(inventory[ONE])},
        {"shard": TWO, "inventory": str(inventory[TWO])},
        {"shard": BAD, "inventory": bad.name},
        {"shard": "4.moray.sandbox.test", "skip": "retired"}])

    shown = migrator("fleet", "plan", "--fleet", fleet, "--json", cwd=tmp_path, env=env)
    assert shown.returncode == 2, shown.stderr[-3000:]  # the bad inventory: bad input
    document = json.loads(shown.stdout)
    rows = {r["shard"]: r for r in document["rows"]}
    assert [r["shard"] for r in document["rows"]] == [ONE, TWO, BAD, "4.moray.sandbox.test"]
    assert (rows[ONE]["mode"], rows[ONE]["status"], rows[ONE]["stepsLeft"]) == ("v2", "done", 0)
    assert (rows[TWO]["mode"], rows[TWO]["status"], rows[TWO]["playbook"]) == \
        ("v1", "ready", "one-node")
    assert rows[TWO]["stepsLeft"] == rows[TWO]["stepsTotal"] > 0
    assert rows[TWO]["outages"] > 0 and rows[TWO]["outageSeconds"] > 0
    assert rows[TWO]["writes"][0]["summary"].split()[:2] == ["create", f"/manatee/{TWO}/state"]
    assert (rows[BAD]["status"], rows[BAD]["exitStatus"]) == ("refused", 2)
    assert "bad.yaml" in rows[BAD]["note"]
    assert rows["4.moray.sandbox.test"]["status"] == "skip"
    assert document["totals"]["refused"] == 1 and document["exitStatus"] == 2
    assert f"cannot be planned now: {BAD}" in shown.stderr

    table = migrator("fleet", "plan", "--fleet", fleet, cwd=tmp_path, env=env)
    assert table.returncode == 2
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines[:6]) <= 120
    assert any(line.split()[:2] == [TWO, "v1"] and line.endswith("ready") for line in lines)
    assert any(line.startswith(f"{BAD}: ") for line in lines)
    # a refused shard: nothing saved, even with --yes
    refused = migrator("fleet", "plan", "--fleet", fleet, "--out", tmp_path / "plans",
                       "--yes", cwd=tmp_path, env=env)
    assert refused.returncode == 2 and not (tmp_path / "plans").exists()

    good = fleet_file(tmp_path / "good.yaml", [
        {"shard": ONE, "inventory": str(inventory[ONE])},
        {"shard": TWO, "inventory": str(inventory[TWO])}])
    # the one question for the whole fleet: no terminal, no --yes, nothing saved
    unasked = migrator("fleet", "plan", "--fleet", good, "--out", tmp_path / "plans",
                       cwd=tmp_path, env=env)
    assert unasked.returncode == 3, unasked.stderr[-3000:]
    assert f"/manatee/{TWO}/state (after)" in unasked.stdout  # the /state it would write
    assert not (tmp_path / "plans").exists()
    saved = migrator("fleet", "plan", "--fleet", good, "--out", tmp_path / "plans", "--yes",
                     cwd=tmp_path, env=env)
    assert saved.returncode == 0, saved.stderr[-3000:]
    index = json.loads((tmp_path / "plans" / "fleet-plan.json").read_text())
    assert index["fleet"] == "sandbox-test" and index["fleetFile"] == str(good.resolve())
    assert index["fleetDigest"] == "sha256:" + hashlib.sha256(good.read_bytes()).hexdigest()
    assert index["plans"] == {ONE: f"{ONE}.json", TWO: f"{TWO}.json"}

    ran = migrator("run", "--plan", tmp_path / "plans" / f"{TWO}.json", "--inventory",
                   inventory[TWO], cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    after = migrator("fleet", "plan", "--fleet", good, "--json", cwd=tmp_path, env=env)
    assert after.returncode == 0, after.stderr[-3000:]
    assert [(r["mode"], r["status"]) for r in json.loads(after.stdout)["rows"]] == \
        [("v2", "done"), ("v2", "done")]
