"""Outside text reaches the terminal inert: hostile values in ZooKeeper (a zone id, a
freeze reason) and in the journal (an operator's name) through every reading command,
against a real ZooKeeper. No ESC, BEL or bidirectional control arrives; each shows
escaped. JSON output stays exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CliResult, V1Shard
from tests.engine.helpers import SHARD

pytestmark = pytest.mark.zk

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[bold red]boom[/]\u202eevil"
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J[bold red]boom[/]\\u202eevil"
RAW = ("\x1b", "\x07", "\u202e")


def _inert(result: CliResult, *, shows_it: bool = True) -> None:
    both = result.out + result.err
    assert not any(c in both for c in RAW), repr(both[:2000])
    assert "Traceback" not in result.err and "Internal error" not in result.err
    # markup shown as text, never read (rich removes tags it reads, even piped): wherever
    # the word arrives, its tags arrive with it
    assert both.count("boom") == both.count("[bold red]boom[/]"), both[:3000]
    if shows_it:
        shown = (ESCAPED, repr(HOSTILE)[1:-1], json.dumps(HOSTILE)[1:-1])
        assert any(form in both for form in shown), both[:3000]


def _replace_strings(doc: Any, key: str, value: str) -> Any:
    if isinstance(doc, dict):
        return {k: (value if k == key and isinstance(v, str) else _replace_strings(v, key, value))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_replace_strings(v, key, value) for v in doc]
    return doc


def test_hostile_values_in_zookeeper_and_the_journal_print_inert(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str
) -> None:
    assert cli("run", "--playbook", book, "--yes").status == 0
    # the journal's operator names, then /state's freeze reason, turned hostile
    journal = f"/manatee-migrator/{SHARD}/journal"
    data, stat = zk.get(journal)
    doc = json.loads(data)
    for key in ("operator", "by", "createdBy"):
        doc = _replace_strings(doc, key, HOSTILE)
    zk.set(journal, json.dumps(doc).encode(), version=stat.version)
    _inert(cli("report"))
    (run,) = json.loads(cli("report", "--format", "json").out)["runs"]
    assert {c["by"] for c in run["confirmations"]} == {HOSTILE}  # JSON stays exact

    state_path = f"/manatee/{SHARD}/state"
    data, stat = zk.get(state_path)
    state = json.loads(data)
    state["freeze"] = {"date": "2026-12-06T00:00:00.000Z", "reason": HOSTILE}
    hostile_state = json.dumps(state, separators=(",", ":")).encode()
    zk.set(state_path, hostile_state, version=stat.version)
    zk.create(f"/manatee/{SHARD}/history/0-", hostile_state, sequence=True)
    for args in (("status",), ("state",), ("history",)):
        _inert(cli(*args))
    _inert(cli("plan", "--playbook", book), shows_it=False)
    shown = json.loads(cli("state", "--json").out)
    assert shown["state"]["freeze"]["reason"] == HOSTILE  # JSON stays exact


def test_a_hostile_zone_id_in_the_election_prints_inert(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard
) -> None:
    data = {"zoneId": HOSTILE, "ip": "127.0.1.50",
            "pgUrl": "tcp://postgres@127.0.1.50:5432/postgres"}
    three_peers.join("127.0.1.50", "x", data=json.dumps(data).encode())
    for args in (("status",), ("backfill", "--yes")):
        _inert(cli(*args))
    assert zk.exists(f"/manatee/{SHARD}/state") is None


def test_a_hostile_freeze_reason_prints_inert_in_the_writing_commands(
    cli: Callable[..., CliResult], zk: Any, three_peers: V1Shard, book: str
) -> None:
    """The expert writes show the /state they would change before asking: a hostile freeze
    reason there, and one given on the command line, arrive escaped; nothing is written
    without a terminal to ask on."""
    assert cli("backfill", "--yes").status == 0
    state_path = f"/manatee/{SHARD}/state"
    data, stat = zk.get(state_path)
    state = json.loads(data)
    state["freeze"] = {"date": "2026-12-06T00:00:00.000Z", "reason": HOSTILE}
    zk.set(state_path, json.dumps(state, separators=(",", ":")).encode(), version=stat.version)
    before = zk.get(state_path)[0]
    # (unfreeze shows the state after it, which has no reason; rollback names no reason)
    for verb, shows_it in (("unfreeze", False), ("delete-state", True), ("status", True),
                           ("rollback", False)):
        _inert(cli(verb), shows_it=shows_it)
    _inert(cli("status", shard=False), shows_it=False)  # the listing of every shard
    assert zk.get(state_path)[0] == before
    unfrozen = cli("unfreeze", "--yes")
    assert unfrozen.status == 0, unfrozen.err
    _inert(unfrozen, shows_it=False)
    frozen = cli("freeze", "--reason", HOSTILE, "--yes")
    assert frozen.status == 0, frozen.err
    _inert(frozen)
    assert json.loads(zk.get(state_path)[0])["freeze"]["reason"] == HOSTILE  # stored exact
