"""The sandbox refuses a second reprovision of a zone while one runs, as a headnode
refuses a second job on a VM, and reports the one running (`reprovision-status`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from migrator.errors import Refused
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.manage import reprovision, reprovision_pid_file, reprovision_status


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
