"""A sitter log, zones root or zone root that does not exist fails the zone's probe (the
pre-flight's and `inventory check`'s), naming the zone and the path (issue 21 §5).

Real sshd servers: a zone over its own SSH, and zones behind a compute node (zlogin).
The pre-flight's judgement of these problems is pure (tests/unit/test_input_errors.py).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.remote.probe import LOG_MISSING_PROBLEM, ZONES_ROOT_PROBLEM, probe_zone
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import write_inventory
from tests.remote.test_zlogin import Z1, _zlogin_inventory, node_over_sshd

pytestmark = pytest.mark.sshd


def _log_problems(inventory: Inventory, zone: str) -> tuple[str | None, list[str]]:
    with RemoteSession(inventory, use_agent=False) as session:
        report = probe_zone(session, zone, "manatee")
    assert report.reachable, report.problems
    return report.log, [p for p in report.problems
                        if p.startswith((LOG_MISSING_PROBLEM, ZONES_ROOT_PROBLEM))]


def test_a_sitter_log_that_does_not_exist_in_the_zone_is_a_problem(
    tmp_path: Path, zone_inventory: Callable[..., Inventory]
) -> None:
    missing = tmp_path / "nowhere" / "sitter.log"
    log, problems = _log_problems(zone_inventory(zone={"sitter_log": str(missing)}), "z1")
    assert log == f"{missing} (does not exist)"
    assert problems == [f"its sitter log {missing} does not exist in the zone; set "
                        "`sitter_log:` for the zone (or `commands.sitter_log`) in the "
                        "inventory to the log's path as the zone sees it"]
    missing.parent.mkdir()
    missing.write_text("x\n")
    assert _log_problems(zone_inventory(zone={"sitter_log": str(missing)}), "z1")[1] == []


@pytest.fixture
def node(tmp_path: Path, sshd_factory: Callable[..., SshServer]) -> dict[str, Any]:
    return node_over_sshd(tmp_path, sshd_factory)


def test_a_zones_root_that_does_not_exist_on_the_node_is_named(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    absent = tmp_path / "no-zones"
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]],
                             node_entry={"zones_root": str(absent)})
    _, problems = _log_problems(load_inventory(path), Z1)
    assert problems == [f"its compute node cn0 has no zones root {absent} "
                        "(`nodes.cn0.zones_root` in the inventory): give the directory "
                        "holding the node's zones (/zones on Triton)"]


def test_a_zone_missing_under_the_zones_root_is_named(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    empty = tmp_path / "empty-zones"
    empty.mkdir()
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]],
                             node_entry={"zones_root": str(empty)})
    _, problems = _log_problems(load_inventory(path), Z1)
    assert len(problems) == 1
    assert problems[0].startswith(f"its compute node cn0 has no {empty}/{Z1}/root: ")


def test_a_missing_log_behind_zlogin_names_both_views(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    log = node["zones"] / Z1 / "sitter.log"
    log.unlink()
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]])
    _, problems = _log_problems(load_inventory(path), Z1)
    assert problems == [f"its sitter log {log} does not exist in the zone "
                        f"({node['root']}/{Z1}/root{log} on compute node cn0); set "
                        "`sitter_log:` for the zone (or `commands.sitter_log`) in the "
                        "inventory to the log's path as the zone sees it"]
    log.write_text("x\n")
    assert _log_problems(load_inventory(path), Z1)[1] == []


def test_inventory_check_reports_the_missing_log(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    missing = tmp_path / "nowhere.log"
    path = write_inventory(tmp_path, {"z1": {"host": sshd.host, "port": sshd.port,
                                             "sitter_log": str(missing)}},
                           known_hosts=known, identity=client_key,
                           extra={"commands": {"manatee_version": "echo 2.1.1"}})
    result = subprocess.run([sys.executable, "-m", "migrator", "inventory", "check",
                             "--inventory", str(path)], capture_output=True, text=True,
                            timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert f"z1: its sitter log {missing} does not exist in the zone" in result.stderr
    assert "Traceback" not in result.stderr
