"""`migrator inventory check`: reach every zone once and report what a run will need.

For each zone (in parallel, each bounded by the connect and command timeouts):
reachability and route, host-key status, the manatee (or Moray) version, and
whether the sitter log can be located and read. Decisions are per zone; one
zone's failure never hides another's report.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from migrator.errors import MigratorError
from migrator.inventory import Inventory
from migrator.remote.errors import HostKeyChanged, HostKeyUnknown
from migrator.remote.session import RemoteSession
from migrator.remote.versions import reported_version


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
    # the sitter log holds DEBUG records (None: cannot tell); see remote/loglevels.py
    debug_records: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _probe(session: RemoteSession, zone: str, kind: str) -> ZoneReport:
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
    try:
        result = session.run_template(zone, f"{kind}_version")
        report.version = reported_version(result.text) if result.ok else None
        if report.version is None:
            said = result.stderr.decode("utf-8", "replace").strip()[-200:]
            report.problems.append(f"`{result.command}` gave no version (exit status "
                                   f"{result.status}{': ' + said if said else ''})")
        if kind == "manatee":
            mark = session.mark_log(zone)
            report.log = (f"{mark.path} ({mark.offset} bytes)" if mark.inode is not None
                          else f"{mark.path} (does not exist yet)")
            session.read_since(zone, mark, max_bytes=1)  # proves read access
            from migrator.remote.loglevels import sample_zone

            report.debug_records = sample_zone(session, zone)
    except MigratorError as exc:
        report.problems.append(exc.paragraph())
    return report


def check_inventory(session: RemoteSession, inventory: Inventory) -> list[ZoneReport]:
    targets = [(z, "manatee") for z in inventory.zones] + [(z, "moray") for z in inventory.morays]
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(lambda t: _probe(session, *t), targets))
