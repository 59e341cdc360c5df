"""The sandbox's shard as its ZooKeeper shows it: a client for a block, the election,
the primary a backward-compatible Moray would write to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.zk import paths, reads
from migrator.zk.client import ZkTarget, connect, disconnect

# How long the sandbox's own tools wait for its ZooKeeper: a local server, but a JVM
# on a loaded machine (a test suite on two cores) can be starved of CPU for seconds,
# and a rehearsal should wait for it rather than fail half brought up.
SANDBOX_ZK_CONNECT_TIMEOUT = 30.0


def sandbox_zk(config: SandboxConfig) -> Any:
    """A started kazoo client on the sandbox's ZooKeeper (``disconnect`` it)."""
    return connect(ZkTarget(config.zk_connection, SANDBOX_ZK_CONNECT_TIMEOUT))


@contextmanager
def zk_client(config: SandboxConfig) -> Iterator[Any]:
    """A kazoo client on the sandbox's ZooKeeper for the length of a block."""
    client = sandbox_zk(config)
    try:
        yield client
    finally:
        disconnect(client)


def election_children(client: Any, config: SandboxConfig) -> list[str]:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    try:
        return list(client.get_children(paths.election_path(config.shard)))
    except NoNodeError:
        return []


def primary_zone(config: SandboxConfig) -> ZoneConfig | None:
    """Who the shard's writers should use: the /state primary, else the first in the
    election (what backward-compatible Morays do)."""

    with zk_client(config) as client:
        found = reads.read_state_bytes(client, config.shard)
        if found is not None:
            primary_id = json.loads(found[0])["primary"]["id"]
        else:
            names = sorted(election_children(client, config), key=lambda n: n.rsplit("-", 1)[1])
            if not names:
                return None
            primary_id = names[0].rsplit("-", 1)[0]
    return next((z for z in config.zones if z.peer_id == primary_id), None)
