"""Bounded, watch-driven waits on a sandbox's ZooKeeper (for the rehearsal and tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from migrator.errors import StepFailed
from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.pgquery import wait_writable as wait_real
from migrator.sandbox.pgwire import request
from migrator.sandbox.shard import primary_zone, zk_client
from migrator.zk.watches import wait_for, watch_election, watch_state


def wait_state(
    config: SandboxConfig, predicate: Callable[[dict[str, Any] | None], bool], timeout: float
) -> dict[str, Any] | None:
    """Wait on a /state watch until ``predicate(state)`` holds; StepFailed on timeout."""
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


def wait_children(client: Any, config: SandboxConfig, predicate: Any, timeout: float) -> Any:
    result, _ = wait_for(
        lambda deliver: watch_election(client, config.shard, deliver), predicate, timeout
    )
    return result


def wait_writable(config: SandboxConfig, timeout: float) -> ZoneConfig:
    """Bounded wait until the primary accepts writes (its sync streaming)."""
    deadline = time.monotonic() + timeout
    zone = primary_zone(config)
    if zone is None:
        raise StepFailed("The sandbox shard has no primary.", "See the zones' sitter.log.")
    remaining = max(0.1, deadline - time.monotonic())
    if config.pg == "real":
        if not wait_real(zone.ip, zone.pg_port, remaining):
            raise StepFailed(
                f"The sandbox primary {zone.uuid} did not become writable within {timeout:g} s.",
                f"See {config.zone_dir(zone) / 'sitter.log'} and postgres.log there.",
            )
        return zone
    try:
        answer = request(zone.ip, zone.pg_port, {"op": "wait-writable", "timeout": remaining},
                         timeout=remaining + 2)
    except (OSError, ValueError) as exc:
        raise StepFailed(
            f"The primary {zone.uuid} did not answer ({exc}).",
            f"See {config.zone_dir(zone) / 'sitter.log'}.",
        ) from exc
    if not answer.get("ok"):
        raise StepFailed(
            f"The sandbox primary {zone.uuid} did not become writable within {timeout:g} s.",
            f"See {config.zone_dir(zone) / 'sitter.log'}.",
        )
    return zone
