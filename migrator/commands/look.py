"""`migrator plan`'s look at the zones, taken in a forked helper while the engine loads.

A plan asks every zone the same things: the pre-flight's probe (host key,
version, sitter state, the commands the playbook calls, the sitter log's end)
and, for the done-checks, the zone's version again. ``start_look`` begins that
as soon as the inventory is read: on Linux in a child process
(``migrator.forked``: importing paramiko and running the handshakes there
leaves this process's interpreter to import the engine and read ZooKeeper),
elsewhere in background threads of this process (``Prewarm`` with ``look``).

The child cannot know the playbook yet (ZooKeeper decides ``auto``), so it
asks each zone about every command a playbook could call there: every command
template the built-in playbooks use, and a playbook file's own ``run_command``
ones when one was asked for (a playbook that calls others, e.g. one the journal
names, is probed again by this process). ``LookedSession`` then
serves, from the look, the pre-flight's reports (narrowed to the chosen
playbook's commands), each zone's version and its log's end; anything else (a
done-check that runs ``manatee-adm status``, a playbook outside the look)
goes to an ordinary ``RemoteSession`` made on first need. A look that failed
or took too long is not an error: everything then goes to that session, as if
no look had been taken.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from migrator.dataclass import dataclass
from migrator.forked import Forked, ForkFailed


@dataclass(frozen=True)
class Look:
    """What the helper saw (pickled back to the command)."""

    commands: tuple[str, ...]  # the commands each zone was probed for
    reports: list[Any]  # migrator.remote.probe.ZoneReport, one per zone and Moray
    versions: dict[str, Any]  # zone -> CommandResult of its `<kind>_version` template
    log_ends: dict[str, Any]  # zone -> LogEnd of its sitter log (SAMPLE_BYTES)
    sample_bytes: int


def candidate_commands(inventory: Any, requested: str) -> tuple[str, ...]:
    """The commands any playbook a run asked for with ``requested`` could call in a zone.

    A built-in playbook's come only from the inventory's templates
    (``migrator.engine.preflight.every_zone_word``); a playbook file given with
    ``--playbook`` may add its ``run_command`` ones, so it is read for them.
    """
    from migrator.engine.preflight import every_zone_word, zone_words

    words = set(every_zone_word(inventory))
    if requested != "auto":
        from contextlib import suppress

        from migrator.playbook import catalog

        with suppress(Exception):  # the command itself reports a playbook it cannot read
            words.update(zone_words(inventory, catalog.resolve(requested,
                                                               check_registry=False)))
    return tuple(sorted(words))


def take_look(inventory: Any, requested: str) -> Look:
    """The look itself (in the helper process): every zone probed, answers kept."""
    from migrator.remote.loglevels import SAMPLE_BYTES
    from migrator.remote.probe import probe_all
    from migrator.remote.session import RemoteSession

    commands = candidate_commands(inventory, requested)
    session = RemoteSession(inventory)
    session.share_reads_until_closed()
    try:
        reports = probe_all(session, inventory, commands)
        versions: dict[str, Any] = {}
        log_ends: dict[str, Any] = {}
        for report in reports:
            if not report.reachable:
                continue
            found = session.run_template(report.zone, f"{report.kind}_version")  # shared
            if found.ok:
                versions[report.zone] = found
            if report.kind == "manatee" and report.log is not None:
                log_ends[report.zone] = session.read_log_end(report.zone, SAMPLE_BYTES)
    finally:
        session.close()
    return Look(commands, reports, versions, log_ends, SAMPLE_BYTES)


def start_look(inventory: Any, requested: str) -> Any:
    """A look under way: forked where possible, else in this process's threads.
    Either way, ``session()`` gives the command's session and ``close()`` ends it."""
    if Forked.possible():
        # What the helper runs and this process needs anyway (to read its answer back),
        # imported once, before forking, instead of in both; paramiko only in the helper.
        import migrator.remote.loglevels
        import migrator.remote.probe  # noqa: F401

        return ForkedLook(inventory, requested)
    from migrator.remote.prewarm import Prewarm

    return Prewarm(inventory, look=True)


class ForkedLook:
    def __init__(self, inventory: Any, requested: str) -> None:
        self._session = LookedSession(inventory, Forked(take_look, inventory, requested))

    def session(self) -> LookedSession:
        return self._session

    def close(self) -> None:
        self._session.close()


class LookedSession:
    """A ``RemoteSession`` for one look: answers from the helper's look where it has them,
    from an ordinary session (made on first need) for everything else."""

    def __init__(self, inventory: Any, forked: Forked) -> None:
        self.inventory = inventory
        self._forked: Forked | None = forked
        self._look: Look | None = None
        self._local: Any = None
        self._look_lock = threading.Lock()  # held while waiting for the helper
        self._local_lock = threading.Lock()
        ssh = inventory.ssh
        # the helper's own waits are bounded by these (a zone probed twice, each
        # connect and command with its timeout); past that it is stuck
        self._timeout = 2 * (ssh.connect_timeout + 3 * ssh.command_timeout) + 10

    def _taken(self) -> Look | None:
        with self._look_lock:
            if self._forked is not None:
                forked, self._forked = self._forked, None
                try:
                    self._look = forked.result(self._timeout)
                except ForkFailed:
                    self._look = None  # everything is asked again, by this process
            return self._look

    def _session(self) -> Any:
        with self._local_lock:
            if self._local is None:
                from migrator.remote.session import RemoteSession

                self._local = RemoteSession(self.inventory)
                self._local.share_reads_until_closed()
            return self._local

    def looked_reports(self, commands: tuple[str, ...]) -> list[Any] | None:
        """The pre-flight's reports for ``commands``, or None when the look cannot say."""
        from migrator.remote.probe import for_commands

        look = self._taken()
        if look is None or not set(commands) <= set(look.commands):
            return None
        return [for_commands(report, commands) for report in look.reports]

    def run_template(self, zone: str, name: str, **values: str) -> Any:
        look = self._taken()
        kind = "moray" if zone in self.inventory.morays else "manatee"
        if look is not None and not values and name == f"{kind}_version" \
                and zone in look.versions:
            return look.versions[zone]
        return self._session().run_template(zone, name, **values)

    def read_log_end(self, zone: str, max_bytes: int) -> Any:
        look = self._taken()
        if look is not None and max_bytes == look.sample_bytes and zone in look.log_ends:
            return look.log_ends[zone]
        return self._session().read_log_end(zone, max_bytes)

    def shared_reads(self) -> AbstractContextManager[None]:
        return nullcontext()  # one look already: its reads are shared until close()

    def close(self) -> None:
        with self._look_lock:
            forked, self._forked = self._forked, None
        with self._local_lock:
            local, self._local = self._local, None
        if forked is not None:
            forked.close()
        if local is not None:
            local.close()

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(self._session(), attribute)
