"""`migrator plan` (offline and live) and `migrator status` run, and what they loaded:
not what only a run uses (the module sets named in ``tests/unit/test_start_up_imports.py``,
which reads them from the source)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import ZONES, V1Shard
from tests.unit.test_start_up_imports import NOT_FOR_STATUS, RUN_ONLY

# runs the migrator as its console script does, then writes the names of the modules
# loaded by the end (``sys.modules`` at exit) to the file given first
_RUN = ("import atexit, runpy, sys\n"
        "out = sys.argv.pop(1)\n"
        "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(sys.modules))))\n"
        "sys.argv[0] = 'migrator'\n"
        "runpy.run_module('migrator', run_name='__main__')\n")


def _loaded(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", _RUN, str(out), *args], capture_output=True,
                          text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    return done, set(out.read_text().split())


@pytest.mark.local
def test_an_offline_plan_loads_nothing_only_a_run_uses(tmp_path: Path) -> None:
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps({"shard": "1.moray.test", "state": None, "election": [
        {"name": f"{ip}:5432:12345-{i:010d}",
         "data": {"zoneId": zone, "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}}
        for i, (ip, zone) in enumerate(list(ZONES.items())[:3])]}))
    done, loaded = _loaded(tmp_path, "plan", "--topology", str(topology))
    assert done.returncode == 0, done.stderr
    assert "playbook three-node" in done.stdout
    assert "migrator.commands.planning" in loaded
    assert sorted(loaded & RUN_ONLY) == []


@pytest.mark.zk
def test_a_live_plan_loads_nothing_only_a_run_uses(
    zk_server: ZooKeeperServer, zk: Any, v1_shard: V1Shard, tmp_path: Path,
) -> None:
    """The plan of a live shard, its done-checks and pre-flight included: what it
    imports inside functions as it goes is loaded by the end, and counted too."""
    for ip, zone in list(ZONES.items())[:3]:
        v1_shard.join(ip, zone)
    done, loaded = _loaded(tmp_path, "plan", "-z", zk_server.connection_string,
                           "-s", v1_shard.shard)
    assert done.returncode == 0, done.stderr
    assert "playbook three-node" in done.stdout and "Pre-flight check" in done.stdout
    assert {"migrator.commands.planning", "migrator.engine.live_plan"} <= loaded
    assert sorted(loaded & RUN_ONLY) == []


@pytest.mark.zk
def test_status_of_a_shard_without_a_journal_loads_neither_journal_nor_run(
    zk_server: ZooKeeperServer, zk: Any, v1_shard: V1Shard, tmp_path: Path,
) -> None:
    for ip, zone in list(ZONES.items())[:3]:
        v1_shard.join(ip, zone)
    done, loaded = _loaded(tmp_path, "status", "-z", zk_server.connection_string,
                           "-s", v1_shard.shard)
    assert done.returncode == 0, done.stderr
    assert "migration journal: none" in done.stdout and "run lock: free" in done.stdout
    assert {"migrator.commands.progress", "migrator.engine.journal_znode"} <= loaded
    assert sorted(loaded & NOT_FOR_STATUS) == []
