"""`migrator inventory check`: reach every zone once and report what a run will need.

For each zone (in parallel, each bounded by the connect and command timeouts):
reachability and route, host-key status, the manatee (or Moray) version, and
whether the sitter log can be located and read; and, when asked (the run's
pre-flight, ``migrator.engine.preflight``), the sitter's service state
(``commands.sitter_status``) and which of the commands a playbook will call are
missing (``command -v``, one round trip for all of them). Decisions are per
zone; one zone's failure never hides another's report.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from migrator.errors import MigratorError
from migrator.inventory.model import Inventory
from migrator.remote.commands import run_command
from migrator.remote.errors import HostKeyChanged, HostKeyUnknown
from migrator.remote.loglevels import SAMPLE_BYTES, judge_end
from migrator.remote.session import RemoteSession
from migrator.remote.versions import reported_version
from migrator.remote.zlogin import zone_root
from migrator.strictjson import loads


@dataclass
class ZoneReport:
    zone: str
    kind: str  # manatee | moray
    route: str
    via: str = "ssh"  # ssh | zlogin
    node: str | None = None  # the compute node (zlogin)
    reachable: bool = False
    host_key: str = "-"  # known | recorded | unknown | changed | -
    version: str | None = None
    log: str | None = None
    # the sitter writing the log now writes DEBUG records (None: cannot tell); see
    # remote/loglevels.py
    debug_records: bool | None = None
    sitter: str | None = None  # the sitter service's state (`online` when running)
    # the sitter's ZooKeeper session timeout from its config, seconds (None: not read)
    session_timeout: float | None = None
    missing: list[str] = field(default_factory=list)  # commands not found in the zone
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


MISSING_SCRIPT = 'for c in {words}; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done'


def missing_command(words: list[str]) -> str:
    """Shell text printing each of ``words`` that is not a command here (quoted)."""
    return MISSING_SCRIPT.format(words=" ".join(shlex.quote(w) for w in words))


Part = Callable[[RemoteSession, str, ZoneReport], list[str]]


def _guarded(part: Part, session: RemoteSession, zone: str, report: ZoneReport) -> list[str]:
    try:
        return list(part(session, zone, report))
    except MigratorError as exc:
        return [exc.paragraph()]


def _version(session: RemoteSession, zone: str, report: ZoneReport) -> list[str]:
    result = session.run_template(zone, f"{report.kind}_version")
    report.version = reported_version(result.text) if result.ok else None
    if report.version is not None:
        return []
    said = result.stderr.decode("utf-8", "replace").strip()[-200:]
    return [f"`{result.command}` gave no version (exit status "
            f"{result.status}{': ' + said if said else ''})"]


def _sitter_config(session: RemoteSession, zone: str, report: ZoneReport) -> list[str]:
    """The sitter's ZooKeeper session timeout, from its config (never a problem: the
    estimates fall back on the inventory's when it cannot be read)."""
    result = session.run_template(zone, "sitter_config")
    report.session_timeout = session_timeout_of(result.text) if result.ok else None
    return []


def session_timeout_of(text: str) -> float | None:
    """``zkCfg.opts.sessionTimeout`` (milliseconds) of a sitter config, in seconds."""
    try:
        doc = loads(text, max_bytes=1024 * 1024)
    except ValueError:
        return None
    opts = ((doc.get("zkCfg") or {}).get("opts") or {}) if isinstance(doc, dict) else {}
    value = opts.get("sessionTimeout") if isinstance(opts, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 3.6e6:
        return None
    return round(value / 1000.0, 3)


LOG_MISSING_PROBLEM = "its sitter log "
ZONES_ROOT_PROBLEM = "its compute node "


def _log(session: RemoteSession, zone: str, report: ZoneReport) -> list[str]:
    """Where the sitter log stands, that it is readable, and a sample of its end.

    One round trip (``read_log_end``: a stat and a ``tail -c``) says all of it,
    including whether the file exists. A log that does not exist is a problem
    (issue 21 §5; it used to read "does not exist yet" and pass): every verification
    of a run reads it, so a wrong ``sitter_log`` (or a sitter log command printing a
    path that is not there) would only surface mid-run. Only then, for a zone reached
    by zlogin, one more round trip asks the compute node whether its zones root and
    the zone's root under it exist, so the problem names the setting that is wrong
    (``nodes.<node>.zones_root``) rather than the log. The pre-flight decides what a
    missing log means (``migrator.engine.preflight``: with the sitter down, not a
    wrong path).
    """
    end = session.read_log_end(zone, SAMPLE_BYTES)
    mark = end.mark
    if mark.inode is not None:
        report.log = f"{mark.path} ({mark.offset} bytes)"
        report.debug_records = judge_end(end)
        return []
    report.log = f"{mark.path} (does not exist)"
    return [_missing_log(session, zone, mark.path)]


def _missing_log(session: RemoteSession, zone: str, path: str) -> str:
    """The problem for a sitter log ``path`` that does not exist, naming what is wrong."""
    fix = ("set `sitter_log:` for the zone (or `commands.sitter_log`) in the inventory to "
           "the log's path as the zone sees it")
    route = session.inventory.route(zone)
    if route.via != "zlogin" or route.node is None:
        return f"{LOG_MISSING_PROBLEM}{path} does not exist in the zone; {fix}"
    node = route.node
    root = str(session.inventory.node(node).zones_root)
    inside = zone_root(root, zone)
    script = (f"for d in {shlex.quote(root)} {shlex.quote(inside)}; do "
              '[ -d "$d" ] || { echo "$d"; exit 0; }; done')
    result = run_command(session.connection(zone), script, timeout=session.command_timeout,
                         max_output=4096)
    absent = result.text.strip().splitlines()[:1] if result.ok else []
    if absent == [root]:
        return (f"{ZONES_ROOT_PROBLEM}{node} has no zones root {root} (`nodes.{node}."
                "zones_root` in the inventory): give the directory holding the node's "
                "zones (/zones on Triton)")
    if absent == [inside]:
        return (f"{ZONES_ROOT_PROBLEM}{node} has no {inside}: the zone is not under "
                f"`nodes.{node}.zones_root` ({root}); check the zone's `node:` and that "
                "setting in the inventory")
    seen = path[len(inside):] if path.startswith(inside + "/") else path
    return (f"{LOG_MISSING_PROBLEM}{seen} does not exist in the zone ({path} on compute "
            f"node {node}); {fix}")


SEPARATOR = "--- migrator probe ---"
MISSING_PROBLEM = "commands the playbook calls are missing: "


def _service(session: RemoteSession, zone: str, report: ZoneReport, sitter: bool,
             commands: tuple[str, ...]) -> list[str]:
    """The sitter's state and the missing commands, in one round trip."""
    status = session.inventory.commands.template("sitter_status").fill(
        zone=zone, shard=session.inventory.shard) if sitter else "true"
    missing = missing_command(list(commands)) if commands else "true"
    script = f"{status}; echo '{SEPARATOR}'; {missing}"
    result = session.run(zone, script)
    state_text, _, missing_text = result.text.partition(SEPARATOR)
    problems: list[str] = []
    if sitter:
        lines = state_text.strip().splitlines()
        report.sitter = lines[-1].strip() if lines else "unknown (no output)"
        if report.sitter != "online":
            problems.append(f"its sitter is not running (`{status}` says {report.sitter})")
    report.missing = [w for w in missing_text.split() if w in commands]
    if report.missing:
        problems.append(MISSING_PROBLEM + ", ".join(report.missing))
    return problems


def _probe(session: RemoteSession, zone: str, kind: str, commands: tuple[str, ...] = (),
           sitter: bool = False) -> ZoneReport:
    connection = session.connection(zone)
    route = session.inventory.route(zone)
    report = ZoneReport(zone, kind, session.route(zone), via=route.via, node=route.node)
    before = len(session.recorded_host_keys)
    try:
        session.connect(zone)
    except HostKeyUnknown as exc:
        report.host_key = "unknown"
        report.problems.append(exc.paragraph())
        return report
    except HostKeyChanged as exc:
        report.host_key = "CHANGED"
        report.problems.append(exc.paragraph())
        return report
    except MigratorError as exc:
        report.problems.append(exc.paragraph())
        return report
    report.reachable = True
    recorded = [r for r in session.recorded_host_keys[before:] if r.label == connection.label]
    report.host_key = "recorded" if recorded else "known"
    parts: list[Part] = [_version]
    if kind == "manatee":
        parts.extend((_log, _sitter_config))
        if sitter or commands:
            parts.append(lambda s, z, r: _service(s, z, r, sitter, commands))
    # the looks are independent: each on its own channel of the zone's one transport,
    # at the same time, so a zone costs about one round trip more than its slowest look
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        found = list(pool.map(lambda part: _guarded(part, session, zone, report), parts))
    for problems in found:
        report.problems.extend(problems)
    return report


def probe_zone(session: RemoteSession, zone: str, kind: str, commands: tuple[str, ...] = (),
               sitter: bool = False) -> ZoneReport:
    """One zone's report (what ``check_inventory`` does for each zone)."""
    return _probe(session, zone, kind, commands, sitter)


def check_inventory(session: RemoteSession, inventory: Inventory,
                    commands: tuple[str, ...] = (), sitter: bool = False) -> list[ZoneReport]:
    """Every zone and Moray, probed concurrently (``commands``/``sitter``: see ``_probe``)."""
    targets = [(z, "manatee") for z in inventory.zones] + [(z, "moray") for z in inventory.morays]
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(lambda t: _probe(session, t[0], t[1], commands, sitter), targets))


def probe_all(session: RemoteSession, inventory: Inventory,
              commands: tuple[str, ...]) -> list[ZoneReport]:
    """The pre-flight's probe of every zone (sitter state included), concurrently; a
    zone with a problem is probed once more (its connection re-opened) before the
    problem counts, so that one dropped channel on a busy machine does not refuse a
    run. Host-key problems are not retried."""
    reports = check_inventory(session, inventory, commands, True)
    again = [i for i, r in enumerate(reports)
             if r.problems and r.host_key not in ("unknown", "CHANGED")]
    if not again:
        return reports
    with ThreadPoolExecutor(max_workers=len(again)) as pool:
        retried = list(pool.map(
            lambda i: probe_zone(session, reports[i].zone, reports[i].kind, commands, True),
            again))
    for index, report in zip(again, retried, strict=True):
        reports[index] = report
    return reports
