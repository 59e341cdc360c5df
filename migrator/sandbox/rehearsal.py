"""`migrator sandbox rehearse --dir DIR`: the runbook's migration, scripted, on a sandbox.

Until the step engine runs playbooks, this is what the README's first command
runs. It uses the same doors an operator would: `migrator sandbox reprovision`
(the inventory's reprovision command) and `migrator backfill|unfreeze --yes
--inventory DIR/inventory.yaml`, each run as a separate process, and after each
step waits (bounded, by following the sitter log or watching /state) for the
signal the runbook says to check. Three nodes (the runbook's main procedure):
  reprovision async -> it logs `assuming role` unassigned
  backfill          -> the original async logs `assuming role` sync
  reprovision sync  -> it logs `assuming role` async
  unfreeze
  reprovision primary -> /state generation 1 with the original async as primary,
                         the old primary `deposed`

One node: reprovision the primary, backfill. Two nodes: reprovision the sync,
backfill, reprovision the primary. The sandbox's client writes throughout; its
outage windows are printed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from migrator.errors import StepFailed
from migrator.isotime import iso_now_ms
from migrator.sandbox.config import SandboxConfig, ZoneConfig
from migrator.sandbox.logwatch import role_record, wait_for_record
from migrator.sandbox.manage import UpOptions, down, up
from migrator.sandbox.status import sandbox_status
from migrator.sandbox.verify import summary_lines, verify
from migrator.sandbox.waits import wait_state, wait_writable

STEP_TIMEOUT = 30.0
CLIENT_CATCH_UP = 5.0  # seconds; the client writes every 50 ms


def _migrator(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise StepFailed(
            f"`migrator {' '.join(args)}` failed (exit {result.returncode}): "
            f"{result.stderr.strip()}",
            "See the sandbox's sitter logs; the sandbox is left as it is.",
        )
    return result.stdout.strip()


def _wait_role(config: SandboxConfig, zone: ZoneConfig, role: str, since: str) -> None:
    log = config.zone_dir(zone) / "sitter.log"
    if wait_for_record(log, role_record(role), STEP_TIMEOUT, since=since) is None:
        raise StepFailed(
            f"Zone {zone.uuid} did not log `assuming role` {role} within {STEP_TIMEOUT:g} s.",
            f"See {log}.",
        )


def rehearse(
    directory: Path, nodes: int = 3, keep: bool = False, pg: str = "real"
) -> Iterator[str]:
    config = up(directory, UpOptions(nodes=nodes, with_client=True, pg=pg))
    inventory = str(config.directory / "inventory.yaml")
    sandbox = ["sandbox", "reprovision", "--dir", str(config.directory)]
    try:
        yield f"sandbox up: {nodes} zone(s), inventory {inventory}"
        zones = list(config.zones)  # election order = the zones' order at `up`
        primary, sync, asyncs = zones[0], (zones[1] if nodes > 1 else None), zones[2:]
        if asyncs:
            since = iso_now_ms()
            _migrator(*sandbox, asyncs[-1].uuid, "--to", "v2")
            _wait_role(config, asyncs[-1], "unassigned", since)
            yield f"reprovisioned the async {asyncs[-1].uuid}: it is unassigned"
        elif sync is not None:
            since = iso_now_ms()
            _migrator(*sandbox, sync.uuid, "--to", "v2")
            _wait_role(config, sync, "unassigned", since)
            yield f"reprovisioned the sync {sync.uuid}: it is unassigned"
        else:
            since = iso_now_ms()
            _migrator(*sandbox, primary.uuid, "--to", "v2")
            _wait_role(config, primary, "unassigned", since)
            yield f"reprovisioned the primary {primary.uuid}: it is unassigned"
        since = iso_now_ms()
        _migrator("backfill", "--inventory", inventory, "--yes")
        new_sync = asyncs[-1] if asyncs else sync
        if new_sync is not None:
            _wait_role(config, new_sync, "sync", since)
            yield f"backfilled: {new_sync.uuid} is the sync under {primary.uuid}"
        else:
            _wait_role(config, primary, "primary", since)
            yield f"backfilled: {primary.uuid} is a one-node primary"
        if asyncs and sync is not None:
            since = iso_now_ms()
            _migrator(*sandbox, sync.uuid, "--to", "v2")
            _wait_role(config, sync, "async", since)
            yield f"reprovisioned the sync {sync.uuid}: it is an async"
            _migrator("unfreeze", "--inventory", inventory, "--yes")
            yield "unfrozen"
        if sync is not None:
            since = iso_now_ms()
            _migrator(*sandbox, primary.uuid, "--to", "v2")
            if asyncs:
                state = wait_state(config, lambda s: s is not None and s.get("generation") == 1,
                                   STEP_TIMEOUT)
                assert state is not None
                _wait_role(config, primary, "deposed", since)
                yield (f"reprovisioned the primary: {state['primary']['zoneId']} took over "
                       f"(generation 1); {primary.uuid} is deposed")
            else:
                _wait_role(config, primary, "primary", since)
                yield f"reprovisioned the primary {primary.uuid}: it is the primary again"
        wait_writable(config, STEP_TIMEOUT)
        # the client closes the last step's outage window with its next successful write
        wait_for_record(config.directory / "client" / "outages.jsonl",
                        lambda w: str(w.get("end", "")) >= since, CLIENT_CATCH_UP)
        status = sandbox_status(config.directory)
        for peer in status["peers"]:
            yield (f"  {peer['zone']} {peer['version']} state role {peer['state_role']}, "
                   f"wal {(peer['pg'] or {}).get('wal')}")
        for window in status["client"]["outages"]:
            yield f"  write outage {window['start']} .. {window['end']} ({window['seconds']} s)"
        if config.pg == "real":

            yield from ("  " + line for line in summary_lines(verify(config.directory)))
        yield "rehearsal complete: the shard is migrated and writable"
    finally:
        if not keep:
            down(config.directory)
