"""Bounded, watch-driven waits on a sandbox's ZooKeeper (for the rehearsal and tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from migrator.errors import StepFailed
from migrator.sandbox.config import SandboxConfig


def wait_state(
    config: SandboxConfig, predicate: Callable[[dict[str, Any] | None], bool], timeout: float
) -> dict[str, Any] | None:
    """Wait on a /state watch until ``predicate(state)`` holds; StepFailed on timeout."""
    from migrator.sandbox.manage import zk_client
    from migrator.zk.watches import wait_for, watch_state

    def check(data: bytes | None) -> Any:
        state = None if data is None else json.loads(data)
        return (state,) if predicate(state) else None

    with zk_client(config) as client:
        result, _ = wait_for(lambda d: watch_state(client, config.shard, d), check, timeout)
    if result is None:
        raise StepFailed(
            f"The shard's /state did not reach the expected form within {timeout:g} s.",
            "See `migrator sandbox status`.",
        )
    found: dict[str, Any] | None = result[0]
    return found


def wait_election(
    config: SandboxConfig, predicate: Callable[[list[str]], bool], timeout: float
) -> list[str]:
    """Wait on an election watch until ``predicate(names in sequence order)`` holds."""
    from migrator.sandbox.manage import wait_children, zk_client

    def check(names: list[str]) -> Any:
        ordered = sorted(names, key=lambda n: n.rsplit("-", 1)[-1])
        return ordered if predicate(ordered) else None

    with zk_client(config) as client:
        result = wait_children(client, config, check, timeout)
    if result is None:
        raise StepFailed(
            f"The shard's election did not reach the expected form within {timeout:g} s.",
            "See `migrator sandbox status`.",
        )
    found: list[str] = result
    return found
