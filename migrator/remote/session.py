"""The run's zone access (``ctx.remote``): one connection per zone, shared by every step.

``RemoteSession(inventory)`` connects lazily: a zone is contacted the first
time a step needs it, then its transport is reused for every command and log
follower of the run. ``close()`` ends them all.

A zone with ``via: zlogin`` has no connection of its own: its commands run as
``zlogin -Q <zone> <command>`` over its compute node's connection, one per
node shared by all the zones on it, and its sitter log is read and followed
in the node's global zone under ``<zones_root>/<zone>/root`` (no zlogin per
read). Log marks still name the zone, so a journal's marks mean the same on
either route.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from migrator.errors import BadInput, MigratorError
from migrator.inventory.model import Inventory
from migrator.inventory.values import CommandTemplate, validate_image, validate_zone_id
from migrator.remote import localchild
from migrator.remote.commands import DEFAULT_MAX_OUTPUT, CommandResult, run_command, to_shell
from migrator.remote.connection import Connector, ZoneConnection
from migrator.remote.endpoint import (
    headnode_endpoint,
    load_ssh_config,
    node_endpoint,
    zone_endpoint,
)
from migrator.remote.errors import LogUnavailable, RemoteCommandTimeout
from migrator.remote.headnode_answer import Unparseable
from migrator.remote.hostkeys import KnownHosts, RecordedKey
from migrator.remote.logs import follow_log, mark_log, read_end, read_since
from migrator.remote.vmapi import VmapiJob, parse_jobs
from migrator.remote.zlogin import node_log_path, zlogin_command

if TYPE_CHECKING:  # imported where used: a command that reads no log never loads it
    from migrator.remote.localchild import ChildInfo
    from migrator.remote.logs import LogEnd, LogFollower, LogMark, LogRead

HEADNODE = "headnode"


def _printed_path(result: CommandResult, command: str, failure: str, fix: str) -> str:
    """The absolute path on the first line ``command`` printed; ``LogUnavailable``
    ("`command` FAILURE (exit status, output)" and ``fix``) when it printed none."""
    lines = result.text.strip().splitlines()
    path = lines[0].strip() if result.ok and lines else ""
    if not path.startswith("/"):
        raise LogUnavailable(
            f"`{command}` {failure} "
            f"(exit status {result.status}, output {result.text.strip()[:200]!r}).", fix)
    return path


SHAREABLE_TEMPLATES = frozenset({"manatee_version", "moray_version"})
# The inventory's commands that only read (each prints what it is documented to print,
# docs/inventory.md): one whose connection drops while it runs is run once more on a new
# connection (``run_command``'s ``reads_only``); the others' drops are reported.
READ_TEMPLATES = frozenset({
    "manatee_version", "moray_version", "sitter_config", "manatee_image", "sitter_status",
    "pg_position",
})
_R = TypeVar("_R")


class _SingleFlight:
    """Successful results by key; a caller finding the same key in flight waits for
    that call instead of making its own. A failed call (an exception, or a result
    ``keep`` refuses) is not kept: the next caller asks for itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[tuple[str, ...], Any] = {}
        self._flying: dict[tuple[str, ...], threading.Event] = {}

    def get(self, key: tuple[str, ...], call: Callable[[], _R],
            keep: Callable[[_R], bool] = lambda _result: True) -> _R:
        with self._lock:
            found = self._done.get(key)
            flying = self._flying.get(key)
            ours = found is None and flying is None
            if ours:
                flying = self._flying[key] = threading.Event()
        if found is not None:
            return cast("_R", found)
        assert flying is not None
        if not ours:
            flying.wait()  # bounded: the call in flight has its own timeout
            with self._lock:
                found = self._done.get(key)
            return cast("_R", found) if found is not None else call()
        try:
            result = call()
            if keep(result):
                with self._lock:
                    self._done[key] = result
            return result
        finally:
            with self._lock:
                del self._flying[key]
            flying.set()


class RemoteSession:
    def __init__(
        self,
        inventory: Inventory,
        *,
        accept_new_host_keys: bool = False,
        on_recorded: Callable[[RecordedKey], None] | None = None,
        use_agent: bool = True,
    ) -> None:
        self.inventory = inventory
        self.known_hosts = KnownHosts(inventory.known_hosts, accept_new=accept_new_host_keys)
        self.connector = Connector(
            self.known_hosts,
            connect_timeout=inventory.ssh.connect_timeout,
            keepalive=inventory.ssh.keepalive,
            use_agent=use_agent,
            on_recorded=on_recorded,
        )
        self._ssh_config: Any = None
        self._ssh_config_loaded = False
        self._connections: dict[str, ZoneConnection] = {}
        self._log_paths: dict[str, str] = {}
        self._lock = threading.Lock()
        self._shared: _SingleFlight | None = None

    @property
    def command_timeout(self) -> float:
        return self.inventory.ssh.command_timeout

    @property
    def recorded_host_keys(self) -> list[RecordedKey]:
        return list(self.known_hosts.recorded)

    def _config(self) -> Any:
        if not self._ssh_config_loaded:
            self._ssh_config = load_ssh_config(self.inventory.ssh_config)
            self._ssh_config_loaded = True
        return self._ssh_config

    def _node_of(self, zone: str) -> str | None:
        """The compute node whose connection carries the zone (None: its own SSH)."""
        if zone == HEADNODE:
            return None
        route = self.inventory.route(validate_zone_id(zone))
        return route.node if route.via == "zlogin" else None

    def connection(self, zone: str) -> ZoneConnection:
        """The connection carrying the zone's traffic (``headnode`` names the headnode).

        For a zone reached with zlogin this is its compute node's connection.
        """
        node = self._node_of(zone)
        key = zone if node is None else f"node {node}"
        with self._lock:
            found = self._connections.get(key)
            if found is None:
                if node is not None:
                    endpoint = node_endpoint(self.inventory, node, self._config())
                elif zone == HEADNODE:
                    endpoint = headnode_endpoint(self.inventory, self._config())
                else:
                    endpoint = zone_endpoint(self.inventory, validate_zone_id(zone),
                                             self._config())
                # the headnode's one SSH connection also carries the zones' route
                # through it and any ZooKeeper forward (``migrator.remote.shared``)
                found = ZoneConnection(endpoint, self.connector, shared=zone == HEADNODE)
                self._connections[key] = found
            return found

    def route(self, zone: str) -> str:
        """How the zone is reached, for messages and `inventory check`."""
        node = self._node_of(zone)
        route = self.connection(zone).endpoint.route()
        if node is None:
            return route
        return f"{route} -> zlogin {zone}"

    def zone_command(self, zone: str, command: str | Sequence[str]) -> str:
        """The text sent over the zone's connection (wrapped in zlogin when routed so)."""
        text = to_shell(command)
        if self._node_of(zone) is None:
            return text

        return zlogin_command(self.inventory.commands.zlogin, zone, text)

    def connect(self, zone: str) -> ZoneConnection:
        """Open (or reuse) the zone's transport now; raises naming zone and cause."""
        connection = self.connection(zone)
        connection.transport()
        return connection

    def run(
        self,
        zone: str,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        stdin: bytes | None = None,
        end_on_abandon: bool = True,
        reads_only: bool = False,
    ) -> CommandResult:
        """Run in the zone; an argument vector is quoted word by word. A command we stop
        waiting for is ended there unless ``end_on_abandon`` is False; one that
        ``reads_only`` is run again if its connection drops while it runs
        (``migrator.remote.commands``)."""
        result = run_command(
            self.connection(zone), self.zone_command(zone, command),
            timeout=timeout or self.command_timeout, max_output=max_output, stdin=stdin,
            end_on_abandon=end_on_abandon, reads_only=reads_only,
        )
        if self._node_of(zone) is None:
            return result
        # Name the zone and its own command in messages; the node is in the route.
        return dataclasses.replace(result, zone=zone, command=to_shell(command))

    def run_template(self, zone: str, name: str, **values: str) -> CommandResult:
        """Run one of the inventory's command templates (filled with quoted values)."""
        template = self.inventory.commands.template(name)
        filled = template.fill(**{"zone": zone, "shard": self.inventory.shard, **values})
        reads_only = name in READ_TEMPLATES
        shared = self._shared
        if shared is None or name not in SHAREABLE_TEMPLATES:
            return self.run(zone, filled, reads_only=reads_only)
        return shared.get(("run", zone, filled),
                          lambda: self.run(zone, filled, reads_only=reads_only),
                          lambda result: result.ok)

    @contextmanager
    def shared_reads(self) -> Iterator[None]:
        """Within the block, a zone's version and its log's end are asked once, whoever asks.

        A plan judges the shard at one instant from several threads at once: the
        pre-flight probe and each step's done-checks all ask the zones for their
        versions, and on a real network every question is a round trip. Only
        reads of what does not change within a look are shared
        (``SHAREABLE_TEMPLATES`` and ``read_log_end``), and only answers that
        succeeded: a failed one is asked again by the next caller (the
        pre-flight's second probe of a zone exists for that). Outside the block
        every call asks the zone. Blocks nest: the outermost one ends the sharing.
        """
        with self._lock:
            outermost = self._shared is None
            if outermost:
                self._shared = _SingleFlight()
        try:
            yield
        finally:
            if outermost:
                with self._lock:
                    self._shared = None

    def sitter_log_path(self, zone: str) -> str:
        """The sitter log: fixed by the inventory, or what ``commands.sitter_log`` prints."""
        if zone in self._log_paths:
            return self._log_paths[zone]
        node = self._node_of(zone)
        fixed = self.inventory.sitter_log(zone)
        if node is not None:
            path = self._node_log_path(zone, node, None if fixed is None else str(fixed))
        elif fixed is not None:
            path = str(fixed)
        else:
            command = self.inventory.commands.sitter_log.command
            assert command is not None  # the model requires path or command

            filled = CommandTemplate(command).fill(zone=zone, shard=self.inventory.shard)
            result = self.run(zone, filled, max_output=4096, reads_only=True)
            path = _printed_path(
                result, filled, f"in {zone} did not print the sitter's log path",
                "Set `sitter_log:` for the zone or `commands.sitter_log.path` in the "
                "inventory.")
        self._log_paths[zone] = path
        return path

    def _node_log_path(self, zone: str, node: str, fixed: str | None) -> str:
        """The zone's sitter log as its node's global zone sees it."""
        root = str(self.inventory.node(node).zones_root)
        if fixed is not None:
            return node_log_path(root, zone, fixed)
        filled = CommandTemplate(self.inventory.commands.node_sitter_log).fill(
            zone=zone, shard=self.inventory.shard)
        result = run_command(self.connection(zone), filled, timeout=self.command_timeout,
                             max_output=4096, reads_only=True)
        path = _printed_path(
            result, filled, f"on compute node {node} did not print the sitter log of zone {zone}",
            "Set `sitter_log:` for the zone or `commands.sitter_log.path` in the "
            "inventory (the path as the zone sees it).")
        return node_log_path(root, zone, path)

    def _tail(self, zone: str) -> str:
        commands = self.inventory.commands
        return commands.tail if self._node_of(zone) is None else commands.node_tail

    def mark_log(self, zone: str, path: str | None = None) -> LogMark:
        if path is not None and self._node_of(zone) is not None:
            node = self._node_of(zone)
            assert node is not None
            path = node_log_path(str(self.inventory.node(node).zones_root), zone, path)
        return mark_log(self.connection(zone), path or self.sitter_log_path(zone),
                        timeout=self.command_timeout, zone=zone)

    def read_since(self, zone: str, mark: LogMark, *, max_bytes: int = DEFAULT_MAX_OUTPUT
                   ) -> LogRead:
        return read_since(self.connection(zone), mark, max_bytes=max_bytes,
                          timeout=self.command_timeout, tail=self._tail(zone))

    def read_log_end(self, zone: str, max_bytes: int) -> LogEnd:
        """The sitter log's mark and its last ``max_bytes``, in one round trip."""
        def read() -> LogEnd:
            return read_end(self.connection(zone), self.sitter_log_path(zone),
                            max_bytes=max_bytes, timeout=self.command_timeout,
                            tail=self._tail(zone), zone=zone)

        shared = self._shared
        return read() if shared is None else shared.get(("log end", zone, str(max_bytes)), read)

    def follow(self, zone: str, mark: LogMark) -> LogFollower:
        return follow_log(self.connection(zone), mark, timeout=self.command_timeout,
                          tail=self._tail(zone))

    def run_local(self, argv: Sequence[str], *, timeout: float | None = None,
                  on_started: Callable[[ChildInfo], None] | None = None) -> CommandResult:
        """Run on the operator's machine (no shell), e.g. the sandbox's reprovision.

        The child outlives us (``migrator.remote.localchild``): its own session, its
        output in files, started only once ``on_started`` (the journal) has its pid.
        At the timeout it is left running and the error names it.
        """

        limit = timeout or self.command_timeout
        text = " ".join(argv)
        started = time.monotonic()
        try:
            child = localchild.start(argv, on_started)
        except OSError as exc:
            raise BadInput(
                f"Cannot run `{text}` locally: {exc.strerror or exc}.",
                "Fix the command in the inventory (the first word must be an executable).",
            ) from None
        status = child.wait(limit)
        if status is None:
            child.forget()
            raise RemoteCommandTimeout(
                f"`{text}` (run locally as {child.info.label()}) did not finish within "
                f"{limit:g} s; it was left running (its output goes to "
                f"{child.info.output}).",
                "Look at what it waits for; `migrator resume` waits for it to end before "
                "deciding anything, and never starts a second one.",
            )
        out, err, truncated = child.output(DEFAULT_MAX_OUTPUT)
        child.cleanup()
        return CommandResult("local", text, status, out, err, truncated,
                             time.monotonic() - started)

    def reprovision(self, zone: str, image: str, *, timeout: float | None = None,
                    on_started: Callable[[ChildInfo], None] | None = None) -> CommandResult:
        """Run the inventory's reprovision template where it says (local/headnode/zone).

        ``on_started`` is called with a local child's pid before it is let run.
        """

        validate_zone_id(zone)
        validate_image(image)
        spec = self.inventory.commands.reprovision
        values = {"zone": zone, "image": image, "shard": self.inventory.shard}
        if spec.run_on == "local":
            return self.run_local(spec.template.argv(**values), timeout=timeout,
                                  on_started=on_started)
        where = HEADNODE if spec.run_on == "headnode" else zone
        # Left running when abandoned, as the local child is: a reprovision cut off
        # halfway is worse than one that finishes late (resume looks before acting).
        return self.run(where, spec.template.fill(**values), timeout=timeout,
                        end_on_abandon=False)

    def reprovision_jobs(self, zone: str) -> tuple[list[VmapiJob] | None, str]:
        """The zone's reprovision jobs as VMAPI lists them (``commands.reprovision_jobs``,
        newest first), when reprovisions run on the headnode; else None and why not (no
        template, the command failed, an answer that could not be read)."""

        text = self.inventory.commands.reprovision_jobs
        if not text or self.inventory.commands.reprovision.run_on != "headnode":
            return None, "no VMAPI jobs template where the reprovision runs"
        command = CommandTemplate(text).fill(zone=validate_zone_id(zone),
                                             shard=self.inventory.shard)
        try:
            result = self.run(HEADNODE, command, reads_only=True)
        except MigratorError as exc:
            return None, f"`{command}` on the headnode failed: {exc.message}"
        if not result.ok:
            return None, (f"`{command}` on the headnode failed (exit status "
                          f"{result.status})")
        try:
            return parse_jobs(result.text), ""
        except Unparseable as exc:
            return None, f"`{command}` on the headnode printed {exc}"

    def reprovision_job(self, zone: str) -> str:
        """``running``/``idle`` from ``commands.reprovision_status``; ``unknown`` without
        one, or when it fails or cannot be reached."""

        text = self.inventory.commands.reprovision_status
        if not text:
            return "unknown"
        template = CommandTemplate(text)
        values = {"zone": validate_zone_id(zone), "shard": self.inventory.shard}
        run_on = self.inventory.commands.reprovision.run_on
        try:
            if run_on == "local":
                done = subprocess.run(template.argv(**values), capture_output=True,
                                      timeout=self.command_timeout, check=False,
                                      stdin=subprocess.DEVNULL)
                status, output = done.returncode, done.stdout.decode("utf-8", "replace")
            else:
                where = HEADNODE if run_on == "headnode" else zone
                result = self.run(where, template.fill(**values), reads_only=True)
                status, output = (result.status if result.status is not None else -1,
                                  result.text)
        except (MigratorError, OSError, subprocess.TimeoutExpired):
            return "unknown"
        if status != 0:
            return "unknown"
        words = output.split()
        return "running" if words and words[0] == "running" else "idle"

    def close(self) -> None:
        with self._lock:
            self._shared = None
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
        self.connector.close()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

