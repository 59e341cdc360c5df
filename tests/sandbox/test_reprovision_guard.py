"""The sandbox refuses a second reprovision of a zone while one runs, as a headnode
refuses a second job on a VM, and reports the one running (`reprovision-status`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from migrator.errors import Refused
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.peers import reprovision, reprovision_pid_file, reprovision_status

pytestmark = pytest.mark.sandbox


def test_a_second_reprovision_of_a_zone_is_refused_while_one_runs(
    sandbox: Callable[..., SandboxConfig],
) -> None:
    config = sandbox(nodes=1)
    zone = config.zones[0]
    assert reprovision_status(config.directory, zone.uuid) == "idle"
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(reprovision(config.directory, zone.uuid, "v2", 2.0)))
    first.start()
    try:
        marker = reprovision_pid_file(config, zone)
        for _ in range(100):  # bounded: the marker is written at once
            if marker.exists():
                break
            threading.Event().wait(0.05)
        assert reprovision_status(config.directory, zone.uuid) == "running"
        with pytest.raises(Refused, match="already running"):
            reprovision(config.directory, zone.uuid, "v2", 0.0)
    finally:
        first.join(60)
    assert results and results[0]["version"] == "v2"
    assert reprovision_status(config.directory, zone.uuid) == "idle"


def test_down_stops_a_reprovision_under_way_before_it_starts_a_sitter(
    sandbox: Callable[..., SandboxConfig],
) -> None:
    import subprocess
    import sys

    from migrator.sandbox import procs
    from migrator.sandbox.manage import down
    from migrator.sandbox.peers import sitter_pid_file

    config = sandbox(nodes=1)
    zone = config.zones[0]
    child = subprocess.Popen(
        [sys.executable, "-m", "migrator", "sandbox", "reprovision", "--dir",
         str(config.directory), zone.uuid, "--to", "v2", "--delay", "5"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        marker = reprovision_pid_file(config, zone)
        for _ in range(200):  # bounded: 10 s for the interpreter to start
            if marker.exists():
                break
            threading.Event().wait(0.05)
        assert marker.exists()
        stopped = down(config.directory)
        assert f"reprovision-{zone.uuid}" in stopped
        assert child.wait(30) == -9
        assert procs.recorded_pid(sitter_pid_file(config, zone)) is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
