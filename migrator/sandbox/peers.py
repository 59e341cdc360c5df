"""The sandbox's peers: a zone's sitter started and stopped as SMF would, and its
reprovision (the sitter stopped, the version changed, the sitter started again)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from migrator.errors import BadInput, Refused, StepFailed
from migrator.isotime import iso_now_ms
from migrator.sandbox import procs
from migrator.sandbox.config import (
    RELEASES,
    REPROVISION_LOGS,
    VERSIONS,
    SandboxConfig,
    ZoneConfig,
    load_config,
    version_of_image,
)
from migrator.sandbox.headnode_records import write_records
from migrator.sandbox.shard import election_children, zk_client
from migrator.sandbox.supervisor import read_service
from migrator.sandbox.zones import write_version
from migrator.zk.watches import wait_for, watch_election

JOIN_TIMEOUT = 20.0


def sitter_pid_file(config: SandboxConfig, zone: ZoneConfig) -> Path:
    return config.pid_file(f"sitter-{zone.uuid}")


def start_sitter(config: SandboxConfig, zone: ZoneConfig, timeout: float = JOIN_TIMEOUT) -> str:
    """Start the zone's sitter under its supervisor (the sandbox's SMF) and wait until
    its new election node exists; returns it. Starting clears ``maintenance``."""
    pid_file = sitter_pid_file(config, zone)
    if procs.recorded_pid(pid_file) is not None:
        raise Refused(
            f"The sitter of zone {zone.uuid} is already running.",
            "Stop it first with `migrator sandbox stop-peer`, or leave it be.",
        )
    exited = object()
    with zk_client(config) as client:
        before = set(election_children(client, config))
        pid = procs.spawn(
            procs.python_argv("migrator.sandbox.supervisor", str(config.directory), zone.uuid,
                              str(config.zone_dir(zone))),
            pid_file,
            config.zone_dir(zone) / "sitter.out",
            config.directory,
        )
        prefix = f"{zone.peer_id}-"

        def subscribe(deliver: Any) -> None:
            watch_election(client, config.shard, deliver)
            # a sitter that dies at start-up (say, its port was taken) ends the wait too
            procs.on_exit(pid, lambda: deliver(exited))

        def joined(names: Any) -> Any:
            if names is exited:
                return exited
            return next((n for n in names if n.startswith(prefix) and n not in before), None)

        node, _ = wait_for(subscribe, joined, timeout)
    if node is None or node is exited:
        procs.kill_recorded(pid_file)

        service = read_service(config.zone_dir(zone))
        what = (
            "exited at start-up" if node is exited
            else f"did not join the election within {timeout:g} s"
        )
        if service.get("state") == "maintenance":
            what += f" and is in maintenance ({service.get('reason')})"
        raise StepFailed(
            f"The sitter of zone {zone.uuid} {what}.",
            f"See {config.zone_dir(zone) / 'sitter.out'} and sitter.log there (a port in "
            "use by another program shows there as `Address already in use`).",
        )
    return str(node)


def stop_sitter(config: SandboxConfig, zone: ZoneConfig) -> bool:
    """Kill the sitter as a dying zone would: no goodbye to ZooKeeper, so its election
    node stays until the session times out (config.session_timeout)."""
    return procs.kill_recorded(sitter_pid_file(config, zone), sig=signal.SIGKILL)


def stop_peer(directory: Path, zone_name: str) -> dict[str, Any]:
    config = load_config(directory.resolve())
    zone = config.zone(zone_name)
    was_running = stop_sitter(config, zone)
    return {"zone": zone.uuid, "stopped": was_running, "at": iso_now_ms()}


def start_peer(directory: Path, zone_name: str) -> dict[str, Any]:
    config = load_config(directory.resolve())
    zone = config.zone(zone_name)
    node = start_sitter(config, zone)
    return {"zone": zone.uuid, "version": zone.version, "election_node": node}


def reprovision_pid_file(config: SandboxConfig, zone: ZoneConfig) -> Path:
    return config.pid_file(f"reprovision-{zone.uuid}")


def reprovision_status(directory: Path, zone_name: str) -> str:
    """``running`` while a `sandbox reprovision` of the zone is under way, else ``idle``
    (what an inventory's ``commands.reprovision_status`` prints)."""
    config = load_config(directory.resolve())
    zone = config.zone(zone_name)
    return "running" if procs.recorded_pid(reprovision_pid_file(config, zone)) else "idle"


def normalise_version(value: str) -> str:
    version = version_of_image(value)  # v1/v2, a release string or an image UUID
    if version is not None:
        return version
    raise BadInput(
        f"--to {value!r} is not a sandbox manatee version.",
        f"Use one of {', '.join(VERSIONS)} (or {', '.join(RELEASES.values())}, or their "
        "image UUIDs).",
    )


def set_aside_log(zone_dir: Path) -> Path | None:
    """Move the zone's sitter log aside (``sitter.log.<n>``), so the next sitter starts a
    fresh one; returns where it went (None: there was none).

    Renamed rather than deleted: the old file keeps its inode, so the fresh one gets
    another (a freed inode number can be handed out again at once, and a reader would
    take the new file for the old one grown back), and its records stay to be read.
    On Triton the new root dataset is another device as well.
    """
    log = zone_dir / "sitter.log"
    if not log.exists():
        return None
    index = 0
    while (zone_dir / f"sitter.log.{index}").exists():
        index += 1
    aside = zone_dir / f"sitter.log.{index}"
    log.rename(aside)
    return aside


# A default reprovision: the zone stays down this long after its session has ended,
# and gives up waiting for that end this long past the session timeout (a starved
# ZooKeeper expires late; the zone then comes back regardless, as a real one would).
AFTER_EXPIRY = 0.5
EXPIRY_BOUND = 10.0


def wait_node_gone(config: SandboxConfig, zone: ZoneConfig, timeout: float) -> bool:
    """Wait on an election watch until no node of ``zone`` is left; False on timeout."""
    prefix = f"{zone.peer_id}-"
    with zk_client(config) as client:
        gone, _ = wait_for(
            lambda deliver: watch_election(client, config.shard, deliver),
            lambda names: True if not any(n.startswith(prefix) for n in names) else None,
            timeout)
    return gone is True


def reprovision(
    directory: Path, zone_name: str, to: str, delay: float | None = None,
    log: str | None = None,
) -> dict[str, Any]:
    """Stop the zone's sitter, wait ``delay`` (the reprovision's duration), start it at
    version ``to`` with the same identity and its database kept.

    The default delay is the sandbox's (``up --reprovision-seconds``), else "until
    the zone's old election node has expired, then ``AFTER_EXPIRY`` seconds more": a
    real reprovision takes minutes, so its zone's session always ends first and
    reprovisioning a primary causes a takeover. That order is waited for on an
    election watch (bounded by ``EXPIRY_BOUND`` past the session timeout), never
    assumed from a fixed time a loaded machine can outrun. A delay below the session
    timeout shows the runbook's other outcome. ``log`` (default: the sandbox's ``up
    --reprovision-log``): ``append`` leaves the sitter log for the new sitter to append
    to, ``fresh`` sets it aside so the new sitter starts a new file.
    """
    version = normalise_version(to)
    config = load_config(directory.resolve())
    zone = config.zone(zone_name)
    until_expired = delay is None and config.reprovision_seconds is None
    if delay is None:
        delay = config.reprovision_delay
    if not 0 <= delay <= 600:
        raise BadInput(
            f"--delay {delay:g} is out of range.", "Give 0 to 600 seconds."
        )
    log = log or config.reprovision_log
    if log not in REPROVISION_LOGS:
        raise BadInput(f"--log {log!r} is not one of {', '.join(REPROVISION_LOGS)}.",
                       "Use `append` or `fresh`.")
    started = iso_now_ms()
    marker = reprovision_pid_file(config, zone)
    running = procs.recorded_pid(marker)
    if running is not None:
        # as a headnode refuses a second job on a VM with one in flight
        raise Refused(
            f"A reprovision of zone {zone.uuid} is already running (pid {running}); a "
            "second one was not started.",
            "Wait for it to end (`migrator sandbox reprovision-status`).",
        )
    procs.write_pid_file(marker, os.getpid())
    try:
        stop_sitter(config, zone)
        if until_expired:
            began = time.monotonic()
            wait_node_gone(config, zone, config.session_timeout + EXPIRY_BOUND)
            delay = round(time.monotonic() - began + AFTER_EXPIRY, 2)
            time.sleep(AFTER_EXPIRY)
        else:
            # This wait *is* the simulated reprovision (the zone is down meanwhile).
            time.sleep(delay)
        if log == "fresh":  # the sitter is down: nothing writes the log meanwhile
            set_aside_log(config.zone_dir(zone))
        zone.version = version
        config.save()
        write_version(config, zone)
        if config.headnode is not None:  # VMAPI now reports the new image

            write_records(config)
        node = start_sitter(config, zone)
    finally:
        marker.unlink(missing_ok=True)
    return {"zone": zone.uuid, "version": version, "started": started,
            "finished": iso_now_ms(), "delay": delay, "election_node": node, "log": log}
