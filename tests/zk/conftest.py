"""Run the CLI in-process against the real ZooKeeper and capture what it printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from migrator.cli import main
from migrator.sandbox.zkserver import ZooKeeperServer


@dataclass
class Result:
    status: int
    out: str
    err: str


@pytest.fixture
def run_cli(
    zk_server: ZooKeeperServer, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    def run(*args: str, zk: str | None = None) -> Result:
        argv = [args[0], "--zk", zk or zk_server.connection_string, *args[1:]]
        capsys.readouterr()
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
