"""The fleet commands' output is inert (issue 21 §3): hostile values in every outside
field a `migrator fleet` command shows (a run lock holder's identity, a journal's
operator, step error and recorded writes, a zone id in ZooKeeper, a skip reason,
znode contents quoted by an error; /state's freeze reason too, which no fleet view
shows), against a real ZooKeeper, piped and on a real pseudo-terminal; and in
every field of the shards' events `fleet run` shows, through its three views. No ESC,
BEL or bidirectional control reaches the terminal; rich markup arrives as text, never
read; --json holds the exact strings."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.sandbox.zkserver import ZooKeeperServer
from tests.conftest import CliResult, V1Shard, invoke_cli, peer_data
from tests.engine.helpers import IPS, SHARD, ZK_ONLY_PLAYBOOK, ZONES

# a title set and a screen cleared, markup rich would read (a style, a link) and a
# right-to-left override, each with a word of its own to find in the output
TITLE = "\x1b]0;title\x07\x1b[2J"
HOSTILE = f"{TITLE}[bold red]boom[/][link=http://e]lnk[/link]\u202eevil"
RAW = ("\x1b", "\x07", "\u202e")
# each word after its opening tag: a cell cut to its column may lose the closing one
MARKUP = {"boom": "[bold red]boom", "lnk": "[link=http://e]lnk"}
# on a terminal (see the test)
FOLDED = {"boom": "]boom", "lnk": "e]lnk"}

HOSTILE_ZONE = "0b4e6c52-7a8b-4c4e-9f45-3cc2d1e0aa50"
SECOND = "2.moray.test"  # a hostile zone id in its election
BROKEN = "3.moray.test"  # its /state's primary has a hostile id: an error row quoting it
SKIPPED = "4.moray.test"  # skipped, with a hostile reason
FLEET = "inert-fleet"


def _inert(text: str, *, shows_it: bool = True, markup: dict[str, str] = MARKUP) -> None:
    """Nothing a terminal acts on, markup shown as text wherever its word arrives, and
    (``shows_it``) the hostile value itself shown escaped."""
    assert not any(c in text for c in RAW), repr(text[:3000])
    text = " ".join(text.split())  # a note wrapped below a table is still one text
    assert "Traceback" not in text and "Internal error" not in text, text[-3000:]
    for word, tagged in markup.items():
        # rich removes tags it reads, even piped: wherever the word arrives, its tags do
        assert text.count(word) == text.count(tagged), text[:4000]
    if shows_it:
        escaped = ("\\x1b]0;title\\x07\\x1b[2J", repr(HOSTILE)[1:-1])
        assert any(form in text for form in escaped), text[:4000]
        assert "\\u202eevil" in text, text[:4000]


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for value in document.values():
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)
    elif isinstance(document, str):
        yield document


@dataclass
class Fleet:
    path: Path
    cli: Callable[..., CliResult]


@pytest.fixture
def fleet(zk_server: ZooKeeperServer, zk: Any, v1_shard: V1Shard, tmp_path: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Fleet]:
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.setenv("NO_COLOR", "1")

    def cli(*args: str) -> CliResult:
        return invoke_cli(list(args), capsys)

    for ip, zone in zip(IPS, ZONES, strict=True):
        v1_shard.join(ip, zone)
    book = tmp_path / "zk-only.yaml"
    book.write_text(ZK_ONLY_PLAYBOOK)
    ran = cli("run", "--zk", zk_server.connection_string, "--shard", SHARD, "--playbook",
              str(book), "--yes")
    assert ran.status == 0, ran.err
    _poison_journal(zk)
    _poison_state(zk)
    # two contenders for the run lock, each naming itself with hostile text
    lock = f"/manatee-migrator/{SHARD}/lock"
    for n in (1, 2):
        zk.create(f"{lock}/_c_{n:032x}-lock-{n:010d}",
                  f"{HOSTILE}@{HOSTILE} pid {n}".encode(), makepath=True)

    second = V1Shard(zk_server, SECOND)
    try:
        second.join(IPS[0], ZONES[0])
        second.join("127.0.1.50", HOSTILE_ZONE, data=json.dumps(
            {**peer_data("127.0.1.50", HOSTILE_ZONE), "zoneId": HOSTILE}).encode())
        # a /state whose primary's id is hostile: the error quotes it
        state = json.loads(zk.get(f"/manatee/{SHARD}/state")[0])
        state["primary"]["id"] = HOSTILE
        zk.ensure_path(f"/manatee/{BROKEN}/election")
        zk.create(f"/manatee/{BROKEN}/state", json.dumps(state).encode())

        entries: list[dict[str, Any]] = []
        for shard in (SHARD, SECOND, BROKEN):
            inventory = tmp_path / f"{shard}.yaml"
            inventory.write_text(yaml.safe_dump({
                "shard": shard, "zookeeper": zk_server.connection_string,
                # nothing listens on port 1: every zone is unreachable, at once
                "ssh": {"port": 1, "connect_timeout": 2},
                "zones": {zone: {"host": ip} for ip, zone in zip(IPS, ZONES, strict=True)}}))
            entries.append({"shard": shard, "inventory": inventory.name})
        entries.append({"shard": SKIPPED, "skip": HOSTILE})
        path = tmp_path / "fleet.yaml"
        path.write_text(yaml.safe_dump({"fleet": FLEET, "shards": entries}))
        yield Fleet(path, cli)
    finally:
        second.close()


def _poison_journal(zk: Any) -> None:
    """The operator's name everywhere the journal keeps one, a step's error and detail,
    and the freeze reason its writes' diffs show."""
    path = f"/manatee-migrator/{SHARD}/journal"
    data, stat = zk.get(path)
    doc = json.loads(data)

    def poisoned(node: Any) -> Any:
        if isinstance(node, str):  # the freeze reason in the diffs of its writes
            return node.replace("manatee-adm state-backfill", HOSTILE)
        if isinstance(node, dict):
            return {k: HOSTILE if k in ("operator", "by", "createdBy") and isinstance(v, str)
                    else poisoned(v) for k, v in node.items()}
        if isinstance(node, list):
            return [poisoned(v) for v in node]
        return node

    doc = poisoned(doc)
    run = doc["runs"][-1]
    first = next(iter(run["steps"]))
    run["status"] = "failed"
    run["steps"][first].update(status="failed", error=HOSTILE, detail=HOSTILE)
    run["log"].append({"event": "error", "time": run["started"], "step": first,
                       "message": HOSTILE})
    zk.set(path, json.dumps(doc).encode(), version=stat.version)


def _poison_state(zk: Any) -> None:
    path = f"/manatee/{SHARD}/state"
    data, stat = zk.get(path)
    state = json.loads(data)
    state["freeze"] = {"date": "2026-12-06T00:00:00.000Z", "reason": HOSTILE}
    zk.set(path, json.dumps(state, separators=(",", ":")).encode(), version=stat.version)


def _contains_exact(document: Any, *values: str) -> None:
    found = set(_strings(document))
    for value in values:
        assert any(value in s for s in found), (value, sorted(found)[:50])


@pytest.mark.zk
def test_fleet_status_prints_hostile_values_inert_and_json_keeps_them(fleet: Fleet) -> None:
    shown = fleet.cli("fleet", "status", "--fleet", str(fleet.path))
    assert shown.status != 0  # the broken shard's row is an error
    _inert(shown.out + shown.err)
    assert re.search(rf"^{re.escape(BROKEN)}\s+-\s+error", shown.out, re.M), shown.out
    as_json = fleet.cli("fleet", "status", "--fleet", str(fleet.path), "--json")
    assert as_json.status == shown.status
    _inert(as_json.err, shows_it=False)
    rows = {r["shard"]: r for r in json.loads(as_json.out)["shards"]}
    assert rows[SHARD]["operator"] == HOSTILE
    assert rows[SHARD]["lockHolders"] == [f"{HOSTILE}@{HOSTILE} pid {n}" for n in (1, 2)]
    assert rows[SKIPPED]["note"] == HOSTILE
    # the error quotes the znode's value in its own words, escaped where it is made
    assert "field primary has id '\\x1b]0;title" in rows[BROKEN]["note"]


@pytest.mark.zk
def test_fleet_report_prints_hostile_values_inert_and_json_keeps_them(fleet: Fleet) -> None:
    shown = fleet.cli("fleet", "report", "--fleet", str(fleet.path))
    _inert(shown.out + shown.err)
    as_json = fleet.cli("fleet", "report", "--fleet", str(fleet.path), "--json")
    _inert(as_json.err, shows_it=False)
    document = json.loads(as_json.out)
    shards = {s["shard"]: s for s in document["shards"]}
    assert shards[SKIPPED]["skip"] == HOSTILE
    _contains_exact(shards[SHARD]["report"], HOSTILE, f'"reason": "{HOSTILE}"')
    assert '"reason": "\\x1b]0;title' in shown.out  # the diff's freeze reason, escaped
    assert shards[BROKEN]["result"] == "not migrated"


@pytest.mark.zk
def test_fleet_plan_prints_hostile_values_inert_and_json_keeps_them(fleet: Fleet) -> None:
    shown = fleet.cli("fleet", "plan", "--fleet", str(fleet.path))
    _inert(shown.out + shown.err)
    as_json = fleet.cli("fleet", "plan", "--fleet", str(fleet.path), "--json")
    _inert(as_json.err, shows_it=False)
    rows = {r["shard"]: r for r in json.loads(as_json.out)["rows"]}
    assert rows[SKIPPED]["note"] == f"skip: {HOSTILE}"
    # the error quotes the znode's value in its own words, escaped where it is made
    assert "field primary has id '\\x1b]0;title" in rows[BROKEN]["note"]
    assert HOSTILE in rows[SECOND]["note"]  # the zone id, exact


# what rich itself writes on a terminal: styles, and the live view's cursor moves
RICH_CONTROL = re.compile(r"\x1b\[\??[0-9;]*[mAKhlGBCD]")


def _terminal(tmp_path: Path, argv: list[str], *, watch: bool = False) -> tuple[str, int]:
    """What `migrator ARGV` draws on a real pseudo-terminal (``watch``: once the view is
    drawn, a Ctrl-C) and its exit status."""
    import pexpect

    env = {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp_path / "audit"), "TERM": "xterm",
           "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    drawn = io.StringIO()
    child = pexpect.spawn(sys.executable, ["-m", "migrator", *argv], env=env,
                          encoding="utf-8", timeout=60, dimensions=(60, 200))
    child.logfile_read = drawn
    try:
        if watch:
            child.expect(r"ZooKeeper change\(s\) seen")
            child.sendintr()
            child.expect("Stopped watching fleet")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return drawn.getvalue(), int(child.exitstatus if child.exitstatus is not None else -1)


@pytest.mark.zk
def test_fleet_status_and_plan_on_a_terminal_draw_hostile_values_inert(
    fleet: Fleet, tmp_path: Path
) -> None:
    for argv, watch in ((["fleet", "status", "--fleet", str(fleet.path)], False),
                        (["fleet", "plan", "--fleet", str(fleet.path)], False),
                        (["fleet", "status", "--fleet", str(fleet.path), "--watch"], True)):
        drawn, status = _terminal(tmp_path, argv, watch=watch)
        # (the malformed shard makes both commands refuse: 3)
        assert status == (0 if watch else 3), drawn[-2000:]
        # nothing of the hostile value acts: no title, no clear screen, no BEL, no bidi
        assert "\x1b]" not in drawn and "\x1b[2J" not in drawn, repr(drawn[:3000])
        # a table folds a long cell across lines, so its markup's opening tag may be cut
        # in two: the tag's closing bracket still comes right before the word, which it
        # would not if rich had read the tag
        _inert(RICH_CONTROL.sub("", drawn), markup=FOLDED)


# every field of a shard's events that `fleet run` shows (docs/events.md)
EVENTS: list[dict[str, Any]] = [
    {"event": "step", "index": 1, "total": 2, "step": HOSTILE, "title": HOSTILE},
    {"event": "action-started", "step": HOSTILE, "command": HOSTILE, "zone": HOSTILE},
    {"event": "heartbeat", "phase": "action", "command": HOSTILE, "elapsed": 3.0,
     "lastSeen": HOSTILE},
    {"event": "heartbeat", "phase": "verify", "what": HOSTILE, "lastSeen": None},
    {"event": "waiting", "what": HOSTILE, "timeout": 60},
    {"event": "question", "question": HOSTILE},
    {"event": "confirm", "answer": HOSTILE},
    {"event": "outage-started", "step": HOSTILE, "cause": HOSTILE},
    {"event": "outage-ended", "step": HOSTILE, "seconds": 2.5},
    {"event": "step-finished", "step": HOSTILE, "doneBy": HOSTILE},
    {"event": "alarm", "kind": HOSTILE, "message": HOSTILE, "stop": True},
    {"event": "error", "message": HOSTILE},
    {"event": "nothing", "reason": HOSTILE},
]


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["plain", "live", "json"])
def test_fleet_run_views_show_hostile_event_fields_inert(kind: str) -> None:
    """Each view of `fleet run` fed every event with hostile fields, a skipped shard with
    a hostile reason and a note: the plain lines and the live table (rich, drawn to a
    buffer) show them escaped, the JSON lines carry them exact."""
    from migrator.fleet import view
    from migrator.fleet.display import JsonDisplay, LiveDisplay, PlainDisplay

    out, err = io.StringIO(), io.StringIO()
    display: PlainDisplay | JsonDisplay
    if kind == "json":
        display = JsonDisplay(out, err)
    else:
        display = LiveDisplay(err) if kind == "live" else PlainDisplay(err)
    rows = [view.started(view.ShardRow(SHARD), "run", 0.0), view.skipped(SKIPPED, HOSTILE)]
    display.fleet_event({"event": "fleet-started", "fleet": FLEET, "verb": "run",
                         "parallel": 2, "shards": [SHARD], "skipped": [SKIPPED]})
    for n, event in enumerate(EVENTS):
        display.shard_event(SHARD, event)
        rows[0] = view.apply(rows[0], event, float(n))
        display.refresh(rows, float(n))
    display.note(f"{SHARD}: declined {HOSTILE!r}")
    rows[0] = view.finished(rows[0], "failed", 20.0, HOSTILE)
    display.refresh(rows, 20.0)
    display.fleet_event({"event": "fleet-finished", "verdicts": {SHARD: "failed",
                                                                 SKIPPED: "skipped"},
                         "resume": f"migrator fleet resume --fleet {FLEET}.yaml"})
    if kind == "json":
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [e for e in lines if e.get("shard") == SHARD and "time" not in e][
            :len(EVENTS)] == [{**e, "shard": SHARD} for e in EVENTS]
        _inert(err.getvalue())
        return
    assert out.getvalue() == ""
    # the live table cuts each cell to its column: the markup's tags may be cut
    _inert(err.getvalue(), markup=FOLDED if kind == "live" else MARKUP)
