"""The zone ``manatee-adm``'s commands that write ZooKeeper (``adm`` is the entry and
describes them all): ``state-backfill [-y]``, ``freeze -r REASON``, ``unfreeze``
(through ``migrator.zk.writes``, so the bytes are upstream's), and ``rebuild [-y]``.

Apart from the reads (``admzk``) because they import what the reads do not need (the
backfill's election model, the peers' control and waits): ~15 ms of CPU that every
``manatee-adm status`` would pay.
"""

from __future__ import annotations

import sys
from typing import Any

from migrator.cluster.backfill import plan_backfill
from migrator.cluster.state import ClusterState
from migrator.errors import StateAlreadyExists
from migrator.isotime import iso_now_ms
from migrator.sandbox.admerror import AdmError
from migrator.sandbox.bunyan import inspect
from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.peers import start_sitter, stop_sitter
from migrator.sandbox.pgreal import REBUILD_MARKER
from migrator.sandbox.shard import zk_client
from migrator.sandbox.waits import wait_election, wait_state
from migrator.zk import reads, writes


def run(config: SandboxConfig, zone: ZoneConfig, command: str, args: list[str]) -> int:
    """One of ``adm.WRITES`` on a session of its own."""
    with zk_client(config) as client:
        if command == "state-backfill":
            _backfill(client, config.shard, "-y" in args or "--yes" in args)
        elif command == "freeze":
            _freeze(client, config.shard, _option(args, "-r", "--reason"))
        elif command == "unfreeze":
            _unfreeze(client, config.shard)
        else:
            _rebuild(config, zone, client, "-y" in args or "--ignorePrompts" in args)
    return 0


def _backfill(client: Any, shard: str, assume_yes: bool) -> None:
    def ask(state: Any) -> None:
        sys.stderr.write("Computed new cluster state:\n" + inspect(state.document) + "\n")
        if assume_yes:
            return
        sys.stderr.write("is this correct(y/n)\nprompt: yes:  ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip()
        if answer not in ("y", "yes"):
            sys.stderr.write("aborted...\n")
            raise AdmError("aborting cluster state backfill due to user command")

    try:
        state = plan_backfill(reads.read_shard(client, shard), iso_now_ms(), upstream=True)
    except StateAlreadyExists as exc:
        raise AdmError(f"State already exists for shard {shard}") from exc
    ask(state)
    writes.create_state(client, shard, state)  # upstream's bytes exactly
    print("Ok.")


def _freeze(client: Any, shard: str, reason: str | None) -> None:
    if reason is None:
        raise AdmError("freeze requires -r REASON")
    state, version = _state_of(client, shard)
    if state.freeze is not None:
        raise AdmError(f"shard is already been frozen: {state.freeze.reason}")
    writes.replace_state(client, shard, state.with_freeze(reason, iso_now_ms()), version,
                         "freeze")
    print("Frozen.")


def _unfreeze(client: Any, shard: str) -> None:
    state, version = _state_of(client, shard)
    if state.freeze is None:
        raise AdmError("shard is not frozen")
    writes.replace_state(client, shard, state.without_freeze(), version, "unfreeze")
    print("Unfrozen.")


def _state_of(client: Any, shard: str) -> tuple[Any, int]:
    found = reads.read_state(client, shard)
    if found is None:
        raise AdmError(f"Shard {shard} has no /state (it is in legacy mode).")
    return found


def _rebuild(config: SandboxConfig, zone: ZoneConfig, client: Any, assume_yes: bool) -> None:
    """upstream's rebuild (lib/adm.js): disable the sitter, wait for its session to end,
    drop it from ``deposed`` (setData at the version read + history ``0-``), enable the
    sitter, and return once /state lists it as sync or async. Added for the rollback
    issue's deposed-peer step. On real postgres the sitter then replaces the zone's data
    with a pg_basebackup of its upstream (manatee restores a ZFS backup); the simulated
    database is kept (nothing to restore)."""

    found = reads.read_state(client, config.shard)
    if found is None:
        raise AdmError(f"No state exists for shard {config.shard}")
    if found[0].primary.zone_id == zone.uuid:
        raise AdmError("This node is the primary.  Will not rebuild.")
    if not assume_yes:
        sys.stderr.write("This operation will remove all local data and rebuild this peer "
                         "from another cluster peer. (yes/no)?\nprompt: no:  ")
        sys.stderr.flush()
        if sys.stdin.readline().strip() not in ("y", "yes"):
            raise AdmError("aborting rollback due to user command")
    sys.stderr.write("Disabling manatee-sitter SMF service to ensure that Manatee is not "
                     "running.\n")
    stop_sitter(config, zone)
    prefix = f"{zone.peer_id}-"
    wait_election(config, lambda names: not any(n.startswith(prefix) for n in names),
                  config.session_timeout * 1.5 + 2)
    found = reads.read_state(client, config.shard)
    assert found is not None
    state, version = found
    deposed = state.document.get("deposed") or []
    if any(p.get("zoneId") == zone.uuid for p in deposed):
        document = dict(state.document)
        document["deposed"] = [p for p in deposed if p.get("zoneId") != zone.uuid]
        writes.replace_state(client, config.shard, ClusterState(document), version, "rebuild")
    if config.pg == "real":  # the data is discarded: the sitter copies it from its upstream

        (config.zone_dir(zone) / REBUILD_MARKER).write_text("requested by manatee-adm rebuild\n")
    sys.stderr.write("Enabling sitter\n")
    start_sitter(config, zone)

    def rejoined(doc: dict[str, Any] | None) -> bool:
        peers = [(doc or {}).get("sync") or {}, *((doc or {}).get("async") or [])]
        return any(p.get("zoneId") == zone.uuid for p in peers)

    wait_state(config, rejoined, 30.0)
    print("Rebuild successful")


def _option(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        if arg in names and index + 1 < len(args):
            return args[index + 1]
    return None
