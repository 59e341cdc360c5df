"""Run the CLI in-process against the real ZooKeeper and capture what it printed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, invoke_cli

Result = CliResult


@pytest.fixture
def run_cli(
    zk_server: ZooKeeperServer, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    def run(*args: str, zk: str | None = None) -> CliResult:
        return invoke_cli([args[0], "--zk", zk or zk_server.connection_string, *args[1:]], capsys)

    return run
