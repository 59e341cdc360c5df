"""`migrator fleet report`: one document for the change ticket with every shard's run.

A fleet summary (shards migrated, not, skipped; the write outages the runs observed;
the first start and the last end), then for each shard with a journal exactly what
`migrator report --inventory` gives for it: its document is built by
``migrator.commands.report`` from the same journal (the current one, else the latest
archived, as `migrator report` chooses), and its markdown rendered by the same code.

``fleet_summary``, ``fleet_document`` and ``render_fleet_markdown`` are pure; the reads
(``read_reports``) go over one session per ZooKeeper (``status_sessions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.commands import report as single
from migrator.engine.journal_znode import JOURNAL_ROOT, journal_path
from migrator.errors import MigratorError
from migrator.fleet.model import Fleet
from migrator.fleet.status_sessions import Member, each_group, shard_missing
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient

RESULTS = ("migrated", "not migrated", "skipped", "unreadable")


@dataclass(frozen=True)
class ShardReport:
    """A shard's part of the fleet report: its `migrator report` document (None when it
    has no journal), or why it was skipped or could not be read."""

    shard: str
    document: dict[str, Any] | None = None
    skip: str | None = None
    error: str | None = None

    @property
    def result(self) -> str:
        if self.skip is not None:
            return "skipped"
        if self.error is not None:
            return "unreadable"
        return "migrated" if migrated(self.document) else "not migrated"


def migrated(document: dict[str, Any] | None) -> bool:
    """The shard's latest run is a migration that finished (a later rollback undoes it)."""
    runs = (document or {}).get("runs") or []
    if not runs:
        return False
    last = runs[-1]
    return bool(last.get("kind") == "migration" and last.get("status") == "done")


def _observed(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [w for run in (document or {}).get("runs") or () for w in run.get("outages") or ()]


def _seconds(windows: Sequence[dict[str, Any]]) -> float:
    return sum(float(w["seconds"]) for w in windows
               if isinstance(w.get("seconds"), int | float)
               and not isinstance(w.get("seconds"), bool))


def _times(document: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The first run's start and the latest activity of any run."""
    runs = (document or {}).get("runs") or []
    starts = [str(r["started"]) for r in runs if r.get("started")]
    ends = [str(r["lastActivity"]) for r in runs if r.get("lastActivity")]
    return (min(starts) if starts else None, max(ends) if ends else None)


def fleet_summary(reports: Sequence[ShardReport]) -> dict[str, Any]:
    """The totals of the fleet: how many shards came out each way, the write outages its
    runs observed (closed windows' seconds; windows still open are counted apart) and
    the span from the first run's start to the last activity."""
    results = {result: sum(1 for r in reports if r.result == result) for result in RESULTS}
    windows = [w for r in reports for w in _observed(r.document)]
    starts = [t for r in reports for t in (_times(r.document)[0],) if t]
    ends = [t for r in reports for t in (_times(r.document)[1],) if t]
    return {
        "shards": len(reports),
        "migrated": results["migrated"],
        "notMigrated": results["not migrated"],
        "skipped": results["skipped"],
        "unreadable": results["unreadable"],
        "outageSeconds": round(_seconds(windows), 3),
        "outageWindows": len(windows),
        "openOutages": sum(1 for w in windows if w.get("seconds") is None),
        "firstStart": min(starts) if starts else None,
        "lastEnd": max(ends) if ends else None,
    }


def fleet_document(fleet: Fleet, reports: Sequence[ShardReport]) -> dict[str, Any]:
    return {
        "fleet": fleet.name,
        "file": str(fleet.path),
        "summary": fleet_summary(reports),
        "shards": [
            {"shard": r.shard, "result": r.result, "skip": r.skip, "error": r.error,
             "outageSeconds": None if r.document is None
             else round(_seconds(_observed(r.document)), 3),
             "report": r.document}
            for r in reports
        ],
    }


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_fleet_markdown(document: dict[str, Any]) -> str:
    """The summary and a table of the shards, then each shard's own report."""
    summary = document["summary"]
    out = [f"# Fleet migration report: fleet {document['fleet']}", "",
           f"- Fleet file: {document['file']}"]
    counted = (f"- Shards: {summary['shards']}: {summary['migrated']} migrated, "
               f"{summary['notMigrated']} not migrated, {summary['skipped']} skipped")
    if summary["unreadable"]:
        counted += f", {summary['unreadable']} unreadable"
    out.append(counted)
    outages = (f"- Write outages observed: {summary['outageSeconds']:.1f} s in "
               f"{summary['outageWindows']} window(s)")
    if summary["openOutages"]:
        outages += f" ({summary['openOutages']} still open)"
    out.append(outages)
    out.append(f"- First start: {summary['firstStart'] or '-'}; last end: "
               f"{summary['lastEnd'] or '-'}")
    out += ["", "| shard | result | runs | outage seconds | started | last activity |",
            "| --- | --- | ---: | ---: | --- | --- |"]
    for shard in document["shards"]:
        report = shard["report"]
        start, end = _times(report)
        result = shard["result"]
        if shard["skip"] is not None:
            result += f": {shard['skip']}"
        elif shard["error"] is not None:
            result += f": {shard['error']}"
        elif report is None:
            result += ": no journal"
        runs = "-" if report is None else str(len(report.get("runs") or ()))
        seconds = "-" if report is None else f"{shard['outageSeconds']:.1f}"
        out.append(f"| {_cell(shard['shard'])} | {_cell(result)} | {runs} | {seconds} | "
                   f"{_cell(start)} | {_cell(end)} |")
    text = "\n".join(out) + "\n"
    for shard in document["shards"]:
        if shard["report"] is not None:
            text += "\n---\n\n" + single.render_markdown(shard["report"])
    return text


# ---- the reads ----------------------------------------------------------------------------


def shard_report_document(client: KazooClient, zookeeper: str, shard: str
                          ) -> dict[str, Any] | None:
    """What `migrator report --shard` builds for the shard; None when it has no journal,
    current or archived (nothing was run on it). A shard the ZooKeeper does not have is
    an error, as in `fleet status`: its inventory names the wrong ensemble or shard."""
    shard_node = client.exists_async(paths.shard_path(shard))
    journal_node = client.exists_async(journal_path(shard))
    if shard_node.get() is None:
        raise shard_missing(zookeeper, shard)
    if journal_node.get() is None and not single.archived_names(client, shard, JOURNAL_ROOT):
        return None
    return single.report_document(single.from_zookeeper(client, shard, JOURNAL_ROOT, None))


def read_reports(members: Sequence[Member], connect_timeout: float, debug: bool = False
                 ) -> tuple[list[ShardReport], list[tuple[str, MigratorError]]]:
    """Every shard's report, in the fleet file's order, and the errors of those that
    could not be read."""

    def read(client: KazooClient, group: list[Member]
             ) -> dict[str, dict[str, Any] | MigratorError | None]:
        found: dict[str, dict[str, Any] | MigratorError | None] = {}
        for member in group:
            try:
                found[member.shard] = shard_report_document(
                    client, str(member.inventory.zookeeper), member.shard)
            except MigratorError as exc:  # a journal that is not one: this shard only
                found[member.shard] = exc
        return found

    results = each_group(list(members), connect_timeout, debug, read)
    reports: list[ShardReport] = []
    errors: list[tuple[str, MigratorError]] = []
    for member in members:
        if member.entry.skip is not None:
            reports.append(ShardReport(member.shard, skip=member.entry.skip))
            continue
        result = member.error if member.error is not None else results.get(member.shard)
        if isinstance(result, MigratorError):
            errors.append((member.shard, result))
            reports.append(ShardReport(member.shard, error=result.paragraph()))
        else:
            reports.append(ShardReport(member.shard, document=result))
    return reports, errors
