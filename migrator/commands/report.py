"""`migrator report`: what a migration (or rollback) did, from its journal, for the ticket.

Sources, in this order of preference: the journal in ZooKeeper
(``/manatee-migrator/<shard>/journal``); an archived one (a completed rollback
moves the journal to ``…/archive/journal-<time>``; ``--archive latest|NAME``,
and the latest is used when there is no current journal); or a local audit copy
(``--file``: a ``journal.json``, or an ``audit.jsonl`` whose last line is used).

The report (``report_document``, pure) gives: who created the journal and
ran each run, when, from which machine (``user@host``); each step with its
start, end, duration and operator; every ZooKeeper write with its diff; every
confirmation, its answer and who gave it (typed, y/n, ``--yes`` or a saved
plan); alarms; outages expected (the clock: when each outage step began and
how long it lasted) and observed. Works for finished, interrupted, failed and
rolled-back attempts alike: it reports what the journal holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.engine.journal import Journal
from migrator.engine.journal_znode import journal_document, journal_path, journal_root
from migrator.engine.outagewatch import parse_iso
from migrator.errors import MISSHAPEN, BadInput, misshapen
from migrator.inputfile import read_regular_bytes, read_regular_tail

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from migrator.engine.journal import Journal, RunRecord


@dataclass(frozen=True)
class Found:
    journal: Journal
    source: str


def _parse(data: bytes | str, where: str) -> Journal:
    try:
        doc = journal_document(data)
        if isinstance(doc, dict) and "journal" in doc and "runs" not in doc:
            doc = doc["journal"]  # an audit.jsonl line
        return Journal.from_json(doc)
    except MISSHAPEN as exc:
        raise misshapen(
            f"{where} is not a migration journal", exc,
            "Give the journal.json (or audit.jsonl) of the audit directory, or report from "
            "ZooKeeper with --shard.",
        ) from exc


# A journal lives in one znode, so it is under ZooKeeper's jute.maxbuffer (1 MiB by
# default) in compact JSON; the audit copy is indented, a few times that. 16 MiB is room
# for any journal, and bounds what ``--file`` reads.
MAX_JOURNAL_BYTES = 16 * 1024 * 1024
_FILE_HINT = "Give the journal.json or audit.jsonl of an audit directory."


def from_file(path: Path) -> Found:
    """The journal of a local audit copy: a ``journal.json``, or the last line of an
    ``audit.jsonl``.

    Bounded (``migrator.inputfile``): the file must be a regular file (``--file
    /dev/zero`` read forever, and a FIFO blocks its open); a ``journal.json`` is read
    up to ``MAX_JOURNAL_BYTES`` and refused beyond. An ``audit.jsonl`` gains a whole
    journal per save and may rightly be far larger, so only its last
    ``MAX_JOURNAL_BYTES`` are read, from the end, and the last line must lie within
    them. Each refusal is ``BadInput`` (exit 2) naming the file.
    """
    try:
        if path.suffix == ".jsonl":
            tail, earlier = read_regular_tail(path, "journal file", MAX_JOURNAL_BYTES,
                                              _FILE_HINT)
            data = _last_line(path, tail, earlier)
        else:
            data = read_regular_bytes(path, "journal file", MAX_JOURNAL_BYTES, _FILE_HINT)
    except OSError as exc:
        raise BadInput(f"Cannot read {path}: {exc.strerror or exc}.",
                       "Give a readable journal.json or audit.jsonl.") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text (byte {exc.start} of what was read).",
                       _FILE_HINT) from None
    return Found(_parse(text, str(path)), f"local audit copy {path}")


def _last_line(path: Path, tail: bytes, earlier: bool) -> bytes:
    """The last non-blank line of an ``audit.jsonl`` whose end is ``tail`` (``earlier``:
    the file holds more before it, so the first line of ``tail`` may be cut)."""
    lines = tail.splitlines()
    complete = lines[1:] if earlier else lines
    found = [line for line in complete if line.strip()]
    if found:
        return found[-1]
    if earlier:
        raise BadInput(
            f"The last line of {path} is longer than {MAX_JOURNAL_BYTES // (1024 * 1024)} "
            "MiB; no journal is that large.", _FILE_HINT)
    raise BadInput(f"{path} is empty.", "Give a journal.json or a non-empty audit.jsonl.")


def archived_names(client: KazooClient, shard: str, root: str) -> list[str]:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    try:
        return sorted(client.get_children(f"{journal_root(shard, root)}/archive"))
    except NoNodeError:
        return []


def from_zookeeper(client: KazooClient, shard: str, root: str,
                   archive: str | None) -> Found:
    """The current journal (``archive`` None), else the archived one named or the latest."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    if archive is None:
        path = journal_path(shard, root)
        try:
            data, _ = client.get(path)
            return Found(_parse(data, path), f"ZooKeeper {path}")
        except NoNodeError:
            archive = "latest"
    names = archived_names(client, shard, root)
    if not names:
        raise BadInput(
            f"Shard {shard} has no migration journal in ZooKeeper, current or archived.",
            "Nothing was migrated with this tool here; a local audit copy can be reported "
            "with --file (under ~/.local/state/manatee-migrator/).",
        )
    name = names[-1] if archive == "latest" else archive
    if name not in names:
        raise BadInput(f"Shard {shard} has no archived journal {name!r}.",
                       f"Archived journals: {', '.join(names)}.")
    path = f"{journal_root(shard, root)}/archive/{name}"
    data, _ = client.get(path)
    return Found(_parse(data, path), f"ZooKeeper {path} (archived)")


# ---- the report, as data ------------------------------------------------------------------


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None

    return round((parse_iso(end) - parse_iso(start)).total_seconds(), 3)


def _own_seconds(record: Any) -> float | None:
    """A step's own length: start to finish, the operator's answering time left out."""
    whole = _seconds(record.started, record.finished)
    return None if whole is None else round(max(whole - record.answered_seconds, 0.0), 3)


def _run_doc(run: RunRecord) -> dict[str, Any]:
    steps = [
        {"name": step_id, "step": step_id, "status": r.status, "started": r.started,
         "finished": r.finished, "seconds": _own_seconds(r),
         "answeredSeconds": r.answered_seconds, "operator": r.operator,
         "doneBy": r.done_by, "detail": r.detail, "attempts": r.attempts}
        for step_id, r in run.steps.items()
    ]
    log = list(run.log)
    confirmations = [
        {"time": e.get("time"), "step": e.get("step"), "question": e.get("question"),
         "answer": e.get("answer"), "typed": e.get("typed"), "by": e.get("by")}
        for e in log if e.get("event") == "confirm"
    ]
    writes = [
        {"time": e.get("time"), "step": e.get("step"), "op": e.get("op"),
         "path": e.get("path"), "history": e.get("history"), "detail": e.get("detail"),
         "diff": e.get("diff")}
        for e in log if e.get("event") == "write"
    ]
    alarms = [{k: v for k, v in e.items() if k != "event"}
              for e in log if e.get("event") == "alarm"]
    warnings = [{"time": e.get("time"), "kind": e.get("event"), "message": e.get("message")}
                for e in log if e.get("event") == "audit-copy-failed"]
    expected = [{k: v for k, v in e.items() if k != "event"}
                for e in log if e.get("event") in ("outage-started", "outage-ended")]
    observed = [_outage(e, run) for e in log if e.get("event") == "outage-observed"]
    last = max([r.finished or r.started or "" for r in run.steps.values()] or [""]) or None
    return {
        "kind": run.kind, "playbook": run.playbook, "playbookDigest": run.playbook_digest,
        "started": run.started, "lastActivity": last, "operator": run.operator,
        "status": run.status, "steps": steps, "confirmations": confirmations,
        "writes": writes, "alarms": alarms, "warnings": warnings,
        "outages": observed, "outageClock": expected,
    }


# Journals written before the sources were named ``client`` said ``write client``.
_SOURCES = {"write client": "client"}


def _outage(event: dict[str, Any], run: RunRecord) -> dict[str, Any]:
    """An observed outage window as the report gives it: the step it began in (by the
    steps' times; None when it began between steps), its bounds and its source
    (``client``, ``zones`` or ``zookeeper``)."""
    start = event.get("start")
    step = next((step_id for step_id, r in run.steps.items()
                 if start and r.started and r.started <= start
                 and (r.finished is None or start <= r.finished)), None)
    source = str(event.get("source"))
    return {"step": step, "start": start, "end": event.get("end"),
            "seconds": event.get("seconds"), "source": _SOURCES.get(source, source),
            "cause": event.get("cause"), "inferred": bool(event.get("inferred"))}


def report_document(found: Found) -> dict[str, Any]:
    journal = found.journal
    return {
        "shard": journal.shard,
        "source": found.source,
        "created": journal.created,
        "createdBy": journal.operator,
        "original": journal.original.to_json(),
        "snapshotTaken": journal.snapshot.get("taken"),
        "runs": [_run_doc(run) for run in journal.runs],
    }


# ---- markdown -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append

    def section(title: str) -> None:
        out.extend(["", f"### {title}", ""])

    add(f"# Manatee migration report: shard {doc['shard']}")
    add("")
    add(f"- Source: {doc['source']}")
    add(f"- Journal created {doc['created']} by {doc['createdBy']}")
    peers = doc["original"].get("peers") or []
    add("- Original topology: " + ", ".join(
        f"{str(p.get('role', '')).removeprefix('original_')} {p.get('zoneId')}"
        for p in peers))
    if doc.get("snapshotTaken"):
        add(f"- Shard snapshot taken {doc['snapshotTaken']} (before the first write)")
    for index, run in enumerate(doc["runs"], start=1):
        add("")
        add(f"## Run {index}: {run['kind']}, playbook {run['playbook']}: {run['status']}")
        add("")
        add(f"Started {run['started']} by {run['operator']}; last activity "
            f"{run['lastActivity'] or '-'}. Playbook digest {run['playbookDigest']}.")
        add("")
        add("| step | status | started | finished | seconds | by | detail |")
        add("| --- | --- | --- | --- | ---: | --- | --- |")
        for s in run["steps"]:
            seconds = "-" if s["seconds"] is None else f"{s['seconds']:.1f}"
            status = s["status"] + (" (already held)" if s["doneBy"] == "already-held" else "")
            add(f"| {_cell(s['step'])} | {_cell(status)} | {_cell(s['started'])} | "
                f"{_cell(s['finished'])} | {seconds} | {_cell(s['operator'])} | "
                f"{_cell(s['detail'])} |")
        section("Confirmations")
        if run["confirmations"]:
            add("| time | step | question | answer | by |")
            add("| --- | --- | --- | --- | --- |")
            for c in run["confirmations"]:
                answer = str(c["answer"]) + (" (typed the shard name)" if c.get("typed")
                                             and c["answer"] == "yes" else "")
                add(f"| {_cell(c['time'])} | {_cell(c['step'])} | {_cell(c['question'])} | "
                    f"{_cell(answer)} | {_cell(c['by'])} |")
        else:
            add("None recorded.")
        section("ZooKeeper writes")
        if not run["writes"]:
            add("None.")
        for w in run["writes"]:
            add(f"- {w['time']}, step {w['step']}: {w['op'] or 'write'} {w['path'] or ''} "
                f"({w['detail'] or ''})".rstrip())
            if w.get("diff"):
                add("")
                add("```diff")
                add(str(w["diff"]).rstrip("\n"))
                add("```")
                add("")
        section("Alarms")
        if not run["alarms"]:
            add("None.")
        for a in run["alarms"]:
            add(f"- {a.get('time')}: {a.get('kind')}: {_cell(a.get('message'))}")
        if run.get("warnings"):
            section("Warnings")
            for w in run["warnings"]:
                add(f"- {w.get('time')}: {_cell(w.get('message'))}")
        section("Write outages")
        clock = run["outageClock"]
        observed = run["outages"]
        if not clock and not observed:
            add("None recorded.")
        for e in clock:
            if "cause" in e:
                add(f"- {e.get('time')}: step {e.get('step')} began; expected: "
                    f"{e.get('cause')} ({e.get('estimate')})")
            else:
                add(f"- {e.get('time')}: step {e.get('step')} {e.get('status')} after "
                    f"{e.get('seconds')} s")
        for w in observed:
            length = "still open" if w.get("seconds") is None else f"{w['seconds']} s"
            during = f" during step {w['step']}" if w.get("step") else ""
            add(f"- observed ({w.get('source')}){during}: {w.get('start')} -> "
                f"{w.get('end') or '…'}, {length}: {w.get('cause')}"
                + (" (inferred)" if w.get("inferred") else ""))
    return "\n".join(out) + "\n"
